// Package blobtest holds the contract every blob.Store must meet, as one
// test suite run against each implementation (the local folder and MinIO),
// so they cannot drift apart.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/blob"
)

// RunContract runs the blob.Store contract as subtests of t. newStore must
// return an empty store for each subtest; it may register cleanup with t.
// Optional abilities (blob.Pinger, blob.Presigner) are tested when the store
// has them.
func RunContract(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutGet", testPutGet},
		{"PutEmpty", testPutEmpty},
		{"DefaultContentType", testDefaultContentType},
		{"PhotoAndThumbAreSeparate", testPhotoAndThumbAreSeparate},
		{"PutTwiceOneCopy", testPutTwiceOneCopy},
		{"FailedPutKeepsOldCopy", testFailedPutKeepsOldCopy},
		{"StatNotFound", testStatNotFound},
		{"GetNotFound", testGetNotFound},
		{"DeleteAbsentOK", testDeleteAbsentOK},
		{"DeleteRemoves", testDeleteRemoves},
		{"InvalidKeyRefused", testInvalidKeyRefused},
		{"SizeMismatchRefused", testSizeMismatchRefused},
		{"ReaderErrorStoresNothing", testReaderErrorStoresNothing},
		{"PhotoKeyNamesItsBytes", testPhotoKeyNamesItsBytes},
		{"NoPartialObjectVisible", testNoPartialObjectVisible},
		{"LargeObject", testLargeObject},
		{"ConcurrentPutsSameKey", testConcurrentPutsSameKey},
		{"ContextCanceled", testContextCanceled},
		{"ContextCanceledMidPut", testContextCanceledMidPut},
		{"Ping", testPing},
		{"PresignGet", testPresignGet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func testPutGet(t *testing.T, s blob.Store) {
	data := randomBytes(t, 64<<10)
	key := photoKey(data)
	before := time.Now()
	mustPut(t, s, key, data, "image/jpeg")

	got, info := mustGet(t, s, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(data))
	}
	want := blob.Info{Key: key, Size: int64(len(data)), ContentType: "image/jpeg"}
	checkInfo(t, "Get", info, want, before)

	st, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	checkInfo(t, "Stat", st, want, before)
}

func testPutEmpty(t *testing.T, s blob.Store) {
	key := photoKey(nil)
	mustPut(t, s, key, nil, "image/jpeg")
	got, info := mustGet(t, s, key)
	if len(got) != 0 || info.Size != 0 {
		t.Fatalf("got %d bytes, Info.Size %d, want 0 and 0", len(got), info.Size)
	}
}

func testDefaultContentType(t *testing.T, s blob.Store) {
	data := randomBytes(t, 100)
	key := photoKey(data)
	mustPut(t, s, key, data, "")
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.ContentType != blob.DefaultContentType {
		t.Fatalf("got content type %q, want %q", info.ContentType, blob.DefaultContentType)
	}
}

// A photo and its thumbnail share the hex part of their keys; they must not
// overwrite each other.
func testPhotoAndThumbAreSeparate(t *testing.T, s blob.Store) {
	photo := randomBytes(t, 2000)
	thumb := randomBytes(t, 300)
	sum := sha256.Sum256(photo)
	photoKey := blob.PrefixPhoto + hex.EncodeToString(sum[:])
	thumbKey := blob.PrefixThumb + hex.EncodeToString(sum[:])
	mustPut(t, s, photoKey, photo, "image/jpeg")
	mustPut(t, s, thumbKey, thumb, "image/webp")

	if got, _ := mustGet(t, s, photoKey); !bytes.Equal(got, photo) {
		t.Fatalf("photo: got %d bytes, want the %d put", len(got), len(photo))
	}
	got, info := mustGet(t, s, thumbKey)
	if !bytes.Equal(got, thumb) || info.ContentType != "image/webp" {
		t.Fatalf("thumb: got %d bytes of %q, want the %d put of %q", len(got), info.ContentType, len(thumb), "image/webp")
	}
}

func testPutTwiceOneCopy(t *testing.T, s blob.Store) {
	data := randomBytes(t, 10_000)
	key := photoKey(data)
	mustPut(t, s, key, data, "image/jpeg")
	mustPut(t, s, key, data, "image/jpeg")

	got, info := mustGet(t, s, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want the %d put", len(got), len(data))
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("got Info.Size %d, want %d", info.Size, len(data))
	}
}

func testFailedPutKeepsOldCopy(t *testing.T, s blob.Store) {
	data := randomBytes(t, 100_000)
	key := photoKey(data)
	mustPut(t, s, key, data, "image/jpeg")

	err := s.Put(t.Context(), key, &failingReader{data: data[:50_000]}, int64(len(data)), "image/jpeg")
	if !errors.Is(err, errReader) {
		t.Fatalf("Put with failing reader: got %v, want %v", err, errReader)
	}
	err = s.Put(t.Context(), key, bytes.NewReader(data[:10]), int64(len(data)), "image/jpeg")
	if !errors.Is(err, blob.ErrInvalid) {
		t.Fatalf("Put with short body: got %v, want %v", err, blob.ErrInvalid)
	}

	got, info := mustGet(t, s, key)
	if !bytes.Equal(got, data) || info.Size != int64(len(data)) {
		t.Fatalf("after failed Puts: got %d bytes (Info.Size %d), want the original %d", len(got), info.Size, len(data))
	}
}

func testStatNotFound(t *testing.T, s blob.Store) {
	_, err := s.Stat(t.Context(), photoKey([]byte("absent")))
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("got %v, want %v", err, blob.ErrNotFound)
	}
}

func testGetNotFound(t *testing.T, s blob.Store) {
	rc, _, err := s.Get(t.Context(), photoKey([]byte("absent")))
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("got %v, want %v", err, blob.ErrNotFound)
	}
	if rc != nil {
		rc.Close()
		t.Fatal("got a reader with the error, want nil")
	}
}

func testDeleteAbsentOK(t *testing.T, s blob.Store) {
	if err := s.Delete(t.Context(), photoKey([]byte("absent"))); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func testDeleteRemoves(t *testing.T, s blob.Store) {
	data := randomBytes(t, 1000)
	key := photoKey(data)
	mustPut(t, s, key, data, "image/jpeg")
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after Delete: got %v, want %v", err, blob.ErrNotFound)
	}
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("second Delete: got %v, want nil", err)
	}
}

// invalidKeys must all be refused. Several would escape a folder or name a
// different object if a store used them as paths.
var invalidKeys = []string{
	"",
	"sha256/",
	"thumb/",
	"photo/" + strings.Repeat("a", 64),
	"sha256/" + strings.Repeat("a", 63),
	"sha256/" + strings.Repeat("a", 65),
	"sha256/" + strings.Repeat("A", 64),
	"sha256/" + strings.Repeat("g", 64),
	"sha256//" + strings.Repeat("a", 63),
	"sha256/../" + strings.Repeat("a", 61),
	"../sha256/" + strings.Repeat("a", 64),
	"/sha256/" + strings.Repeat("a", 64),
	"sha256/" + strings.Repeat("a", 64) + "/",
	"sha256/" + strings.Repeat("a", 64) + ".type",
	"SHA256/" + strings.Repeat("a", 64),
	"sha256\\" + strings.Repeat("a", 64),
	"sha256/" + strings.Repeat("a", 63) + "\x00",
	" sha256/" + strings.Repeat("a", 64),
}

func testInvalidKeyRefused(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, key := range invalidKeys {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1, "image/jpeg"); !errors.Is(err, blob.ErrInvalid) {
			t.Errorf("Put(%q): got %v, want %v", key, err, blob.ErrInvalid)
		}
		if rc, _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrInvalid) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Get(%q): got %v, want %v", key, err, blob.ErrInvalid)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrInvalid) {
			t.Errorf("Stat(%q): got %v, want %v", key, err, blob.ErrInvalid)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalid) {
			t.Errorf("Delete(%q): got %v, want %v", key, err, blob.ErrInvalid)
		}
	}
}

func testSizeMismatchRefused(t *testing.T, s blob.Store) {
	data := randomBytes(t, 20_000)
	tests := []struct {
		name string
		body []byte
		size int64
	}{
		{"Short", data[:10_000], int64(len(data))},
		{"Long", data, 10_000},
		{"EmptyBody", nil, 1},
		{"BodyForEmpty", data, 0},
		{"Negative", data, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := photoKey(append([]byte(tt.name), data...))
			err := s.Put(t.Context(), key, bytes.NewReader(tt.body), tt.size, "image/jpeg")
			if !errors.Is(err, blob.ErrInvalid) {
				t.Fatalf("Put: got %v, want %v", err, blob.ErrInvalid)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Stat after refused Put: got %v, want %v", err, blob.ErrNotFound)
			}
		})
	}
}

// A reader's error fails the Put and stores nothing, wherever it comes:
// part-way, with the last bytes, or after every declared byte instead of
// io.EOF. The server relies on the last two to forward a photo to the store
// while it arrives and refuse it at the end if its hash does not match.
func testReaderErrorStoresNothing(t *testing.T, s blob.Store) {
	data := randomBytes(t, 200_000)
	for _, tt := range []struct {
		name string
		r    io.Reader
	}{
		{"part-way", &failingReader{data: data[:100_000]}},
		{"with the last bytes", &failingReader{data: data, withLast: true}},
		{"instead of EOF", &failingReader{data: data}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := photoKey(data)
			err := s.Put(t.Context(), key, tt.r, int64(len(data)), "image/jpeg")
			if !errors.Is(err, errReader) {
				t.Fatalf("Put: got %v, want %v", err, errReader)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Stat after failed Put: got %v, want %v", err, blob.ErrNotFound)
			}
		})
	}
}

// A photo key is the SHA-256 of its bytes: the store refuses other bytes
// under it, whether the key is new or already holds the photo, and keeps
// nothing of them.
func testPhotoKeyNamesItsBytes(t *testing.T, s blob.Store) {
	photo := randomBytes(t, 300_000)
	forged := bytes.Clone(photo)
	forged[len(forged)-1] ^= 1 // differs in the last byte only
	key := photoKey(photo)

	err := s.Put(t.Context(), key, bytes.NewReader(forged), int64(len(forged)), "image/jpeg")
	if !errors.Is(err, blob.ErrWrongSum) || !errors.Is(err, blob.ErrInvalid) {
		t.Fatalf("Put of other bytes under a new photo key: got %v, want %v", err, blob.ErrWrongSum)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after the refused Put: got %v, want %v", err, blob.ErrNotFound)
	}

	mustPut(t, s, key, photo, "image/jpeg")
	err = s.Put(t.Context(), key, bytes.NewReader(forged), int64(len(forged)), "image/png")
	if !errors.Is(err, blob.ErrWrongSum) {
		t.Fatalf("Put of other bytes over a stored photo: got %v, want %v", err, blob.ErrWrongSum)
	}
	if got, info := mustGet(t, s, key); !bytes.Equal(got, photo) || info.ContentType != "image/jpeg" {
		t.Fatalf("after the refused Put: got %d bytes of %q, want the photo as stored", len(got), info.ContentType)
	}
}

// While a Put is half done, the object must not be visible at all.
func testNoPartialObjectVisible(t *testing.T, s blob.Store) {
	data := randomBytes(t, 1<<20)
	key := photoKey(data)
	r := newPausingReader(data, len(data)/2)
	done := make(chan error, 1)
	go func() { done <- s.Put(t.Context(), key, r, int64(len(data)), "image/jpeg") }()

	select {
	case <-r.paused:
	case err := <-done:
		t.Fatalf("Put returned %v before reading half of the body", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Put did not read half of the body within 30s")
	}
	_, statErr := s.Stat(t.Context(), key)
	rc, _, getErr := s.Get(t.Context(), key)
	if rc != nil {
		rc.Close()
	}
	close(r.resume)
	if err := <-done; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !errors.Is(statErr, blob.ErrNotFound) {
		t.Errorf("Stat during Put: got %v, want %v", statErr, blob.ErrNotFound)
	}
	if !errors.Is(getErr, blob.ErrNotFound) {
		t.Errorf("Get during Put: got %v, want %v", getErr, blob.ErrNotFound)
	}
	if got, _ := mustGet(t, s, key); !bytes.Equal(got, data) {
		t.Fatalf("after Put: got %d bytes, want the %d put", len(got), len(data))
	}
}

func testLargeObject(t *testing.T, s blob.Store) {
	data := randomBytes(t, 5<<20+1) // odd size, so no buffer boundary hides a short copy
	key := photoKey(data)
	mustPut(t, s, key, data, "image/jpeg")
	got, info := mustGet(t, s, key)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("got %d bytes with another hash, want the %d put", len(got), len(data))
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("got Info.Size %d, want %d", info.Size, len(data))
	}
}

// Devices retry uploads, so the same photo often arrives twice at once.
// Meanwhile readers must see nothing or the whole object.
func testConcurrentPutsSameKey(t *testing.T, s blob.Store) {
	data := randomBytes(t, 1<<20)
	key := photoKey(data)
	ctx := t.Context()

	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for range 8 {
		writers.Go(func() {
			if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
				errs <- err
			}
		})
	}
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, _, err := s.Get(ctx, key)
				if errors.Is(err, blob.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, data) {
					errs <- errors.New("reader saw a partial or corrupt object")
					return
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got, info := mustGet(t, s, key)
	if !bytes.Equal(got, data) || info.Size != int64(len(data)) {
		t.Fatalf("got %d bytes (Info.Size %d), want the %d put", len(got), info.Size, len(data))
	}
}

func testContextCanceled(t *testing.T, s blob.Store) {
	stored := randomBytes(t, 1000)
	storedKey := photoKey(stored)
	mustPut(t, s, storedKey, stored, "image/jpeg")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	data := randomBytes(t, 1000)
	key := photoKey(data)
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: got %v, want %v", err, context.Canceled)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after canceled Put: got %v, want %v", err, blob.ErrNotFound)
	}
	if rc, _, err := s.Get(ctx, storedKey); !errors.Is(err, context.Canceled) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Get: got %v, want %v", err, context.Canceled)
	}
	if _, err := s.Stat(ctx, storedKey); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat: got %v, want %v", err, context.Canceled)
	}
	if err := s.Delete(ctx, storedKey); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: got %v, want %v", err, context.Canceled)
	}
	if _, err := s.Stat(t.Context(), storedKey); err != nil {
		t.Errorf("Stat after canceled Delete: got %v, want nil", err)
	}
}

// A request canceled while its body is streaming must store nothing.
func testContextCanceledMidPut(t *testing.T, s blob.Store) {
	data := randomBytes(t, 1<<20)
	key := photoKey(data)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newPausingReader(data, len(data)/2)
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, key, r, int64(len(data)), "image/jpeg") }()

	select {
	case <-r.paused:
	case err := <-done:
		t.Fatalf("Put returned %v before reading half of the body", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Put did not read half of the body within 30s")
	}
	cancel()
	close(r.resume)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: got %v, want %v", err, context.Canceled)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after canceled Put: got %v, want %v", err, blob.ErrNotFound)
	}
}

func testPing(t *testing.T, s blob.Store) {
	p, ok := s.(blob.Pinger)
	if !ok {
		t.Skip("store does not implement blob.Pinger")
	}
	if err := p.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testPresignGet(t *testing.T, s blob.Store) {
	p, ok := s.(blob.Presigner)
	if !ok {
		t.Skip("store does not implement blob.Presigner")
	}
	data := randomBytes(t, 30_000)
	key := photoKey(data)
	mustPut(t, s, key, data, "image/jpeg")

	for _, expiry := range []time.Duration{0, -time.Minute, time.Second / 2, blob.MaxPresignExpiry + time.Second, 7 * 24 * time.Hour} {
		if _, err := p.PresignGet(t.Context(), key, expiry); !errors.Is(err, blob.ErrInvalid) {
			t.Errorf("PresignGet with expiry %v: got %v, want %v", expiry, err, blob.ErrInvalid)
		}
	}
	if _, err := p.PresignGet(t.Context(), "../"+key, time.Minute); !errors.Is(err, blob.ErrInvalid) {
		t.Errorf("PresignGet with invalid key: got %v, want %v", err, blob.ErrInvalid)
	}

	u, err := p.PresignGet(t.Context(), key, blob.MaxPresignExpiry)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	// The URL must work without credentials: a plain GET.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read presigned URL: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET presigned URL: got status %d and %d bytes, want 200 and the %d put", resp.StatusCode, len(got), len(data))
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func photoKey(data []byte) string {
	sum := sha256.Sum256(data)
	return blob.PrefixPhoto + hex.EncodeToString(sum[:])
}

func mustPut(t *testing.T, s blob.Store, key string, data []byte, contentType string) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), contentType); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func mustGet(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data, info
}

// checkInfo compares got with want, and checks ModTime is plausible: stores
// run on another clock, so allow a minute either side of the test's clock.
func checkInfo(t *testing.T, op string, got, want blob.Info, before time.Time) {
	t.Helper()
	if got.Key != want.Key || got.Size != want.Size || got.ContentType != want.ContentType {
		t.Errorf("%s: got Info{%q, %d, %q}, want Info{%q, %d, %q}", op,
			got.Key, got.Size, got.ContentType, want.Key, want.Size, want.ContentType)
	}
	if got.ModTime.Before(before.Add(-time.Minute)) || got.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("%s: got ModTime %v, want about %v", op, got.ModTime, before)
	}
}

// errReader is what failingReader fails with.
var errReader = errors.New("blobtest: reader failed")

// failingReader yields data, then fails, like a client that drops the
// connection mid-upload. With withLast, the read that yields the last bytes
// fails too.
type failingReader struct {
	data     []byte
	withLast bool
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errReader
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if r.withLast && len(r.data) == 0 {
		return n, errReader
	}
	return n, nil
}

// pausingReader yields data up to an offset, then closes paused and waits
// for resume to be closed before yielding the rest, so a test can look at
// the store while a Put is in progress.
type pausingReader struct {
	data   []byte
	at     int
	paused chan struct{}
	resume chan struct{}
}

func newPausingReader(data []byte, at int) *pausingReader {
	return &pausingReader{data: data, at: at, paused: make(chan struct{}), resume: make(chan struct{})}
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.at == 0 {
		close(r.paused)
		<-r.resume
		r.at = -1
	}
	if r.at > 0 && len(p) > r.at {
		p = p[:r.at]
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if r.at > 0 {
		r.at -= n
	}
	return n, nil
}
