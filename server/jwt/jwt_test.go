package jwt_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/gridsync/gridsync/server/jwt"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func mustSigner(tb testing.TB, dir string, now func() time.Time) *jwt.Signer {
	tb.Helper()
	keys, err := jwt.LoadOrCreateKeys(dir)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jwt.NewSigner(keys, jwt.Options{Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func claims() jwt.Claims {
	return jwt.Claims{UserID: 7, Username: "worker-1-1-1", Role: "grid_worker", AreaID: "g1", AreaPath: "/c/t/v/g1/", DeviceID: "device-0001"}
}

func TestSignVerify(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := mustSigner(t, t.TempDir(), func() time.Time { return t0 })
		tok, err := s.Sign(claims())
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Username != "worker-1-1-1" || c.AreaPath != "/c/t/v/g1/" || c.DeviceID != "device-0001" {
			t.Fatalf("got %+v", c)
		}
	})
	t.Run("KeyFileWrittenWhole", func(t *testing.T) {
		dir := t.TempDir()
		k, err := jwt.GenerateKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		// One file, the key, 0600; no temporary file left behind.
		if len(entries) != 1 || entries[0].Name() != "ed25519-"+k.ID+".pem" {
			t.Fatalf("got %v, want only ed25519-%s.pem", entries, k.ID)
		}
		fi, err := entries[0].Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("got mode %v, want 0600", fi.Mode().Perm())
		}
		keys, err := jwt.LoadOrCreateKeys(dir)
		if err != nil || len(keys) != 1 || !keys[0].Private.Equal(k.Private) {
			t.Fatalf("reload: got %d keys, %v", len(keys), err)
		}
	})
	t.Run("KeysPersistAndRotate", func(t *testing.T) {
		dir := t.TempDir()
		old := mustSigner(t, dir, func() time.Time { return t0 })
		tok, _ := old.Sign(claims())
		if _, err := jwt.GenerateKey(dir); err != nil {
			t.Fatal(err)
		}
		rotated := mustSigner(t, dir, func() time.Time { return t0 })
		if _, err := rotated.Parse(tok); err != nil {
			t.Fatalf("token of the previous key refused after rotation: %v", err)
		}
		newTok, _ := rotated.Sign(claims())
		if kid(t, newTok) == kid(t, tok) {
			t.Fatal("rotation did not switch the signing key")
		}
	})
}

func kid(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := gojwt.NewParser().ParseUnverified(tok, &jwt.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header["kid"].(string)
}

// TestVerifyRefuses is the negative table of the foundation issue: every
// token here must be refused with ErrInvalidToken.
func TestVerifyRefuses(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return t0 }
	s := mustSigner(t, dir, now)
	good, err := s.Sign(claims())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := jwt.LoadOrCreateKeys(dir)
	priv := keys[0].Private
	pub := priv.Public().(ed25519.PublicKey)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	// sign builds a token by hand with the given method, key and claim edits.
	sign := func(method gojwt.SigningMethod, key any, edit func(*jwt.Claims)) string {
		c := claims()
		c.Issuer = jwt.DefaultIssuer
		c.Audience = gojwt.ClaimStrings{jwt.DefaultAudience}
		c.IssuedAt = gojwt.NewNumericDate(t0)
		c.ExpiresAt = gojwt.NewNumericDate(t0.Add(15 * time.Minute))
		if edit != nil {
			edit(&c)
		}
		tk := gojwt.NewWithClaims(method, c)
		tk.Header["kid"] = keys[0].ID
		out, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	parts := strings.Split(good, ".")
	tampered := func() string {
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), "grid_worker", "county_admin", 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	}()

	cases := []struct {
		name  string
		token string
	}{
		{"AlgNone", sign(gojwt.SigningMethodNone, gojwt.UnsafeAllowNoneSignatureType, nil)},
		{"WrongKey", sign(gojwt.SigningMethodEdDSA, otherPriv, nil)},
		// Algorithm confusion: the server's kid with any other algorithm,
		// symmetric or asymmetric, is refused before a key is looked at.
		{"HS256WithPublicKeyBytes", sign(gojwt.SigningMethodHS256, []byte(pub), nil)},
		{"RS256", sign(gojwt.SigningMethodRS256, rsaKey, nil)},
		{"ES256", sign(gojwt.SigningMethodES256, ecKey, nil)},
		{"ExpiredBeyondLeeway", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) {
			c.ExpiresAt = gojwt.NewNumericDate(t0.Add(-jwt.Leeway - time.Second))
		})},
		{"NoExpiry", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.ExpiresAt = nil })},
		{"NoIssuedAt", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.IssuedAt = nil })},
		{"IssuedInFuture", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) {
			c.IssuedAt = gojwt.NewNumericDate(t0.Add(time.Hour))
		})},
		{"WrongIssuer", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.Issuer = "evil" })},
		{"MissingIssuer", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.Issuer = "" })},
		{"MissingAudience", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.Audience = nil })},
		{"WrongAudience", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.Audience = gojwt.ClaimStrings{"other-api"} })},
		{"MissingDevice", sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) { c.DeviceID = "" })},
		{"TamperedClaims", tampered},
		{"TamperedSignature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"Huge", parts[0] + "." + strings.Repeat("A", jwt.MaxTokenBytes) + "." + parts[2]},
		{"Garbage", "not.a.token"},
		{"Empty", ""},
	}
	// An unknown kid: a valid signature by a key the server does not hold.
	unknown := gojwt.NewWithClaims(gojwt.SigningMethodEdDSA, func() jwt.Claims {
		c := claims()
		c.Issuer, c.Audience = jwt.DefaultIssuer, gojwt.ClaimStrings{jwt.DefaultAudience}
		c.IssuedAt, c.ExpiresAt = gojwt.NewNumericDate(t0), gojwt.NewNumericDate(t0.Add(time.Minute))
		return c
	}())
	unknown.Header["kid"] = "not-a-key"
	unknownTok, _ := unknown.SignedString(otherPriv)
	cases = append(cases, struct{ name, token string }{"UnknownKid", unknownTok})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Parse(tc.token)
			if !errors.Is(err, jwt.ErrInvalidToken) {
				t.Fatalf("got claims %+v, err %v; want ErrInvalidToken", c, err)
			}
		})
	}

	t.Run("ExpiredWithinLeewayAccepted", func(t *testing.T) {
		tok := sign(gojwt.SigningMethodEdDSA, priv, func(c *jwt.Claims) {
			c.ExpiresAt = gojwt.NewNumericDate(t0.Add(-jwt.Leeway + time.Second))
		})
		if _, err := s.Parse(tok); err != nil {
			t.Fatalf("got %v, want accepted within leeway", err)
		}
	})
}
