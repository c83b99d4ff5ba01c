package minio_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gridsync/gridsync/internal/miniotest"
	"github.com/gridsync/gridsync/server/blob"
	"github.com/gridsync/gridsync/server/blob/blobtest"
	"github.com/gridsync/gridsync/server/minio"
)

func TestContract(t *testing.T) {
	// One server for the suite, a fresh bucket per subtest: starting MinIO
	// costs about a second.
	base := miniotest.Start(t)
	var n atomic.Int64
	blobtest.RunContract(t, func(t *testing.T) blob.Store {
		cfg := base
		cfg.Bucket = fmt.Sprintf("contract-%d", n.Add(1))
		return mustOpen(t, cfg)
	})
}

// S3 keeps one object per key (the bucket is not versioned): putting a key
// twice must not leave two objects.
func TestPutTwiceOneObject(t *testing.T) {
	cfg := miniotest.Start(t)
	s := mustOpen(t, cfg)
	data := []byte("hazard photo")
	key := photoKey(data)
	for range 2 {
		if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}

	client := rawClient(t, cfg)
	var keys []string
	for obj := range client.ListObjects(t.Context(), cfg.Bucket, miniogo.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 1 || keys[0] != key {
		t.Fatalf("got objects %q, want [%q]", keys, key)
	}
}

// Open touches no network; the first call creates the bucket, and a second
// store on the same bucket finds it.
func TestBucketCreatedLazily(t *testing.T) {
	cfg := miniotest.Start(t)
	raw := rawClient(t, cfg)
	s := mustOpen(t, cfg)
	if ok, err := raw.BucketExists(t.Context(), cfg.Bucket); err != nil || ok {
		t.Fatalf("BucketExists after Open: got %v, %v, want false, nil", ok, err)
	}
	data := []byte("first photo")
	put(t, s, photoKey(data), data)
	if ok, err := raw.BucketExists(t.Context(), cfg.Bucket); err != nil || !ok {
		t.Fatalf("BucketExists after Put: got %v, %v, want true, nil", ok, err)
	}
	other := mustOpen(t, cfg)
	if _, err := other.Stat(t.Context(), photoKey(data)); err != nil {
		t.Fatalf("Stat through a second store: %v", err)
	}
}

// A bucket removed behind the server's back is created again by the next
// call; the call that finds it missing fails as retryable.
func TestBucketRecreated(t *testing.T) {
	cfg := miniotest.Start(t)
	s := mustOpen(t, cfg)
	data := []byte("photo")
	key := photoKey(data)
	put(t, s, key, data)
	raw := rawClient(t, cfg)
	if err := raw.RemoveObject(t.Context(), cfg.Bucket, key, miniogo.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := raw.RemoveBucket(t.Context(), cfg.Bucket); err != nil {
		t.Fatal(err)
	}
	err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), "image/jpeg")
	if !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("Put into a removed bucket: got %v, want %v", err, blob.ErrUnavailable)
	}
	put(t, s, key, data)
	if _, err := raw.StatObject(t.Context(), cfg.Bucket, key, miniogo.StatObjectOptions{}); err != nil {
		t.Fatalf("object after the bucket came back: %v", err)
	}
}

// The store opens while MinIO is down (the server must start in an
// outage); calls fail as retryable until MinIO is up, then the first one
// creates the bucket.
func TestOpenWhileDown(t *testing.T) {
	srv := miniotest.StartServer(t)
	srv.Stop()
	cfg := srv.Config()
	s := mustOpen(t, cfg)
	data := []byte("photo taken while the store was down")
	key := photoKey(data)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("Ping while down: got %v, want %v", err, blob.ErrUnavailable)
	}
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("Put while down: got %v, want %v", err, blob.ErrUnavailable)
	}
	srv.Restart(t)
	put(t, s, key, data)
	if ok, err := rawClient(t, cfg).BucketExists(t.Context(), cfg.Bucket); err != nil || !ok {
		t.Fatalf("BucketExists: got %v, %v, want true, nil", ok, err)
	}
}

func TestBadCredentials(t *testing.T) {
	cfg := miniotest.Start(t)
	cfg.SecretKey = "wrong-secret-key"
	s := mustOpen(t, cfg)
	err := s.Ping(t.Context())
	if err == nil {
		t.Fatal("got nil error, want one")
	}
	if errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("got %v, want an error that is not %v: retrying will not fix credentials", err, blob.ErrUnavailable)
	}
}

// While MinIO is down, every call fails quickly with blob.ErrUnavailable
// (never blob.ErrNotFound, which would tell a device its photo is lost);
// after MinIO is back, the same store works again.
func TestOutage(t *testing.T) {
	srv := miniotest.StartServer(t)
	s := mustOpen(t, srv.Config())
	before := []byte("photo uploaded before the outage")
	beforeKey := photoKey(before)
	put(t, s, beforeKey, before)

	srv.Stop()

	data := []byte("photo uploaded during the outage")
	key := photoKey(data)
	const bound = 5 * time.Second
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Put", func(ctx context.Context) error {
			return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg")
		}},
		{"Get", func(ctx context.Context) error {
			_, _, err := s.Get(ctx, beforeKey)
			return err
		}},
		{"Stat", func(ctx context.Context) error {
			_, err := s.Stat(ctx, beforeKey)
			return err
		}},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, beforeKey) }},
		{"Ping", s.Ping},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		start := time.Now()
		err := c.call(ctx)
		elapsed := time.Since(start)
		cancel()
		t.Logf("%s during outage: %v after %v", c.name, err, elapsed.Round(time.Millisecond))
		if !errors.Is(err, blob.ErrUnavailable) {
			t.Errorf("%s during outage: got %v, want %v", c.name, err, blob.ErrUnavailable)
		}
		if elapsed > bound {
			t.Errorf("%s during outage took %v, want at most %v", c.name, elapsed, bound)
		}
	}

	srv.Restart(t)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	put(t, s, key, data)
	for k, want := range map[string][]byte{beforeKey: before, key: data} {
		rc, _, err := s.Get(ctx, k)
		if err != nil {
			t.Fatalf("Get %s after restart: %v", k, err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("Get %s after restart: got %q, %v, want %q", k, got.Bytes(), err, want)
		}
	}
}

// A server that accepts connections and never answers (a link that hangs,
// common in villages) must fail the call by the caller's deadline, as
// blob.ErrUnavailable.
func TestUnresponsiveServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	s := mustOpen(t, minio.Config{Endpoint: l.Addr().String(), Bucket: "photos", AccessKey: "k", SecretKey: "secretkey", Region: "us-east-1"})
	err = s.Ping(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, blob.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want %v and %v", err, blob.ErrUnavailable, context.DeadlineExceeded)
	}
	if elapsed > 3*time.Second {
		t.Fatalf("Ping took %v, want about the 1s deadline", elapsed)
	}
}

func mustOpen(tb testing.TB, cfg minio.Config) *minio.Store {
	tb.Helper()
	s, err := minio.Open(cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// rawClient reaches the server without the Store, to check what it stored.
func rawClient(tb testing.TB, cfg minio.Config) *miniogo.Client {
	tb.Helper()
	c, err := miniogo.New(cfg.Endpoint, &miniogo.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Region: cfg.Region,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func put(tb testing.TB, s blob.Store, key string, data []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
		tb.Fatalf("Put %s: %v", key, err)
	}
}

func photoKey(data []byte) string {
	sum := sha256.Sum256(data)
	return blob.PrefixPhoto + hex.EncodeToString(sum[:])
}
