package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridsync/gridsync/syncproto"
)

// Photo states. A photo is waiting_ref until an op that puts it into a
// document is accepted (ref_rejected if every such op was refused), then
// queued, uploading while a tus upload holds part of it, received when the
// server has verified every byte but its object store has not taken them
// yet, and stored once the server confirms the stored photo; only then is
// the local copy removed. refused means the server (or the SDK, checking
// the local copy) refused the bytes: the copy is kept for the user.
const (
	PhotoWaitingRef  = "waiting_ref"
	PhotoQueued      = "queued"
	PhotoUploading   = "uploading"
	PhotoReceived    = "received"
	PhotoStored      = "stored"
	PhotoRefused     = "refused"
	PhotoRefRejected = "ref_rejected"
)

// States of a photo reference (PhotoRef.State): the verdict of its op.
const (
	RefPending  = "pending"
	RefAccepted = "accepted"
	RefRejected = "rejected"
)

// Limits of photos, the same as the server's (docs/PROTOCOL-photos.md), so a
// photo is refused on the device, where the user still is, rather than
// after it was sent.
const (
	// MaxPhotoSize bounds the photo that is queued (after downscaling): the
	// protocol's limit.
	MaxPhotoSize = syncproto.MaxPhotoSize
	// MaxSourceSize bounds a file given to AttachPhoto with MaxEdge: it is
	// read into memory to be downscaled.
	MaxSourceSize = 64 << 20
	// MaxPixels bounds the canvas decoded for downscaling: a small file can
	// declare a huge one.
	MaxPixels = 64 << 20
)

// Codes of photo refusals (Photo.ErrorCode, and the Code of the
// *syncproto.RejectError AttachPhoto returns), beside syncproto.CodeTooLarge
// and the server's codes.
const (
	// CodeUnsupportedPhoto: the file is not a JPEG, PNG, WebP or HEIC photo.
	CodeUnsupportedPhoto = "unsupported_photo"
	// CodeHashMismatch: the bytes no longer hash to the photo's sha256 (the
	// local copy changed after it was attached, or the server received
	// other bytes).
	CodeHashMismatch = "hash_mismatch"
	// CodeLocalCopyMissing: the local copy of an unsent photo is gone (the
	// app's data folder was cleaned behind the SDK's back).
	CodeLocalCopyMissing = "local_copy_missing"
)

// AttachOptions tunes AttachPhoto. The zero value keeps the photo as taken.
type AttachOptions struct {
	// MaxEdge, when positive, downscales a JPEG, PNG or WebP photo whose
	// longer side (once turned upright) exceeds it: the picture is turned
	// upright by its EXIF orientation, scaled to fit, and re-encoded as a
	// JPEG that keeps the original's EXIF block (capture time, GPS) with
	// the orientation set to upright. The downscaled file is then the
	// evidence: its hash is the photo's. A photo within MaxEdge, HEIC
	// (which pure Go cannot decode) and a photo that does not decode here
	// (a canvas over MaxPixels, a JPEG feature Go lacks) are kept byte for
	// byte.
	MaxEdge int
	// Quality is the JPEG quality of a downscaled photo, 1..100; 0 means
	// DefaultJPEGQuality.
	Quality int
}

// DefaultJPEGQuality is the quality of downscaled photos: text on a
// fire extinguisher's label stays readable.
const DefaultJPEGQuality = 85

// Photo is a photo attached on this device and where its upload stands.
type Photo struct {
	// SHA256 is the photo's content address (64 lowercase hex digits).
	SHA256 string
	// State is one of the Photo* states.
	State string
	Size  int64
	MIME  string
	// Path is the local copy the SDK keeps until the server has stored the
	// photo; "" after that.
	Path string
	// Uploaded is how many bytes the server has confirmed.
	Uploaded int64
	// Attempts counts failed upload attempts since the last progress;
	// NextTry is when the next attempt may start (zero: at once).
	Attempts int
	NextTry  time.Time
	// ErrorCode and LastError say why the last attempt failed or why the
	// photo was refused (CodeHashMismatch, "too_large"...).
	ErrorCode string
	LastError string
	CreatedAt time.Time
	// StoredAt is when the server confirmed the photo (device clock).
	StoredAt time.Time
	// Refs are the ops that put the photo into documents.
	Refs []PhotoRef
}

// PhotoRef is an op of this device that puts a photo into a document field.
type PhotoRef struct {
	Collection string
	Doc        string
	Field      string
	Seq        uint64
	// State is RefPending, RefAccepted or RefRejected: the op's verdict.
	State string
}

// photoPath is where the local copy of a photo lives.
func (c *Client) photoPath(sha string) string { return filepath.Join(c.photoDir, sha) }

// AttachPhoto puts the photo in file path into a document's photo field and
// queues its upload, and returns the photo's sha256. The field must hold
// photos: a sha256 set (the photo is added, e.g. hazards.photos) or a sha256
// scalar (the photo replaces the value, e.g. inspections.signature). It
// works offline like Update, and is refused like Update (the document must
// exist on the device; schema and role are checked).
//
// The file is checked by content (JPEG, PNG, WebP or HEIC, as the server
// checks it: a *syncproto.RejectError with CodeUnsupportedPhoto otherwise),
// optionally downscaled (opt.MaxEdge), limited to MaxPhotoSize
// (syncproto.CodeTooLarge), hashed, and copied into the SDK's folder beside
// its file (<file>.photos/<sha256>, synced to disk); then one local
// transaction appends the op and queues the photo. The copy is kept until
// the server confirms the stored photo; the original file is not needed
// after AttachPhoto returns. Attaching the same bytes twice queues them once.
// The upload starts once the op is accepted: Sync, or UploadPhotos.
func (c *Client) AttachPhoto(collection, docID, field, path string, opt AttachOptions) (string, error) {
	col, ok := c.schema.Collection(collection)
	if !ok {
		return "", unknownCollection(collection)
	}
	f, ok := col.Field(field)
	if !ok {
		return "", reject(syncproto.CodeUnknownField, "collection %q has no field %q", collection, field)
	}
	if f.Type != syncproto.TypeSHA256 || f.Kind == syncproto.KindFlow {
		return "", reject(syncproto.CodeUnknownField, "%s.%s does not hold photos (it is a %s %s field)", collection, field, f.Kind, f.Type)
	}
	if opt.Quality < 0 || opt.Quality > 100 || opt.MaxEdge < 0 {
		return "", reject(syncproto.CodeInvalidValue, "attach options: quality %d (want 0..100), max edge %d (want >= 0)", opt.Quality, opt.MaxEdge)
	}
	user := c.User()
	if user == nil {
		return "", fmt.Errorf("attach photo to %s/%s: %w", collection, docID, ErrLoginRequired)
	}
	// Fail before the work of copying when the document is not there; the
	// write below checks again in its transaction.
	if _, err := c.Get(collection, docID); errors.Is(err, ErrNotFound) {
		return "", reject(syncproto.CodeNotFound, "%s/%s does not exist on this device", collection, docID)
	} else if err != nil {
		return "", err
	}
	ph, err := preparePhoto(path, opt)
	if err != nil {
		return "", err
	}
	c.photoMu.Lock()
	defer c.photoMu.Unlock()
	if err := c.keepCopy(ph); err != nil {
		return "", err
	}
	ch := Change{Add: map[string][]string{field: {ph.sha}}}
	if f.Kind == syncproto.KindLWW {
		ch = Change{Set: map[string]any{field: ph.sha}}
	}
	// The photo is queued and the op appended in one transaction.
	err = c.update(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO photos (sha256, size, mime, filename, state, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (sha256) DO NOTHING`, ph.sha, int64(len(ph.data)), ph.mime, ph.filename, PhotoWaitingRef, c.opt.Now().UnixMilli()); err != nil {
			return fmt.Errorf("queue photo: %w", err)
		}
		return c.writeTx(tx, user, collection, docID, changeOp(docID, ch))
	})
	c.dropUnneededCopy(ph.sha)
	if err != nil {
		return "", err
	}
	return ph.sha, nil
}

// dropUnneededCopy removes the copy just written when no unsent photo
// needs it: its queueing failed, or the same bytes were attached before
// and the server already has them (the new reference needs no upload).
// A copy an earlier attachment still needs is the same bytes: it stays.
// The caller holds photoMu.
func (c *Client) dropUnneededCopy(sha string) {
	var state string
	err := c.r.QueryRow(`SELECT state FROM photos WHERE sha256 = ?`, sha).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) || err == nil && state == PhotoStored {
		os.Remove(c.photoPath(sha))
	}
	// On a read error the copy stays; Open's sweep removes it if unneeded.
}

// keepCopy writes the prepared photo into the SDK's folder under its hash:
// a temporary file, synced, renamed into place, and the folder synced, so
// after a crash the copy is either whole or absent.
func (c *Client) keepCopy(ph *prepared) error {
	if err := os.MkdirAll(c.photoDir, 0o700); err != nil {
		return fmt.Errorf("photo folder: %w", err)
	}
	tmp := filepath.Join(c.photoDir, ph.sha+tmpMark+rand.Text()[:8])
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("photo copy: %w", err)
	}
	_, err = f.Write(ph.data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.photoPath(ph.sha))
	}
	if err == nil {
		err = syncDir(c.photoDir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("photo copy: %w", err)
	}
	return nil
}

// tmpMark is in the names of copies being written.
const tmpMark = ".tmp-"

// syncDir makes the folder's entries (a rename) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sweepPhotos removes from the photo folder what no unsent photo needs:
// copies half-written when the app died, copies whose queueing transaction
// never committed, and copies of stored photos whose removal was cut short.
// It runs on Open, before anything else can attach a photo.
func (c *Client) sweepPhotos() error {
	entries, err := os.ReadDir(c.photoDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("photo folder: %w", err)
	}
	keep := map[string]bool{}
	rows, err := c.r.Query(`SELECT sha256 FROM photos WHERE state != ?`, PhotoStored)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sha string
		if err := rows.Scan(&sha); err != nil {
			return err
		}
		keep[sha] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(c.photoDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.log.Warn("photo folder: cannot remove a stale file", slog.String("name", e.Name()), slog.Any("err", err))
			}
		}
	}
	return nil
}

// photoValues returns the photo hashes an op writes, by field: elements
// added to sha256 sets and values of sha256 scalars.
func photoValues(col *syncproto.Collection, op *syncproto.Op) map[string][]string {
	out := map[string][]string{}
	for name, raw := range op.Set {
		if f, ok := col.Field(name); ok && f.Type == syncproto.TypeSHA256 {
			var sha string
			if json.Unmarshal(raw, &sha) == nil && sha != "" {
				out[name] = append(out[name], sha)
			}
		}
	}
	for name, elems := range op.Add {
		if f, ok := col.Field(name); ok && f.Type == syncproto.TypeSHA256 {
			out[name] = append(out[name], elems...)
		}
	}
	return out
}

// linkPhotos records, in the transaction that appends op, that op puts
// photos queued on this device into its document: whichever way a photo's
// hash gets into a document (AttachPhoto, or a Create or Update naming an
// attached photo again), the photo uploads once such an op is accepted.
func linkPhotos(tx *sql.Tx, col *syncproto.Collection, op *syncproto.Op) error {
	linked := false
	for field, shas := range photoValues(col, op) {
		for _, sha := range shas {
			res, err := tx.Exec(`INSERT INTO photo_refs (sha256, seq, collection, doc_id, field, priority, state)
				SELECT sha256, ?, ?, ?, ?, ?, ? FROM photos WHERE sha256 = ? ON CONFLICT DO NOTHING`,
				op.Seq, op.Collection, op.Doc, field, col.Priority, RefPending, sha)
			if err != nil {
				return fmt.Errorf("link photo %s: %w", sha, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				linked = true
			}
		}
	}
	if !linked {
		return nil
	}
	return refreshPhotoStates(tx)
}

// refreshPhotoStates moves photos that wait for their references by the
// references' verdicts: queued once one is accepted, waiting_ref while one
// is pending, ref_rejected when all were refused.
func refreshPhotoStates(tx *sql.Tx) error {
	_, err := tx.Exec(`UPDATE photos SET state = CASE
			WHEN EXISTS (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256 AND r.state = ?) THEN ?
			WHEN EXISTS (SELECT 1 FROM photo_refs r WHERE r.sha256 = photos.sha256 AND r.state = ?) THEN ?
			ELSE ? END
		WHERE state IN (?, ?)`,
		RefAccepted, PhotoQueued, RefPending, PhotoWaitingRef, PhotoRefRejected, PhotoWaitingRef, PhotoRefRejected)
	if err != nil {
		return fmt.Errorf("photo states: %w", err)
	}
	return nil
}

// refVerdict records the verdict of the op seq for the photos it
// references, and reports whether it changed any reference (the caller
// then refreshes the photos' states).
func refVerdict(tx *sql.Tx, seq uint64, state string) (bool, error) {
	res, err := tx.Exec(`UPDATE photo_refs SET state = ? WHERE seq = ? AND state = ?`, state, seq, RefPending)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

const photoColumns = `sha256, state, size, mime, uploaded, attempts, next_try_ms, error_code, last_error, created_at, stored_at`

func (c *Client) scanPhotos(q queryer, where string, args ...any) ([]*Photo, error) {
	rows, err := q.QueryContext(context.Background(), `SELECT `+photoColumns+` FROM photos `+where, args...)
	if err != nil {
		return nil, err
	}
	var out []*Photo
	for rows.Next() {
		p := &Photo{}
		var next, created, stored int64
		if err := rows.Scan(&p.SHA256, &p.State, &p.Size, &p.MIME, &p.Uploaded, &p.Attempts, &next, &p.ErrorCode, &p.LastError,
			&created, &stored); err != nil {
			rows.Close()
			return nil, err
		}
		if next > 0 {
			p.NextTry = time.UnixMilli(next)
		}
		if stored > 0 {
			p.StoredAt = time.UnixMilli(stored)
		}
		p.CreatedAt = time.UnixMilli(created)
		if p.State != PhotoStored {
			p.Path = c.photoPath(p.SHA256)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range out {
		if p.Refs, err = photoRefs(q, p.SHA256, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// photoRefs returns the references of a photo in seq order; only those in
// state, if state is not "".
func photoRefs(q queryer, sha, state string) ([]PhotoRef, error) {
	rows, err := q.QueryContext(context.Background(), `SELECT collection, doc_id, field, seq, state FROM photo_refs
		WHERE sha256 = ? AND (? = '' OR state = ?) ORDER BY seq`, sha, state, state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PhotoRef
	for rows.Next() {
		var r PhotoRef
		if err := rows.Scan(&r.Collection, &r.Doc, &r.Field, &r.Seq, &r.State); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Photos lists every photo attached on this device, oldest first, with its
// state, references and last error.
func (c *Client) Photos() ([]*Photo, error) {
	var out []*Photo
	err := c.view(func(tx *sql.Tx) (err error) {
		out, err = c.scanPhotos(tx, `ORDER BY created_at, sha256`)
		return err
	})
	return out, err
}

// PendingPhotos lists the photos the server has not stored yet, oldest
// first: those still to upload, and those refused or whose every
// reference was rejected, which need the user.
func (c *Client) PendingPhotos() ([]*Photo, error) {
	var out []*Photo
	err := c.view(func(tx *sql.Tx) (err error) {
		out, err = c.scanPhotos(tx, `WHERE state != ? ORDER BY created_at, sha256`, PhotoStored)
		return err
	})
	return out, err
}

// DismissPhoto forgets a photo the user has dealt with: a refused photo or
// one whose every reference was rejected (its local copy is deleted), or a
// stored one (only the entry goes). A photo still on its way cannot be
// dismissed (ErrConflict): the SDK never drops evidence it may still send.
func (c *Client) DismissPhoto(sha string) error {
	c.photoMu.Lock()
	defer c.photoMu.Unlock()
	err := c.update(func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRow(`SELECT state FROM photos WHERE sha256 = ?`, sha).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("photo %.64s: %w", sha, ErrNotFound)
		} else if err != nil {
			return err
		}
		if state != PhotoRefused && state != PhotoRefRejected && state != PhotoStored {
			return fmt.Errorf("photo %s is %s: %w (only refused, ref_rejected or stored photos can be dismissed)", sha, state, ErrConflict)
		}
		for _, q := range []string{`DELETE FROM photo_refs WHERE sha256 = ?`, `DELETE FROM photos WHERE sha256 = ?`} {
			if _, err := tx.Exec(q, sha); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := os.Remove(c.photoPath(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the local copy: %w", err)
	}
	return nil
}

// hashFile returns the sha256 of a file.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// uploadFilename is the file name sent with an upload: the source's base
// name, cut to the server's limit on a rune boundary, control characters
// replaced.
func uploadFilename(path string) string {
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, filepath.Base(path))
	for len(name) > syncproto.MaxPhotoFilename {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}
