package jwt_test

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds untrusted bearer tokens to Parse. Whatever the input, it
// must not panic, and the only token it may accept is the one the signer
// issued: any other bytes (a changed claim, header or signature, another
// encoding of the same bytes) are refused.
func FuzzParse(f *testing.F) {
	s := mustSigner(f, f.TempDir(), func() time.Time { return t0 })
	valid, err := s.Sign(claims())
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "=")
	f.Add(strings.Repeat("A", 5000))
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Parse(token)
		if err != nil {
			return
		}
		if token != valid {
			t.Fatalf("accepted a token the signer did not issue: %q (claims %+v)", token, c)
		}
	})
}
