package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/server/sqlite"
)

// call sends a JSON request and decodes a JSON answer into out (if non-nil).
func call(tb testing.TB, method, url, token string, body any, out any) *http.Response {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			tb.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	return resp
}

type session struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

type apiError struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details"`
	RequestID string         `json:"request_id"`
}

func wantError(tb testing.TB, resp *http.Response, e apiError, status int, code string) {
	tb.Helper()
	if resp.StatusCode != status || e.Code != code || e.Message == "" || e.RequestID == "" {
		tb.Fatalf("got %d %+v, want %d with code %q, a message and a request id", resp.StatusCode, e, status, code)
	}
}

// TestNoDemo: a start without -demo loads no demo data.
func TestNoDemo(t *testing.T) {
	srv := apptest.Start(t, "-demo=false")
	var e apiError
	resp := call(t, "POST", srv.URL()+"/v1/auth/login", "", map[string]string{"username": "county", "password": "demo-password", "device_id": "phone-county-01"}, &e)
	wantError(t, resp, e, 401, "unauthorized")
	srv.Stop()
	db, err := sqlite.Open(context.Background(), filepath.Join(srv.DataDir(), "gridsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := sqlite.NewAreaService(db).Subtree(context.Background(), "330399")
	if server.ErrorCode(err) != server.ENOTFOUND {
		t.Fatalf("got demo county %v, %v; want not found", sub, err)
	}
	if done, err := sqlite.NewImportService(db, nil).Imported(context.Background(), "330399"); err != nil || done {
		t.Fatalf("got imported %v, %v; want false", done, err)
	}
}

func TestHTTP(t *testing.T) {
	base := apptest.Start(t).URL()

	t.Run("Healthz", func(t *testing.T) {
		if resp := call(t, "GET", base+"/healthz", "", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("got %d, want 200", resp.StatusCode)
		}
	})
	t.Run("Readyz", func(t *testing.T) {
		var r struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}
		if resp := call(t, "GET", base+"/readyz", "", nil, &r); resp.StatusCode != 200 || !r.Ready || r.Checks["database"] != "ok" || r.Checks["blobs"] != "ok" {
			t.Fatalf("got %d %+v", resp.StatusCode, r)
		}
	})
	var s session
	t.Run("LoginOK", func(t *testing.T) {
		resp := call(t, "POST", base+"/v1/auth/login", "", map[string]string{"username": "worker-1-1-1", "password": "demo-password", "device_id": "phone-worker-111"}, &s)
		if resp.StatusCode != 200 || strings.Count(s.AccessToken, ".") != 2 || s.RefreshToken == "" || s.ExpiresIn <= 0 {
			t.Fatalf("got %d %+v", resp.StatusCode, s)
		}
		var me map[string]any
		call(t, "GET", base+"/v1/me", s.AccessToken, nil, &me)
		if me["username"] != "worker-1-1-1" || me["area_id"] != "330399101201G01" || me["role"] != "grid_worker" {
			t.Fatalf("got /v1/me %v", me)
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		var e apiError
		resp := call(t, "POST", base+"/v1/auth/login", "", map[string]string{"username": "worker-1-1-1", "password": "nope", "device_id": "phone-worker-111"}, &e)
		wantError(t, resp, e, 401, "unauthorized")
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		var e apiError
		resp := call(t, "GET", base+"/v1/me", "", nil, &e)
		wantError(t, resp, e, 401, "unauthorized")
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("no WWW-Authenticate header")
		}
	})
	t.Run("ErrBadToken", func(t *testing.T) {
		var e apiError
		resp := call(t, "GET", base+"/v1/me", s.AccessToken+"x", nil, &e)
		wantError(t, resp, e, 401, "unauthorized")
	})
	t.Run("ErrMalformedJSON", func(t *testing.T) {
		for _, body := range []string{`{"username":`, `{"username":"a","extra":1}`, `{"username":"a"} {}`, ``, `[]`} {
			var e apiError
			resp := call(t, "POST", base+"/v1/auth/login", "", body, &e)
			wantError(t, resp, e, 400, "invalid")
		}
	})
	t.Run("ErrBodyTooLarge", func(t *testing.T) {
		var e apiError
		big := `{"username":"` + strings.Repeat("x", 70<<10) + `"}`
		resp := call(t, "POST", base+"/v1/auth/login", "", big, &e)
		wantError(t, resp, e, 413, "too_large")
	})
	t.Run("ErrChunkedBodyTooLarge", func(t *testing.T) {
		// No Content-Length: the body arrives chunked and the limit is
		// enforced while reading it.
		big := `{"username":"` + strings.Repeat("x", 70<<10) + `"}`
		req, _ := http.NewRequest("POST", base+"/v1/auth/login", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if req.ContentLength != 0 {
			t.Fatalf("request has Content-Length %d, want none (chunked)", req.ContentLength)
		}
		var e apiError
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		wantError(t, resp, e, 413, "too_large")
	})
	t.Run("ErrUnknownRoute", func(t *testing.T) {
		var e apiError
		resp := call(t, "GET", base+"/v1/nothing-here", "", nil, &e)
		wantError(t, resp, e, 404, "not_found")
	})
	t.Run("RefreshAndReuse", func(t *testing.T) {
		var s2 session
		resp := call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken, "device_id": "phone-worker-111"}, &s2)
		if resp.StatusCode != 200 || s2.RefreshToken == s.RefreshToken {
			t.Fatalf("got %d %+v", resp.StatusCode, s2)
		}
		// The phone lost that reply and retries with the old token: it
		// gets a fresh successor, and the lost one stops working.
		var s3 session
		resp = call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken, "device_id": "phone-worker-111"}, &s3)
		if resp.StatusCode != 200 || s3.RefreshToken == s2.RefreshToken {
			t.Fatalf("retry after a lost reply: got %d %+v", resp.StatusCode, s3)
		}
		var e apiError
		resp = call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s2.RefreshToken, "device_id": "phone-worker-111"}, &e)
		wantError(t, resp, e, 401, "unauthorized")
		// Once the successor was used, the old token coming back is a
		// stolen copy: token_reused, and the chain is revoked.
		var s4 session
		if resp := call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s3.RefreshToken, "device_id": "phone-worker-111"}, &s4); resp.StatusCode != 200 {
			t.Fatalf("refresh with the retry's token: got %d", resp.StatusCode)
		}
		resp = call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken, "device_id": "phone-worker-111"}, &e)
		wantError(t, resp, e, 401, "token_reused")
		resp = call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s4.RefreshToken, "device_id": "phone-worker-111"}, &e)
		wantError(t, resp, e, 401, "unauthorized")
	})
	t.Run("Metrics", func(t *testing.T) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `gridsync_http_requests_total{method="POST",route="/v1/auth/login",status="200"}`) {
			t.Fatalf("metrics lack the login counter:\n%.2000s", b)
		}
	})
}
