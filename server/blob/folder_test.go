package blob_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/blob"
	"github.com/gridsync/gridsync/server/blob/blobtest"
)

func TestFolderContract(t *testing.T) {
	blobtest.RunContract(t, func(t *testing.T) blob.Store {
		return mustFolder(t, t.TempDir())
	})
}

// An auditor must be able to find a photo on disk and check it with
// sha256sum, so the file holds exactly the object's bytes.
func TestFolderLayout(t *testing.T) {
	dir := t.TempDir()
	f := mustFolder(t, dir)
	data := []byte("photo of an extinguisher")
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	key := blob.PrefixPhoto + hexSum
	if err := f.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}

	got, err := os.ReadFile(filepath.Join(dir, "sha256", hexSum[:2], hexSum))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sum {
		t.Fatalf("file on disk: got %q, want %q", got, data)
	}
}

// Putting a key twice, and failed Puts, must leave exactly the object and
// its content type on disk: no second copy, no temporary files.
func TestFolderLeavesNoStrayFiles(t *testing.T) {
	dir := t.TempDir()
	f := mustFolder(t, dir)
	data := []byte("hazard photo")
	key := photoKey(data)
	ctx := t.Context()
	for range 2 {
		if err := f.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if err := f.Put(ctx, key, bytes.NewReader(data[:3]), int64(len(data)), "image/jpeg"); !errors.Is(err, blob.ErrInvalid) {
		t.Fatalf("Put with short body: got %v, want %v", err, blob.ErrInvalid)
	}
	other := photoKey([]byte("other"))
	if err := f.Put(ctx, other, bytes.NewReader(data), 1, "image/jpeg"); !errors.Is(err, blob.ErrInvalid) {
		t.Fatalf("Put with long body: got %v, want %v", err, blob.ErrInvalid)
	}

	files := listFiles(t, dir)
	hexSum := strings.TrimPrefix(key, blob.PrefixPhoto)
	want := []string{
		filepath.Join("sha256", hexSum[:2], hexSum),
		filepath.Join("sha256", hexSum[:2], hexSum+".type"),
	}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got files %q, want %q", files, want)
	}
}

// Photos restored from a backup without their sidecars must stay readable.
func TestFolderMissingSidecar(t *testing.T) {
	dir := t.TempDir()
	f := mustFolder(t, dir)
	data := []byte("restored photo")
	key := photoKey(data)
	if err := f.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	hexSum := strings.TrimPrefix(key, blob.PrefixPhoto)
	if err := os.Remove(filepath.Join(dir, "sha256", hexSum[:2], hexSum+".type")); err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.ContentType != blob.DefaultContentType || info.Size != int64(len(data)) {
		t.Fatalf("got Info{%q, %d}, want Info{%q, %d}", info.ContentType, info.Size, blob.DefaultContentType, len(data))
	}
}

func TestFolderPingUnavailable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "photos")
	f := mustFolder(t, dir)
	if err := f.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := f.Ping(t.Context()); !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("Ping with the folder gone: got %v, want %v", err, blob.ErrUnavailable)
	}
}

func mustFolder(tb testing.TB, dir string) *blob.Folder {
	tb.Helper()
	f, err := blob.NewFolder(dir)
	if err != nil {
		tb.Fatalf("NewFolder: %v", err)
	}
	return f
}

func photoKey(data []byte) string {
	sum := sha256.Sum256(data)
	return blob.PrefixPhoto + hex.EncodeToString(sum[:])
}

// listFiles returns the regular files under dir, relative to it, sorted.
func listFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files = append(files, rel)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}
