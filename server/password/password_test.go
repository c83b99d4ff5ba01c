package password_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/password"
)

func TestHashCheck(t *testing.T) {
	h, err := password.Hash("demo-password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("got %q, want argon2id PHC string", h)
	}
	t.Run("OK", func(t *testing.T) {
		if err := password.Check(h, "demo-password"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrMismatch", func(t *testing.T) {
		if err := password.Check(h, "demo-passwore"); !errors.Is(err, password.ErrMismatch) {
			t.Fatalf("got %v, want ErrMismatch", err)
		}
	})
	t.Run("SaltedDifferently", func(t *testing.T) {
		h2, _ := password.Hash("demo-password")
		if h2 == h {
			t.Fatal("two hashes of one password are equal: salt missing")
		}
	})
	t.Run("ErrTooLong", func(t *testing.T) {
		if _, err := password.Hash(strings.Repeat("x", password.MaxLen+1)); err == nil {
			t.Fatal("got nil, want error for over-long password")
		}
		if err := password.Check(h, strings.Repeat("x", password.MaxLen+1)); !errors.Is(err, password.ErrMismatch) {
			t.Fatalf("got %v, want ErrMismatch", err)
		}
	})
	t.Run("ErrCorruptHash", func(t *testing.T) {
		for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "plain"} {
			if err := password.Check(bad, "demo-password"); err == nil || errors.Is(err, password.ErrMismatch) {
				t.Fatalf("hash %q: got %v, want format error", bad, err)
			}
		}
	})
}
