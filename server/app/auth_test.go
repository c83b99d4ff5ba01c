package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/server/sqlite"
)

// loginVia posts a login with the given X-Forwarded-For ("" for none) and
// returns the status, the Retry-After header and the decoded error.
func loginVia(tb testing.TB, base, user, pw, device, xff string) (int, string, apiError) {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw, "device_id": device})
	req, _ := http.NewRequest("POST", base+"/v1/auth/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiError
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &e); err != nil {
			tb.Fatalf("decode %q: %v", b, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), e
}

// want429 checks a rate-limited answer: Retry-After and details.retry_after
// agree and lie within the failure window.
func want429(tb testing.TB, status int, retryAfter string, e apiError) {
	tb.Helper()
	if status != http.StatusTooManyRequests || e.Code != "rate_limited" {
		tb.Fatalf("got %d %+v, want 429 rate_limited", status, e)
	}
	ra, err := strconv.Atoi(retryAfter)
	if err != nil || ra <= 0 || ra > int(sqlite.LoginFailureWindow.Seconds())+1 {
		tb.Fatalf("got Retry-After %q, want 1..%d seconds", retryAfter, int(sqlite.LoginFailureWindow.Seconds())+1)
	}
	if d, _ := e.Details["retry_after"].(float64); int(d) != ra {
		tb.Fatalf("got details.retry_after %v, want %d as in Retry-After", e.Details["retry_after"], ra)
	}
}

// TestLoginLimitAddress: the per-address login limits key on the TCP peer
// unless the peer is a configured trusted proxy, over the real server.
func TestLoginLimitAddress(t *testing.T) {
	t.Run("ForwardedForIgnoredFromUntrustedPeer", func(t *testing.T) {
		base := apptest.Start(t).URL()
		// A spray of unknown accounts, each request claiming another
		// address: all of them count against 127.0.0.1.
		for i := 0; i < sqlite.MaxAddressFailures; i++ {
			status, _, e := loginVia(t, base, fmt.Sprintf("nobody-%d", i), "guess", "phone-spray-0001", fmt.Sprintf("203.0.113.%d", i+1))
			if status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: got %d %+v, want 401", i+1, status, e)
			}
		}
		status, ra, e := loginVia(t, base, "worker-1-1-1", fixtures.DemoPassword, "phone-worker-111", "198.51.100.77")
		want429(t, status, ra, e)
		// X-Real-IP is not believed either.
		req, _ := http.NewRequest("POST", base+"/v1/auth/login", strings.NewReader(`{"username":"worker-1-1-1","password":"demo-password","device_id":"phone-worker-111"}`))
		req.Header.Set("X-Real-IP", "198.51.100.78")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("with X-Real-IP: got %d, want 429", resp.StatusCode)
		}
	})

	t.Run("TrustedProxyHonoursForwardedFor", func(t *testing.T) {
		srv := apptest.Start(t, "-trusted-proxies", "127.0.0.1/32")
		base := srv.URL()
		const guesser, owner = "203.0.113.9", "198.51.100.20"
		for i := 0; i < sqlite.MaxLoginFailures; i++ {
			if status, _, e := loginVia(t, base, "worker-1-1-2", "guess", "phone-worker-112", guesser); status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: got %d %+v, want 401", i+1, status, e)
			}
		}
		status, ra, e := loginVia(t, base, "worker-1-1-2", fixtures.DemoPassword, "phone-worker-112", guesser)
		want429(t, status, ra, e)
		// A client-written entry in front of the guesser's address does
		// not help: the nearest untrusted address is the key.
		status, ra, e = loginVia(t, base, "worker-1-1-2", fixtures.DemoPassword, "phone-worker-112", "10.1.2.3, "+guesser)
		want429(t, status, ra, e)
		// The owner, behind the same proxy at another address, logs in.
		if status, _, e := loginVia(t, base, "worker-1-1-2", fixtures.DemoPassword, "phone-worker-112", owner); status != http.StatusOK {
			t.Fatalf("owner: got %d %+v, want 200", status, e)
		}

		// The dashboard's login is limited by the same address: failures
		// through the API block the dashboard login from that address only.
		for i := 0; i < sqlite.MaxLoginFailures; i++ {
			loginVia(t, base, "station-1", "guess", "phone-station-1", guesser)
		}
		if got := dashboardLogin(t, base, "station-1", guesser); got != http.StatusTooManyRequests {
			t.Fatalf("dashboard login from the guesser's address: got %d, want 429", got)
		}
		if got := dashboardLogin(t, base, "station-1", owner); got != http.StatusOK {
			t.Fatalf("dashboard login from another address: got %d, want 200", got)
		}
	})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// dashboardLogin logs in to the station dashboard through a proxy that
// forwards for xff, and returns the final status (200 after the redirect
// to the overview on success).
func dashboardLogin(tb testing.TB, base, user, xff string) int {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	do := func(method, path string, form url.Values) (int, string) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := c.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, page := do("GET", "/login", nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		tb.Fatal("login page has no CSRF token")
	}
	status, _ := do("POST", "/login", url.Values{"csrf": {m[1]}, "username": {user}, "password": {fixtures.DemoPassword}, "next": {"/"}})
	return status
}
