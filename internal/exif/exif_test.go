package exif_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/exif"
	"github.com/gridsync/gridsync/internal/exif/exiftest"
)

var shanghai = time.FixedZone("CST", 8*3600)

func readFile(t *testing.T, name string) (*exif.Meta, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return exif.Read(bytes.NewReader(b), int64(len(b)), shanghai)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

// The files in testdata were written by exiftool, webpmux and heif-enc,
// not by this package's own test builder, so a shared misreading of the
// format cannot hide here.
func TestReadCameraFiles(t *testing.T) {
	tests := []struct {
		file        string
		taken       string // RFC 3339, "" for none
		offsetKnown bool
		gps         bool
		lat, lng    float64
		orientation int
	}{
		{"camera-ii.jpg", "2026-03-14T09:26:53+08:00", true, true, 27.962686, 120.584811, 6},
		{"camera-mm.jpg", "2025-12-01T23:59:59+08:00", false, true, -33.8688, -151.2093, 0},
		{"no-gps.jpg", "2026-01-02T03:04:05+08:00", false, false, 0, 0, 0},
		{"camera.webp", "2026-03-14T09:26:53+08:00", true, true, 27.962686, 120.584811, 6},
		{"camera.png", "2026-03-14T09:26:53-05:30", true, true, 1.5, 2.25, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := readFile(t, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.TakenAt.Format(time.RFC3339); tt.taken != "" && got != tt.taken {
				t.Errorf("TakenAt: got %s, want %s", got, tt.taken)
			}
			if m.OffsetKnown != tt.offsetKnown {
				t.Errorf("OffsetKnown: got %v, want %v", m.OffsetKnown, tt.offsetKnown)
			}
			if m.HasGPS != tt.gps || !near(m.Lat, tt.lat) || !near(m.Lng, tt.lng) {
				t.Errorf("GPS: got %v %f,%f, want %v %f,%f", m.HasGPS, m.Lat, m.Lng, tt.gps, tt.lat, tt.lng)
			}
			if m.Orientation != tt.orientation {
				t.Errorf("Orientation: got %d, want %d", m.Orientation, tt.orientation)
			}
		})
	}
}

func TestReadNoExif(t *testing.T) {
	for _, name := range []string{"no-exif.jpg", "tiny.heic"} {
		t.Run(name, func(t *testing.T) {
			if _, err := readFile(t, name); !errors.Is(err, exif.ErrNoExif) {
				t.Fatalf("got %v, want ErrNoExif", err)
			}
		})
	}
	t.Run("NotAnImage", func(t *testing.T) {
		b := []byte("%PDF-1.7 not a photo at all")
		if _, err := exif.Read(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, exif.ErrNoExif) {
			t.Fatalf("got %v, want ErrNoExif", err)
		}
	})
}

func TestBuilderRoundTrip(t *testing.T) {
	for _, be := range []bool{false, true} {
		o := exiftest.Options{TakenAt: "2026:05:06 07:08:09", Offset: "+08:00", GPS: true, Lat: 27.5, Lng: -120.25, Orientation: 3, BigEndian: be}
		for name, b := range map[string][]byte{"jpeg": exiftest.JPEG(t, o), "png": exiftest.PNG(t, o)} {
			m, err := exif.Read(bytes.NewReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatalf("%s big-endian=%v: %v", name, be, err)
			}
			want := time.Date(2026, 5, 6, 7, 8, 9, 0, shanghai)
			if !m.TakenAt.Equal(want) || !m.HasGPS || !near(m.Lat, 27.5) || !near(m.Lng, -120.25) || m.Orientation != 3 {
				t.Errorf("%s big-endian=%v: got %+v", name, be, m)
			}
		}
	}
}

func TestParseRefusesOrSkips(t *testing.T) {
	good := exiftest.TIFF(exiftest.Options{TakenAt: "2026:05:06 07:08:09", GPS: true, Lat: 10, Lng: 20})
	tests := []struct {
		name    string
		block   []byte
		wantErr bool
		check   func(*exif.Meta) bool
	}{
		{"Empty", nil, true, nil},
		{"NotTIFF", []byte("XX*\x00\x08\x00\x00\x00"), true, nil},
		{"IFDOutside", []byte("II*\x00\xff\xff\x00\x00"), true, nil},
		{"Truncated", good[:20], true, nil},
		{"ZeroTime", exiftest.TIFF(exiftest.Options{TakenAt: "0000:00:00 00:00:00"}), false, func(m *exif.Meta) bool { return m.TakenAt.IsZero() }},
		{"BadOffset", exiftest.TIFF(exiftest.Options{TakenAt: "2026:05:06 07:08:09", Offset: "+99:00"}), false, func(m *exif.Meta) bool { return !m.OffsetKnown && !m.TakenAt.IsZero() }},
		{"LatOutOfRange", exiftest.TIFF(exiftest.Options{GPS: true, Lat: 95, Lng: 20}), false, func(m *exif.Meta) bool { return !m.HasGPS }},
		{"Good", good, false, func(m *exif.Meta) bool { return m.HasGPS && !m.TakenAt.IsZero() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := exif.Parse(tt.block, nil)
			if tt.wantErr {
				if !errors.Is(err, exif.ErrMalformed) {
					t.Fatalf("got %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil || !tt.check(m) {
				t.Fatalf("got %+v, %v", m, err)
			}
		})
	}
}

// FuzzRead feeds untrusted files to Read: it must not panic, loop or
// allocate from declared sizes, and whatever it returns must be in range.
// Seeds: testdata/fuzz/FuzzRead and the camera files.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := exif.Read(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			if m != nil {
				t.Fatal("meta with an error")
			}
			return
		}
		if m.HasGPS && (m.Lat < -90 || m.Lat > 90 || m.Lng < -180 || m.Lng > 180 || math.IsNaN(m.Lat) || math.IsNaN(m.Lng)) {
			t.Fatalf("GPS out of range: %+v", m)
		}
		if m.Orientation < 0 || m.Orientation > 8 {
			t.Fatalf("orientation %d", m.Orientation)
		}
	})
}

// FuzzParse feeds raw TIFF blocks to Parse.
func FuzzParse(f *testing.F) {
	f.Add(exiftest.TIFF(exiftest.Options{TakenAt: "2026:05:06 07:08:09", Offset: "+08:00", GPS: true, Lat: 1, Lng: 2, Orientation: 6}))
	f.Add(exiftest.TIFF(exiftest.Options{GPS: true, Lat: -1, Lng: -2, BigEndian: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := exif.Parse(b, nil)
		if err == nil && m.HasGPS && (m.Lat < -90 || m.Lat > 90 || m.Lng < -180 || m.Lng > 180) {
			t.Fatalf("GPS out of range: %+v", m)
		}
	})
}

// Block finds the same TIFF data the builder spliced into a JPEG and a PNG.
func TestBlock(t *testing.T) {
	o := exiftest.Options{TakenAt: "2026:05:06 07:08:09", GPS: true, Lat: 27.5, Lng: 120.25, Orientation: 6}
	for name, b := range map[string][]byte{"jpeg": exiftest.JPEG(t, o), "png": exiftest.PNG(t, o)} {
		got, err := exif.Block(bytes.NewReader(b), int64(len(b)))
		if err != nil || !bytes.Equal(got, exiftest.TIFF(o)) {
			t.Errorf("%s: got %d bytes, %v; want the %d bytes spliced in", name, len(got), err, len(exiftest.TIFF(o)))
		}
	}
	plain := exiftest.JPEG(t, exiftest.Options{})
	if _, err := exif.Block(bytes.NewReader(plain), int64(len(plain))); !errors.Is(err, exif.ErrNoExif) {
		t.Errorf("JPEG without EXIF: got %v, want ErrNoExif", err)
	}
}

// ResetOrientation makes a block say "upright" and keeps the capture time
// and position, in both byte orders; a camera file written by exiftool too.
func TestResetOrientation(t *testing.T) {
	for _, be := range []bool{false, true} {
		o := exiftest.Options{TakenAt: "2026:05:06 07:08:09", Offset: "+08:00", GPS: true, Lat: 27.5, Lng: -120.25, Orientation: 6, BigEndian: be}
		block := exiftest.TIFF(o)
		out, err := exif.ResetOrientation(block)
		if err != nil {
			t.Fatal(err)
		}
		m, err := exif.Parse(out, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(2026, 5, 6, 7, 8, 9, 0, shanghai)
		if m.Orientation != 1 || !m.TakenAt.Equal(want) || !m.HasGPS || !near(m.Lat, 27.5) || !near(m.Lng, -120.25) {
			t.Errorf("big-endian=%v: got %+v", be, m)
		}
		if len(out) != len(block) || bytes.Equal(out, block) {
			t.Errorf("big-endian=%v: want a same-size copy with the orientation changed", be)
		}
		if m0, _ := exif.Parse(block, nil); m0.Orientation != 6 {
			t.Errorf("big-endian=%v: the input block was modified", be)
		}
	}
	cam, err := os.ReadFile(filepath.Join("testdata", "camera-ii.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := exif.Block(bytes.NewReader(cam), int64(len(cam)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exif.ResetOrientation(block)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := exif.Parse(out, shanghai); err != nil || m.Orientation != 1 || !m.HasGPS || m.TakenAt.IsZero() {
		t.Fatalf("camera-ii.jpg: got %+v, %v", m, err)
	}

	upright := exiftest.TIFF(exiftest.Options{TakenAt: "2026:05:06 07:08:09"})
	if out, err := exif.ResetOrientation(upright); err != nil || !bytes.Equal(out, upright) {
		t.Errorf("block without orientation: got %v, want it unchanged", err)
	}
	for _, bad := range [][]byte{nil, []byte("XX*\x00\x08\x00\x00\x00"), []byte("II*\x00\xff\xff\x00\x00"), upright[:12]} {
		if _, err := exif.ResetOrientation(bad); !errors.Is(err, exif.ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzResetOrientation feeds raw blocks to ResetOrientation: it must not
// panic, and a block it returns has the input's size and, when it parses,
// no orientation other than upright.
func FuzzResetOrientation(f *testing.F) {
	f.Add(exiftest.TIFF(exiftest.Options{TakenAt: "2026:05:06 07:08:09", GPS: true, Lat: 1, Lng: 2, Orientation: 6}))
	f.Add(exiftest.TIFF(exiftest.Options{Orientation: 8, BigEndian: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := exif.ResetOrientation(b)
		if err != nil {
			return
		}
		if len(out) != len(b) {
			t.Fatalf("got %d bytes from %d", len(out), len(b))
		}
		if m, err := exif.Parse(out, nil); err == nil && m.Orientation > 1 {
			t.Fatalf("orientation %d left", m.Orientation)
		}
	})
}
