package http

import (
	"encoding/base64"
	"sort"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server"
)

// FuzzParseMetadata: the tus Upload-Metadata header comes from the device.
// The parser must not panic; what it accepts has non-empty keys without
// blanks, once each, and encoding the result again parses to the same
// pairs. An error is always a *server.Error with a stable code.
func FuzzParseMetadata(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		m, err := parseMetadata(h)
		if err != nil {
			if c := server.ErrorCode(err); c != server.EINVALID && c != server.ETOOLARGE {
				t.Fatalf("error code %q for %q", c, h)
			}
			return
		}
		if len(h) > server.MaxUploadMetadata {
			t.Fatalf("accepted %d bytes, over %d", len(h), server.MaxUploadMetadata)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t,") {
				t.Fatalf("accepted key %q from %q", k, h)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + " " + base64.StdEncoding.EncodeToString([]byte(m[k]))
		}
		again, err := parseMetadata(strings.Join(pairs, ","))
		if err != nil && len(strings.Join(pairs, ",")) <= server.MaxUploadMetadata {
			t.Fatalf("re-encoded %q: %v", strings.Join(pairs, ","), err)
		}
		if err == nil {
			for k, v := range m {
				if again[k] != v {
					t.Fatalf("key %q: %q, then %q", k, v, again[k])
				}
			}
		}
	})
}

// FuzzParseChecksum: Upload-Checksum comes from the device. Accepted means
// sha256 and a 32-byte digest; nothing panics.
func FuzzParseChecksum(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		sum, err := parseChecksum(h)
		switch {
		case err != nil:
			if server.ErrorCode(err) != server.EINVALID {
				t.Fatalf("error code %q for %q", server.ErrorCode(err), h)
			}
		case h == "":
			if sum != nil {
				t.Fatal("a digest from an empty header")
			}
		case len(sum) != 32 || !strings.HasPrefix(strings.TrimSpace(h), "sha256"):
			t.Fatalf("accepted %q as a %d-byte digest", h, len(sum))
		}
	})
}
