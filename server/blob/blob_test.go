package blob_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/blob"
)

func TestValidKey(t *testing.T) {
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		key string
		ok  bool
	}{
		{"sha256/" + hex, true},
		{"thumb/" + hex, true},
		{"", false},
		{"sha256/", false},
		{hex, false},
		{"sha256/" + hex[:63], false},
		{"sha256/" + hex + "0", false},
		{"sha256/" + strings.ToUpper(hex), false},
		{"sha256/" + hex[:62] + "..", false},
		{"sha256/../" + hex[:61], false},
		{"../thumb/" + hex, false},
		{"thumb/" + hex + "/", false},
		{"thumb/" + hex[:63] + "\x00", false},
		{"Thumb/" + hex, false},
		{"blob/" + hex, false},
		{"sha256/" + hex[:63] + "é", false},
	}
	for _, tt := range tests {
		err := blob.ValidKey(tt.key)
		if tt.ok && err != nil {
			t.Errorf("ValidKey(%q): got %v, want nil", tt.key, err)
		}
		if !tt.ok && !errors.Is(err, blob.ErrInvalid) {
			t.Errorf("ValidKey(%q): got %v, want %v", tt.key, err, blob.ErrInvalid)
		}
	}
}

func FuzzValidKey(f *testing.F) {
	f.Add("sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Add("thumb/../../etc/passwd")
	f.Fuzz(func(t *testing.T, key string) {
		if blob.ValidKey(key) != nil {
			return
		}
		// An accepted key is always safe to use as a relative path.
		if strings.Contains(key, "..") || strings.Contains(key, "\\") || strings.Count(key, "/") != 1 || len(key) > len("sha256/")+64 {
			t.Fatalf("ValidKey accepted %q", key)
		}
	})
}
