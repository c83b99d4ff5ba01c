// Package jwt issues and verifies gridsync access tokens with
// github.com/golang-jwt/jwt/v5. It is the only package that imports that
// module.
//
// Tokens are signed with Ed25519 (alg "EdDSA"); verification accepts that
// algorithm only, requires iss, aud, exp and iat, allows a small leeway for
// phone clocks, and picks the key by "kid" so keys can be rotated: the newest
// key signs, every key in the key folder verifies.
package jwt

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/gridsync/gridsync/server"
)

// Defaults for the token fields; the server's Config can override them.
const (
	DefaultIssuer   = "gridsync"
	DefaultAudience = "gridsync-api"
	// DefaultTTL is the access token lifetime: short, because the refresh
	// token (rotated, revocable) is what keeps a device logged in.
	DefaultTTL = 15 * time.Minute
	// Leeway absorbs small skew between the server and proxies or the
	// device's idea of "now"; tokens are minutes long so seconds suffice.
	Leeway = 30 * time.Second
	// MaxTokenBytes bounds what is parsed at all: a real token is < 1 KiB.
	MaxTokenBytes = 4096
	algorithm     = "EdDSA"
	keyFilePrefix = "ed25519-"
	keyFileSuffix = ".pem"
)

// ErrInvalidToken is returned (wrapped) for every token that is refused.
var ErrInvalidToken = errors.New("invalid token")

// Claims are what an access token says about its bearer.
type Claims struct {
	UserID   int64  `json:"uid"`
	Username string `json:"name"`
	Role     string `json:"role"`
	AreaID   string `json:"area"`
	AreaPath string `json:"area_path"`
	DeviceID string `json:"dev"`
	gojwt.RegisteredClaims
}

// Key is one signing key and its id.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
}

// Signer signs and verifies access tokens with a key set.
type Signer struct {
	keys     map[string]ed25519.PublicKey
	signing  Key
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// Options configure a Signer; zero values take the defaults.
type Options struct {
	Issuer   string
	Audience string
	TTL      time.Duration    // access token lifetime; default DefaultTTL
	Now      func() time.Time // for tests
}

// NewSigner returns a Signer that signs with the last key of keys (the
// newest) and verifies with all of them.
func NewSigner(keys []Key, opt Options) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("jwt: no signing key")
	}
	s := &Signer{keys: map[string]ed25519.PublicKey{}, signing: keys[len(keys)-1],
		issuer: opt.Issuer, audience: opt.Audience, ttl: opt.TTL, now: opt.Now}
	if s.issuer == "" {
		s.issuer = DefaultIssuer
	}
	if s.audience == "" {
		s.audience = DefaultAudience
	}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, k := range keys {
		s.keys[k.ID] = k.Private.Public().(ed25519.PublicKey)
	}
	return s, nil
}

// Sign issues an access token for c; it fills iss, aud, iat, nbf, exp and jti.
func (s *Signer) Sign(c Claims) (string, error) {
	now := s.now()
	c.Issuer = s.issuer
	c.Audience = gojwt.ClaimStrings{s.audience}
	c.IssuedAt = gojwt.NewNumericDate(now)
	c.NotBefore = gojwt.NewNumericDate(now)
	c.ExpiresAt = gojwt.NewNumericDate(now.Add(s.ttl))
	c.Subject = fmt.Sprint(c.UserID)
	c.ID = rand.Text()
	t := gojwt.NewWithClaims(gojwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.signing.ID
	return t.SignedString(s.signing.Private)
}

// Parse parses and checks a token: algorithm allow-list (EdDSA only), known
// kid, signature, iss, aud, exp and iat (both required; iat not in the
// future), nbf, within Leeway.
func (s *Signer) Parse(token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	p := gojwt.NewParser(
		gojwt.WithValidMethods([]string{algorithm}),
		gojwt.WithIssuer(s.issuer),
		gojwt.WithAudience(s.audience),
		gojwt.WithExpirationRequired(),
		gojwt.WithIssuedAt(),
		gojwt.WithLeeway(Leeway),
		gojwt.WithTimeFunc(s.now),
		gojwt.WithStrictDecoding(),
	)
	var c Claims
	_, err := p.ParseWithClaims(token, &c, func(t *gojwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := s.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// golang-jwt checks iat only when present (WithIssuedAt); every token
	// this package signs has one, so one without it was made elsewhere.
	if c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: no iat", ErrInvalidToken)
	}
	if c.UserID <= 0 || c.DeviceID == "" || c.AreaPath == "" || c.Role == "" {
		return nil, fmt.Errorf("%w: missing gridsync claims", ErrInvalidToken)
	}
	return &c, nil
}

// Issue signs an access token for p (sqlite.AccessTokens).
func (s *Signer) Issue(p *server.Principal) (string, time.Duration, error) {
	tok, err := s.Sign(Claims{UserID: p.UserID, Username: p.Username, Role: string(p.Role),
		AreaID: p.AreaID, AreaPath: p.AreaPath, DeviceID: p.DeviceID})
	return tok, s.ttl, err
}

// Verify returns the principal of a valid token (sqlite.AccessTokens).
func (s *Signer) Verify(token string) (*server.Principal, error) {
	c, err := s.Parse(token)
	if err != nil {
		return nil, err
	}
	return &server.Principal{UserID: c.UserID, Username: c.Username, Role: server.Role(c.Role),
		AreaID: c.AreaID, AreaPath: c.AreaPath, DeviceID: c.DeviceID}, nil
}

// LoadOrCreateKeys reads every ed25519-<kid>.pem in dir, oldest kid first.
// When the folder has none it generates one, so a fresh data folder never
// runs on a key written in code.
func LoadOrCreateKeys(dir string) ([]Key, error) {
	keys, err := loadKeys(dir)
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	k, err := GenerateKey(dir)
	if err != nil {
		return nil, err
	}
	return []Key{k}, nil
}

// GenerateKey writes a new key into dir (mode 0600) and returns it. Its kid
// sorts after every earlier one, so it becomes the signing key on next start.
// The file appears whole or not at all: it is written to a temporary name,
// synced, and renamed, and the folder is synced, so a crash never leaves a
// truncated key that would stop the server from starting.
func GenerateKey(dir string) (Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("key dir: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, err
	}
	kid := time.Now().UTC().Format("20060102T150405.000000000") + "-" + strings.ToLower(rand.Text()[:6])
	path := filepath.Join(dir, keyFilePrefix+kid+keyFileSuffix)
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return Key{}, fmt.Errorf("write key: %w", err)
	}
	return Key{ID: kid, Private: priv}, nil
}

// writeFileAtomic writes data to path (mode 0600) through a temporary file
// in the same folder, which loadKeys does not read.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".key-*.tmp") // created 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s exists", path)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func loadKeys(dir string) ([]Key, error) {
	names, err := filepath.Glob(filepath.Join(dir, keyFilePrefix+"*"+keyFileSuffix))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var keys []Key
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("key %s: not PEM", name)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key %s: not ed25519", name)
		}
		kid := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), keyFilePrefix), keyFileSuffix)
		keys = append(keys, Key{ID: kid, Private: priv})
	}
	return keys, nil
}
