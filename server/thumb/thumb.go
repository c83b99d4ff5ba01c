// Package thumb makes the small JPEG previews the dashboard and devices show
// in lists. It is the only package that decodes photo pixels, through the
// standard library (JPEG, PNG) and golang.org/x/image (WebP, scaling).
// HEIC/HEIF needs an HEVC decoder, which does not exist in pure Go: such
// photos get no thumbnail (ErrUnsupported). A thumbnail is derived data; the
// original photo is never touched.
package thumb

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // registers PNG decoding
	"io"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers WebP decoding

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

// ErrUnsupported means the photo's format cannot be decoded here (HEIC), or
// its canvas is larger than MaxPixels.
var ErrUnsupported = errors.New("thumb: cannot decode this photo")

// Make decodes a JPEG, PNG or WebP photo from r, turns it upright by the EXIF
// orientation (1..8; 0 is upright) and returns it scaled to fit MaxEdge as a
// JPEG. A photo already smaller is not enlarged. It fails with
// ErrUnsupported for other formats and oversized canvases.
func Make(r io.Reader, orientation int) ([]byte, error) {
	return makeBounded(r, orientation, MaxPixels)
}

// makeBounded is Make with the canvas bound as a parameter, so the fuzz
// test can keep each input's memory small. The bound is checked from the
// header (image.DecodeConfig) before any pixel is allocated.
func makeBounded(r io.Reader, orientation int, maxPixels int64) ([]byte, error) {
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, &head))
	if errors.Is(err, image.ErrFormat) {
		return nil, ErrUnsupported
	} else if err != nil {
		return nil, fmt.Errorf("thumb: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("%w: %s canvas %d×%d", ErrUnsupported, format, cfg.Width, cfg.Height)
	}
	src, _, err := image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, fmt.Errorf("thumb: decode %s: %w", format, err)
	}
	w, h := fit(cfg.Width, cfg.Height, MaxEdge)
	// Scale into a white RGBA canvas: transparent PNG areas become white
	// (JPEG has no alpha).
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.BiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, imagefmt.Orient(dst, orientation), &jpeg.Options{Quality: Quality}); err != nil {
		return nil, fmt.Errorf("thumb: encode: %w", err)
	}
	return out.Bytes(), nil
}

// fit returns w×h scaled down to fit max on the longest side.
func fit(w, h, max int) (int, int) {
	if w <= max && h <= max {
		return w, h
	}
	if w >= h {
		return max, maxInt(1, h*max/w)
	}
	return maxInt(1, w*max/h), max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
