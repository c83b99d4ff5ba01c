package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"os"

	"golang.org/x/image/draw"

	"github.com/gridsync/gridsync/internal/exif"
	"github.com/gridsync/gridsync/internal/imagefmt"
	"github.com/gridsync/gridsync/syncproto"
)

// prepared is a photo ready to be queued: the bytes that will be uploaded
// and their hash.
type prepared struct {
	data     []byte
	sha      string
	mime     string
	filename string
}

// preparePhoto reads the file at path, checks its type by content,
// downscales it if opt asks for it, checks the size limit and hashes the
// result. The bytes are held in memory: they are bounded by MaxPhotoSize
// (MaxSourceSize when downscaling), and hashing the very bytes that are
// written means a file changed meanwhile cannot give a copy and a hash
// that disagree.
func preparePhoto(path string, opt AttachOptions) (*prepared, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("photo: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("photo: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, reject(syncproto.CodeInvalidValue, "photo %s is not a regular file", path)
	}
	limit := int64(MaxPhotoSize)
	if opt.MaxEdge > 0 {
		limit = MaxSourceSize
	}
	if fi.Size() > limit {
		return nil, reject(syncproto.CodeTooLarge, "photo %s has %d bytes, over the limit of %d", path, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("photo: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, reject(syncproto.CodeTooLarge, "photo %s grew over the limit of %d bytes while it was read", path, limit)
	}
	if len(data) == 0 {
		return nil, reject(syncproto.CodeInvalidValue, "photo %s is empty", path)
	}
	mime := imagefmt.Sniff(data[:min(len(data), imagefmt.SniffLen)])
	if mime == "" {
		return nil, reject(CodeUnsupportedPhoto, "%s is not a JPEG, PNG, WebP or HEIC photo", path)
	}
	if opt.MaxEdge > 0 && imagefmt.Decodable(mime) {
		q := opt.Quality
		if q == 0 {
			q = DefaultJPEGQuality
		}
		scaled, err := downscale(data, opt.MaxEdge, q)
		if err != nil {
			return nil, fmt.Errorf("photo %s: %w", path, err)
		}
		if scaled != nil {
			data, mime = scaled, imagefmt.JPEG
		}
	}
	if len(data) > MaxPhotoSize {
		return nil, reject(syncproto.CodeTooLarge, "photo %s has %d bytes, over the limit of %d (attach it with a max edge to downscale it)",
			path, len(data), MaxPhotoSize)
	}
	sum := sha256.Sum256(data)
	return &prepared{data: data, sha: hex.EncodeToString(sum[:]), mime: mime, filename: uploadFilename(path)}, nil
}

// downscale returns the photo turned upright and scaled to fit maxEdge as
// a JPEG with the original's EXIF block (orientation reset to upright), or
// nil when the photo is kept as it is: it already fits, or it cannot be
// decoded here (a canvas over MaxPixels, which may be a decompression bomb,
// or a JPEG feature the Go decoder lacks). Downscaling saves bytes; a
// photo it cannot handle is still evidence.
func downscale(data []byte, maxEdge, quality int) ([]byte, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, nil
	}
	// Turning a picture by 90° swaps its sides but not its longer one, so
	// the stored size decides.
	if max(cfg.Width, cfg.Height) <= maxEdge {
		return nil, nil
	}
	// No EXIF block, or a broken one, is not carried over: the photo stays
	// evidence, without capture metadata (reading from memory cannot fail
	// otherwise).
	block, _ := exif.Block(bytes.NewReader(data), int64(len(data)))
	orientation := 0
	if block != nil {
		if m, err := exif.Parse(block, nil); err == nil {
			orientation = m.Orientation
		}
		if block, err = exif.ResetOrientation(block); err != nil {
			block = nil
		}
	}
	scaled, err := imagefmt.Shrink(bytes.NewReader(data), orientation, maxEdge, MaxPixels, draw.CatmullRom, quality)
	if errors.Is(err, imagefmt.ErrUndecodable) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return withExif(scaled, block), nil
}

// maxApp1 is the most EXIF data one JPEG APP1 segment holds: a segment's
// length field counts itself (2) and the "Exif\0\0" header (6).
const maxApp1 = 0xFFFF - 2 - 6

// withExif puts an APP1 segment with the EXIF block right after the JPEG's
// SOI marker, where cameras put it (the encoder writes no APP segment of
// its own). A block too large for one segment is left out.
func withExif(jpg, block []byte) []byte {
	if len(block) == 0 || len(block) > maxApp1 {
		return jpg
	}
	out := make([]byte, 0, len(jpg)+len(block)+10)
	out = append(out, jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(block)+2+6))
	out = append(out, "Exif\x00\x00"...)
	out = append(out, block...)
	return append(out, jpg[2:]...)
}
