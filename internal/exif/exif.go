// Package exif reads the few EXIF fields gridsync keeps with a photo: when it
// was taken (DateTimeOriginal with OffsetTimeOriginal), where (GPS latitude
// and longitude) and how it is turned (Orientation, for thumbnails).
//
// It is a small parser for untrusted input, written for this subset instead
// of depending on a general EXIF library: every offset and count is checked
// against the data, nothing is allocated from a size the file declares, and
// only the two sub-IFDs named by IFD0 are followed (no chains, so no loops).
// Read finds the EXIF block in JPEG (APP1), PNG (eXIf) and WebP (EXIF chunk)
// files; HEIC keeps EXIF inside its item boxes and is not read.
package exif

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// MaxBlock bounds the EXIF block Read loads: a JPEG APP1 segment cannot
// exceed 64 KiB, and PNG and WebP writers use the same budget.
const MaxBlock = 256 << 10

// maxEntries bounds the entries read from one IFD.
const maxEntries = 512

// ErrNoExif means the file has no EXIF block (or is of a format Read does
// not look into).
var ErrNoExif = errors.New("exif: no EXIF data")

// ErrMalformed means an EXIF block was found but could not be parsed.
var ErrMalformed = errors.New("exif: malformed")

// Meta is what gridsync keeps of a photo's EXIF data. A field the photo
// lacks (or has in a malformed form) is left at its zero value.
type Meta struct {
	// TakenAt is DateTimeOriginal, in the zone of OffsetTimeOriginal if the
	// photo has one, else in the zone Read was given.
	TakenAt time.Time
	// OffsetKnown says whether the photo recorded its UTC offset.
	OffsetKnown bool
	// HasGPS says whether Lat and Lng were read.
	HasGPS   bool
	Lat, Lng float64
	// Orientation is the EXIF orientation 1..8 (0 if absent): how to turn
	// the stored pixels to show the picture upright.
	Orientation int
}

// Read finds and parses the EXIF block of a JPEG, PNG or WebP file of the
// given size. A timestamp without an offset is read in zone loc (nil: UTC).
// It returns ErrNoExif when there is none, or an error wrapping ErrMalformed
// when the block is broken; a read error of r is returned wrapped.
func Read(r io.ReaderAt, size int64, loc *time.Location) (*Meta, error) {
	block, err := Block(r, size)
	if err != nil {
		return nil, err
	}
	return Parse(block, loc)
}

// Block returns the raw TIFF-structured EXIF block of a JPEG, PNG or WebP
// file of the given size (what follows "Exif\0\0" in a JPEG APP1 segment),
// to be copied into a re-encoded picture. It returns ErrNoExif when there is
// none, or an error wrapping ErrMalformed when the file's structure is
// broken.
func Block(r io.ReaderAt, size int64) ([]byte, error) {
	var head [12]byte
	n, err := r.ReadAt(head[:], 0)
	if n < len(head) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, ErrNoExif
		}
		return nil, fmt.Errorf("exif: %w", err)
	}
	switch {
	case head[0] == 0xFF && head[1] == 0xD8:
		return findJPEG(r, size)
	case string(head[:8]) == "\x89PNG\r\n\x1a\n":
		return findPNG(r, size)
	case string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return findWebP(r, size)
	}
	return nil, ErrNoExif
}

// readAt reads exactly n bytes at off, mapping a short file to ErrMalformed.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: file ends inside a block", ErrMalformed)
	}
	return nil, fmt.Errorf("exif: %w", err)
}

var exifHeader = []byte("Exif\x00\x00")

// findJPEG walks the marker segments before the image data for an APP1
// segment starting "Exif\0\0".
func findJPEG(r io.ReaderAt, size int64) ([]byte, error) {
	off := int64(2)
	for off+4 <= size {
		h, err := readAt(r, off, 4)
		if err != nil {
			return nil, err
		}
		if h[0] != 0xFF {
			return nil, fmt.Errorf("%w: JPEG marker expected at %d", ErrMalformed, off)
		}
		marker := h[1]
		switch {
		case marker == 0xFF: // fill byte
			off++
			continue
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD7: // no payload
			off += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return nil, ErrNoExif
		}
		length := int64(binary.BigEndian.Uint16(h[2:4]))
		if length < 2 {
			return nil, fmt.Errorf("%w: JPEG segment length %d", ErrMalformed, length)
		}
		if marker == 0xE1 && length-2 >= int64(len(exifHeader)) && off+2+length <= size {
			seg, err := readAt(r, off+4, int(length-2))
			if err != nil {
				return nil, err
			}
			if string(seg[:len(exifHeader)]) == string(exifHeader) {
				return seg[len(exifHeader):], nil
			}
		}
		off += 2 + length
	}
	return nil, ErrNoExif
}

// findPNG walks the chunks for "eXIf".
func findPNG(r io.ReaderAt, size int64) ([]byte, error) {
	off := int64(8)
	for off+12 <= size {
		h, err := readAt(r, off, 8)
		if err != nil {
			return nil, err
		}
		length := int64(binary.BigEndian.Uint32(h[0:4]))
		typ := string(h[4:8])
		if off+12+length > size {
			return nil, fmt.Errorf("%w: PNG chunk %q runs past the end", ErrMalformed, typ)
		}
		switch typ {
		case "eXIf":
			if length > MaxBlock {
				return nil, fmt.Errorf("%w: eXIf chunk of %d bytes", ErrMalformed, length)
			}
			return readAt(r, off+8, int(length))
		case "IEND":
			return nil, ErrNoExif
		}
		off += 12 + length
	}
	return nil, ErrNoExif
}

// findWebP walks the RIFF chunks for "EXIF". Some writers put the JPEG
// "Exif\0\0" header before the TIFF data; it is skipped.
func findWebP(r io.ReaderAt, size int64) ([]byte, error) {
	off := int64(12)
	for off+8 <= size {
		h, err := readAt(r, off, 8)
		if err != nil {
			return nil, err
		}
		length := int64(binary.LittleEndian.Uint32(h[4:8]))
		if off+8+length > size {
			return nil, fmt.Errorf("%w: WebP chunk %q runs past the end", ErrMalformed, h[:4])
		}
		if string(h[:4]) == "EXIF" {
			if length > MaxBlock {
				return nil, fmt.Errorf("%w: EXIF chunk of %d bytes", ErrMalformed, length)
			}
			b, err := readAt(r, off+8, int(length))
			if err != nil {
				return nil, err
			}
			if len(b) >= len(exifHeader) && string(b[:len(exifHeader)]) == string(exifHeader) {
				b = b[len(exifHeader):]
			}
			return b, nil
		}
		off += 8 + length + length%2 // chunks are padded to even sizes
	}
	return nil, ErrNoExif
}

// Tags read.
const (
	tagOrientation        = 0x0112
	tagExifIFD            = 0x8769
	tagGPSIFD             = 0x8825
	tagDateTimeOriginal   = 0x9003
	tagOffsetTimeOriginal = 0x9011
	tagGPSLatitudeRef     = 0x0001
	tagGPSLatitude        = 0x0002
	tagGPSLongitudeRef    = 0x0003
	tagGPSLongitude       = 0x0004
)

// Field types used, with their sizes in bytes.
const (
	typeASCII    = 2
	typeShort    = 3
	typeLong     = 4
	typeRational = 5
)

var typeSize = map[uint16]uint32{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}

// tiff is a TIFF-structured block with its byte order.
type tiff struct {
	b     []byte
	order binary.ByteOrder
}

// entry is one IFD entry.
type entry struct {
	tag, typ uint16
	count    uint32
	value    []byte // count × size bytes, inline or at the offset
}

// Parse reads a TIFF-structured EXIF block (what follows "Exif\0\0" in a
// JPEG). A timestamp without an offset is read in zone loc (nil: UTC).
// Broken parts are skipped where the rest can still be read; a block with
// no readable header or IFD0 is ErrMalformed.
func Parse(block []byte, loc *time.Location) (*Meta, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, off, err := header(block)
	if err != nil {
		return nil, err
	}
	ifd0, err := t.ifd(off)
	if err != nil {
		return nil, err
	}
	m := &Meta{}
	if e, ok := ifd0[tagOrientation]; ok {
		if v, ok := t.uint(e); ok && v >= 1 && v <= 8 {
			m.Orientation = int(v)
		}
	}
	if e, ok := ifd0[tagExifIFD]; ok {
		if off, ok := t.uint(e); ok {
			if sub, err := t.ifd(off); err == nil {
				m.TakenAt, m.OffsetKnown = t.takenAt(sub, loc)
			}
		}
	}
	if e, ok := ifd0[tagGPSIFD]; ok {
		if off, ok := t.uint(e); ok {
			if sub, err := t.ifd(off); err == nil {
				m.Lat, m.Lng, m.HasGPS = t.gps(sub)
			}
		}
	}
	return m, nil
}

// ResetOrientation returns a copy of a TIFF-structured EXIF block whose
// IFD0 Orientation says 1 (upright), for a picture whose pixels were turned
// upright when it was re-encoded. Everything else (capture time, GPS) is
// kept byte for byte; a block without an Orientation entry is returned as
// an unchanged copy. A block whose header or IFD0 cannot be read is
// ErrMalformed.
func ResetOrientation(block []byte) ([]byte, error) {
	t, off, err := header(block)
	if err != nil {
		return nil, err
	}
	start, n, err := t.entries(off)
	if err != nil {
		return nil, err
	}
	// Read the entries of the copy, so that their values are the copy's
	// bytes to overwrite.
	t.b = append([]byte(nil), block...)
	for i := range n {
		e, ok := t.entry(start + uint64(i)*12)
		if !ok || e.tag != tagOrientation || e.count == 0 {
			continue
		}
		// The first value is what readers take.
		switch e.typ {
		case typeShort:
			t.order.PutUint16(e.value, 1)
		case typeLong:
			t.order.PutUint32(e.value, 1)
		}
	}
	return t.b, nil
}

// header reads a TIFF header: the block with its byte order, and the
// offset of IFD0.
func header(block []byte) (tiff, uint32, error) {
	if len(block) < 8 {
		return tiff{}, 0, fmt.Errorf("%w: %d-byte TIFF header", ErrMalformed, len(block))
	}
	t := tiff{b: block}
	switch string(block[:4]) {
	case "II*\x00":
		t.order = binary.LittleEndian
	case "MM\x00*":
		t.order = binary.BigEndian
	default:
		return tiff{}, 0, fmt.Errorf("%w: not a TIFF header", ErrMalformed)
	}
	return t, t.order.Uint32(block[4:8]), nil
}

// entries checks the IFD at off lies in the block, and returns where its
// first entry starts and how many entries it has.
func (t tiff) entries(off uint32) (start uint64, n int, err error) {
	if uint64(off)+2 > uint64(len(t.b)) {
		return 0, 0, fmt.Errorf("%w: IFD offset %d outside the block", ErrMalformed, off)
	}
	n = int(t.order.Uint16(t.b[off:]))
	if n > maxEntries {
		return 0, 0, fmt.Errorf("%w: IFD with %d entries", ErrMalformed, n)
	}
	start = uint64(off) + 2
	if start+uint64(n)*12 > uint64(len(t.b)) {
		return 0, 0, fmt.Errorf("%w: IFD at %d runs past the block", ErrMalformed, off)
	}
	return start, n, nil
}

// entry reads the 12-byte IFD entry at at, with its values (inline when
// they fit in the entry's 4 bytes, else at the offset there). An entry of
// an unknown type, or whose values lie outside the block, is not read.
func (t tiff) entry(at uint64) (entry, bool) {
	p := t.b[at : at+12]
	e := entry{tag: t.order.Uint16(p[0:]), typ: t.order.Uint16(p[2:]), count: t.order.Uint32(p[4:])}
	size, ok := typeSize[e.typ]
	if !ok {
		return e, false
	}
	total := uint64(size) * uint64(e.count)
	if total <= 4 {
		e.value = p[8 : 8+total]
	} else {
		off := uint64(t.order.Uint32(p[8:]))
		if off+total > uint64(len(t.b)) {
			return e, false
		}
		e.value = t.b[off : off+total]
	}
	return e, true
}

// ifd reads the IFD at off into a map by tag. Entries whose values lie
// outside the block are dropped.
func (t tiff) ifd(off uint32) (map[uint16]entry, error) {
	start, n, err := t.entries(off)
	if err != nil {
		return nil, err
	}
	out := make(map[uint16]entry, n)
	for i := range n {
		e, ok := t.entry(start + uint64(i)*12)
		if !ok {
			continue
		}
		if _, dup := out[e.tag]; !dup {
			out[e.tag] = e
		}
	}
	return out, nil
}

// uint reads the first value of a SHORT or LONG entry.
func (t tiff) uint(e entry) (uint32, bool) {
	switch {
	case e.typ == typeShort && len(e.value) >= 2:
		return uint32(t.order.Uint16(e.value)), true
	case e.typ == typeLong && len(e.value) >= 4:
		return t.order.Uint32(e.value), true
	}
	return 0, false
}

// ascii reads an ASCII entry up to its first NUL.
func ascii(e entry) (string, bool) {
	if e.typ != typeASCII {
		return "", false
	}
	s := string(e.value)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s), true
}

// takenAt reads DateTimeOriginal "YYYY:MM:DD HH:MM:SS" and, if present,
// OffsetTimeOriginal "+HH:MM".
func (t tiff) takenAt(sub map[uint16]entry, loc *time.Location) (time.Time, bool) {
	e, ok := sub[tagDateTimeOriginal]
	if !ok {
		return time.Time{}, false
	}
	s, ok := ascii(e)
	if !ok {
		return time.Time{}, false
	}
	known := false
	if oe, ok := sub[tagOffsetTimeOriginal]; ok {
		if off, ok := ascii(oe); ok {
			if z, ok := parseOffset(off); ok {
				loc, known = z, true
			}
		}
	}
	ts, err := time.ParseInLocation("2006:01:02 15:04:05", s, loc)
	if err != nil || ts.Year() < 1990 {
		// Cameras write "0000:00:00 00:00:00" or blanks for "unknown".
		return time.Time{}, false
	}
	return ts, known
}

// parseOffset reads "+08:00" / "-05:30" into a fixed zone.
func parseOffset(s string) (*time.Location, bool) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return nil, false
	}
	var h, m int
	for _, c := range s[1:3] + s[4:6] {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	h = int(s[1]-'0')*10 + int(s[2]-'0')
	m = int(s[4]-'0')*10 + int(s[5]-'0')
	if h > 14 || m > 59 {
		return nil, false
	}
	secs := h*3600 + m*60
	if s[0] == '-' {
		secs = -secs
	}
	return time.FixedZone(s, secs), true
}

// gps reads latitude and longitude as signed decimal degrees.
func (t tiff) gps(sub map[uint16]entry) (lat, lng float64, ok bool) {
	lat, ok1 := t.degrees(sub[tagGPSLatitude])
	lng, ok2 := t.degrees(sub[tagGPSLongitude])
	latRef, ok3 := ascii(sub[tagGPSLatitudeRef])
	lngRef, ok4 := ascii(sub[tagGPSLongitudeRef])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, 0, false
	}
	switch latRef {
	case "N":
	case "S":
		lat = -lat
	default:
		return 0, 0, false
	}
	switch lngRef {
	case "E":
	case "W":
		lng = -lng
	default:
		return 0, 0, false
	}
	if lat < -90 || lat > 90 || lng < -180 || lng > 180 {
		return 0, 0, false
	}
	return lat, lng, true
}

// degrees reads three RATIONALs degrees, minutes, seconds.
func (t tiff) degrees(e entry) (float64, bool) {
	if e.typ != typeRational || e.count != 3 || len(e.value) != 24 {
		return 0, false
	}
	var v [3]float64
	for i := range v {
		num := t.order.Uint32(e.value[i*8:])
		den := t.order.Uint32(e.value[i*8+4:])
		if den == 0 {
			return 0, false
		}
		v[i] = float64(num) / float64(den)
	}
	if v[1] >= 60 || v[2] >= 60 {
		return 0, false
	}
	d := v[0] + v[1]/60 + v[2]/3600
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, false
	}
	return d, true
}
