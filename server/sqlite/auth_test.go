package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/jwt"
	"github.com/gridsync/gridsync/server/sqlite"
)

func mustAuth(tb testing.TB, db *sqlite.DB) *sqlite.AuthService {
	tb.Helper()
	keys, err := jwt.LoadOrCreateKeys(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := jwt.NewSigner(keys, jwt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := sqlite.NewAuthService(db, signer)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func login(tb testing.TB, a *sqlite.AuthService, user, device string) *server.Session {
	tb.Helper()
	s, err := a.Login(context.Background(), server.Login{Username: user, Password: fixtures.DemoPassword, DeviceID: device, RemoteAddr: "127.0.0.1"})
	if err != nil {
		tb.Fatalf("login %s: %v", user, err)
	}
	return s
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := server.ErrorCode(err); got != code {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	db := MustDemoDB(t)
	a := mustAuth(t, db)

	t.Run("OK", func(t *testing.T) {
		s := login(t, a, "worker-1-1-1", "phone-worker-111")
		if s.AccessToken == "" || s.RefreshToken == "" || s.ExpiresIn != 900 {
			t.Fatalf("got %+v", s)
		}
		p, err := a.Authenticate(ctx, s.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if p.Username != "worker-1-1-1" || p.Role != server.RoleGridWorker || p.AreaID != "330399101201G01" || p.DeviceID != "phone-worker-111" {
			t.Fatalf("got principal %+v", p)
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		_, err := a.Login(ctx, server.Login{Username: "worker-1-1-2", Password: "wrong-password", DeviceID: "phone-worker-112"})
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ErrUnknownUserSameAnswer", func(t *testing.T) {
		_, err := a.Login(ctx, server.Login{Username: "nobody", Password: "x", DeviceID: "phone-nobody-1"})
		wantCode(t, err, server.EUNAUTHORIZED)
		_, err2 := a.Login(ctx, server.Login{Username: "worker-1-1-2", Password: "x", DeviceID: "phone-worker-112"})
		if server.ErrorMessage(err) != server.ErrorMessage(err2) {
			t.Fatalf("unknown user and wrong password answer differently: %q vs %q", server.ErrorMessage(err), server.ErrorMessage(err2))
		}
	})
	t.Run("ErrBadDeviceID", func(t *testing.T) {
		_, err := a.Login(ctx, server.Login{Username: "worker-1-1-1", Password: fixtures.DemoPassword, DeviceID: "short"})
		wantCode(t, err, server.EINVALID)
	})
	t.Run("ErrDeviceOfAnotherUser", func(t *testing.T) {
		_, err := a.Login(ctx, server.Login{Username: "worker-1-1-2", Password: fixtures.DemoPassword, DeviceID: "phone-worker-111"})
		wantCode(t, err, server.ECONFLICT)
	})
	t.Run("RateLimitedPerAccountAndAddress", func(t *testing.T) {
		for i := 0; i < sqlite.MaxLoginFailures; i++ {
			_, err := a.Login(ctx, server.Login{Username: "village-1-1", Password: "guess", DeviceID: "phone-village-11", RemoteAddr: "10.0.0.9"})
			wantCode(t, err, server.EUNAUTHORIZED)
		}
		// Even the right password is refused from that address while the
		// account is blocked there...
		_, err := a.Login(ctx, server.Login{Username: "village-1-1", Password: fixtures.DemoPassword, DeviceID: "phone-village-11", RemoteAddr: "10.0.0.9"})
		wantCode(t, err, server.ERATELIMITED)
		if ra := err.(*server.Error).Details["retry_after"].(int); ra <= 0 || ra > int(sqlite.LoginFailureWindow.Seconds())+1 {
			t.Fatalf("got retry_after %d, want 1..%d", ra, int(sqlite.LoginFailureWindow.Seconds())+1)
		}
		// ...but the owner at another address is not locked out by them.
		if _, err := a.Login(ctx, server.Login{Username: "village-1-1", Password: fixtures.DemoPassword, DeviceID: "phone-village-11", RemoteAddr: "10.0.0.10"}); err != nil {
			t.Fatalf("owner at another address: got %v, want a session", err)
		}
	})
	t.Run("RateLimitedIPv6Per64", func(t *testing.T) {
		for i := 1; i <= sqlite.MaxLoginFailures; i++ {
			_, err := a.Login(ctx, server.Login{Username: "worker-1-2-1", Password: "guess", DeviceID: "phone-worker-121", RemoteAddr: fmt.Sprintf("2001:db8:5:7::%x", i)})
			wantCode(t, err, server.EUNAUTHORIZED)
		}
		_, err := a.Login(ctx, server.Login{Username: "worker-1-2-1", Password: fixtures.DemoPassword, DeviceID: "phone-worker-121", RemoteAddr: "2001:db8:5:7:ffff::1"})
		wantCode(t, err, server.ERATELIMITED)
		if _, err := a.Login(ctx, server.Login{Username: "worker-1-2-1", Password: fixtures.DemoPassword, DeviceID: "phone-worker-121", RemoteAddr: "2001:db8:5:8::1"}); err != nil {
			t.Fatalf("another /64: got %v, want a session", err)
		}
	})
	t.Run("RateLimitedPerAccountCeiling", func(t *testing.T) {
		// Distributed guessing: fewer than MaxLoginFailures from each of
		// many addresses. Once the account's ceiling is reached it is
		// blocked from every address.
		per := sqlite.MaxLoginFailures - 1
		for i := 0; i < sqlite.MaxAccountFailures; i++ {
			addr := fmt.Sprintf("198.51.100.%d", i/per)
			_, err := a.Login(ctx, server.Login{Username: "worker-1-3-1", Password: "guess", DeviceID: "phone-worker-131", RemoteAddr: addr})
			wantCode(t, err, server.EUNAUTHORIZED)
		}
		_, err := a.Login(ctx, server.Login{Username: "worker-1-3-1", Password: fixtures.DemoPassword, DeviceID: "phone-worker-131", RemoteAddr: "203.0.113.50"})
		wantCode(t, err, server.ERATELIMITED)
		// Other accounts are not affected.
		if _, err := a.Login(ctx, server.Login{Username: "worker-1-3-2", Password: fixtures.DemoPassword, DeviceID: "phone-worker-132", RemoteAddr: "203.0.113.50"}); err != nil {
			t.Fatalf("another account: got %v", err)
		}
	})
	t.Run("RateLimitedPerAddress", func(t *testing.T) {
		for i := 0; i < sqlite.MaxAddressFailures; i++ {
			user := []string{"station-1", "station-2", "officer-1-a", "officer-1-b"}[i%4]
			a.Login(ctx, server.Login{Username: user + "-typo", Password: "guess", DeviceID: "phone-spray-001", RemoteAddr: "10.9.9.9"})
		}
		_, err := a.Login(ctx, server.Login{Username: "station-1", Password: fixtures.DemoPassword, DeviceID: "phone-station-1", RemoteAddr: "10.9.9.9"})
		wantCode(t, err, server.ERATELIMITED)
		// Another address still gets in.
		login(t, a, "station-1", "phone-station-1")
	})
}

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	db := MustDemoDB(t)
	a := mustAuth(t, db)

	refresh := func(tb testing.TB, s *server.Session, device string) *server.Session {
		tb.Helper()
		next, err := a.Refresh(ctx, s.RefreshToken, device)
		if err != nil {
			tb.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken == s.RefreshToken || next.AccessToken == "" {
			tb.Fatal("refresh did not rotate the token")
		}
		return next
	}
	t.Run("ReuseAfterSuccessorUsedRevokesFamily", func(t *testing.T) {
		s1 := login(t, a, "worker-1-1-1", "phone-worker-111")
		s2 := refresh(t, s1, "phone-worker-111")
		s3 := refresh(t, s2, "phone-worker-111")
		// The first token comes back after its successor was used: a
		// stolen copy. Refused, and the chain including s3 is revoked.
		_, err := a.Refresh(ctx, s1.RefreshToken, "phone-worker-111")
		wantCode(t, err, server.ETOKENREUSED)
		_, err = a.Refresh(ctx, s3.RefreshToken, "phone-worker-111")
		wantCode(t, err, server.EUNAUTHORIZED)
		// A new login works.
		login(t, a, "worker-1-1-1", "phone-worker-111")
	})
	t.Run("LostReplyReplayWithinGrace", func(t *testing.T) {
		s1 := login(t, a, "worker-1-1-2", "phone-worker-112")
		lost := refresh(t, s1, "phone-worker-112") // the reply never reaches the phone
		db.Now = func() time.Time { return time.Now().Add(sqlite.RefreshReplayGrace - 5*time.Second) }
		defer func() { db.Now = time.Now }()
		retry := refresh(t, s1, "phone-worker-112")
		if retry.RefreshToken == lost.RefreshToken {
			t.Fatal("the retry got the lost token again")
		}
		if _, err := a.Authenticate(ctx, retry.AccessToken); err != nil {
			t.Fatalf("access token of the retry: %v", err)
		}
		// A second lost reply is forgiven too.
		retry2 := refresh(t, s1, "phone-worker-112")
		// The tokens of the lost replies no longer work...
		for _, s := range []*server.Session{lost, retry} {
			_, err := a.Refresh(ctx, s.RefreshToken, "phone-worker-112")
			wantCode(t, err, server.EUNAUTHORIZED)
		}
		// ...and that refusal did not end the session: the chain goes on.
		refresh(t, retry2, "phone-worker-112")
	})
	t.Run("ReuseAfterGraceRevokesFamily", func(t *testing.T) {
		s1 := login(t, a, "worker-1-2-1", "phone-worker-121")
		s2 := refresh(t, s1, "phone-worker-121")
		db.Now = func() time.Time { return time.Now().Add(sqlite.RefreshReplayGrace + time.Second) }
		defer func() { db.Now = time.Now }()
		_, err := a.Refresh(ctx, s1.RefreshToken, "phone-worker-121")
		wantCode(t, err, server.ETOKENREUSED)
		_, err = a.Refresh(ctx, s2.RefreshToken, "phone-worker-121")
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ReuseFromOtherDeviceRevokesFamily", func(t *testing.T) {
		s1 := login(t, a, "worker-1-2-2", "phone-worker-122")
		s2 := refresh(t, s1, "phone-worker-122")
		// Within the grace time, but under another device id: a replay,
		// not a lost reply.
		_, err := a.Refresh(ctx, s1.RefreshToken, "phone-thief-0001")
		wantCode(t, err, server.ETOKENREUSED)
		_, err = a.Refresh(ctx, s2.RefreshToken, "phone-worker-122")
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ErrWrongDevice", func(t *testing.T) {
		s := login(t, a, "worker-1-1-2", "phone-worker-112")
		_, err := a.Refresh(ctx, s.RefreshToken, "phone-other-0001")
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		s := login(t, a, "worker-2-1-1", "phone-worker-211")
		db.Now = func() time.Time { return time.Now().Add(a.RefreshTTL + time.Minute) }
		defer func() { db.Now = time.Now }()
		_, err := a.Refresh(ctx, s.RefreshToken, "phone-worker-211")
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ErrGarbage", func(t *testing.T) {
		for _, tok := range []string{"", "nope", string(make([]byte, 10_000))} {
			_, err := a.Refresh(ctx, tok, "phone-worker-111")
			wantCode(t, err, server.EUNAUTHORIZED)
		}
	})
	t.Run("Logout", func(t *testing.T) {
		s := login(t, a, "village-1-1", "phone-village-11")
		p, _ := a.Authenticate(ctx, s.AccessToken)
		if err := a.Logout(server.WithPrincipal(ctx, p)); err != nil {
			t.Fatal(err)
		}
		_, err := a.Refresh(ctx, s.RefreshToken, "phone-village-11")
		wantCode(t, err, server.EUNAUTHORIZED)
	})
}

func TestRevokeDevice(t *testing.T) {
	ctx := context.Background()
	db := MustDemoDB(t)
	a := mustAuth(t, db)
	worker := login(t, a, "worker-1-1-1", "phone-worker-111")
	as := func(user, device string) context.Context {
		p, err := a.Authenticate(ctx, login(t, a, user, device).AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return server.WithPrincipal(ctx, p)
	}
	t.Run("ErrGridWorkerForbidden", func(t *testing.T) {
		wantCode(t, a.RevokeDevice(as("worker-1-1-2", "phone-worker-112"), "phone-worker-111"), server.EFORBIDDEN)
	})
	t.Run("ErrOtherTownshipNotFound", func(t *testing.T) {
		wantCode(t, a.RevokeDevice(as("station-2", "phone-station-2"), "phone-worker-111"), server.ENOTFOUND)
	})
	t.Run("OK", func(t *testing.T) {
		if err := a.RevokeDevice(as("station-1", "phone-station-1"), "phone-worker-111"); err != nil {
			t.Fatal(err)
		}
		_, err := a.Authenticate(ctx, worker.AccessToken)
		wantCode(t, err, server.EDEVICEREVOKE)
		_, err = a.Refresh(ctx, worker.RefreshToken, "phone-worker-111")
		wantCode(t, err, server.EDEVICEREVOKE)
		_, err = a.Login(ctx, server.Login{Username: "worker-1-1-1", Password: fixtures.DemoPassword, DeviceID: "phone-worker-111"})
		wantCode(t, err, server.EDEVICEREVOKE)
		// The worker's new phone works.
		login(t, a, "worker-1-1-1", "phone-worker-111-new")
	})
}
