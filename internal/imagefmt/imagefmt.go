// Package imagefmt knows the photo formats gridsync takes as evidence, for
// the server (which refuses anything else) and the device SDK (which refuses
// the same files before it queues them): it tells a photo's type from its
// first bytes and turns decoded pixels upright by an EXIF orientation.
package imagefmt

import (
	"bytes"
	"image"
)

// SniffLen is how many leading bytes Sniff needs to decide; fewer are
// enough only for a whole photo shorter than that.
const SniffLen = 64

// Photo types, by content.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
	WebP = "image/webp"
	HEIC = "image/heic"
	HEIF = "image/heif"
)

// Sniff returns the type of a photo from its first bytes (at least
// SniffLen of them, or the whole photo), or "" for anything else: only the
// formats phone cameras write are evidence. A file's name or declared type
// is never trusted.
func Sniff(head []byte) string {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case len(head) >= 16 && bytes.Equal(head[0:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")) &&
		bytes.HasPrefix(head[12:], []byte("VP8")):
		return WebP
	}
	return sniffHEIF(head)
}

// sniffHEIF reads an ISO-BMFF "ftyp" box: HEIC (HEVC-coded HEIF, what
// iPhones and many Android phones write) by its major brand, generic HEIF by
// "mif1"/"msf1" with a HEVC compatible brand. AVIF and video are refused.
func sniffHEIF(head []byte) string {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := int(head[0])<<24 | int(head[1])<<16 | int(head[2])<<8 | int(head[3])
	if size < 16 || size%4 != 0 {
		return ""
	}
	box := head[:min(size, len(head))]
	heic := map[string]bool{"heic": true, "heix": true, "heim": true, "heis": true, "hevc": true, "hevx": true, "hevm": true, "hevs": true}
	switch major := string(box[8:12]); {
	case heic[major]:
		return HEIC
	case major == "mif1" || major == "msf1":
		for i := 16; i+4 <= len(box); i += 4 {
			if heic[string(box[i:i+4])] {
				return HEIF
			}
		}
	}
	return ""
}

// Decodable reports whether pure Go can decode photos of type mime (HEIC
// needs an HEVC decoder, which does not exist in pure Go).
func Decodable(mime string) bool {
	return mime == JPEG || mime == PNG || mime == WebP
}

// Orient applies an EXIF orientation to decoded pixels, returning the
// picture as it is meant to be seen: 2 mirror, 3 rotate 180, 4 flip,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
// counter-clockwise. Other values (0 or 1: upright; out of range) return
// src itself.
func Orient(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.SetRGBA(dx, dy, src.RGBAAt(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}
