package imagefmt_test

import (
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/internal/imagefmt"
)

// ftyp builds an ISO-BMFF ftyp box with a major brand and compatible
// brands, padded to SniffLen like the start of a real file.
func ftyp(major string, compat ...string) []byte {
	size := 16 + 4*len(compat)
	b := []byte{0, 0, 0, byte(size)}
	b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
	for _, c := range compat {
		b = append(b, c...)
	}
	return append(b, make([]byte, 64)...)
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"JPEG", []byte("\xFF\xD8\xFF\xE1\x00\x10Exif"), imagefmt.JPEG},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), imagefmt.PNG},
		{"WebPLossy", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), imagefmt.WebP},
		{"WebPExtended", []byte("RIFF\x10\x00\x00\x00WEBPVP8X"), imagefmt.WebP},
		{"HEIC", ftyp("heic", "mif1", "heic"), imagefmt.HEIC},
		{"HEIFWithHEVC", ftyp("mif1", "mif1", "hevc"), imagefmt.HEIF},
		{"ErrAVIF", ftyp("avif", "mif1", "avif"), ""},
		{"ErrHEIFWithoutHEVC", ftyp("mif1", "mif1", "avif"), ""},
		{"ErrVideo", ftyp("isom", "isom", "mp41"), ""},
		{"ErrBoxSizeOdd", append([]byte{0, 0, 0, 17}, ftyp("heic")[4:]...), ""},
		{"ErrWAV", []byte("RIFF\x10\x00\x00\x00WAVEfmt "), ""},
		{"ErrPDF", []byte("%PDF-1.7\n"), ""},
		{"ErrText", []byte(strings.Repeat("灭火器过期", 10)), ""},
		{"ErrJPEGTooShort", []byte("\xFF\xD8"), ""},
		{"ErrEmpty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := imagefmt.Sniff(tt.head); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodable(t *testing.T) {
	for mime, want := range map[string]bool{imagefmt.JPEG: true, imagefmt.PNG: true, imagefmt.WebP: true,
		imagefmt.HEIC: false, imagefmt.HEIF: false, "": false} {
		if got := imagefmt.Decodable(mime); got != want {
			t.Errorf("Decodable(%q): got %v, want %v", mime, got, want)
		}
	}
}

// TestOrient turns a 3×2 picture with a marked top-left pixel by every
// orientation and checks the size and where the mark lands.
func TestOrient(t *testing.T) {
	mark := color.RGBA{255, 0, 0, 255}
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	src.SetRGBA(0, 0, mark)
	tests := []struct {
		o          int
		w, h       int
		markX, mkY int
	}{
		{0, 3, 2, 0, 0}, {1, 3, 2, 0, 0}, {9, 3, 2, 0, 0},
		{2, 3, 2, 2, 0}, // mirrored
		{3, 3, 2, 2, 1}, // rotated 180°
		{4, 3, 2, 0, 1}, // flipped
		{5, 2, 3, 0, 0}, // transposed
		{6, 2, 3, 1, 0}, // rotated 90° clockwise: top-left goes top-right
		{7, 2, 3, 1, 2}, // transversed
		{8, 2, 3, 0, 2}, // rotated 90° counter-clockwise: top-left goes bottom-left
	}
	for _, tt := range tests {
		got := imagefmt.Orient(src, tt.o)
		if b := got.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("orientation %d: size %dx%d, want %dx%d", tt.o, b.Dx(), b.Dy(), tt.w, tt.h)
			continue
		}
		if c := got.RGBAAt(tt.markX, tt.mkY); c != mark {
			t.Errorf("orientation %d: the mark is not at (%d,%d)", tt.o, tt.markX, tt.mkY)
		}
	}
}
