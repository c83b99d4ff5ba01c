package syncproto

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidID is wrapped by every error about a malformed device id, op id
// or stamp.
var ErrInvalidID = errors.New("invalid id")

// idChar reports whether b may appear in device and document ids. The
// alphabet is URL-, file- and SQL-safe and excludes ':' and '@', which
// separate the parts of op ids and stamps.
func idChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '.' || b == '_' || b == '-'
}

func validID(s string, minLen int) bool {
	if len(s) < minLen || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

// ValidDeviceID reports whether s is a device id: MinDeviceIDLen to
// MaxIDLen characters of [A-Za-z0-9._-]. A device makes its own id once
// (a UUID is a good choice) and keeps it for its lifetime.
func ValidDeviceID(s string) bool { return validID(s, MinDeviceIDLen) }

// ValidDocID reports whether s is a document id: 1 to MaxIDLen characters
// of [A-Za-z0-9._-]. Devices make ids offline; UUIDv7 is recommended
// because it is unique without coordination and sorts by creation time.
func ValidDocID(s string) bool { return validID(s, 1) }

// OpID names one operation: the device that made it and the device's
// sequence number for it. Its wire form is "<device>:<seq>", for example
// "tablet-7f3a9c:42". OpIDs are also the tags of add-wins set elements.
type OpID struct {
	Device string
	Seq    uint64
}

// ParseOpID parses "<device>:<seq>" strictly: a valid device id, and a
// decimal Seq ≥ 1 without sign or leading zeros, so that an op id has
// exactly one spelling.
func ParseOpID(s string) (OpID, error) {
	dev, seqText, ok := strings.Cut(s, ":")
	if !ok || !ValidDeviceID(dev) {
		return OpID{}, fmt.Errorf("%w: op id %q: want <device>:<seq>", ErrInvalidID, s)
	}
	seq, ok := parseSeq(seqText)
	if !ok {
		return OpID{}, fmt.Errorf("%w: op id %q: seq must be a decimal ≥ 1", ErrInvalidID, s)
	}
	return OpID{Device: dev, Seq: seq}, nil
}

func parseSeq(s string) (uint64, bool) {
	if s == "" || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func (id OpID) valid() bool { return ValidDeviceID(id.Device) && id.Seq >= 1 }

// String returns the wire form.
func (id OpID) String() string { return id.Device + ":" + strconv.FormatUint(id.Seq, 10) }

// Compare orders op ids by device (bytewise), then by Seq numerically. It is
// the order in which Elem keeps its tags.
func (id OpID) Compare(o OpID) int {
	if c := strings.Compare(id.Device, o.Device); c != 0 {
		return c
	}
	return cmp.Compare(id.Seq, o.Seq)
}

// MarshalText implements encoding.TextMarshaler; an invalid id is an error.
func (id OpID) MarshalText() ([]byte, error) {
	if !id.valid() {
		return nil, fmt.Errorf("%w: op id %q", ErrInvalidID, id.String())
	}
	return []byte(id.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseOpID.
func (id *OpID) UnmarshalText(b []byte) error {
	v, err := ParseOpID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Stamp identifies one write and orders all writes totally: by HLC, then by
// device id bytewise. Two devices never share an id and a Clock never
// repeats a value, so distinct writes have distinct stamps, and equal stamps
// mean the same write. Its wire form is "<hlc>@<device>", for example
// "1732300000000-00002@tablet-7f3a9c"; the zero Stamp (no write) is "".
type Stamp struct {
	HLC    HLC
	Device string
}

// ParseStamp parses "<hlc>@<device>" strictly (see ParseHLC and
// ValidDeviceID). The empty string is refused here; UnmarshalText accepts it
// as the zero Stamp.
func ParseStamp(s string) (Stamp, error) {
	if len(s) <= hlcLen || s[hlcLen] != '@' {
		return Stamp{}, fmt.Errorf("%w: stamp %q: want <hlc>@<device>", ErrInvalidID, s)
	}
	h, err := ParseHLC(s[:hlcLen])
	if err != nil {
		return Stamp{}, fmt.Errorf("stamp %q: %w", s, err)
	}
	dev := s[hlcLen+1:]
	if !ValidDeviceID(dev) {
		return Stamp{}, fmt.Errorf("%w: stamp %q: bad device id", ErrInvalidID, s)
	}
	return Stamp{HLC: h, Device: dev}, nil
}

// IsZero reports whether s is the zero Stamp, meaning "no write".
func (s Stamp) IsZero() bool { return s == Stamp{} }

// Compare returns -1, 0 or +1 as s orders before, equal to or after o. The
// zero Stamp is before every other.
func (s Stamp) Compare(o Stamp) int {
	if c := s.HLC.Compare(o.HLC); c != 0 {
		return c
	}
	return strings.Compare(s.Device, o.Device)
}

// String returns the wire form ("" for the zero Stamp).
func (s Stamp) String() string {
	if s.IsZero() {
		return ""
	}
	return s.HLC.String() + "@" + s.Device
}

// MarshalText implements encoding.TextMarshaler. The zero Stamp is ""; any
// other Stamp must have a valid HLC and device id.
func (s Stamp) MarshalText() ([]byte, error) {
	if s.IsZero() {
		return []byte{}, nil
	}
	if !s.HLC.valid() || !ValidDeviceID(s.Device) {
		return nil, fmt.Errorf("%w: stamp %q", ErrInvalidID, s.String())
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: "" is the zero Stamp,
// anything else goes through ParseStamp.
func (s *Stamp) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = Stamp{}
		return nil
	}
	v, err := ParseStamp(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
