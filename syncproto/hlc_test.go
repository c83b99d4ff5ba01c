package syncproto

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"testing/quick"
)

func TestParseHLC(t *testing.T) {
	tests := []struct {
		in   string
		want HLC
		ok   bool
	}{
		{"0000000000000-00000", HLC{}, true},
		{"1732300000000-00002", HLC{Wall: 1732300000000, Logical: 2}, true},
		{"9999999999999-65535", HLC{Wall: maxWall, Logical: 65535}, true},
		{"9999999999999-65536", HLC{}, false},
		{"1732300000000-0002", HLC{}, false},
		{"173230000000-00002", HLC{}, false},
		{"1732300000000_00002", HLC{}, false},
		{"-732300000000-00002", HLC{}, false},
		{"+732300000000-00002", HLC{}, false},
		{" 732300000000-00002", HLC{}, false},
		{"1732300000000-0000a", HLC{}, false},
		{"1732300000000-00002 ", HLC{}, false},
		{"", HLC{}, false},
	}
	for _, tt := range tests {
		got, err := ParseHLC(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseHLC(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidHLC) {
			t.Errorf("ParseHLC(%q) error %v does not wrap ErrInvalidHLC", tt.in, err)
		}
	}
}

func TestHLCText(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		h := HLC{Wall: 1732300000000, Logical: 7}
		b, err := json.Marshal(struct{ H HLC }{h})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), `{"H":"1732300000000-00007"}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		var back struct{ H HLC }
		if err := json.Unmarshal(b, &back); err != nil || back.H != h {
			t.Fatalf("round trip: got %v, %v; want %v", back.H, err, h)
		}
	})
	t.Run("ErrOutOfRange", func(t *testing.T) {
		for _, h := range []HLC{{Wall: -1}, {Wall: maxWall + 1}} {
			if _, err := h.MarshalText(); !errors.Is(err, ErrInvalidHLC) {
				t.Errorf("MarshalText(%v): got %v, want ErrInvalidHLC", h, err)
			}
		}
	})
	t.Run("ErrBadJSON", func(t *testing.T) {
		var h HLC
		if err := json.Unmarshal([]byte(`"1732300000000-7"`), &h); err == nil {
			t.Fatal("accepted a short logical part")
		}
	})
}

// TestHLCByteOrder checks the wire form's reason to exist: comparing the
// strings bytewise orders clocks exactly like Compare.
func TestHLCByteOrder(t *testing.T) {
	f := func(w1, w2 int64, l1, l2 uint16) bool {
		a := HLC{Wall: abs(w1) % (maxWall + 1), Logical: l1}
		b := HLC{Wall: abs(w2) % (maxWall + 1), Logical: l2}
		if w1%3 == 0 { // make equal walls common
			b.Wall = a.Wall
		}
		return sign(compareStrings(a.String(), b.String())) == a.Compare(b)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}

func abs(x int64) int64 {
	if x == math.MinInt64 {
		return 0
	}
	return max(x, -x)
}

func sign(x int) int { return max(-1, min(1, x)) }

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestHLCCompare(t *testing.T) {
	a, b, c := HLC{Wall: 5, Logical: 9}, HLC{Wall: 6}, HLC{Wall: 6, Logical: 1}
	if a.Compare(b) != -1 || b.Compare(c) != -1 || c.Compare(a) != 1 || b.Compare(b) != 0 {
		t.Fatal("Compare does not order by Wall then Logical")
	}
	if !(HLC{}).IsZero() || b.IsZero() {
		t.Fatal("IsZero wrong")
	}
}
