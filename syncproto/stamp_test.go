package syncproto

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidDeviceID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"phone-li", true},
		{"0193a1f2-7c1e-7d2a-9b1e-4f00aa11bb22", true},
		{"a.b_c-D9", true},
		{"short", false},
		{"1234567", false},
		{strings.Repeat("x", MaxIDLen), true},
		{strings.Repeat("x", MaxIDLen+1), false},
		{"phone:li-1", false},
		{"phone@li-1", false},
		{"phone li-1", false},
		{"телефон-11", false},
	}
	for _, tt := range tests {
		if got := ValidDeviceID(tt.in); got != tt.want {
			t.Errorf("ValidDeviceID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if ValidDocID("") || !ValidDocID("x") || ValidDocID(strings.Repeat("x", MaxIDLen+1)) {
		t.Error("ValidDocID bounds wrong")
	}
}

func TestParseOpID(t *testing.T) {
	tests := []struct {
		in   string
		want OpID
		ok   bool
	}{
		{"phone-li-7c1e:42", OpID{"phone-li-7c1e", 42}, true},
		{"phone-li-7c1e:18446744073709551615", OpID{"phone-li-7c1e", 1<<64 - 1}, true},
		{"phone-li-7c1e:18446744073709551616", OpID{}, false},
		{"phone-li-7c1e:0", OpID{}, false},
		{"phone-li-7c1e:042", OpID{}, false},
		{"phone-li-7c1e:+42", OpID{}, false},
		{"phone-li-7c1e:", OpID{}, false},
		{"phone-li-7c1e", OpID{}, false},
		{"short:1", OpID{}, false},
		{"phone-li-7c1e:4:2", OpID{}, false},
	}
	for _, tt := range tests {
		got, err := ParseOpID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseOpID(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseOpID(%q): %v does not wrap ErrInvalidID", tt.in, err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	if _, err := (OpID{Device: "phone-li-7c1e"}).MarshalText(); err == nil {
		t.Error("MarshalText accepted seq 0")
	}
}

func TestOpIDCompare(t *testing.T) {
	ids := []OpID{{"device-a1", 2}, {"device-a1", 10}, {"device-b1", 1}}
	for i := range ids {
		for j := range ids {
			if got, want := ids[i].Compare(ids[j]), sign(i-j); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", ids[i], ids[j], got, want)
			}
		}
	}
}

func TestParseStamp(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"1732300000000-00002@phone-li-7c1e", true},
		{"0000000000000-00000@phone-li-7c1e", true},
		{"1732300000000-00002@", false},
		{"1732300000000-00002@short", false},
		{"1732300000000-00002phone-li-7c1e", false},
		{"1732300000000-2@phone-li-7c1e", false},
		{"1732300000000-00002@phone@li-7c1e", false},
		{"", false},
	}
	for _, tt := range tests {
		got, err := ParseStamp(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseStamp(%q) = %v, %v; want ok=%v", tt.in, got, err, tt.ok)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestStampOrder(t *testing.T) {
	// Sorted: zero, then by HLC, then by device bytewise.
	sorted := []Stamp{
		{},
		{HLC{Wall: t0}, "device-b1"},
		{HLC{Wall: t0, Logical: 1}, "device-a1"},
		{HLC{Wall: t0, Logical: 1}, "device-b1"},
		{HLC{Wall: t0 + 1}, "Device-z1"}, // HLC before device
	}
	for i := range sorted {
		for j := range sorted {
			if got, want := sorted[i].Compare(sorted[j]), sign(i-j); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
}

func TestStampJSON(t *testing.T) {
	type wrap struct {
		S Stamp `json:"s"`
		Z Stamp `json:"z,omitzero"`
		E Stamp `json:"e"`
	}
	in := wrap{S: Stamp{HLC{Wall: t0, Logical: 2}, "phone-li-7c1e"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"s":"1732300000000-00002@phone-li-7c1e","e":""}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	var out wrap
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip: got %v, %v", out, err)
	}
	if _, err := (Stamp{HLC: HLC{Wall: 1}}).MarshalText(); err == nil {
		t.Error("marshaled a stamp without device")
	}
	if err := json.Unmarshal([]byte(`{"s":"garbage"}`), &out); err == nil {
		t.Error("unmarshaled a garbage stamp")
	}
}
