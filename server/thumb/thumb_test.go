package thumb_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/server/thumb"
)

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	return img
}

func TestMake(t *testing.T) {
	tests := []struct {
		name        string
		photo       []byte
		orientation int
		w, h        int
	}{
		{"LandscapeJPEG", exiftest.JPEG(t, exiftest.Options{Width: 1600, Height: 1200}), 0, 320, 240},
		{"PortraitPNG", exiftest.PNG(t, exiftest.Options{Width: 300, Height: 900}), 0, 106, 320},
		{"SmallNotEnlarged", exiftest.JPEG(t, exiftest.Options{Width: 64, Height: 48}), 0, 64, 48},
		{"Rotated90", exiftest.JPEG(t, exiftest.Options{Width: 640, Height: 480}), 6, 240, 320},
		{"Mirrored", exiftest.JPEG(t, exiftest.Options{Width: 640, Height: 480}), 2, 320, 240},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := thumb.Make(bytes.NewReader(tt.photo), tt.orientation)
			if err != nil {
				t.Fatal(err)
			}
			if got := decode(t, b).Bounds().Size(); got.X != tt.w || got.Y != tt.h {
				t.Fatalf("got %v, want %dx%d", got, tt.w, tt.h)
			}
		})
	}
}

func TestMakeWebP(t *testing.T) {
	b, err := os.ReadFile("../../internal/exif/testdata/camera.webp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := thumb.Make(bytes.NewReader(b), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, out).Bounds().Size(); got.X != 40 || got.Y != 30 {
		t.Fatalf("got %v, want 40x30", got)
	}
}

// Orientation 6 (rotate 90° clockwise): the stored top-left corner ends up
// top-right.
func TestOrientation(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			img.Set(x, y, color.White)
		}
	}
	for y := range 5 {
		for x := range 5 {
			img.Set(x, y, color.Black)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	out, err := thumb.Make(&buf, 6)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, out)
	if got.Bounds().Dx() != 20 || got.Bounds().Dy() != 40 {
		t.Fatalf("size %v", got.Bounds())
	}
	if r, _, _, _ := got.At(18, 1).RGBA(); r > 0x4000 {
		t.Errorf("top-right is not dark: %x", r)
	}
	if r, _, _, _ := got.At(1, 1).RGBA(); r < 0xc000 {
		t.Errorf("top-left is not light: %x", r)
	}
}

func TestMakeRefuses(t *testing.T) {
	heic, err := os.ReadFile("../../internal/exif/testdata/tiny.heic")
	if err != nil {
		t.Fatal(err)
	}
	// A PNG header declaring 100000×100000 pixels.
	bomb := exiftest.PNG(t, exiftest.Options{Width: 2, Height: 2})
	copy(bomb[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	binary.BigEndian.PutUint32(bomb[29:33], crc32.ChecksumIEEE(bomb[12:29]))
	for name, b := range map[string][]byte{"HEIC": heic, "PDF": []byte("%PDF-1.4\n..."), "Bomb": bomb} {
		t.Run(name, func(t *testing.T) {
			if _, err := thumb.Make(bytes.NewReader(b), 0); !errors.Is(err, thumb.ErrUnsupported) {
				t.Fatalf("got %v, want ErrUnsupported", err)
			}
		})
	}
}
