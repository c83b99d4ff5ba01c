// Package blob defines how gridsync stores photo evidence: immutable objects
// named by content-addressed keys. The server depends only on this package;
// implementations live beside it (Folder, the embedded default) and below it
// (server/minio, production). The contract every implementation must meet is
// the test suite in server/blob/blobtest.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Key prefixes. A photo is stored under "sha256/<hex>" where hex is the
// SHA-256 of its bytes; its thumbnail under "thumb/<hex>" with the same hex,
// so a thumbnail is found from the photo's hash alone.
const (
	PrefixPhoto = "sha256/"
	PrefixThumb = "thumb/"
)

// DefaultContentType is recorded when Put is given an empty content type.
const DefaultContentType = "application/octet-stream"

// MaxPresignExpiry is the longest lifetime a presigned URL may have. Evidence
// must not be readable outside the area, and a URL is a bearer credential, so
// it must expire soon after the authorized request that produced it.
const MaxPresignExpiry = 15 * time.Minute

// Errors returned by Store implementations, matched with errors.Is.
var (
	// ErrNotFound means no complete object exists under the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrUnavailable means the store could not be reached or did not answer
	// in time (network down, object store down or overloaded). The request
	// may succeed later; implementations wrap the cause.
	ErrUnavailable = errors.New("blob: store unavailable")
	// ErrInvalid means the caller's input was refused: a malformed key, a
	// negative size, a body whose length differs from the declared size, or
	// a presign expiry out of range. Retrying the same request cannot succeed.
	ErrInvalid = errors.New("blob: invalid argument")
)

// Store keeps immutable objects named by key. Keys must pass ValidKey.
//
// Every method returns an error wrapping ErrInvalid for a malformed key,
// ErrUnavailable when the backing store cannot be reached, and the context's
// error (context.Canceled) when ctx is canceled before the work is done.
// Implementations are safe for concurrent use.
type Store interface {
	// Put stores exactly size bytes read from r under key with the given
	// content type (DefaultContentType if empty). It is atomic: readers see
	// either no object or the complete one, never a prefix. Putting an
	// existing key again is allowed and leaves one copy; if the second Put
	// fails, the first copy is untouched.
	//
	// A size below zero, or r yielding fewer or more than size bytes, fails
	// with ErrInvalid and stores nothing. An error from r, even after its
	// last byte, is returned wrapped, and nothing is stored.
	//
	// Under a photo key (PrefixPhoto) the store keeps only bytes whose
	// SHA-256 is the key's hex: others fail with ErrInvalid and store
	// nothing. The store checks this itself, so a caller may hand it bytes
	// as they arrive from a device, before anyone has hashed them.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error

	// Get opens the object under key for reading; the caller must close the
	// reader. It fails with ErrNotFound if there is no such object.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)

	// Stat describes the object under key without reading it. It fails with
	// ErrNotFound if there is no such object.
	Stat(ctx context.Context, key string) (Info, error)

	// Delete removes the object under key. Deleting an absent key is not an
	// error, so a retried Delete succeeds.
	Delete(ctx context.Context, key string) error
}

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	// ModTime is when the object was last written, by the store's clock.
	ModTime time.Time
}

// Pinger is implemented by stores that can check their backend is usable,
// for the server's readiness probe (/readyz).
type Pinger interface {
	// Ping returns nil when the store can serve requests; otherwise an error,
	// wrapping ErrUnavailable when the backend cannot be reached.
	Ping(ctx context.Context) error
}

// Presigner is implemented by stores that can hand out URLs a client may
// fetch directly, so large photos need not stream through the server.
type Presigner interface {
	// PresignGet returns a URL that allows one object to be read without
	// credentials until expiry has passed. An expiry below one second or
	// above MaxPresignExpiry, or a malformed key, fails with ErrInvalid. The
	// URL is produced whether or not the object exists.
	PresignGet(ctx context.Context, key string, expiry time.Duration) (*url.URL, error)
}

// PhotoSum returns the SHA-256 a photo key names, and false for other keys
// (a thumbnail's key names its photo's hash, not its own). key must have
// passed ValidKey.
func PhotoSum(key string) (sum [sha256.Size]byte, ok bool) {
	h, ok := strings.CutPrefix(key, PrefixPhoto)
	if !ok {
		return sum, false
	}
	_, err := hex.Decode(sum[:], []byte(h))
	return sum, err == nil
}

// ErrWrongSum is what a Put under a photo key fails with when the bytes do
// not hash to the key; it wraps ErrInvalid.
var ErrWrongSum = fmt.Errorf("%w: the bytes do not have the SHA-256 their key names", ErrInvalid)

// ValidKey reports whether key is well formed: "sha256/" or "thumb/"
// followed by exactly 64 lowercase hex digits. Anything else (path
// separators, "..", upper case, other prefixes) is refused with an error
// wrapping ErrInvalid, so a key can be used safely as a file or object name.
func ValidKey(key string) error {
	hex, ok := strings.CutPrefix(key, PrefixPhoto)
	if !ok {
		hex, ok = strings.CutPrefix(key, PrefixThumb)
	}
	if !ok {
		return fmt.Errorf("%w: key %.80q: want prefix %q or %q", ErrInvalid, key, PrefixPhoto, PrefixThumb)
	}
	if len(hex) != 64 {
		return fmt.Errorf("%w: key %.80q: want 64 hex digits after the prefix", ErrInvalid, key)
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: key %.80q: want lowercase hex digits after the prefix", ErrInvalid, key)
		}
	}
	return nil
}
