package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
	"github.com/gridsync/gridsync/server/sqlite"
)

// probeStore wraps the env's store to watch each Put of a photo: when it
// first reads its body, how far the device's body had been read then, and
// whether the upload's file existed when the body ended. failAfter, if
// set, makes the next Put fail like a store that goes down after reading
// that many bytes.
type probeStore struct {
	blob.Store
	body      *countingBody // the device's body of the upload being watched
	part      string        // the upload's file
	atFirst   atomic.Int64  // body bytes read when the Put first read (-1: no Put)
	partAtEnd atomic.Bool   // the file existed when the Put's body ended
	started   chan struct{} // closed at the Put's first read, if not nil
	failAfter atomic.Int64
}

func (p *probeStore) Put(ctx context.Context, key string, r io.Reader, size int64, typ string) error {
	if _, ok := blob.PhotoSum(key); !ok {
		return p.Store.Put(ctx, key, r, size, typ)
	}
	w := &probeReader{r: r, p: p}
	if n := p.failAfter.Swap(0); n > 0 {
		io.CopyN(io.Discard, w, n)
		return blob.ErrUnavailable
	}
	return p.Store.Put(ctx, key, w, size, typ)
}

type probeReader struct {
	r    io.Reader
	p    *probeStore
	read bool
}

func (w *probeReader) Read(b []byte) (int, error) {
	if !w.read {
		w.read = true
		w.p.atFirst.Store(w.p.body.n.Load())
		if w.p.started != nil {
			close(w.p.started)
		}
	}
	n, err := w.r.Read(b)
	if err == io.EOF {
		_, statErr := os.Stat(w.p.part)
		w.p.partAtEnd.Store(statErr == nil)
	}
	return n, err
}

// countingBody counts the bytes a device's body has yielded.
type countingBody struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// streamEnv is a photo env whose service writes through a probeStore.
type streamEnv struct {
	*photoEnv
	probe *probeStore
	ctx   context.Context
}

func mustStreamEnv(t *testing.T, maxStreams int) *streamEnv {
	e := &streamEnv{photoEnv: mustPhotoEnv(t)}
	e.probe = &probeStore{Store: e.blobs}
	e.photos.Close()
	e.photos = e.mustPhotos(t, func(o *sqlite.PhotoOptions) {
		o.Blobs, o.MaxStreams = e.probe, maxStreams
	})
	e.ctx = e.as(t, "worker-1-1-1", "phone-w111-stream")
	return e
}

// send creates an upload of photo declared with sha and sends body as one
// chunk of size bytes at offset 0 (a PATCH with Content-Length).
func (e *streamEnv) send(t *testing.T, sha string, photo []byte, body io.Reader, size int) (*server.Upload, error) {
	t.Helper()
	u, err := e.photos.CreateUpload(e.ctx, server.NewUpload{SHA256: sha, Length: int64(len(photo))})
	if err != nil {
		t.Fatal(err)
	}
	return e.resume(t, u, 0, body, size)
}

func (e *streamEnv) resume(t *testing.T, u *server.Upload, offset int64, body io.Reader, size int) (*server.Upload, error) {
	t.Helper()
	e.probe.body = &countingBody{r: body}
	e.probe.part = filepath.Join(e.dir, "uploads", u.ID+".part")
	e.probe.atFirst.Store(-1)
	return e.photos.WriteUpload(e.ctx, u.ID, server.Chunk{Offset: offset, Size: int64(size), Body: e.probe.body})
}

// waitStored waits for the background loop to store an upload.
func (e *streamEnv) waitStored(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := e.photos.Upload(e.ctx, id)
		if err == nil && u.State == server.UploadStored {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload not stored: %+v, %v", u, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantStored checks the store holds exactly photo under its hash.
func (e *streamEnv) wantStored(t *testing.T, photo []byte) {
	t.Helper()
	rc, _, err := e.blobs.Store.Get(t.Context(), blob.PrefixPhoto+hashOf(photo))
	if err != nil {
		t.Fatalf("stored photo: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, photo) {
		t.Fatalf("stored %d bytes that differ from the %d-byte photo", len(got), len(photo))
	}
}

// bigPhoto is a JPEG of about 330 KB, many reads long: a small JPEG
// with noise after its end (decoders stop at the end marker; a phone's
// photo has that much detail).
func bigPhoto(t *testing.T, seed int) []byte {
	photo := exiftest.JPEG(t, exiftest.Options{Seed: seed, TakenAt: "2026:11:20 10:00:00"})
	noise := make([]byte, 300_000)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(noise)
	return append(photo, noise...)
}

// A PATCH that completes an upload is forwarded to the blob store while it
// arrives: the store's Put reads it before the device has sent it all,
// and a whole photo is never written to the upload folder. With streams
// off, the photo is stored once it has all arrived, from its file.
func TestPhotoStreamedOnItsWay(t *testing.T) {
	for _, tt := range []struct {
		name       string
		maxStreams int
		streamed   bool
	}{
		{"Streamed", 0, true},
		{"StoredOnceArrived", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := mustStreamEnv(t, tt.maxStreams)
			photo := bigPhoto(t, 31)
			e.hazardWithPhotos(t, e.ctx, newDevice("phone-w111-stream"), "hz-streamed", hashOf(photo))
			u, err := e.send(t, hashOf(photo), photo, bytes.NewReader(photo), len(photo))
			if err != nil || u.State != server.UploadStored || u.MIME != server.MIMEJPEG {
				t.Fatalf("upload: %+v, %v", u, err)
			}
			e.wantStored(t, photo)
			if u, err = e.photos.Upload(e.ctx, u.ID); err != nil || time.Until(u.ExpiresAt) < server.UploadTTL-time.Minute {
				t.Fatalf("a stored upload's record expires at %v, want %v from now: %v", u.ExpiresAt, server.UploadTTL, err)
			}
			at := e.probe.atFirst.Load()
			if tt.streamed && (at < 0 || at >= int64(len(photo))) {
				t.Fatalf("the store first read the photo when %d of its %d bytes had arrived, want before the end", at, len(photo))
			}
			if !tt.streamed && at != int64(len(photo)) {
				t.Fatalf("the store first read the photo when %d of its %d bytes had arrived, want all", at, len(photo))
			}
			if got := e.probe.partAtEnd.Load(); got == tt.streamed {
				t.Fatalf("the upload's file existed when the store had read the photo: %v, want %v", got, !tt.streamed)
			}
			if ents, _ := os.ReadDir(filepath.Join(e.dir, "uploads")); len(ents) != 0 {
				t.Fatalf("the upload folder holds %d files after the photo was stored", len(ents))
			}
			rc, ph, err := e.photos.OpenPhoto(e.ctx, hashOf(photo), false)
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if ph.TakenAt == nil || ph.MIME != server.MIMEJPEG {
				t.Fatalf("the stored photo's record lacks its EXIF time or type: %+v", ph)
			}
		})
	}
}

// Whatever goes wrong during a stream, the photo ends up stored whole
// and verified, or refused with nothing stored; bytes that arrived are
// never asked for again.
func TestPhotoStreamFailures(t *testing.T) {
	t.Run("StoreFailsMidway", func(t *testing.T) {
		e := mustStreamEnv(t, 0)
		photo := bigPhoto(t, 32)
		e.probe.failAfter.Store(100_000)
		u, err := e.send(t, hashOf(photo), photo, bytes.NewReader(photo), len(photo))
		if err != nil || u.State != server.UploadStored {
			t.Fatalf("upload: %+v, %v", u, err)
		}
		// The stream broke off; the photo went on into the file and was
		// stored from there.
		if n := e.blobs.putsOf(blob.PrefixPhoto + hashOf(photo)); n != 1 {
			t.Fatalf("%d complete Puts, want 1 (after the failed one)", n)
		}
		e.wantStored(t, photo)
	})
	t.Run("StoreDown", func(t *testing.T) {
		e := mustStreamEnv(t, 0)
		photo := bigPhoto(t, 33)
		e.blobs.down.Store(true)
		u, err := e.send(t, hashOf(photo), photo, bytes.NewReader(photo), len(photo))
		wantCode(t, err, server.EUNAVAILABLE)
		var se *server.Error
		if !errors.As(err, &se) || se.Details["received"] != true || u.State != server.UploadComplete {
			t.Fatalf("upload while the store is down: %+v, %v", u, err)
		}
		e.blobs.down.Store(false)
		e.waitStored(t, u.ID)
		e.wantStored(t, photo)
	})
	t.Run("BodyBreaks", func(t *testing.T) {
		e := mustStreamEnv(t, 0)
		photo := bigPhoto(t, 34)
		const cut = 150_000
		u, err := e.send(t, hashOf(photo), photo, &brokenReader{data: photo[:cut]}, len(photo))
		wantCode(t, err, server.EINVALID)
		if u.Offset != cut {
			t.Fatalf("offset after the body broke: %d, want %d (the bytes that arrived are kept)", u.Offset, cut)
		}
		if _, err := e.blobs.Store.Stat(t.Context(), blob.PrefixPhoto+hashOf(photo)); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stored from a broken body: %v", err)
		}
		// The rest is streamed too, after the bytes kept in the file.
		u, err = e.resume(t, u, cut, bytes.NewReader(photo[cut:]), len(photo)-cut)
		if err != nil || u.State != server.UploadStored {
			t.Fatalf("resumed upload: %+v, %v", u, err)
		}
		if at := e.probe.atFirst.Load(); at < 0 || at >= int64(len(photo)-cut) {
			t.Fatalf("the store first read the resumed photo when %d of the %d bytes sent had arrived, want before the end", at, len(photo)-cut)
		}
		e.wantStored(t, photo)
	})
	t.Run("HashMismatch", func(t *testing.T) {
		e := mustStreamEnv(t, 0)
		photo, declared := bigPhoto(t, 35), bigPhoto(t, 36)
		u, err := e.photos.CreateUpload(e.ctx, server.NewUpload{SHA256: hashOf(declared), Length: int64(len(photo))})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.resume(t, u, 0, bytes.NewReader(photo), len(photo))
		wantCode(t, err, server.EHASHMISMATCH)
		if e.probe.atFirst.Load() < 0 {
			t.Fatal("the photo was not streamed: this case tests a stream")
		}
		for _, p := range [][]byte{photo, declared} {
			if _, err := e.blobs.Store.Stat(t.Context(), blob.PrefixPhoto+hashOf(p)); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("a refused photo is in the store: %v", err)
			}
		}
		_, err = e.photos.Upload(e.ctx, u.ID)
		wantCode(t, err, server.ENOTFOUND) // discarded
	})
	t.Run("NotAPhoto", func(t *testing.T) {
		e := mustStreamEnv(t, 0)
		pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 300_000)...)
		_, err := e.send(t, hashOf(pdf), pdf, bytes.NewReader(pdf), len(pdf))
		wantCode(t, err, server.EPHOTOTYPE)
		if e.probe.atFirst.Load() >= 0 {
			t.Fatal("a file that is not a photo reached the store")
		}
	})
}

// Streams are bounded: with every stream taken, a photo is stored once it
// has arrived, and both end up stored.
func TestPhotoStreamsBounded(t *testing.T) {
	e := mustStreamEnv(t, 1)
	first, second := bigPhoto(t, 37), bigPhoto(t, 38)
	pr, pw := io.Pipe()
	e.probe.started = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := e.send(t, hashOf(first), first, pr, len(first))
		done <- err
	}()
	if _, err := pw.Write(first[:len(first)/2]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.probe.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first photo's stream did not start")
	}
	e.probe.started = nil
	// The one stream is taken: the second photo waits for its last byte.
	// (probe.body now counts the second upload's body.)
	u, err := e.send(t, hashOf(second), second, bytes.NewReader(second), len(second))
	if err != nil || u.State != server.UploadStored {
		t.Fatalf("second upload: %+v, %v", u, err)
	}
	if at := e.probe.atFirst.Load(); at != int64(len(second)) {
		t.Fatalf("the second photo reached the store after %d of its %d bytes, want all (no stream free)", at, len(second))
	}
	if _, err := pw.Write(first[len(first)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("first upload: %v", err)
	}
	e.wantStored(t, first)
	e.wantStored(t, second)
}

// Property: however a photo is cut into chunks, whichever chunks declare
// their size (and so may stream), wherever bodies break off and streams
// fail, every byte that arrived is kept exactly once, the offset moves by
// exactly the bytes that arrived, and the photo ends up stored whole.
func TestPhotoStreamChunkingProperty(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 7))
		e := mustStreamEnv(t, 0)
		photo := bigPhoto(t, int(seed))
		u, err := e.photos.CreateUpload(e.ctx, server.NewUpload{SHA256: hashOf(photo), Length: int64(len(photo))})
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; u.State != server.UploadStored; step++ {
			if step > 200 {
				t.Fatalf("seed %d: not stored after %d chunks", seed, step)
			}
			left := len(photo) - int(u.Offset)
			n := left
			if rng.IntN(3) > 0 {
				n = 1 + rng.IntN(left)
			}
			chunk := photo[u.Offset : int(u.Offset)+n]
			size := 0
			if rng.IntN(2) == 0 {
				size = n // a PATCH with Content-Length
			}
			var body io.Reader = bytes.NewReader(chunk)
			arrive := n
			if rng.IntN(3) == 0 {
				arrive = rng.IntN(n + 1)
				body = &brokenReader{data: chunk[:arrive]}
			}
			if rng.IntN(3) == 0 {
				e.probe.failAfter.Store(int64(1 + rng.IntN(200_000)))
			}
			before := u.Offset
			got, err := e.resume(t, u, before, body, size)
			e.probe.failAfter.Store(0)
			switch {
			case arrive < n:
				wantCode(t, err, server.EINVALID)
			case server.ErrorCode(err) == server.EUNAVAILABLE:
				// The store failed the Put of a photo that had arrived
				// whole: it is complete, and the background loop stores it.
				e.waitStored(t, u.ID)
			case err != nil:
				t.Fatalf("seed %d step %d: chunk of %d at %d (size %d): %v", seed, step, n, before, size, err)
			}
			if u, err = e.photos.Upload(e.ctx, u.ID); err != nil {
				t.Fatalf("seed %d step %d: HEAD: %v", seed, step, err)
			}
			if u.Offset != before+int64(arrive) {
				t.Fatalf("seed %d step %d: offset %d after %d of a %d-byte chunk at %d arrived", seed, step, u.Offset, arrive, n, before)
			}
			if got != nil && got.Offset != u.Offset {
				t.Fatalf("seed %d step %d: the reply says offset %d, HEAD %d", seed, step, got.Offset, u.Offset)
			}
		}
		e.wantStored(t, photo)
	}
}
