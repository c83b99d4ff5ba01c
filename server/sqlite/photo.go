package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gridsync/gridsync/internal/exif"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
	"github.com/gridsync/gridsync/syncproto"
)

// Tuning of the photo service.
const (
	// DefaultPhotoRetry is how often the background loop retries storing
	// complete uploads, makes missing thumbnails and removes expired
	// uploads.
	DefaultPhotoRetry = 15 * time.Second
	// DefaultCheckpointInterval: a long PATCH fsyncs and records its
	// offset this often, so a server crash mid-chunk loses at most this much of the
	// transfer (a dropped connection loses nothing: what arrived is
	// recorded then). By time, not bytes: on 2G that is a few hundred KB,
	// on a fast link a photo arrives whole before any checkpoint is due and
	// costs no extra fsync.
	DefaultCheckpointInterval = 5 * time.Second
	// lockWait bounds how long a request waits for another request (or the
	// background loop) to release an upload; then ELOCKED.
	lockWait = 15 * time.Second
	// storeTimeout bounds one blob store call of the finishing step.
	storeTimeout = 2 * time.Minute
	// sweepBatch bounds the uploads and thumbnails one sweep handles.
	sweepBatch = 50
	// thumbQuiet is how long no upload must have been written before
	// thumbnails are made.
	thumbQuiet = time.Second
)

// chinaTime is the zone of EXIF times without an offset: the product's
// phones are set to China Standard Time (no daylight saving).
var chinaTime = time.FixedZone("CST", 8*3600)

// PhotoOptions configures a PhotoService.
type PhotoOptions struct {
	// Blobs stores the photos and thumbnails.
	Blobs blob.Store
	// Dir holds partial uploads (<id>.part); created if missing.
	Dir string
	Log *slog.Logger
	// Checks are the thresholds of the capture checks.
	Checks server.PhotoChecks
	// Zone reads EXIF times that carry no offset (nil: UTC+8).
	Zone *time.Location
	// RetryInterval is the background loop's period (0: DefaultPhotoRetry).
	RetryInterval time.Duration
	// CheckpointInterval is how often a long PATCH records its progress
	// (0: DefaultCheckpointInterval).
	CheckpointInterval time.Duration
	// MaxStreams bounds the chunks forwarded to the blob store while they
	// arrive (0: DefaultMaxStreams; below 0: none, every photo is stored
	// once it has arrived).
	MaxStreams int
}

// PhotoService implements server.PhotoService on SQLite, a folder of
// partial uploads and a blob.Store. A background loop finishes what a
// request could not (the blob store was down), makes thumbnails and removes
// expired uploads; Close stops it.
type PhotoService struct {
	db     *DB
	blobs  blob.Store
	dir    string
	log    *slog.Logger
	checks server.PhotoChecks
	zone   *time.Location
	retry  time.Duration
	// checkpoint is how often a long PATCH records its progress.
	checkpoint time.Duration
	// streams holds a token for each chunk being forwarded to the blob
	// store while it arrives.
	streams chan struct{}

	mu    sync.Mutex
	locks map[string]*keyLock

	kick chan struct{}
	// writing counts the WriteUpload calls in progress, and lastWrite is
	// when the last one ended (unix ns): thumbnails wait while devices
	// upload (evidence first, previews when idle).
	writing   atomic.Int64
	lastWrite atomic.Int64
	cancel    context.CancelFunc
	done      chan struct{}
}

var _ server.PhotoService = (*PhotoService)(nil)

// keyLock is held by the one request (or the background loop) working on
// an upload or making a thumbnail.
type keyLock struct {
	interrupt func() // makes the holder's blocked body read fail; may be nil
	released  chan struct{}
}

// NewPhotoService opens the upload folder and starts the background loop.
func NewPhotoService(db *DB, opts PhotoOptions) (*PhotoService, error) {
	if opts.Blobs == nil || opts.Dir == "" {
		return nil, errors.New("photo service: blob store and upload folder are required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload folder: %w", err)
	}
	s := &PhotoService{db: db, blobs: opts.Blobs, dir: opts.Dir, log: opts.Log, checks: opts.Checks, zone: opts.Zone,
		retry: opts.RetryInterval, locks: map[string]*keyLock{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.zone == nil {
		s.zone = chinaTime
	}
	if s.retry <= 0 {
		s.retry = DefaultPhotoRetry
	}
	if s.checkpoint = opts.CheckpointInterval; s.checkpoint <= 0 {
		s.checkpoint = DefaultCheckpointInterval
	}
	switch {
	case opts.MaxStreams == 0:
		s.streams = make(chan struct{}, DefaultMaxStreams)
	case opts.MaxStreams > 0:
		s.streams = make(chan struct{}, opts.MaxStreams)
	default:
		s.streams = make(chan struct{}) // never free
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.loop(ctx)
	return s, nil
}

// Close stops the background loop and waits for it.
func (s *PhotoService) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// acquire takes the lock of key. If another request holds it, that request
// is interrupted (its body read fails) and waited for, up to lockWait.
func (s *PhotoService) acquire(ctx context.Context, key string, interrupt func()) (release func(), err error) {
	deadline := time.NewTimer(lockWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		held, ok := s.locks[key]
		if !ok {
			l := &keyLock{interrupt: interrupt, released: make(chan struct{})}
			s.locks[key] = l
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.locks, key)
				s.mu.Unlock()
				close(l.released)
			}, nil
		}
		s.mu.Unlock()
		if held.interrupt != nil {
			held.interrupt()
		}
		select {
		case <-held.released:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, server.Errorf(server.ELOCKED, "another request is still working on this upload: retry shortly")
		}
	}
}

// tryAcquire takes the lock of key if it is free.
func (s *PhotoService) tryAcquire(key string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.locks[key]; held {
		return nil, false
	}
	l := &keyLock{released: make(chan struct{})}
	s.locks[key] = l
	return func() {
		s.mu.Lock()
		delete(s.locks, key)
		s.mu.Unlock()
		close(l.released)
	}, true
}

// partPath is where an upload's bytes go; ids are 32 hex digits (checked
// by validUploadID before any path is built).
func (s *PhotoService) partPath(id string) string { return filepath.Join(s.dir, id+".part") }

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// CreateUpload implements server.PhotoService.
func (s *PhotoService) CreateUpload(ctx context.Context, nu server.NewUpload) (*server.Upload, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateNewUpload(nu); err != nil {
		return nil, err
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if nu.Doc != "" {
		if err := checkUploadDoc(ctx, tx, p, nu.Doc); err != nil {
			return nil, err
		}
	}
	// The device's own upload of the same photo, most advanced first: a
	// POST whose reply was lost on the way back is sent again.
	u, err := scanUpload(tx.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads
		WHERE user_id = ? AND device_id = ? AND sha256 = ? AND length = ?
		ORDER BY CASE state WHEN 'stored' THEN 0 WHEN 'complete' THEN 1 ELSE 2 END, offset DESC, created_at DESC LIMIT 1`,
		p.UserID, p.DeviceID, nu.SHA256, nu.Length))
	if err == nil {
		return u, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("find upload: %w", err)
	}
	var n int
	var bytes int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(length), 0) FROM uploads WHERE user_id = ? AND state = 'open'`,
		p.UserID).Scan(&n, &bytes); err != nil {
		return nil, fmt.Errorf("upload quota: %w", err)
	}
	if n >= server.MaxOpenUploads {
		return nil, &server.Error{Code: server.EQUOTA, Message: fmt.Sprintf("%d unfinished uploads: finish or terminate some first", n),
			Details: map[string]any{"max_uploads": server.MaxOpenUploads, "retry_after": s.retryAfter()}}
	}
	if bytes+nu.Length > server.MaxOpenUploadBytes {
		return nil, &server.Error{Code: server.EQUOTA, Message: fmt.Sprintf("unfinished uploads would hold %d bytes, over %d: finish or terminate some first", bytes+nu.Length, server.MaxOpenUploadBytes),
			Details: map[string]any{"max_bytes": server.MaxOpenUploadBytes, "retry_after": s.retryAfter()}}
	}
	id := hex.EncodeToString(randomBytes(16))
	u = &server.Upload{ID: id, UserID: p.UserID, DeviceID: p.DeviceID, SHA256: nu.SHA256, Length: nu.Length, Filename: nu.Filename,
		Doc: nu.Doc, Metadata: nu.Metadata, State: server.UploadOpen, CreatedAt: tx.now, ExpiresAt: tx.now.Add(server.UploadStartTTL)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, user_id, device_id, sha256, length, filename, doc, metadata, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, u.ID, u.UserID, u.DeviceID, u.SHA256, u.Length, u.Filename, u.Doc, u.Metadata,
		ms(u.CreatedAt), ms(u.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("insert upload: %w", err)
	}
	// The upload's file is made by its first PATCH: a creation costs one
	// commit and no file system work.
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit upload: %w", err)
	}
	u.CreatedAt, u.ExpiresAt = u.CreatedAt.UTC(), u.ExpiresAt.UTC()
	return u, nil
}

// checkUploadDoc refuses an upload's doc unless it is a document in the
// caller's area. A document elsewhere gets the same answer as one that
// does not exist, so the answer tells nothing about other areas.
func checkUploadDoc(ctx context.Context, tx *Tx, p *server.Principal, doc string) error {
	col, id, _ := strings.Cut(doc, "/")
	var path string
	err := tx.QueryRowContext(ctx, `SELECT area_path FROM docs WHERE collection = ? AND id = ?`, col, id).Scan(&path)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !server.Covers(p.AreaPath, path)) {
		return server.Errorf(server.EFORBIDDEN, "doc %.200q is not a document in your area: push the record first, or leave doc out", doc)
	} else if err != nil {
		return fmt.Errorf("upload doc: %w", err)
	}
	return nil
}

// retryAfter is the Retry-After a device is given, in seconds: the
// background loop's period, after which the server has tried again.
func (s *PhotoService) retryAfter() int {
	return max(1, int((s.retry+time.Second-1)/time.Second))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

func validateNewUpload(nu server.NewUpload) error {
	switch {
	case !syncproto.ValidSHA256(nu.SHA256):
		return server.Errorf(server.EINVALID, "sha256 must be 64 lowercase hex digits, the SHA-256 of the photo")
	case nu.Length <= 0:
		return server.Errorf(server.EINVALID, "length must be at least 1 byte")
	case nu.Length > syncproto.MaxPhotoSize:
		return &server.Error{Code: server.ETOOLARGE, Message: fmt.Sprintf("photo of %d bytes is over the limit of %d", nu.Length, syncproto.MaxPhotoSize),
			Details: map[string]any{"max_size": syncproto.MaxPhotoSize}}
	case len(nu.Filename) > syncproto.MaxPhotoFilename || !utf8.ValidString(nu.Filename) || strings.ContainsFunc(nu.Filename, isControl):
		return server.Errorf(server.EINVALID, "filename must be at most %d bytes of printable UTF-8", syncproto.MaxPhotoFilename)
	case len(nu.Metadata) > server.MaxUploadMetadata || strings.ContainsFunc(nu.Metadata, isControl):
		return server.Errorf(server.EINVALID, "Upload-Metadata must be at most %d bytes without control characters", server.MaxUploadMetadata)
	}
	if nu.Doc != "" {
		col, id, ok := strings.Cut(nu.Doc, "/")
		if !ok || col == "" || id == "" || len(nu.Doc) > 200 || strings.ContainsFunc(nu.Doc, isControl) || strings.Contains(id, "/") {
			return server.Errorf(server.EINVALID, `doc must be "collection/id"`)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

const uploadColumns = `id, user_id, device_id, sha256, length, offset, filename, doc, metadata, state, mime, created_at, expires_at`

func scanUpload(row interface{ Scan(...any) error }) (*server.Upload, error) {
	var u server.Upload
	var created, expires int64
	if err := row.Scan(&u.ID, &u.UserID, &u.DeviceID, &u.SHA256, &u.Length, &u.Offset, &u.Filename, &u.Doc, &u.Metadata, &u.State, &u.MIME,
		&created, &expires); err != nil {
		return nil, err
	}
	u.CreatedAt, u.ExpiresAt = fromMS(created), fromMS(expires)
	return &u, nil
}

// load reads one upload of the user (userID 0: anyone's, for the
// background loop). Another user's upload is ENOTFOUND, like a missing one.
func (s *PhotoService) load(ctx context.Context, id string, userID int64) (*server.Upload, error) {
	u, err := scanUpload(s.db.read.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && userID != 0 && u.UserID != userID) {
		return nil, server.Errorf(server.ENOTFOUND, "upload %s not found (finished long ago, expired or terminated): start a new one", id)
	} else if err != nil {
		return nil, fmt.Errorf("load upload %s: %w", id, err)
	}
	return u, nil
}

// Upload implements server.PhotoService.
func (s *PhotoService) Upload(ctx context.Context, id string) (*server.Upload, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !validUploadID(id) {
		return nil, server.Errorf(server.ENOTFOUND, "upload %.40q not found", id)
	}
	release, err := s.acquire(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	defer release()
	u, err := s.load(ctx, id, p.UserID)
	if err != nil {
		return nil, err
	}
	if u, err = s.repairOffset(ctx, u); err != nil {
		return nil, err
	}
	return s.finish(ctx, u)
}

// repairOffset lowers an open upload's offset to the bytes its file really
// holds. That only happens when the file lost data behind SQLite's back
// (a restored backup); the device then resends from there.
func (s *PhotoService) repairOffset(ctx context.Context, u *server.Upload) (*server.Upload, error) {
	if u.State != server.UploadOpen || u.Offset == 0 {
		return u, nil
	}
	fi, err := os.Stat(s.partPath(u.ID))
	size := int64(0)
	switch {
	case err == nil:
		size = fi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("upload file: %w", err)
	}
	if size >= u.Offset {
		return u, nil
	}
	s.log.WarnContext(ctx, "upload file shorter than its recorded offset; resuming from the file", slog.String("upload", u.ID),
		slog.Int64("offset", u.Offset), slog.Int64("file", size))
	u.Offset = size
	return u, s.saveOffset(ctx, u)
}

// saveOffset records an upload's offset and moves its expiry on: uploads
// expire after UploadTTL without progress.
func (s *PhotoService) saveOffset(ctx context.Context, u *server.Upload) error {
	ctx = context.WithoutCancel(ctx) // bytes already on disk are recorded even if the device is gone
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u.ExpiresAt = tx.now.Add(server.UploadTTL).UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE uploads SET offset = ?, expires_at = ? WHERE id = ?`, u.Offset, ms(u.ExpiresAt), u.ID); err != nil {
		return fmt.Errorf("save upload offset: %w", err)
	}
	return tx.Commit()
}

// WriteUpload implements server.PhotoService.
func (s *PhotoService) WriteUpload(ctx context.Context, id string, c server.Chunk) (*server.Upload, error) {
	s.writing.Add(1)
	defer func() {
		s.lastWrite.Store(time.Now().UnixNano())
		if s.writing.Add(-1) == 0 {
			time.AfterFunc(thumbQuiet, s.poke) // the thumbnails that waited
		}
	}()
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !validUploadID(id) {
		return nil, server.Errorf(server.ENOTFOUND, "upload %.40q not found", id)
	}
	release, err := s.acquire(ctx, id, c.Interrupt)
	if err != nil {
		return nil, err
	}
	defer release()
	u, err := s.load(ctx, id, p.UserID)
	if err != nil {
		return nil, err
	}
	if u, err = s.repairOffset(ctx, u); err != nil {
		return nil, err
	}
	if c.Offset != u.Offset {
		return u, &server.Error{Code: server.EOFFSET, Message: fmt.Sprintf("chunk starts at %d, the upload is at %d: resume from there", c.Offset, u.Offset),
			Details: map[string]any{"offset": u.Offset}}
	}
	if c.Size > 0 && c.Offset+c.Size > u.Length {
		return u, overlong(u)
	}
	if u.State != server.UploadOpen || u.Offset == u.Length {
		// Every byte is in already: this is a retry of the last chunk whose
		// reply was lost, or of a finish the blob store refused.
		if n, _ := io.ReadFull(c.Body, make([]byte, 1)); n > 0 {
			return u, server.Errorf(server.ETOOLARGE, "the upload already has all %d bytes", u.Length)
		}
		return s.finish(ctx, u)
	}
	start := u.Offset
	tail, mime, photo, err := s.writeChunk(ctx, u, c)
	defer putHeld(photo)
	if err != nil {
		return u, err
	}
	// A tail that completes the upload is received but not yet recorded:
	// finish (or record, for a streamed photo) records it together with
	// its outcome.
	u.Offset += tail
	if mime != "" {
		// Streamed into the blob store and verified on its way.
		u.MIME = mime
		return u, s.record(context.WithoutCancel(ctx), u, true, photo)
	}
	if start < server.SniffLen && (u.Offset >= server.SniffLen || u.Offset == u.Length) {
		if err := s.sniffEarly(ctx, u); err != nil {
			return nil, err
		}
	}
	if u.Offset < u.Length {
		return u, nil
	}
	return s.finish(ctx, u)
}

// writeChunk appends c.Body to the upload's file at u.Offset and advances
// u.Offset (on disk and in the database) by the bytes kept. A body that
// runs past the upload's length is refused whole: the upload is left as
// before the chunk.
//
// Bytes that complete the upload are received but neither synced nor
// recorded: their count is returned as tail, and finish records them with
// the outcome (stored, or complete and synced when the blob store is down).
// A crash before that loses only the tail, which the device, not yet
// answered, sends again.
//
// A chunk that completes the upload may also be forwarded to the blob store
// while it arrives (stream); mime is then the photo's type, and the photo
// is stored and verified. If the chunk was the whole photo, photo holds its
// bytes, which then never went to the upload's file.
func (s *PhotoService) writeChunk(ctx context.Context, u *server.Upload, c server.Chunk) (tail int64, mime string, photo []byte, err error) {
	// One byte more than the upload lacks tells an overlong body.
	body := io.LimitReader(c.Body, u.Length-u.Offset+1)
	r := &receiver{s: s, ctx: ctx, u: u, body: body, lastCommit: time.Now()}
	defer r.close()
	if c.Checksum != nil {
		f, err := r.file()
		if err != nil {
			return 0, "", nil, err
		}
		tail, err := s.writeVerified(ctx, f, u, body, c, r.syncNew)
		return tail, "", nil, err
	}
	start := u.Offset
	if c.Size > 0 && start+c.Size == u.Length {
		mime = s.stream(ctx, r)
	}
	if mime == "" {
		// What the stream did not take (all of it, if there was none)
		// goes to the file.
		if err := r.flush(); err != nil {
			return 0, "", nil, err
		}
	}
	buf := make([]byte, 64<<10)
	for r.err == nil {
		r.Read(buf)
	}
	switch {
	case r.overlong:
		f, err := r.file()
		if err != nil {
			return 0, "", nil, err
		}
		return 0, "", nil, s.refuseOverlong(ctx, f, u, start)
	case r.err != io.EOF && r.bodyErr == nil:
		return 0, "", nil, r.err // the file or the database failed
	case r.bodyErr == nil && u.Offset+r.pending == u.Length:
		if r.hold {
			photo, r.held = r.held, nil // the caller's now: putHeld
		}
		return r.pending, mime, photo, nil
	}
	// Whatever arrived is kept, also when the body broke off: that is
	// what lets a 2G upload resume instead of restart.
	if err := r.commit(); err != nil {
		return 0, "", nil, err
	}
	if r.bodyErr != nil {
		return 0, "", nil, bodyError(r.bodyErr, u)
	}
	return 0, "", nil, nil
}

// maxHeld bounds the bytes of a streamed chunk held in memory instead of
// written to the upload's file (see receiver.hold); DefaultMaxStreams of
// them at most.
const maxHeld = 8 << 20

// heldBuffers recycles the memory of held chunks: fresh memory for every
// photo costs a page fault per 4 KiB, which was a fifth of the upload
// path's CPU.
var heldBuffers = sync.Pool{New: func() any { return new([]byte) }}

func getHeld(size int64) []byte {
	b := heldBuffers.Get().(*[]byte)
	if int64(cap(*b)) < size {
		*b = make([]byte, 0, max(size, 2<<20))
	}
	return (*b)[:0]
}

// putHeld gives b back for reuse; the caller must not touch it again.
func putHeld(b []byte) {
	if b != nil {
		heldBuffers.Put(&b)
	}
}

// receiver copies a chunk's body to the upload's file as it is read, and
// records its progress every checkpoint interval. It is itself a reader of
// the bytes it copied, so that stream can forward them to the blob store
// on their way.
type receiver struct {
	s    *PhotoService
	ctx  context.Context
	u    *server.Upload
	body io.Reader
	// f is the upload's file, opened by the first write that needs it;
	// created says this chunk made it.
	f       *os.File
	created bool
	// With hold set (a stream of a whole photo is running), received bytes
	// are held in memory, up to maxHeld, instead of written to the file: a
	// photo stored on its way needs no file at all. A checkpoint, a body
	// that breaks off or a failed stream writes them out (flush).
	hold       bool
	held       []byte
	pending    int64 // received, not yet synced and recorded
	lastCommit time.Time
	// err ends the reading: io.EOF, the body's error (also in bodyErr), an
	// overlong body (overlong is set) or a failure of the file or the
	// database.
	err      error
	bodyErr  error
	overlong bool
}

var errOverlong = errors.New("the body runs past the upload's length")

// file opens the upload's file at the recorded offset. Bytes past the
// offset are the unrecorded tail of a chunk that broke off (or failed its
// checksum): they are dropped.
func (r *receiver) file() (*os.File, error) {
	if r.f != nil {
		return r.f, nil
	}
	path := r.s.partPath(r.u.ID)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open upload file: %w", err)
	}
	if err := f.Truncate(r.u.Offset); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate upload file: %w", err)
	}
	if _, err := f.Seek(r.u.Offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek upload file: %w", err)
	}
	r.f, r.created = f, errors.Is(statErr, fs.ErrNotExist)
	return f, nil
}

func (r *receiver) close() {
	if r.f != nil {
		r.f.Close()
	}
	putHeld(r.held)
}

// syncNew makes a file this chunk created durable in its folder, before an
// offset that relies on it is recorded.
func (r *receiver) syncNew() error {
	if !r.created {
		return nil
	}
	r.created = false
	return syncDir(r.s.dir)
}

func (r *receiver) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.body.Read(p)
	if n > 0 {
		if r.u.Offset+r.pending+int64(n) > r.u.Length {
			r.overlong, r.err = true, errOverlong
			return 0, r.err
		}
		if werr := r.write(p[:n]); werr != nil {
			r.err = werr
			return 0, r.err
		}
		r.pending += int64(n)
		// The last byte is recorded only once the body has ended, so
		// an overlong body is refused before it completes the upload.
		if time.Since(r.lastCommit) >= r.s.checkpoint && r.u.Offset+r.pending < r.u.Length {
			if cerr := r.commit(); cerr != nil {
				r.err = cerr
				return 0, cerr
			}
		}
	}
	if err != nil {
		if err != io.EOF {
			r.bodyErr = err
		}
		r.err = err
	}
	return n, err
}

// write holds p or writes it to the file.
func (r *receiver) write(p []byte) error {
	if r.hold && len(r.held)+len(p) <= maxHeld {
		if r.held == nil {
			r.held = getHeld(min(r.u.Length-r.u.Offset, maxHeld))
		}
		r.held = append(r.held, p...)
		return nil
	}
	if err := r.flush(); err != nil {
		return err
	}
	f, err := r.file()
	if err != nil {
		return err
	}
	if _, err := f.Write(p); err != nil {
		return fmt.Errorf("write upload file: %w", err)
	}
	return nil
}

// flush writes the held bytes to the file, and ends holding: the bytes
// held are the whole chunk or nothing.
func (r *receiver) flush() error {
	r.hold = false
	if len(r.held) == 0 {
		return nil
	}
	f, err := r.file()
	if err != nil {
		return err
	}
	if _, err := f.Write(r.held); err != nil {
		return fmt.Errorf("write upload file: %w", err)
	}
	putHeld(r.held)
	r.held = nil
	return nil
}

// commit makes the bytes received so far durable and records them as the
// upload's offset.
func (r *receiver) commit() error {
	r.lastCommit = time.Now()
	if r.pending == 0 {
		return nil
	}
	if err := r.flush(); err != nil {
		return err
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("sync upload file: %w", err)
	}
	if err := r.syncNew(); err != nil {
		return fmt.Errorf("sync upload folder: %w", err)
	}
	r.u.Offset += r.pending
	r.pending = 0
	return r.s.saveOffset(r.ctx, r.u)
}

// writeVerified writes a chunk that carries a checksum: it is recorded only
// whole and matching, so a broken-off chunk is dropped entirely. A chunk
// that completes the upload is returned as tail, like writeChunk's.
func (s *PhotoService) writeVerified(ctx context.Context, f *os.File, u *server.Upload, body io.Reader, c server.Chunk, syncNew func() error) (tail int64, err error) {
	h := sha256.New()
	w := &errWriter{w: io.MultiWriter(f, h)}
	n, err := io.Copy(w, body)
	switch {
	case w.err != nil:
		return 0, fmt.Errorf("write upload file: %w", w.err)
	case u.Offset+n > u.Length:
		return 0, s.refuseOverlong(ctx, f, u, u.Offset)
	case err != nil:
		return 0, bodyError(err, u)
	case string(h.Sum(nil)) != string(c.Checksum):
		return 0, server.Errorf(server.ECHECKSUM, "the %d-byte chunk at %d does not match its Upload-Checksum: it was discarded, send it again", n, u.Offset)
	case n == 0:
		return 0, nil
	case u.Offset+n == u.Length:
		return n, nil
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync upload file: %w", err)
	}
	if err := syncNew(); err != nil {
		return 0, fmt.Errorf("sync upload folder: %w", err)
	}
	u.Offset += n
	return 0, s.saveOffset(ctx, u)
}

// refuseOverlong undoes a chunk whose body ran past the upload's length:
// its bytes are dropped and the offset goes back to where the chunk began
// (a long chunk may have recorded checkpoints), so nothing of it is kept.
func (s *PhotoService) refuseOverlong(ctx context.Context, f *os.File, u *server.Upload, start int64) error {
	if err := f.Truncate(start); err != nil {
		return fmt.Errorf("truncate upload file: %w", err)
	}
	if u.Offset != start {
		u.Offset = start
		if err := s.saveOffset(ctx, u); err != nil {
			return err
		}
	}
	return overlong(u)
}

func overlong(u *server.Upload) error {
	return &server.Error{Code: server.ETOOLARGE, Message: fmt.Sprintf("the chunk runs past the declared length of %d bytes: it was refused, nothing of it kept", u.Length),
		Details: map[string]any{"offset": u.Offset}}
}

// bodyError reports a body that broke off. The device is usually gone; if
// not, it learns where to resume.
func bodyError(err error, u *server.Upload) error {
	return &server.Error{Code: server.EINVALID, Message: fmt.Sprintf("the body broke off (%v): the bytes up to %d are kept, resume there", err, u.Offset),
		Details: map[string]any{"offset": u.Offset}}
}

// errWriter remembers a write error, to tell it from a read error of the
// body in io.Copy.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// sniffEarly refuses an upload as soon as its first bytes show it is not a
// photo, before the device spends its data plan on the rest.
func (s *PhotoService) sniffEarly(ctx context.Context, u *server.Upload) error {
	head, err := readHead(s.partPath(u.ID), server.SniffLen)
	if err != nil {
		return err
	}
	if server.SniffPhoto(head) != "" {
		return nil
	}
	if err := s.discard(ctx, u); err != nil {
		return err
	}
	return server.Errorf(server.EPHOTOTYPE, "the upload is not a JPEG, PNG, WebP or HEIC photo: it was discarded")
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read upload file: %w", err)
	}
	defer f.Close()
	head := make([]byte, n)
	k, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read upload file: %w", err)
	}
	return head[:k], nil
}

// discard removes an upload and its bytes.
func (s *PhotoService) discard(ctx context.Context, u *server.Upload) error {
	ctx = context.WithoutCancel(ctx)
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, u.ID); err != nil {
		return fmt.Errorf("delete upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := os.Remove(s.partPath(u.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove upload file", slog.String("upload", u.ID), slog.Any("err", err))
	}
	return nil
}

// finish moves an upload whose bytes are all in to stored: verify (hash,
// type), then store (blob store, photos row), recorded in one transaction.
// If storing fails, the verified bytes are synced and the upload recorded
// complete, so the background loop stores it later. The caller holds the
// lock.
func (s *PhotoService) finish(ctx context.Context, u *server.Upload) (*server.Upload, error) {
	// The device may be gone; the verified bytes are stored regardless.
	ctx = context.WithoutCancel(ctx)
	if u.State == server.UploadOpen && u.Offset == u.Length {
		mime, err := s.verify(ctx, u)
		if err != nil {
			return nil, err
		}
		u.MIME = mime
		if err := s.store(ctx, u); err != nil {
			if rerr := s.recordComplete(ctx, u); rerr != nil {
				return nil, rerr
			}
			return u, err
		}
		return u, nil
	}
	if u.State == server.UploadComplete {
		if err := s.store(ctx, u); err != nil {
			return u, err
		}
	}
	return u, nil
}

// verify checks the whole file against the declared hash and sniffs its
// type. A refused upload is discarded.
func (s *PhotoService) verify(ctx context.Context, u *server.Upload) (mime string, err error) {
	f, err := os.Open(s.partPath(u.ID))
	if err != nil {
		return "", fmt.Errorf("open upload file: %w", err)
	}
	h := sha256.New()
	head := make([]byte, server.SniffLen)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	h.Write(head)
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("hash upload file: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != u.SHA256 {
		if err := s.discard(ctx, u); err != nil {
			return "", err
		}
		return "", &server.Error{Code: server.EHASHMISMATCH, Message: "the uploaded bytes do not have the declared sha256: nothing was stored and the upload was discarded",
			Details: map[string]any{"declared": u.SHA256, "received": got}}
	}
	if mime = server.SniffPhoto(head); mime == "" {
		if err := s.discard(ctx, u); err != nil {
			return "", err
		}
		return "", server.Errorf(server.EPHOTOTYPE, "the upload is not a JPEG, PNG, WebP or HEIC photo: nothing was stored")
	}
	return mime, nil
}

// recordComplete makes a verified upload's bytes durable and records it
// complete: the background loop stores it, and it is never expired.
func (s *PhotoService) recordComplete(ctx context.Context, u *server.Upload) error {
	f, err := os.OpenFile(s.partPath(u.ID), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open upload file: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(s.dir) // the file may be new
	}
	if err != nil {
		return fmt.Errorf("sync upload file: %w", err)
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE uploads SET state = 'complete', offset = length, mime = ?, completed_at = ? WHERE id = ?`,
		u.MIME, ms(tx.now), u.ID); err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	u.State = server.UploadComplete
	return nil
}

// store puts a verified upload's bytes into the blob store (once: a photo
// already recorded is not sent again), records the photo with its EXIF data
// and the upload as stored in one transaction, and removes the file. A
// blob store outage is EUNAVAILABLE; finish then records the upload
// complete, for a retry.
func (s *PhotoService) store(ctx context.Context, u *server.Upload) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	key := blob.PrefixPhoto + u.SHA256
	path := s.partPath(u.ID)
	exists, err := s.photoRecorded(ctx, u.SHA256)
	if err != nil {
		return err
	}
	if !exists {
		// No Stat first: the object is there only if a crash came between
		// a Put and its commit, and then putting the same bytes again
		// under the same key costs one Put, while a Stat before every new
		// photo costs a round trip each (a fifth of the store time).
		if err := s.put(ctx, key, path, u); err != nil {
			return err
		}
	}
	return s.record(ctx, u, !exists, nil)
}

// photoRecorded reports whether the photo sha256 is stored and recorded:
// its bytes are not sent to the blob store again.
func (s *PhotoService) photoRecorded(ctx context.Context, sha256 string) (bool, error) {
	var exists bool
	if err := s.db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = ?)`, sha256).Scan(&exists); err != nil {
		return false, fmt.Errorf("find photo: %w", err)
	}
	return exists, nil
}

// record records a verified upload whose bytes are in the blob store as
// stored, and the photo, with its EXIF data, if it is new, in one
// transaction; then it removes the upload's file. The photo's bytes are
// read from the file, or from photo if they are not in it.
func (s *PhotoService) record(ctx context.Context, u *server.Upload, newPhoto bool, photo []byte) error {
	path := s.partPath(u.ID)
	var meta *exif.Meta
	if newPhoto {
		meta = s.readExif(path, photo, u.Length)
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if newPhoto {
		var taken, lat, lng any
		if !meta.TakenAt.IsZero() {
			taken = ms(meta.TakenAt)
		}
		if meta.HasGPS {
			lat, lng = meta.Lat, meta.Lng
		}
		thumbState := 0
		if u.MIME == server.MIMEHEIC || u.MIME == server.MIMEHEIF {
			thumbState = -1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO photos (sha256, size, mime, uploader, device_id, uploaded_at, taken_at, lat, lng, orientation, thumb)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
			u.SHA256, u.Length, u.MIME, u.UserID, u.DeviceID, ms(tx.now), taken, lat, lng, meta.Orientation, thumbState); err != nil {
			return fmt.Errorf("insert photo: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO photo_uploaders (sha256, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, u.SHA256, u.UserID); err != nil {
		return fmt.Errorf("record uploader: %w", err)
	}
	// The record answers HEAD for UploadTTL more: a device whose last
	// reply was lost learns the photo is stored.
	u.ExpiresAt = tx.now.Add(server.UploadTTL).UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE uploads SET state = 'stored', offset = length, mime = ?, completed_at = COALESCE(completed_at, ?), expires_at = ? WHERE id = ?`,
		u.MIME, ms(tx.now), ms(u.ExpiresAt), u.ID); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	u.State = server.UploadStored
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove upload file", slog.String("upload", u.ID), slog.Any("err", err))
	}
	s.poke()
	return nil
}

func (s *PhotoService) put(ctx context.Context, key, path string, u *server.Upload) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open upload file: %w", err)
	}
	defer f.Close()
	if err := s.blobs.Put(ctx, key, f, u.Length, u.MIME); err != nil {
		return s.blobError(ctx, "put", u, err)
	}
	return nil
}

// blobError maps a blob store failure of the finishing step: an outage is
// EUNAVAILABLE (retry; the bytes are safe on disk), anything else internal.
func (s *PhotoService) blobError(ctx context.Context, op string, u *server.Upload, err error) error {
	if errors.Is(err, blob.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		s.log.WarnContext(ctx, "photo store unavailable; the upload is kept and retried", slog.String("upload", u.ID),
			slog.String("op", op), slog.Any("err", err))
		return &server.Error{Code: server.EUNAVAILABLE, Message: "the photo store is unavailable: the photo is safe on the server and will be stored; retry later",
			Details: map[string]any{"received": true, "retry_after": s.retryAfter()}}
	}
	return fmt.Errorf("blob %s %s: %w", op, u.SHA256, err)
}

// readExif reads the capture metadata from photo, or from the file at path
// if photo is nil; a photo without (or with broken) EXIF data is still
// evidence, with empty metadata.
func (s *PhotoService) readExif(path string, photo []byte, size int64) *exif.Meta {
	var r io.ReaderAt = bytes.NewReader(photo)
	if photo == nil {
		f, err := os.Open(path)
		if err != nil {
			return &exif.Meta{}
		}
		defer f.Close()
		r = f
	}
	m, err := exif.Read(r, size, s.zone)
	if err != nil {
		if !errors.Is(err, exif.ErrNoExif) {
			s.log.Info("photo EXIF data unreadable", slog.String("file", filepath.Base(path)), slog.Any("err", err))
		}
		return &exif.Meta{}
	}
	return m
}

// poke wakes the background loop (thumbnails), without waiting.
func (s *PhotoService) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// DeleteUpload implements server.PhotoService.
func (s *PhotoService) DeleteUpload(ctx context.Context, id string) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	if !validUploadID(id) {
		return server.Errorf(server.ENOTFOUND, "upload %.40q not found", id)
	}
	release, err := s.acquire(ctx, id, nil)
	if err != nil {
		return err
	}
	defer release()
	u, err := s.load(ctx, id, p.UserID)
	if err != nil {
		return err
	}
	if u.State == server.UploadComplete {
		return server.Errorf(server.ECONFLICT, "the upload is complete and verified; it is being stored and cannot be terminated")
	}
	return s.discard(ctx, u)
}

// loop runs sweeps until Close.
func (s *PhotoService) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.retry)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// sweep finishes uploads whose bytes are all in (the blob store was down,
// or the server stopped in between), makes pending thumbnails and removes
// expired uploads.
func (s *PhotoService) sweep(ctx context.Context) {
	ids, err := s.ids(ctx, `SELECT id FROM uploads WHERE state = 'complete' OR (state = 'open' AND offset = length) ORDER BY created_at LIMIT ?`, sweepBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Error("photo sweep", slog.Any("err", err))
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if err := s.finishInBackground(ctx, id); server.ErrorCode(err) == server.EUNAVAILABLE {
			break // the others would fail the same way
		} else if err != nil && server.ErrorCode(err) == server.EINTERNAL {
			s.log.Error("finish upload", slog.String("upload", id), slog.Any("err", err))
		}
	}
	shas, err := s.ids(ctx, `SELECT sha256 FROM photos WHERE thumb = 0 LIMIT ?`, sweepBatch)
	if err != nil && ctx.Err() == nil {
		s.log.Error("photo sweep", slog.Any("err", err))
	}
	for _, sha := range shas {
		if ctx.Err() != nil {
			return
		}
		// Decoding a photo costs more CPU than receiving and storing it
		// (docs/BENCHMARKS-photos.md): on a small server it would slow the
		// uploads down. Thumbnails wait until no upload has been written
		// for thumbQuiet (a device's next photo follows its last within
		// milliseconds); one asked for meanwhile is made on demand.
		if s.writing.Load() > 0 || time.Since(time.Unix(0, s.lastWrite.Load())) < thumbQuiet {
			break
		}
		if _, err := s.makeThumb(ctx, sha); server.ErrorCode(err) == server.EUNAVAILABLE {
			break
		} else if err != nil {
			s.log.Error("make thumbnail", slog.String("sha256", sha), slog.Any("err", err))
		}
	}
	s.expire(ctx)
}

func (s *PhotoService) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// finishInBackground finishes one upload if no request is working on it.
func (s *PhotoService) finishInBackground(ctx context.Context, id string) error {
	release, ok := s.tryAcquire(id)
	if !ok {
		return nil
	}
	defer release()
	u, err := s.load(ctx, id, 0)
	if err != nil {
		return err
	}
	_, err = s.finish(ctx, u)
	return err
}

// expire removes uploads past their expiry: open ones with their bytes
// (the device still has the photo and starts again), stored ones (only the
// record). Complete ones are never dropped: they are verified evidence
// waiting for the blob store.
func (s *PhotoService) expire(ctx context.Context) {
	ids, err := s.ids(ctx, `SELECT id FROM uploads WHERE state != 'complete' AND expires_at < ? LIMIT ?`, ms(s.db.Now()), sweepBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("expire uploads", slog.Any("err", err))
		}
		return
	}
	for _, id := range ids {
		release, ok := s.tryAcquire(id)
		if !ok {
			continue
		}
		u, err := s.load(ctx, id, 0)
		if err == nil {
			err = s.discard(ctx, u)
		}
		release()
		if err != nil && server.ErrorCode(err) != server.ENOTFOUND {
			s.log.Error("expire upload", slog.String("upload", id), slog.Any("err", err))
		}
	}
}
