package main

import (
	"path/filepath"
	"testing"

	"github.com/gridsync/gridsync/internal/miniotest"
	"github.com/gridsync/gridsync/server/app/apptest"
)

// TestPhotoBench runs the photo benchmark small against a real MinIO, so the
// scenario `make bench` reports keeps working. It checks no speed.
func TestPhotoBench(t *testing.T) {
	ms := miniotest.StartServer(t)
	cfg := ms.Config()
	srv := apptest.Start(t, "-blob", "minio", "-minio-endpoint", cfg.Endpoint, "-minio-bucket", cfg.Bucket,
		"-minio-access-key", cfg.AccessKey, "-minio-secret-key", cfg.SecretKey)
	res, err := photoBench(srv.URL(), cfg, 4, 3, 2<<20, 0, func() error { return waitThumbnails(filepath.Join(srv.DataDir(), "gridsync.db")) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Photos != 12 || res.PhotoBytes < 1<<20 || res.ServerMBps <= 0 || res.DirectMBps <= 0 || res.SignedMBps <= 0 {
		t.Fatalf("got %+v", res)
	}
	t.Logf("photos: %d × %d bytes from %d devices: through the server %.1f MB/s, direct PutObject %.1f MB/s (ratio %.2f), the server's PUT %.1f MB/s (ratio %.2f)",
		res.Photos, res.PhotoBytes, res.Devices, res.ServerMBps, res.DirectMBps, res.Ratio, res.SignedMBps, res.SignedRatio)
}
