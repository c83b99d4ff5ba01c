package syncproto

import (
	"cmp"
	"errors"
	"fmt"
)

// HLC is a hybrid logical clock timestamp (Kulkarni et al., "Logical
// Physical Clocks", 2014): a physical part close to real time plus a logical
// counter that orders events within one millisecond and across skewed clocks.
//
// Its wire form is the fixed-width string "WWWWWWWWWWWWW-LLLLL" (13-digit
// Wall in unix milliseconds, dash, 5-digit Logical), for example
// "1732300000000-00002". The fixed width makes byte order equal clock order,
// so SQL and key-value stores can compare and index stamps as strings.
type HLC struct {
	// Wall is the physical part, unix milliseconds, 0 ≤ Wall ≤ 9999999999999.
	Wall int64
	// Logical orders events that share a Wall value.
	Logical uint16
}

// maxWall is the largest Wall the 13-digit wire form can hold (year 2286).
const maxWall = 9_999_999_999_999

// hlcLen is the length of the wire form.
const hlcLen = 13 + 1 + 5

// ErrInvalidHLC is wrapped by every error about a malformed HLC.
var ErrInvalidHLC = errors.New("invalid hlc")

// ParseHLC parses the wire form strictly: exactly 13 digits, a dash and 5
// digits, Logical ≤ 65535. Anything else (signs, spaces, other widths) is an
// error, so that one clock value has exactly one spelling.
func ParseHLC(s string) (HLC, error) {
	if len(s) != hlcLen || s[13] != '-' {
		return HLC{}, fmt.Errorf("%w: %q: want 13 digits, '-', 5 digits", ErrInvalidHLC, s)
	}
	wall, ok := parseDigits(s[:13])
	if !ok {
		return HLC{}, fmt.Errorf("%w: %q: wall is not 13 digits", ErrInvalidHLC, s)
	}
	logical, ok := parseDigits(s[14:])
	if !ok || logical > 65535 {
		return HLC{}, fmt.Errorf("%w: %q: logical is not 5 digits ≤ 65535", ErrInvalidHLC, s)
	}
	return HLC{Wall: int64(wall), Logical: uint16(logical)}, nil
}

// parseDigits parses a short all-digit string (at most 19 digits, so no
// overflow). Unlike strconv it refuses signs and underscores.
func parseDigits(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// valid reports whether h has a wire form.
func (h HLC) valid() bool { return h.Wall >= 0 && h.Wall <= maxWall }

// String returns the wire form. For a value outside the valid range it
// still returns something readable, but MarshalText refuses it.
func (h HLC) String() string { return fmt.Sprintf("%013d-%05d", h.Wall, h.Logical) }

// MarshalText implements encoding.TextMarshaler, so an HLC is a JSON string.
func (h HLC) MarshalText() ([]byte, error) {
	if !h.valid() {
		return nil, fmt.Errorf("%w: wall %d out of range", ErrInvalidHLC, h.Wall)
	}
	return []byte(h.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseHLC.
func (h *HLC) UnmarshalText(b []byte) error {
	v, err := ParseHLC(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Compare returns -1, 0 or +1 as h is before, equal to or after o: by Wall,
// then by Logical.
func (h HLC) Compare(o HLC) int {
	if c := cmp.Compare(h.Wall, o.Wall); c != 0 {
		return c
	}
	return cmp.Compare(h.Logical, o.Logical)
}

// IsZero reports whether h is the zero clock, which no Clock ever returns.
func (h HLC) IsZero() bool { return h == HLC{} }

// next returns the smallest HLC after h. When Logical would overflow, Wall
// moves one millisecond ahead instead: the clock then runs at most 1 ms
// ahead of physical time per 65536 events, far below any real drift.
func (h HLC) next() HLC {
	if h.Logical == 65535 {
		return HLC{Wall: h.Wall + 1}
	}
	return HLC{Wall: h.Wall, Logical: h.Logical + 1}
}
