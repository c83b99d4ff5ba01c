// Package minio implements blob.Store on MinIO or any S3-compatible object
// store, the production home of photo evidence. It is the only package that
// imports minio-go; the rest of the server sees only blob.Store.
package minio

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gridsync/gridsync/server/blob"
)

// Config says where the object store is and how to log in.
type Config struct {
	// Endpoint is host:port, without a scheme.
	Endpoint string
	// Bucket holds the photos; the store creates it if missing, on the
	// first call that reaches the server.
	Bucket    string
	AccessKey string
	SecretKey string
	// Region may be empty; the client then asks the server once and caches
	// the answer.
	Region string
	// UseTLS selects https.
	UseTLS bool
}

// maxRetries bounds minio-go's own retries (default 10, up to ~1s apart).
// A device's request should fail fast with blob.ErrUnavailable during an
// outage rather than hang; devices retry on their own schedule.
const maxRetries = 3

// Store is a blob.Store backed by one bucket. Object names are the keys
// themselves ("sha256/<hex>"), so the bucket is readable with any S3 tool.
type Store struct {
	client *miniogo.Client
	bucket string
	region string
	// bucketOK is set once the bucket is known to exist, and cleared when
	// the server says it does not (an operator removed it), so the next
	// call creates it again.
	bucketOK atomic.Bool
}

var (
	_ blob.Store     = (*Store)(nil)
	_ blob.Pinger    = (*Store)(nil)
	_ blob.Presigner = (*Store)(nil)
)

// Open returns a Store for cfg without touching the network: the server
// must start, and record sync must work, while the object store is down.
// The bucket is checked (and created if missing) by the first call that
// reaches the server, so an outage at start costs nothing but that call's
// blob.ErrUnavailable. Open fails only for a configuration minio-go
// refuses (an empty endpoint or bucket, a malformed endpoint).
func Open(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("minio open: endpoint and bucket are required")
	}
	client, err := miniogo.New(cfg.Endpoint, &miniogo.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.UseTLS,
		Region:     cfg.Region,
		MaxRetries: maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("minio open %s: %w", cfg.Endpoint, err)
	}
	return &Store{client: client, bucket: cfg.Bucket, region: cfg.Region}, nil
}

// ensureBucket creates the bucket if it is not known to exist. Several
// servers (or concurrent calls) may race to create it; losing the race is
// not an error.
func (s *Store) ensureBucket(ctx context.Context) error {
	if s.bucketOK.Load() {
		return nil
	}
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", s.bucket, mapErr(err))
	}
	if !ok {
		err = s.client.MakeBucket(ctx, s.bucket, miniogo.MakeBucketOptions{Region: s.region})
		if code := miniogo.ToErrorResponse(err).Code; err != nil && code != miniogo.BucketAlreadyOwnedByYou {
			return fmt.Errorf("create bucket %s: %w", s.bucket, mapErr(err))
		}
	}
	s.bucketOK.Store(true)
	return nil
}

// mapErr is the package's mapErr, and forgets that the bucket exists when
// the server says it does not: the next call creates it again.
func (s *Store) mapErr(err error) error {
	if miniogo.ToErrorResponse(err).Code == miniogo.NoSuchBucket {
		s.bucketOK.Store(false)
		return fmt.Errorf("%w: %w", blob.ErrUnavailable, err)
	}
	return mapErr(err)
}

// Put implements blob.Store. A single S3 PUT (and a multipart upload, used
// above 16 MiB) becomes visible only once complete, so a failed or canceled
// Put leaves any earlier copy in place and nothing partial behind.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := blob.ValidKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: %w: negative size %d", key, blob.ErrInvalid, size)
	}
	if contentType == "" {
		contentType = blob.DefaultContentType
	}
	if err := s.ensureBucket(ctx); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	body := &exactReader{r: r, left: size}
	if size == 0 {
		// No byte of an empty body is requested, so look for extra ones now.
		if err := body.probe(); err != io.EOF {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	opts := miniogo.PutObjectOptions{ContentType: contentType}
	var err error
	if sum, ok := blob.PhotoSum(key); ok {
		// The request is signed with the photo's hash as its payload hash
		// (instead of minio-go's default over plain HTTP, which hashes
		// every chunk of the body to sign it), and the object store
		// refuses a body with another hash: nothing is stored
		// (XAmzContentSHA256Mismatch). The body is hashed once, by the
		// store, and not here.
		opts.DisableContentSha256 = true
		_, err = miniogo.Core{Client: s.client}.PutObject(ctx, s.bucket, key, body, size, "", hex.EncodeToString(sum[:]), opts)
	} else {
		_, err = s.client.PutObject(ctx, s.bucket, key, body, size, opts)
	}
	// net/http may still read the body after the request ends; the caller's
	// reader must not be touched once Put returns. The body's own error is
	// the truth about it: minio-go and net/http may wrap or replace it.
	if berr := body.close(); berr != nil {
		return fmt.Errorf("put %s: %w", key, berr)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, s.mapErr(err))
	}
	return nil
}

// errBodyClosed fails reads of a body after its Put has returned.
var errBodyClosed = errors.New("put already returned")

// exactReader yields exactly left bytes of r and fails with blob.ErrInvalid
// if r has fewer or more. It checks for extra bytes before handing over the
// last ones: a reader that has been given size bytes is not read again, and
// the upload must fail before the server sees a complete body.
type exactReader struct {
	mu     sync.Mutex // held during reads of r, so close waits for them
	r      io.Reader
	left   int64
	err    error // first error from r or a size mismatch
	closed bool
}

func (e *exactReader) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return 0, errBodyClosed
	case e.err != nil:
		return 0, e.err
	case e.left == 0:
		return 0, e.probe()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = fmt.Errorf("%w: body ended %d bytes short of its declared size", blob.ErrInvalid, e.left)
		return n, e.err
	case err != nil && err != io.EOF && e.left == 0:
		// The last bytes come with an error: they are not handed over, so
		// no request carries a complete body (over TLS, without chunk
		// signatures, MinIO could otherwise take it before the error ends
		// the request).
		e.err = err
		return 0, err
	case err != nil && err != io.EOF:
		e.err = err
		return n, err
	case e.left == 0:
		if err := e.probe(); err != io.EOF {
			return 0, err
		}
	}
	return n, nil
}

// probe returns io.EOF if r is exhausted, otherwise records and returns the
// error that fails the upload.
func (e *exactReader) probe() error {
	var b [1]byte
	switch _, err := io.ReadFull(e.r, b[:]); {
	case err == nil:
		e.err = fmt.Errorf("%w: body is longer than its declared size", blob.ErrInvalid)
	case err != io.EOF:
		e.err = err
	default:
		return io.EOF
	}
	return e.err
}

// close stops further reads of r and returns the body's error, if any.
func (e *exactReader) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return e.err
}

// Get implements blob.Store. It uses one GET request, so the Info always
// describes the bytes returned.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, blob.Info{}, fmt.Errorf("get: %w", err)
	}
	if err := s.ensureBucket(ctx); err != nil {
		return nil, blob.Info{}, fmt.Errorf("get %s: %w", key, err)
	}
	core := miniogo.Core{Client: s.client}
	body, oi, _, err := core.GetObject(ctx, s.bucket, key, miniogo.GetObjectOptions{})
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("get %s: %w", key, s.mapErr(err))
	}
	return &mappedReader{body}, info(key, oi), nil
}

// mappedReader maps a broken connection during the read of a body to
// blob.ErrUnavailable, so the caller knows to retry.
type mappedReader struct {
	io.ReadCloser
}

func (m *mappedReader) Read(p []byte) (int, error) {
	n, err := m.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = mapErr(err)
	}
	return n, err
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, fmt.Errorf("stat: %w", err)
	}
	if err := s.ensureBucket(ctx); err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, miniogo.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, s.mapErr(err))
	}
	return info(key, oi), nil
}

func info(key string, oi miniogo.ObjectInfo) blob.Info {
	return blob.Info{Key: key, Size: oi.Size, ContentType: oi.ContentType, ModTime: oi.LastModified}
}

// Delete implements blob.Store. S3 answers a DELETE of an absent key with
// success, which is what blob.Store asks for.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := s.ensureBucket(ctx); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, miniogo.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", key, s.mapErr(err))
	}
	return nil
}

// Ping implements blob.Pinger: the store is ready when the bucket exists
// (it is created if missing) and the credentials may see it.
func (s *Store) Ping(ctx context.Context) error {
	// A known bucket is asked about again: readiness must notice an outage.
	s.bucketOK.Store(false)
	if err := s.ensureBucket(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// PresignGet implements blob.Presigner.
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration) (*url.URL, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, fmt.Errorf("presign: %w", err)
	}
	if expiry < time.Second || expiry > blob.MaxPresignExpiry {
		return nil, fmt.Errorf("presign %s: %w: expiry %v outside [1s, %v]", key, blob.ErrInvalid, expiry, blob.MaxPresignExpiry)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, expiry, nil)
	if err != nil {
		return nil, fmt.Errorf("presign %s: %w", key, mapErr(err))
	}
	return u, nil
}

// mapErr translates minio-go errors into the blob sentinels, keeping the
// cause: a missing object becomes blob.ErrNotFound; a server error, an
// unreachable server or a deadline becomes blob.ErrUnavailable. A canceled
// context stays as it is: the caller gave up, the store did not fail.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var resp miniogo.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.Code == miniogo.NoSuchKey:
			return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
		case resp.Code == "XAmzContentSHA256Mismatch":
			return fmt.Errorf("%w: %w", blob.ErrWrongSum, err)
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
			return fmt.Errorf("%w: %w", blob.ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", blob.ErrUnavailable, err)
	}
	return err
}

// unreachable reports whether err means the server could not be reached or
// stopped answering, as opposed to a request the client refused to build.
func unreachable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var netErr net.Error
	return errors.As(err, &opErr) ||
		errors.As(err, &dnsErr) ||
		errors.As(err, &netErr) && netErr.Timeout() ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || // the server closed the connection mid-request
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		// minio-go replaces a connection the server closed mid-request
		// with an error of its own text, which its own classifier knows.
		miniogo.IsNetworkOrHostDown(err, false) ||
		// net/http's error (unexported) for a pooled connection the server
		// had closed, when the request's body cannot be sent again.
		strings.Contains(err.Error(), "http: server closed idle connection")
}
