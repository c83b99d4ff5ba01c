package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

// A demo site in grid111 and where it is.
const (
	demoSite    = "0192f000-0000-7000-8000-000000000001"
	demoSiteLat = 27.962686
	demoSiteLng = 120.584811
)

// countingStore wraps a blob.Store, counts Puts per key and can be switched
// to fail like a store that is down: a hand-written mock at the boundary.
type countingStore struct {
	blob.Store
	mu   sync.Mutex
	puts map[string]int
	down atomic.Bool
	// cutGets makes the bodies of Gets break after a few bytes, like a
	// store that drops the connection mid-read.
	cutGets atomic.Bool
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, typ string) error {
	if c.down.Load() {
		return blob.ErrUnavailable
	}
	c.mu.Lock()
	c.puts[key]++
	c.mu.Unlock()
	return c.Store.Put(ctx, key, r, size, typ)
}

func (c *countingStore) Stat(ctx context.Context, key string) (blob.Info, error) {
	if c.down.Load() {
		return blob.Info{}, blob.ErrUnavailable
	}
	return c.Store.Stat(ctx, key)
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if c.down.Load() {
		return nil, blob.Info{}, blob.ErrUnavailable
	}
	rc, info, err := c.Store.Get(ctx, key)
	if err == nil && c.cutGets.Load() {
		rc = &cutBody{ReadCloser: rc, left: 1000}
	}
	return rc, info, err
}

// cutBody yields 1000 bytes of a body, then fails as the store's readers
// do when the connection drops.
type cutBody struct {
	io.ReadCloser
	left int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("%w: connection reset by peer", blob.ErrUnavailable)
	}
	n, err := c.ReadCloser.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

func (c *countingStore) putsOf(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts[key]
}

type photoEnv struct {
	*syncEnv
	blobs  *countingStore
	dir    string
	photos *sqlite.PhotoService
}

func mustPhotoEnv(tb testing.TB) *photoEnv {
	tb.Helper()
	e := &photoEnv{syncEnv: mustSyncEnv(tb), dir: tb.TempDir()}
	folder, err := blob.NewFolder(filepath.Join(e.dir, "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	e.blobs = &countingStore{Store: folder, puts: map[string]int{}}
	e.photos = e.mustPhotos(tb)
	return e
}

// mustPhotos starts a photo service on the env's database, store and
// upload folder; set, if given, changes its options.
func (e *photoEnv) mustPhotos(tb testing.TB, set ...func(*sqlite.PhotoOptions)) *sqlite.PhotoService {
	tb.Helper()
	opts := sqlite.PhotoOptions{Blobs: e.blobs, Dir: filepath.Join(e.dir, "uploads"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), RetryInterval: 50 * time.Millisecond}
	for _, f := range set {
		f(&opts)
	}
	s, err := sqlite.NewPhotoService(e.db, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// upload sends a whole photo in one chunk.
func (e *photoEnv) upload(tb testing.TB, ctx context.Context, photo []byte) (*server.Upload, error) {
	tb.Helper()
	u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
	if err != nil {
		tb.Fatal(err)
	}
	return e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(photo)})
}

// hazardWithPhotos pushes a hazard at the demo site referencing photos.
func (e *photoEnv) hazardWithPhotos(tb testing.TB, ctx context.Context, d *device, id string, shas ...string) {
	tb.Helper()
	e.hazardAt(tb, ctx, d, demoSite, id, shas...)
}

// hazardAt pushes a hazard at a site referencing photos.
func (e *photoEnv) hazardAt(tb testing.TB, ctx context.Context, d *device, site, id string, shas ...string) {
	tb.Helper()
	op := d.op("hazards", id, map[string]any{"site": site, "title": "灭火器过期"})
	op.Flow = map[string]syncproto.FlowStep{"status": {To: "reported", Round: 1}}
	if len(shas) > 0 {
		op.Add = map[string][]string{"photos": shas}
	}
	wantVerdict(tb, mustPush(tb, e.sync, ctx, d.push(op)).Verdicts[0], "accepted", "")
}

// brokenReader yields data, then fails like a dropped connection.
type brokenReader struct {
	data []byte
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, errors.New("connection reset by peer")
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func TestPhotoUpload(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-photo")
	photo := exiftest.JPEG(t, exiftest.Options{Width: 800, Height: 600, TakenAt: time.Now().Format("2006:01:02 15:04:05"), Offset: "+08:00",
		GPS: true, Lat: demoSiteLat + 0.0005, Lng: demoSiteLng})
	sha := hashOf(photo)
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-photo"), "hz-photo-1", sha)

	missing, err := e.photos.Missing(ctx, server.MissingQuery{})
	if err != nil || len(missing) != 1 || missing[0].SHA256 != sha || missing[0].Refs[0].DocID != "hz-photo-1" {
		t.Fatalf("missing before upload: %+v, %v", missing, err)
	}

	u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: sha, Length: int64(len(photo)), Filename: "IMG_0001.jpg", Doc: "hazards/hz-photo-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The connection drops after 1000 bytes: they are kept.
	got, err := e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: &brokenReader{data: photo[:1000]}})
	wantCode(t, err, server.EINVALID)
	if got.Offset != 1000 {
		t.Fatalf("offset after a broken chunk: got %d, want 1000", got.Offset)
	}
	if u, err = e.photos.Upload(ctx, u.ID); err != nil || u.Offset != 1000 || u.State != server.UploadOpen {
		t.Fatalf("HEAD: %+v, %v", u, err)
	}
	_, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Offset: 500, Body: bytes.NewReader(photo[500:])})
	wantCode(t, err, server.EOFFSET)
	u, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Offset: 1000, Body: bytes.NewReader(photo[1000:])})
	if err != nil || u.State != server.UploadStored || u.Offset != int64(len(photo)) {
		t.Fatalf("last chunk: %+v, %v", u, err)
	}

	rc, ph, err := e.photos.OpenPhoto(ctx, sha, false)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(stored, photo) || ph.MIME != server.MIMEJPEG || ph.Size != int64(len(photo)) {
		t.Fatalf("stored photo differs: %d bytes, %s", len(stored), ph.MIME)
	}
	if ph.GPS == nil || ph.TakenAt == nil {
		t.Fatalf("EXIF not kept: %+v", ph)
	}

	dp, err := e.photos.DocPhotos(ctx, "hazards", "hz-photo-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(dp.Photos) != 1 || !dp.Photos[0].Present || len(dp.Photos[0].Flags) != 0 || !dp.Evidence.Complete {
		t.Fatalf("doc photos: %+v %+v", dp.Evidence, dp.Photos[0])
	}
	if d := *dp.Photos[0].DistanceM; d < 50 || d > 60 {
		t.Errorf("distance to the site: got %.1f m, want ~55.6", d)
	}
	if missing, _ := e.photos.Missing(ctx, server.MissingQuery{}); len(missing) != 0 {
		t.Fatalf("missing after upload: %+v", missing)
	}
	// The upload's record answers HEAD until it expires.
	if u, err := e.photos.Upload(ctx, u.ID); err != nil || u.Offset != u.Length {
		t.Fatalf("HEAD after completion: %+v, %v", u, err)
	}
}

func TestPhotoThumbnailOnce(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-thumb")
	photo := exiftest.JPEG(t, exiftest.Options{Width: 1200, Height: 900, Orientation: 6, TakenAt: "2026:01:01 10:00:00"})
	sha := hashOf(photo)
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-thumb"), "hz-thumb", sha)
	if _, err := e.upload(t, ctx, photo); err != nil {
		t.Fatal(err)
	}
	// Many readers at once, racing the background loop: one thumbnail.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rc, ph, err := e.photos.OpenPhoto(ctx, sha, true)
			if err != nil {
				t.Error(err)
				return
			}
			rc.Close()
			if ph.MIME != "image/jpeg" {
				t.Errorf("thumbnail type %s", ph.MIME)
			}
		})
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // a few background sweeps
	if n := e.blobs.putsOf(blob.PrefixThumb + sha); n != 1 {
		t.Fatalf("thumbnail put %d times, want 1", n)
	}
}

// A store that drops the connection while a photo is read for its
// thumbnail is an outage: the thumbnail is retried, not given up.
func TestPhotoThumbnailRetriedAfterCutRead(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-thumbcut")
	photo := exiftest.JPEG(t, exiftest.Options{Width: 800, Height: 600, Seed: 5})
	sha := hashOf(photo)
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-thumbcut"), "hz-thumbcut", sha)
	if _, err := e.upload(t, ctx, photo); err != nil {
		t.Fatal(err)
	}
	e.blobs.cutGets.Store(true)
	_, _, err := e.photos.OpenPhoto(ctx, sha, true)
	wantCode(t, err, server.EUNAVAILABLE)
	e.blobs.cutGets.Store(false)
	rc, ph, err := e.photos.OpenPhoto(ctx, sha, true)
	if err != nil {
		t.Fatalf("thumbnail once the store is back: %v", err)
	}
	rc.Close()
	if ph.MIME != "image/jpeg" {
		t.Fatalf("thumbnail type %s", ph.MIME)
	}
}

func TestPhotoRefusals(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-refuse")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 3})

	t.Run("ErrHashMismatch", func(t *testing.T) {
		u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf([]byte("other")), Length: int64(len(photo))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(photo)})
		wantCode(t, err, server.EHASHMISMATCH)
		_, err = e.photos.Upload(ctx, u.ID)
		wantCode(t, err, server.ENOTFOUND) // discarded
		if n := e.blobs.putsOf(blob.PrefixPhoto + hashOf(photo)); n != 0 {
			t.Fatalf("stored %d times", n)
		}
	})
	t.Run("ErrNotAPhoto", func(t *testing.T) {
		pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 5000)...)
		u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(pdf), Length: int64(len(pdf))})
		if err != nil {
			t.Fatal(err)
		}
		// Refused on the first chunk, before the rest is sent.
		_, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(pdf[:100])})
		wantCode(t, err, server.EPHOTOTYPE)
		_, err = e.photos.Upload(ctx, u.ID)
		wantCode(t, err, server.ENOTFOUND)
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		_, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: syncproto.MaxPhotoSize + 1})
		wantCode(t, err, server.ETOOLARGE)
	})
	t.Run("ErrBodyPastLength", func(t *testing.T) {
		u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(append(photo, "extra"...))})
		wantCode(t, err, server.ETOOLARGE)
	})
	t.Run("ErrChecksum", func(t *testing.T) {
		other := exiftest.JPEG(t, exiftest.Options{Seed: 4})
		u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(other), Length: int64(len(other))})
		if err != nil {
			t.Fatal(err)
		}
		bad := sha256.Sum256([]byte("not the chunk"))
		got, err := e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(other[:200]), Checksum: bad[:]})
		wantCode(t, err, server.ECHECKSUM)
		if got.Offset != 0 {
			t.Fatalf("offset after a bad chunk: %d", got.Offset)
		}
		good := sha256.Sum256(other[:200])
		if got, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(other[:200]), Checksum: good[:]}); err != nil || got.Offset != 200 {
			t.Fatalf("good chunk: %+v, %v", got, err)
		}
	})
	t.Run("ErrOtherUsersUpload", func(t *testing.T) {
		u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
		if err != nil {
			t.Fatal(err)
		}
		other := e.as(t, "worker-1-1-2", "phone-w112-refuse")
		_, err = e.photos.Upload(other, u.ID)
		wantCode(t, err, server.ENOTFOUND)
		wantCode(t, e.photos.DeleteUpload(other, u.ID), server.ENOTFOUND)
		if err := e.photos.DeleteUpload(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrQuota", func(t *testing.T) {
		qctx := e.as(t, "worker-1-1-3", "phone-w113-quota")
		for i := range server.MaxOpenUploads {
			if _, err := e.photos.CreateUpload(qctx, server.NewUpload{SHA256: hashOf([]byte{byte(i)}), Length: 1000}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.photos.CreateUpload(qctx, server.NewUpload{SHA256: hashOf(photo), Length: 1000})
		wantCode(t, err, server.EQUOTA)
		var e2 *server.Error
		if !errors.As(err, &e2) || e2.Details["retry_after"] != 1 {
			t.Fatalf("quota error without retry_after: %#v", err)
		}
		bctx := e.as(t, "worker-1-2-1", "phone-w121-quota")
		for i := range server.MaxOpenUploadBytes / syncproto.MaxPhotoSize {
			if _, err := e.photos.CreateUpload(bctx, server.NewUpload{SHA256: hashOf([]byte{byte(i), 1}), Length: syncproto.MaxPhotoSize}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.photos.CreateUpload(bctx, server.NewUpload{SHA256: hashOf(photo), Length: syncproto.MaxPhotoSize})
		wantCode(t, err, server.EQUOTA)
	})
	t.Run("ErrBadMetadata", func(t *testing.T) {
		for _, nu := range []server.NewUpload{
			{SHA256: strings.ToUpper(hashOf(photo)), Length: 10},
			{SHA256: hashOf(photo), Length: 0},
			{SHA256: hashOf(photo), Length: 10, Filename: "a\nb"},
			{SHA256: hashOf(photo), Length: 10, Doc: "hazards"},
			{SHA256: hashOf(photo), Length: 10, Metadata: strings.Repeat("x", server.MaxUploadMetadata+1)},
			{SHA256: hashOf(photo), Length: 10, Metadata: "sha256 \x00"},
		} {
			_, err := e.photos.CreateUpload(ctx, nu)
			wantCode(t, err, server.EINVALID)
		}
	})
}

// A photo uploaded twice (two devices, or a retry after a lost reply) is
// stored once.
func TestPhotoDuplicateStoredOnce(t *testing.T) {
	e := mustPhotoEnv(t)
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 7})
	for _, who := range []string{"worker-1-1-1", "worker-1-1-2"} {
		ctx := e.as(t, who, "phone-"+who)
		if u, err := e.upload(t, ctx, photo); err != nil || u.State != server.UploadStored {
			t.Fatalf("%s: %+v, %v", who, u, err)
		}
	}
	if n := e.blobs.putsOf(blob.PrefixPhoto + hashOf(photo)); n != 1 {
		t.Fatalf("photo put %d times, want 1", n)
	}
	if n, _ := sqlite.CountRows(context.Background(), e.db, "photos"); n != 1 {
		t.Fatalf("%d photo rows", n)
	}
}

// While the blob store is down the verified bytes wait on disk; the
// background loop stores them when it is back, without the device.
func TestPhotoStoreOutage(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-outage")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 9})
	sha := hashOf(photo)
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-outage"), "hz-outage", sha)

	e.blobs.down.Store(true)
	u, err := e.upload(t, ctx, photo)
	wantCode(t, err, server.EUNAVAILABLE)
	if u.State != server.UploadComplete {
		t.Fatalf("state %s, want complete", u.State)
	}
	_, err = e.photos.Upload(ctx, u.ID) // the device's retry
	wantCode(t, err, server.EUNAVAILABLE)
	wantCode(t, e.photos.DeleteUpload(ctx, u.ID), server.ECONFLICT)
	missing, err := e.photos.Missing(ctx, server.MissingQuery{})
	if err != nil || len(missing) != 1 || !missing[0].Received {
		t.Fatalf("missing during the outage: %+v, %v", missing, err)
	}

	e.blobs.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		missing, err = e.photos.Missing(ctx, server.MissingQuery{})
		if err == nil && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not stored by the background loop: %+v, %v", missing, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if u, err := e.photos.Upload(ctx, u.ID); err != nil || u.State != server.UploadStored {
		t.Fatalf("after the outage: %+v, %v", u, err)
	}
}

// Partial bytes and offsets survive a restart of the photo service (the
// end-to-end test in server/http restarts the whole program).
func TestPhotoUploadSurvivesRestart(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-restart")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 11, Width: 300, Height: 200})
	u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: &brokenReader{data: photo[:777]}}); server.ErrorCode(err) != server.EINVALID {
		t.Fatal(err)
	}
	e.photos.Close()
	e.photos = e.mustPhotos(t)
	got, err := e.photos.Upload(ctx, u.ID)
	if err != nil || got.Offset != 777 {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if got, err = e.photos.WriteUpload(ctx, u.ID, server.Chunk{Offset: 777, Body: bytes.NewReader(photo[777:])}); err != nil || got.State != server.UploadStored {
		t.Fatalf("resume: %+v, %v", got, err)
	}
}

// A photo is readable only inside the area of a document referencing it;
// elsewhere the answer is the same as for a photo that does not exist.
func TestPhotoReadAuthorization(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-auth")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 13})
	sha := hashOf(photo)
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-auth"), "hz-auth", sha)
	if _, err := e.upload(t, ctx, photo); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, sha, code string
	}{
		{"worker-1-1-1", sha, ""},
		{"village-1-1", sha, ""},
		{"station-1", sha, ""},
		{"county", sha, ""},
		{"worker-1-1-2", sha, server.ENOTFOUND}, // the next grid
		{"worker-2-1-1", sha, server.ENOTFOUND}, // another township
		{"station-2", sha, server.ENOTFOUND},
		{"worker-1-1-1", hashOf([]byte("nothing")), server.ENOTFOUND},
		{"worker-1-1-1", "../../etc/passwd", server.ENOTFOUND},
	}
	for _, tt := range tests {
		rc, _, err := e.photos.OpenPhoto(e.as(t, tt.user, "phone-auth-"+tt.user), tt.sha, false)
		if rc != nil {
			rc.Close()
		}
		if got := server.ErrorCode(err); got != tt.code {
			t.Errorf("%s: got %q (%v), want %q", tt.user, got, err, tt.code)
		}
		if err != nil && server.ErrorMessage(err) != "photo not found" {
			t.Errorf("%s: message %q reveals more than not found", tt.user, server.ErrorMessage(err))
		}
	}
	_, err := e.photos.DocPhotos(e.as(t, "worker-2-1-1", "phone-auth-w211"), "hazards", "hz-auth")
	wantCode(t, err, server.ENOTFOUND)
}

// Photos far from their site or taken long before the record are flagged,
// and kept.
func TestPhotoFlags(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-flags")
	now := time.Now().In(time.FixedZone("CST", 8*3600))
	photos := map[string][]byte{
		"near":  exiftest.JPEG(t, exiftest.Options{Seed: 20, TakenAt: now.Format("2006:01:02 15:04:05"), GPS: true, Lat: demoSiteLat, Lng: demoSiteLng}),
		"far":   exiftest.JPEG(t, exiftest.Options{Seed: 21, TakenAt: now.Format("2006:01:02 15:04:05"), GPS: true, Lat: demoSiteLat + 0.01, Lng: demoSiteLng}),
		"old":   exiftest.JPEG(t, exiftest.Options{Seed: 22, TakenAt: now.Add(-72 * time.Hour).Format("2006:01:02 15:04:05"), GPS: true, Lat: demoSiteLat, Lng: demoSiteLng}),
		"plain": exiftest.JPEG(t, exiftest.Options{Seed: 23}),
	}
	want := map[string][]string{"near": {}, "far": {server.FlagGPSFar}, "old": {server.FlagTimeOff}, "plain": {server.FlagNoGPS, server.FlagNoTime}}
	var shas []string
	name := map[string]string{}
	for n, p := range photos {
		shas = append(shas, hashOf(p))
		name[hashOf(p)] = n
	}
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-flags"), "hz-flags", shas...)
	for _, p := range photos {
		if _, err := e.upload(t, ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	dp, err := e.photos.DocPhotos(ctx, "hazards", "hz-flags")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dp.Photos {
		n := name[p.SHA256]
		if strings.Join(p.Flags, ",") != strings.Join(want[n], ",") {
			t.Errorf("%s: flags %v, want %v", n, p.Flags, want[n])
		}
	}
	if ev := dp.Evidence; !ev.Complete || ev.Photos != 4 || ev.Flagged != 2 {
		t.Errorf("evidence %+v", ev)
	}
	all, err := e.photos.Evidence(ctx, "hazards", nil)
	if err != nil || len(all) != 1 || all[0].DocID != "hz-flags" {
		t.Fatalf("evidence of the area: %+v, %v", all, err)
	}
}

// Complete uploads (verified, waiting for the blob store) do not count
// against the quota: during a long outage a user with many verified photos
// can still start new uploads.
func TestPhotoQuotaIgnoresComplete(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-quota-outage")
	e.blobs.down.Store(true)
	for i := range server.MaxOpenUploads {
		u, err := e.upload(t, ctx, exiftest.JPEG(t, exiftest.Options{Width: 16, Height: 16, Seed: 100 + i}))
		wantCode(t, err, server.EUNAVAILABLE)
		if u.State != server.UploadComplete {
			t.Fatalf("upload %d: state %s, want complete", i, u.State)
		}
	}
	photo := exiftest.JPEG(t, exiftest.Options{Width: 16, Height: 16, Seed: 99})
	if _, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))}); err != nil {
		t.Fatalf("creation with %d complete uploads waiting: %v", server.MaxOpenUploads, err)
	}
}

// A creation sent again (its reply was lost) finds the upload the device
// already has, in whatever state; another device, or another length, gets
// its own.
func TestPhotoCreateIdempotent(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-idem")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 31})
	nu := server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo)), Metadata: "sha256 " + hashOf(photo)}
	first, err := e.photos.CreateUpload(ctx, nu)
	if err != nil {
		t.Fatal(err)
	}
	if first.ExpiresAt.Sub(first.CreatedAt) != server.UploadStartTTL {
		t.Errorf("a new upload expires after %v, want %v", first.ExpiresAt.Sub(first.CreatedAt), server.UploadStartTTL)
	}
	again, err := e.photos.CreateUpload(ctx, nu)
	if err != nil || again.ID != first.ID || again.Offset != 0 {
		t.Fatalf("second creation: %+v, %v; want upload %s", again, err, first.ID)
	}
	if _, err := e.photos.WriteUpload(ctx, first.ID, server.Chunk{Body: bytes.NewReader(photo[:100])}); err != nil {
		t.Fatal(err)
	}
	if again, err = e.photos.CreateUpload(ctx, nu); err != nil || again.ID != first.ID || again.Offset != 100 ||
		time.Until(again.ExpiresAt) < server.UploadTTL-time.Minute {
		t.Fatalf("creation after 100 bytes: %+v, %v", again, err)
	}
	other, err := e.photos.CreateUpload(e.as(t, "worker-1-1-1", "phone-w111-idem2"), nu)
	if err != nil || other.ID == first.ID {
		t.Fatalf("another device: %+v, %v; want a new upload", other, err)
	}
	longer := nu
	longer.Length++
	if u, err := e.photos.CreateUpload(ctx, longer); err != nil || u.ID == first.ID {
		t.Fatalf("another length: %+v, %v; want a new upload", u, err)
	}
	if _, err := e.photos.WriteUpload(ctx, first.ID, server.Chunk{Offset: 100, Body: bytes.NewReader(photo[100:])}); err != nil {
		t.Fatal(err)
	}
	if again, err = e.photos.CreateUpload(ctx, nu); err != nil || again.ID != first.ID || again.State != server.UploadStored ||
		again.Offset != again.Length || again.Metadata != nu.Metadata {
		t.Fatalf("creation after the photo was stored: %+v, %v", again, err)
	}
}

// An upload that never received a byte expires after UploadStartTTL (it
// holds quota); one that did lives UploadTTL after its last write.
func TestPhotoUnstartedUploadExpires(t *testing.T) {
	e := mustPhotoEnv(t)
	e.photos.Close() // a service whose loop sees the skewed clock below
	var skew atomic.Int64
	e.db.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e.photos = e.mustPhotos(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-expire")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 32})
	idle, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
	if err != nil {
		t.Fatal(err)
	}
	started, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo)) + 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.photos.WriteUpload(ctx, started.ID, server.Chunk{Body: bytes.NewReader(photo[:10])}); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(server.UploadStartTTL + time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.photos.Upload(ctx, idle.ID)
		if server.ErrorCode(err) == server.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unstarted upload not expired after %v: %v", server.UploadStartTTL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if u, err := e.photos.Upload(ctx, started.ID); err != nil || u.Offset != 10 {
		t.Fatalf("started upload after %v: %+v, %v", server.UploadStartTTL, u, err)
	}
}

// An upload's doc must be a document in the caller's area: one elsewhere
// gets the same answer as one that does not exist.
func TestPhotoUploadDocArea(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-doc")
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-doc"), "hz-doc-mine")
	ctx211 := e.as(t, "worker-2-1-1", "phone-w211-doc")
	e.hazardAt(t, ctx211, newDevice("phone-w211-doc"), otherTownshipSite, "hz-doc-theirs")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 33})
	nu := server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo)), Doc: "hazards/hz-doc-mine"}
	if _, err := e.photos.CreateUpload(ctx, nu); err != nil {
		t.Fatalf("doc in the area: %v", err)
	}
	var msgs []string
	for _, doc := range []string{"hazards/hz-doc-theirs", "hazards/hz-doc-nowhere"} {
		nu.Doc = doc
		_, err := e.photos.CreateUpload(ctx, nu)
		wantCode(t, err, server.EFORBIDDEN)
		msgs = append(msgs, strings.ReplaceAll(server.ErrorMessage(err), doc, "DOC"))
	}
	if msgs[0] != msgs[1] {
		t.Fatalf("a doc of another area is told apart from a missing one: %q vs %q", msgs[0], msgs[1])
	}
}

// otherTownshipSite is a demo site in worker-2-1-1's grid.
const otherTownshipSite = "0192f000-0000-7000-8000-00000000001f"

// Knowing a photo's hash is not possessing it: a worker of another
// township who references the hash from a document of their own area can
// neither read the photo nor see it as present; it is missing for them
// until they upload the bytes themselves.
func TestPhotoHashAloneReadsNothing(t *testing.T) {
	e := mustPhotoEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-w111-hash")
	photo := exiftest.JPEG(t, exiftest.Options{Seed: 34, GPS: true, Lat: demoSiteLat, Lng: demoSiteLng})
	sha := hashOf(photo)
	e.hazardWithPhotos(t, ctx, newDevice("phone-w111-hash"), "hz-hash-owner", sha)
	if _, err := e.upload(t, ctx, photo); err != nil {
		t.Fatal(err)
	}
	ctx211 := e.as(t, "worker-2-1-1", "phone-w211-hash")
	e.hazardAt(t, ctx211, newDevice("phone-w211-hash"), otherTownshipSite, "hz-hash-thief", sha)

	for _, who := range []context.Context{ctx211, e.as(t, "station-2", "phone-s2-hash")} {
		_, _, err := e.photos.OpenPhoto(who, sha, false)
		wantCode(t, err, server.ENOTFOUND)
		_, _, err = e.photos.OpenPhoto(who, sha, true)
		wantCode(t, err, server.ENOTFOUND)
		dp, err := e.photos.DocPhotos(who, "hazards", "hz-hash-thief")
		if err != nil || len(dp.Photos) != 1 || dp.Photos[0].Present || dp.Photos[0].Photo != nil || dp.Evidence.Complete {
			t.Fatalf("doc photos of the referencing doc: %+v, %v", dp, err)
		}
	}
	missing, err := e.photos.Missing(ctx211, server.MissingQuery{})
	if err != nil || len(missing) != 1 || missing[0].SHA256 != sha || missing[0].Received {
		t.Fatalf("missing for the referencing device: %+v, %v", missing, err)
	}
	// The owner's area is unaffected.
	if rc, _, err := e.photos.OpenPhoto(ctx, sha, false); err != nil {
		t.Fatalf("owner: %v", err)
	} else {
		rc.Close()
	}
	// Whoever has the bytes proves it by uploading them (stored once).
	if u, err := e.upload(t, ctx211, photo); err != nil || u.State != server.UploadStored {
		t.Fatalf("upload by worker-2-1-1: %+v, %v", u, err)
	}
	rc, _, err := e.photos.OpenPhoto(ctx211, sha, false)
	if err != nil {
		t.Fatalf("after uploading the bytes: %v", err)
	}
	rc.Close()
	if n := e.blobs.putsOf(blob.PrefixPhoto + sha); n != 1 {
		t.Fatalf("photo put %d times, want 1", n)
	}
}

// A chunk that runs past the upload's length is refused whole (413), with
// or without a checksum, with or without a declared size, and leaves the
// upload as it was: the right chunk then completes it.
func TestPhotoOverlongChunk(t *testing.T) {
	e := mustPhotoEnv(t)
	// A checkpoint at every read, so an unsized body has recorded offsets
	// before it is found too long.
	e.photos.Close()
	e.photos = e.mustPhotos(t, func(o *sqlite.PhotoOptions) { o.CheckpointInterval = time.Nanosecond })
	ctx := e.as(t, "worker-1-1-1", "phone-w111-long")
	photo := exiftest.JPEG(t, exiftest.Options{Noise: true, Width: 600, Height: 400, Seed: 35})
	if len(photo) < 100<<10 {
		t.Fatalf("photo of %d bytes, want several reads' worth", len(photo))
	}
	long := append(append([]byte{}, photo...), "extra bytes"...)
	u, err := e.photos.CreateUpload(ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.photos.WriteUpload(ctx, u.ID, server.Chunk{Body: bytes.NewReader(photo[:1000])}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(long[1000:])
	for name, c := range map[string]server.Chunk{
		"Sized":              {Offset: 1000, Size: int64(len(long) - 1000), Body: bytes.NewReader(long[1000:])},
		"Unsized":            {Offset: 1000, Body: bytes.NewReader(long[1000:])},
		"UnsizedChecksummed": {Offset: 1000, Body: bytes.NewReader(long[1000:]), Checksum: sum[:]},
	} {
		got, err := e.photos.WriteUpload(ctx, u.ID, c)
		wantCode(t, err, server.ETOOLARGE)
		if got == nil || got.Offset != 1000 {
			t.Fatalf("%s: upload after the refusal: %+v", name, got)
		}
		if now, err := e.photos.Upload(ctx, u.ID); err != nil || now.Offset != 1000 || now.State != server.UploadOpen {
			t.Fatalf("%s: HEAD after the refusal: %+v, %v", name, now, err)
		}
		if fi, err := os.Stat(filepath.Join(e.dir, "uploads", u.ID+".part")); err != nil || fi.Size() != 1000 {
			t.Fatalf("%s: upload file after the refusal: %v, %v", name, fi.Size(), err)
		}
	}
	if got, err := e.photos.WriteUpload(ctx, u.ID, server.Chunk{Offset: 1000, Size: int64(len(photo) - 1000), Body: bytes.NewReader(photo[1000:])}); err != nil ||
		got.State != server.UploadStored {
		t.Fatalf("the right chunk: %+v, %v", got, err)
	}
}
