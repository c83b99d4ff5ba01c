package imagefmt

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
)

// ErrUndecodable means a photo cannot be decoded here: a format pure Go
// cannot decode (HEIC), a canvas larger than allowed, or broken data.
var ErrUndecodable = errors.New("imagefmt: cannot decode this photo")

// Shrink decodes a JPEG, PNG or WebP photo read from r, turns it upright by
// its EXIF orientation (see Orient), scales it with kernel to fit maxEdge on
// its longer side (never up) onto white (JPEG has no alpha), and encodes it
// as a JPEG of the given quality. The canvas is checked against maxPixels
// from the header, before any pixel is allocated: a small file can declare
// a huge canvas (a decompression bomb). The server's thumbnails and the
// device's downscale before hashing both use it.
func Shrink(r io.Reader, orientation, maxEdge int, maxPixels int64, kernel draw.Interpolator, quality int) ([]byte, error) {
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fmt.Errorf("%w: %s canvas %d×%d", ErrUndecodable, format, cfg.Width, cfg.Height)
	}
	src, _, err := image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", ErrUndecodable, format, err)
	}
	w, h := fit(cfg.Width, cfg.Height, maxEdge)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	kernel.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, Orient(dst, orientation), &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("imagefmt: encode: %w", err)
	}
	return out.Bytes(), nil
}

// fit returns w×h scaled down to fit edge on the longer side (the shorter
// side truncated, at least 1); a picture that fits keeps its size.
func fit(w, h, edge int) (int, int) {
	switch {
	case w <= edge && h <= edge:
		return w, h
	case w >= h:
		return edge, max(1, h*edge/w)
	}
	return max(1, w*edge/h), edge
}
