// Package exiftest builds small photos with EXIF data for tests: a real
// image encoded by the standard library with an EXIF block spliced in, the
// way a phone camera writes one.
package exiftest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

// Options says what goes into the EXIF block. Zero fields are left out.
type Options struct {
	// TakenAt is DateTimeOriginal, "YYYY:MM:DD HH:MM:SS".
	TakenAt string
	// Offset is OffsetTimeOriginal, "+08:00".
	Offset string
	// GPS adds GPSLatitude/Longitude with their refs from Lat and Lng.
	GPS      bool
	Lat, Lng float64
	// Orientation is the EXIF orientation 1..8.
	Orientation uint16
	// BigEndian writes "MM" byte order instead of "II".
	BigEndian bool
	// Width and Height of the picture (default 64×48).
	Width, Height int
	// Seed varies the pixels, so photos with the same EXIF differ.
	Seed int
	// Noise fills the picture with pseudo-random pixels, which JPEG cannot
	// compress: about 2 bytes per pixel, like a real photo's detail.
	Noise bool
}

// TIFF returns the EXIF block (what follows "Exif\0\0" in a JPEG APP1).
func TIFF(o Options) []byte {
	var order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	hdr := []byte("II*\x00")
	if o.BigEndian {
		order, hdr = binary.BigEndian, []byte("MM\x00*")
	}
	type field struct {
		tag, typ uint16
		count    uint32
		data     []byte
	}
	ascii := func(s string) []byte { return append([]byte(s), 0) }
	rationals := func(vs ...float64) []byte {
		var b []byte
		for _, v := range vs {
			b = order.AppendUint32(b, uint32(math.Round(v*10000)))
			b = order.AppendUint32(b, 10000)
		}
		return b
	}
	dms := func(deg float64) []byte {
		deg = math.Abs(deg)
		d := math.Floor(deg)
		m := math.Floor((deg - d) * 60)
		s := ((deg-d)*60 - m) * 60
		return rationals(d, m, s)
	}
	var ifd0, exifIFD, gpsIFD []field
	if o.Orientation != 0 {
		ifd0 = append(ifd0, field{0x0112, 3, 1, order.AppendUint16(nil, o.Orientation)})
	}
	if o.TakenAt != "" {
		exifIFD = append(exifIFD, field{0x9003, 2, uint32(len(o.TakenAt) + 1), ascii(o.TakenAt)})
	}
	if o.Offset != "" {
		exifIFD = append(exifIFD, field{0x9011, 2, uint32(len(o.Offset) + 1), ascii(o.Offset)})
	}
	if o.GPS {
		latRef, lngRef := "N", "E"
		if o.Lat < 0 {
			latRef = "S"
		}
		if o.Lng < 0 {
			lngRef = "W"
		}
		gpsIFD = []field{
			{0x0000, 1, 4, []byte{2, 3, 0, 0}}, // GPSVersionID
			{0x0001, 2, 2, ascii(latRef)},
			{0x0002, 5, 3, dms(o.Lat)},
			{0x0003, 2, 2, ascii(lngRef)},
			{0x0004, 5, 3, dms(o.Lng)},
		}
	}
	// Layout: header, IFD0, Exif IFD, GPS IFD, then the out-of-line values.
	ifdSize := func(fs []field) int { return 2 + 12*len(fs) + 4 }
	nIFD0 := len(ifd0)
	if len(exifIFD) > 0 {
		nIFD0++
	}
	if len(gpsIFD) > 0 {
		nIFD0++
	}
	off0 := 8
	offExif := off0 + 2 + 12*nIFD0 + 4
	offGPS := offExif
	if len(exifIFD) > 0 {
		offGPS += ifdSize(exifIFD)
	}
	data := offGPS
	if len(gpsIFD) > 0 {
		data += ifdSize(gpsIFD)
	}
	if len(exifIFD) > 0 {
		ifd0 = append(ifd0, field{0x8769, 4, 1, order.AppendUint32(nil, uint32(offExif))})
	}
	if len(gpsIFD) > 0 {
		ifd0 = append(ifd0, field{0x8825, 4, 1, order.AppendUint32(nil, uint32(offGPS))})
	}
	out := append([]byte{}, hdr...)
	out = order.AppendUint32(out, uint32(off0))
	var extra []byte
	writeIFD := func(fs []field) {
		out = order.AppendUint16(out, uint16(len(fs)))
		for _, f := range fs {
			out = order.AppendUint16(out, f.tag)
			out = order.AppendUint16(out, f.typ)
			out = order.AppendUint32(out, f.count)
			if len(f.data) <= 4 {
				out = append(out, f.data...)
				out = append(out, make([]byte, 4-len(f.data))...)
			} else {
				out = order.AppendUint32(out, uint32(data+len(extra)))
				extra = append(extra, f.data...)
				if len(extra)%2 == 1 {
					extra = append(extra, 0)
				}
			}
		}
		out = order.AppendUint32(out, 0)
	}
	writeIFD(ifd0)
	if len(exifIFD) > 0 {
		writeIFD(exifIFD)
	}
	if len(gpsIFD) > 0 {
		writeIFD(gpsIFD)
	}
	return append(out, extra...)
}

// picture is a small gradient, varied by seed.
func picture(o Options) image.Image {
	w, h := o.Width, o.Height
	if w == 0 || h == 0 {
		w, h = 64, 48
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	if o.Noise {
		x := uint32(o.Seed)*2654435761 + 1
		for i := range img.Pix {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			img.Pix[i] = uint8(x)
		}
		return img
	}
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(o.Seed * 37), 255})
		}
	}
	return img
}

// JPEG returns a JPEG of the picture with an APP1 EXIF segment right after
// SOI (where cameras put it); with no EXIF option set, no APP1 at all.
func JPEG(tb testing.TB, o Options) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, picture(o), &jpeg.Options{Quality: 80}); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	if o == (Options{Width: o.Width, Height: o.Height, Seed: o.Seed, Noise: o.Noise}) {
		return b
	}
	seg := append([]byte("Exif\x00\x00"), TIFF(o)...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	out := append([]byte{}, b[:2]...)
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, b[2:]...)
}

// PNG returns a PNG of the picture with an eXIf chunk before the image data.
func PNG(tb testing.TB, o Options) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, picture(o)); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	// The signature (8) and IHDR (25) come first.
	tiff := TIFF(o)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(tiff)))
	chunk = append(chunk, "eXIf"...)
	chunk = append(chunk, tiff...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := append([]byte{}, b[:33]...)
	out = append(out, chunk...)
	return append(out, b[33:]...)
}
