// Package thumb makes the small JPEG previews the dashboard and devices show
// in lists, with internal/imagefmt (the standard library for JPEG and PNG,
// golang.org/x/image for WebP and scaling). HEIC/HEIF needs an HEVC decoder, which does not exist in pure Go: such
// photos get no thumbnail (ErrUnsupported). A thumbnail is derived data; the
// original photo is never touched.
package thumb

import (
	"io"

	"golang.org/x/image/draw"

	"github.com/gridsync/gridsync/internal/imagefmt"
)

// MaxEdge is the longest side of a thumbnail, in pixels.
const MaxEdge = 320

// MaxPixels bounds the photos decoded: a small file can declare a huge
// canvas (a decompression bomb). 64 megapixels is above any phone camera's
// default output.
const MaxPixels = 64 << 20

// Quality is the JPEG quality of thumbnails.
const Quality = 80

// ContentType is the type of every thumbnail.
const ContentType = "image/jpeg"

// ErrUnsupported means the photo cannot be decoded here: HEIC, a canvas
// larger than MaxPixels, or broken data.
var ErrUnsupported = imagefmt.ErrUndecodable

// Make decodes a JPEG, PNG or WebP photo from r, turns it upright by the EXIF
// orientation (1..8; 0 is upright) and returns it scaled to fit MaxEdge as a
// JPEG. A photo already smaller is not enlarged. It fails with
// ErrUnsupported for other formats and oversized canvases.
func Make(r io.Reader, orientation int) ([]byte, error) {
	return makeBounded(r, orientation, MaxPixels)
}

// makeBounded is Make with the canvas bound as a parameter, so the fuzz
// test can keep each input's memory small.
func makeBounded(r io.Reader, orientation int, maxPixels int64) ([]byte, error) {
	return imagefmt.Shrink(r, orientation, MaxEdge, maxPixels, draw.BiLinear, Quality)
}
