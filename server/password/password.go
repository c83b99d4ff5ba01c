// Package password hashes and checks passwords with argon2id
// (golang.org/x/crypto/argon2), the memory-hard KDF recommended by OWASP and
// RFC 9106. Hashes are stored in the PHC string format, so parameters can be
// raised later without invalidating existing hashes.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters follow OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane):
// ~30 ms per hash on the 2-core target, slow for a guesser, fine for logins.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
	// MaxLen bounds the input so a huge "password" cannot burn CPU.
	MaxLen = 256
)

// ErrMismatch is returned by Check when the password is wrong.
var ErrMismatch = errors.New("password mismatch")

// Hash returns the PHC-format argon2id hash of pw.
func Hash(pw string) (string, error) {
	if len(pw) == 0 || len(pw) > MaxLen {
		return "", fmt.Errorf("password length must be 1..%d bytes", MaxLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, passes, memoryKiB, lanes, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check compares pw with a hash made by Hash in constant time. It returns
// ErrMismatch for a wrong password and another error for a corrupt hash.
func Check(hash, pw string) error {
	if len(pw) > MaxLen {
		return ErrMismatch
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("password: unknown hash format")
	}
	var v int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return errors.New("password: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return fmt.Errorf("password: bad parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("password: bad salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return errors.New("password: bad key")
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}
