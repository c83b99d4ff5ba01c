package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/app/apptest"
)

// browserless is a cookie-keeping HTTP client: the session and CSRF rules
// are checked here without Chromium, so they hold on every machine.
type browserless struct {
	tb   testing.TB
	base string
	c    *http.Client
}

func newBrowserless(tb testing.TB, base string) *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{tb: tb, base: base, c: &http.Client{Jar: jar}}
}

func (b *browserless) do(method, path string, form url.Values) (int, string) {
	b.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browserless) login(user string) string {
	b.tb.Helper()
	_, page := b.do("GET", "/login", nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		b.tb.Fatal("login page has no CSRF token")
	}
	status, page := b.do("POST", "/login", url.Values{"csrf": {m[1]}, "username": {user}, "password": {"demo-password"}, "next": {"/"}})
	if status != http.StatusOK || !strings.Contains(page, "总览") {
		b.tb.Fatalf("login %s: status %d", user, status)
	}
	if m = csrfInput.FindStringSubmatch(page); m == nil {
		b.tb.Fatal("overview has no CSRF token")
	}
	return m[1]
}

func TestSessionAndCSRF(t *testing.T) {
	srv := apptest.Start(t)
	w111 := loginDevice(t, srv.URL(), "worker-1-1-1", "phone-worker-1-1-1")
	w111.push(newHazard("hz-1", siteID(3), "燃气软管老化", "general"))

	t.Run("ErrNotLoggedIn", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if status, _ := b.do("GET", "/hazards", nil); status != http.StatusSeeOther {
			t.Fatalf("got %d, want a redirect to the login page", status)
		}
		if status, _ := b.do("GET", "/live/hazards", nil); status != http.StatusUnauthorized {
			t.Fatalf("live endpoint: got %d, want 401", status)
		}
	})
	t.Run("ErrLoginWithoutToken", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		status, _ := b.do("POST", "/login", url.Values{"username": {"station-1"}, "password": {"demo-password"}})
		if status != http.StatusForbidden {
			t.Fatalf("got %d, want 403", status)
		}
	})
	t.Run("CSRF", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		token := b.login("station-1")
		form := url.Values{"assignee": {"worker-1-1-1"}, "deadline": {"2030-06-30"}}
		if status, page := b.do("POST", "/hazards/hz-1/dispatch", form); status != http.StatusForbidden || !strings.Contains(page, "CSRF") {
			t.Fatalf("no token: got %d, want 403", status)
		}
		form.Set("csrf", token+"x")
		if status, _ := b.do("POST", "/hazards/hz-1/dispatch", form); status != http.StatusForbidden {
			t.Fatalf("wrong token: got %d, want 403", status)
		}
		form.Set("csrf", token)
		status, page := b.do("POST", "/hazards/hz-1/dispatch", form)
		if status != http.StatusOK || !strings.Contains(page, "派单：已接受") || !strings.Contains(page, "2030-06-30") {
			t.Fatalf("with token: got %d\n%s", status, page)
		}
	})
	t.Run("Logout", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		token := b.login("station-1")
		if status, _ := b.do("POST", "/logout", url.Values{}); status != http.StatusForbidden {
			t.Fatalf("logout without token: got %d, want 403", status)
		}
		if status, page := b.do("POST", "/logout", url.Values{"csrf": {token}}); status != http.StatusOK || !strings.Contains(page, "login-submit") {
			t.Fatalf("logout: got %d", status)
		}
		if status, _ := b.do("GET", "/live/hazards", nil); status != http.StatusUnauthorized {
			t.Fatalf("after logout: got %d, want 401", status)
		}
	})
	t.Run("APIStaysJSON", func(t *testing.T) {
		b := newBrowserless(t, srv.URL())
		status, body := b.do("GET", "/v1/no-such-route", nil)
		if status != http.StatusNotFound || !strings.HasPrefix(body, `{"code":"not_found"`) {
			t.Fatalf("got %d %q", status, body)
		}
	})
}
