package client

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/exif"
	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/server/app/apptest"
)

func writeFile(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// A 400×300 JPEG stored sideways (EXIF orientation 6: turn 90° clockwise
// to view) with a capture time and GPS, downscaled to a 200 px edge: the
// result is a 150×200 upright JPEG whose EXIF block keeps time and GPS and
// says upright, and the photo's hash is the result's.
func TestDownscale(t *testing.T) {
	o := exiftest.Options{TakenAt: "2026:11:23 09:26:53", Offset: "+08:00", GPS: true, Lat: siteG01Lat, Lng: siteG01Lng,
		Orientation: 6, Width: 400, Height: 300}
	src := exiftest.JPEG(t, o)
	ph, err := preparePhoto(writeFile(t, t.TempDir(), "IMG_0500.jpg", src), AttachOptions{MaxEdge: 200})
	if err != nil {
		t.Fatal(err)
	}
	if ph.mime != "image/jpeg" || ph.sha != shaOf(ph.data) || ph.filename != "IMG_0500.jpg" {
		t.Fatalf("prepared %s %s size %d name %q", ph.mime, ph.sha, len(ph.data), ph.filename)
	}
	img, err := jpeg.Decode(bytes.NewReader(ph.data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 150 || b.Dy() != 200 {
		t.Fatalf("size %dx%d, want 150x200 (upright, longer edge 200)", b.Dx(), b.Dy())
	}
	// The builder's picture is red along x and green along y. Turned 90°
	// clockwise, the stored bottom-left (green) is the viewed top-left and
	// the stored top-left (black) the viewed top-right.
	at := func(x, y int) (r, g uint32) {
		r, g, _, _ = img.At(x, y).RGBA()
		return r >> 8, g >> 8
	}
	if r, g := at(3, 3); r > 60 || g < 190 {
		t.Errorf("viewed top-left r=%d g=%d, want green", r, g)
	}
	if r, g := at(146, 3); r > 60 || g > 60 {
		t.Errorf("viewed top-right r=%d g=%d, want dark", r, g)
	}
	if r, g := at(3, 196); r < 190 || g < 190 {
		t.Errorf("viewed bottom-left r=%d g=%d, want yellow (the stored bottom-right)", r, g)
	}
	m, err := exif.Read(bytes.NewReader(ph.data), int64(len(ph.data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 23, 9, 26, 53, 0, time.FixedZone("", 8*3600))
	if m.Orientation != 1 || !m.TakenAt.Equal(want) || !m.HasGPS || abs(m.Lat-siteG01Lat) > 1e-5 || abs(m.Lng-siteG01Lng) > 1e-5 {
		t.Fatalf("EXIF of the downscaled photo %+v", m)
	}

	t.Run("FitsKeptAsIs", func(t *testing.T) {
		ph, err := preparePhoto(writeFile(t, t.TempDir(), "a.jpg", src), AttachOptions{MaxEdge: 400})
		if err != nil || !bytes.Equal(ph.data, src) || ph.sha != shaOf(src) {
			t.Fatalf("a photo within the edge was changed: %v", err)
		}
	})
	t.Run("NoOptionKeptAsIs", func(t *testing.T) {
		ph, err := preparePhoto(writeFile(t, t.TempDir(), "a.jpg", src), AttachOptions{})
		if err != nil || !bytes.Equal(ph.data, src) {
			t.Fatalf("changed without MaxEdge: %v", err)
		}
	})
	t.Run("HEICKeptAsIs", func(t *testing.T) {
		heic, err := os.ReadFile("../internal/exif/testdata/tiny.heic")
		if err != nil {
			t.Fatal(err)
		}
		ph, err := preparePhoto(writeFile(t, t.TempDir(), "IMG_0001.HEIC", heic), AttachOptions{MaxEdge: 1})
		if err != nil || !bytes.Equal(ph.data, heic) || ph.mime != "image/heic" {
			t.Fatalf("HEIC: %v", err)
		}
	})
	t.Run("PNGWithAlpha", func(t *testing.T) {
		// A screenshot-like PNG with a transparent half and EXIF: white
		// where it was transparent, EXIF carried into the JPEG.
		po := exiftest.Options{TakenAt: "2026:11:23 09:26:53", GPS: true, Lat: 1.5, Lng: 2.25, Width: 300, Height: 100}
		b := exiftest.PNG(t, po)
		img := image.NewNRGBA(image.Rect(0, 0, 300, 100))
		for x := 150; x < 300; x++ {
			for y := range 100 {
				img.Set(x, y, color.NRGBA{0, 0, 255, 255})
			}
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		// Splice the EXIF chunk of b into the transparent picture.
		block, err := exif.Block(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		p := buf.Bytes()
		chunk := binary.BigEndian.AppendUint32(nil, uint32(len(block)))
		chunk = append(chunk, "eXIf"...)
		chunk = append(chunk, block...)
		chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
		withChunk := append(append(append([]byte{}, p[:33]...), chunk...), p[33:]...)
		ph, err := preparePhoto(writeFile(t, t.TempDir(), "screen.png", withChunk), AttachOptions{MaxEdge: 150, Quality: 90})
		if err != nil {
			t.Fatal(err)
		}
		out, err := jpeg.Decode(bytes.NewReader(ph.data))
		if err != nil || ph.mime != "image/jpeg" || out.Bounds().Dx() != 150 || out.Bounds().Dy() != 50 {
			t.Fatalf("PNG downscaled to %v %s: %v", out.Bounds(), ph.mime, err)
		}
		if r, g, b, _ := out.At(10, 25).RGBA(); r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
			t.Errorf("transparent area %d,%d,%d, want white", r>>8, g>>8, b>>8)
		}
		if m, err := exif.Read(bytes.NewReader(ph.data), int64(len(ph.data)), nil); err != nil || !m.HasGPS || m.TakenAt.IsZero() {
			t.Fatalf("EXIF carried from the PNG: %+v %v", m, err)
		}
	})
	// What cannot be decoded here is not decoded (a decompression bomb's
	// header) or not changed (a JPEG Go cannot read): still evidence.
	for name, b := range map[string][]byte{"CanvasOverMaxPixelsKeptAsIs": pngCanvas(t, 20000, 20000),
		"UndecodableKeptAsIs": src[:len(src)/3]} {
		t.Run(name, func(t *testing.T) {
			ph, err := preparePhoto(writeFile(t, t.TempDir(), "x", b), AttachOptions{MaxEdge: 100})
			if err != nil || !bytes.Equal(ph.data, b) {
				t.Fatalf("got %v, want the bytes kept", err)
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// pngCanvas returns a 1×1 PNG whose header declares w×h (a decompression
// bomb's header).
func pngCanvas(tb testing.TB, w, h uint32) []byte {
	tb.Helper()
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// A downscaled photo goes to the server as the evidence: the server reads
// its capture time and GPS (no no_gps or no_time flag) and stores exactly
// the downscaled bytes under their hash.
func TestDownscaledPhotoOnServer(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("楼道堆放杂物")
	now := time.Now()
	src := exiftest.JPEG(t, exiftest.Options{TakenAt: now.Format("2006:01:02 15:04:05"), Offset: now.Format("-07:00"), GPS: true,
		Lat: siteG01Lat, Lng: siteG01Lng, Orientation: 8, Width: 640, Height: 480, Noise: true, Seed: 7})
	path := writeFile(t, t.TempDir(), "IMG_0600.jpg", src)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{MaxEdge: 320})
	local, err := os.ReadFile(worker.photo(sha).Path)
	if err != nil || sha == shaOf(src) || sha != shaOf(local) {
		t.Fatalf("the photo's hash is not the downscaled copy's: %v", err)
	}
	if rep := worker.sync(); rep.Photos.Stored != 1 || rep.Photos.BytesSent != int64(len(local)) {
		t.Fatalf("photos %+v (downscaled %d bytes, original %d)", rep.Photos, len(local), len(src))
	}
	station := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-downscale")
	if got := blob(t, srv.URL(), station, sha); !bytes.Equal(got, local) {
		t.Fatal("the server stored other bytes than the downscaled photo")
	}
	var doc struct {
		Photos []struct {
			Photo struct {
				TakenAt *time.Time `json:"taken_at"`
				GPS     *struct{}  `json:"gps"`
			} `json:"photo"`
			Flags []string `json:"flags"`
		} `json:"photos"`
	}
	apiGet(t, srv.URL(), station, "/v1/docs/hazards/"+hz+"/photos", &doc)
	if len(doc.Photos) != 1 || doc.Photos[0].Photo.TakenAt == nil || doc.Photos[0].Photo.GPS == nil || len(doc.Photos[0].Flags) != 0 {
		t.Fatalf("the server's view of the photo: %+v", doc.Photos)
	}
}
