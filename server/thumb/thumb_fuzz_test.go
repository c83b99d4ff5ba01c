package thumb

import (
	"bytes"
	"image/jpeg"
	"testing"
)

// fuzzMaxPixels keeps each fuzz input's decoded canvas at 4 MB at most;
// Make's own bound (MaxPixels) is tested with real headers in thumb_test.
const fuzzMaxPixels = 1 << 20

// FuzzMake feeds arbitrary bytes (seeds in testdata/fuzz/FuzzMake: small
// JPEG, PNG and WebP photos, truncated ones, canvases declared far larger
// than their data) to the thumbnailer: it must not panic nor allocate past
// the canvas bound, and whatever it returns must be a JPEG that fits
// MaxEdge.
func FuzzMake(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := makeBounded(bytes.NewReader(b), len(b)%9, fuzzMaxPixels)
		if err != nil {
			if out != nil {
				t.Fatal("thumbnail with an error")
			}
			return
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("thumbnail is not a JPEG: %v", err)
		}
		if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxEdge || cfg.Height > MaxEdge {
			t.Fatalf("thumbnail of %d×%d, want within %d", cfg.Width, cfg.Height, MaxEdge)
		}
	})
}
