package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Folder is a Store on the local file system, the embedded default that
// needs no server. An object "sha256/<hex>" lives at
// <dir>/sha256/<hex[:2]>/<hex>, holding exactly the object's bytes so an
// auditor can check evidence with sha256sum; its content type is kept in a
// sidecar file "<hex>.type" beside it. The two-character fanout keeps
// directories small on file systems that slow down with many entries.
type Folder struct {
	dir string
}

var (
	_ Store  = (*Folder)(nil)
	_ Pinger = (*Folder)(nil)
)

// typeSuffix names the sidecar holding an object's content type. A key's
// last element is 64 hex digits, so no key can name a sidecar.
const typeSuffix = ".type"

// NewFolder returns a Folder storing objects under dir, creating dir if
// needed.
func NewFolder(dir string) (*Folder, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob folder: %w", err)
	}
	return &Folder{dir: dir}, nil
}

// path returns the directory holding key's files and the object's file name.
// The key must have passed ValidKey, which is what keeps it inside f.dir.
func (f *Folder) path(key string) (dir, name string) {
	prefix, hex, _ := strings.Cut(key, "/")
	return filepath.Join(f.dir, prefix, hex[:2]), hex
}

// Put implements Store. It writes the bytes and the content type to
// temporary files in the object's directory, syncs them, renames them into
// place and syncs the directory, so after a crash the object is either
// absent or complete. The sidecar is renamed first: whoever sees the object
// also sees its content type.
func (f *Folder) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: %w: negative size %d", key, ErrInvalid, size)
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dir, name := f.path(key)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}

	sum, isPhoto := PhotoSum(key)
	if err := writeObject(ctx, dir, name, r, size, contentType, sum, isPhoto); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// writeObject does Put's work in dir; on error it leaves no temporary file.
// With check, the bytes must have the SHA-256 sum.
func writeObject(ctx context.Context, dir, name string, r io.Reader, size int64, contentType string, sum [sha256.Size]byte, check bool) error {
	data, err := writeTemp(dir, name, func(w io.Writer) error {
		if !check {
			return copyExact(ctx, w, r, size)
		}
		h := sha256.New()
		if err := copyExact(ctx, io.MultiWriter(w, h), r, size); err != nil {
			return err
		}
		if [sha256.Size]byte(h.Sum(nil)) != sum {
			return ErrWrongSum
		}
		return nil
	})
	if err != nil {
		return err
	}
	typ, err := writeTemp(dir, name+typeSuffix, func(w io.Writer) error {
		_, err := io.WriteString(w, contentType)
		return err
	})
	if err != nil {
		os.Remove(data)
		return err
	}
	if err := os.Rename(typ, filepath.Join(dir, name+typeSuffix)); err != nil {
		os.Remove(typ)
		os.Remove(data)
		return err
	}
	if err := os.Rename(data, filepath.Join(dir, name)); err != nil {
		os.Remove(data)
		return err
	}
	return syncDir(dir)
}

// writeTemp creates a temporary file in dir, fills it with write, syncs and
// closes it, and returns its path. On error the file is removed. The leading
// dot and the suffix keep temporary files apart from objects.
func writeTemp(dir, name string, write func(io.Writer) error) (path string, err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

// copyExact copies exactly size bytes from r to w, failing with ErrInvalid
// if r ends early or has more, and with ctx's error once ctx is done.
func copyExact(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	n, err := io.CopyN(w, ctxReader{ctx, r}, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body has %d bytes, declared size %d", ErrInvalid, n, size)
	}
	if err != nil {
		return err
	}
	var probe [1]byte
	switch _, err := io.ReadFull(ctxReader{ctx, r}, probe[:]); {
	case err == nil:
		return fmt.Errorf("%w: body is longer than declared size %d", ErrInvalid, size)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return err
	}
}

// ctxReader stops a copy between reads once ctx is done, so a canceled
// request does not keep writing a large body to disk.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir makes renames and removals in dir durable.
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

// Get implements Store.
func (f *Folder) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidKey(key); err != nil {
		return nil, Info{}, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("get %s: %w", key, err)
	}
	dir, name := f.path(key)
	file, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, Info{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	// Describe the open file, not the path, so the Info matches the bytes
	// read even if the object is replaced meanwhile.
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, Info{}, fmt.Errorf("get %s: %w", key, err)
	}
	info, err := f.info(key, dir, name, fi)
	if err != nil {
		file.Close()
		return nil, Info{}, fmt.Errorf("get %s: %w", key, err)
	}
	return file, info, nil
}

// Stat implements Store.
func (f *Folder) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, fmt.Errorf("stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	dir, name := f.path(key)
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	info, err := f.info(key, dir, name, fi)
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return info, nil
}

// info builds an Info from the object's file and its sidecar. A missing
// sidecar (files restored without it, or a Delete racing a Put) must not make
// evidence unreadable, so it falls back to DefaultContentType.
func (f *Folder) info(key, dir, name string, fi fs.FileInfo) (Info, error) {
	typ, err := os.ReadFile(filepath.Join(dir, name+typeSuffix))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		typ = []byte(DefaultContentType)
	case err != nil:
		return Info{}, err
	}
	return Info{Key: key, Size: fi.Size(), ContentType: string(typ), ModTime: fi.ModTime()}, nil
}

// notFound maps a missing file to ErrNotFound, keeping the cause.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// Delete implements Store. The object goes before its sidecar, so no reader
// finds an object without its content type.
func (f *Folder) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	dir, name := f.path(key)
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, name+typeSuffix)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	}
	if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Ping implements Pinger by creating and removing a file, so a missing,
// full or read-only disk makes the server report itself not ready.
func (f *Folder) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	tmp, err := os.CreateTemp(f.dir, ".ping-*")
	if err != nil {
		return fmt.Errorf("ping: %w: %w", ErrUnavailable, err)
	}
	name := tmp.Name()
	err = tmp.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("ping: %w: %w", ErrUnavailable, err)
	}
	return nil
}
