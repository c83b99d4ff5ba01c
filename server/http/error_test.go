package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	gshttp "github.com/gridsync/gridsync/server/http"
	"github.com/gridsync/gridsync/server/jwt"
	"github.com/gridsync/gridsync/server/sqlite"
)

// TestInternalError: an unexpected failure (here the real auth service on
// a database that was closed) reaches the client only as code "internal",
// message "internal error" and a request id; the real error is logged
// under that request id.
func TestInternalError(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "gridsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwt.LoadOrCreateKeys(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jwt.NewSigner(keys, jwt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := sqlite.NewAuthService(db, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	log, logs := newLog()
	s := gshttp.NewServer(log, gshttp.Services{Auth: auth}, nil)

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/auth/login",
		strings.NewReader(`{"username":"worker-1-1-1","password":"demo-password","device_id":"phone-worker-111"}`)))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
	rid := rec.Header().Get("X-Request-ID")
	if rec.Code != http.StatusInternalServerError || len(body) != 3 || body["code"] != "internal" ||
		body["message"] != "internal error" || body["request_id"] != rid || rid == "" {
		t.Fatalf("got %d %v (X-Request-ID %q), want 500 with exactly code internal, message \"internal error\" and the request id", rec.Code, body, rid)
	}
	recs := logs.records(t, "request failed")
	if len(recs) != 1 || recs[0]["request_id"] != rid || recs[0]["level"] != "ERROR" ||
		!strings.Contains(recs[0]["err"].(string), "database is closed") {
		t.Fatalf("got log %v, want one error record with request id %q and the cause", recs, rid)
	}
}
