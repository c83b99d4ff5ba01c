package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/server/blob"
	gshttp "github.com/gridsync/gridsync/server/http"
	"github.com/gridsync/gridsync/server/sqlite"
)

// TestReadyz checks /readyz with the real database and folder blob store:
// ready while both answer; when the photo folder is gone, 503 with the
// blobs check "down" and nothing else about it, the error logged with the
// request id.
func TestReadyz(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "gridsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	photos := filepath.Join(dir, "secret-photo-folder")
	blobs, err := blob.NewFolder(photos)
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLog()
	s := gshttp.NewServer(log, gshttp.Services{}, map[string]gshttp.Pinger{"database": db, "blobs": blobs})
	readyz := func() (int, string, map[string]any) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("decode %q: %v", rec.Body, err)
		}
		return rec.Code, rec.Header().Get("X-Request-ID"), body
	}

	status, _, body := readyz()
	checks, _ := body["checks"].(map[string]any)
	if status != http.StatusOK || body["ready"] != true || checks["database"] != "ok" || checks["blobs"] != "ok" {
		t.Fatalf("got %d %v, want 200 with database and blobs ok", status, body)
	}

	if err := os.RemoveAll(photos); err != nil {
		t.Fatal(err)
	}
	status, rid, body := readyz()
	checks, _ = body["checks"].(map[string]any)
	if status != http.StatusServiceUnavailable || body["ready"] != false || checks["blobs"] != "down" || checks["database"] != "ok" {
		t.Fatalf("got %d %v, want 503 with blobs down and database ok", status, body)
	}
	raw, _ := json.Marshal(body)
	if strings.Contains(string(raw), "secret-photo-folder") || strings.Contains(string(raw), "unavailable") {
		t.Fatalf("readyz shows the error: %s", raw)
	}
	recs := logs.records(t, "not ready")
	if len(recs) != 1 || recs[0]["request_id"] != rid || rid == "" || recs[0]["check"] != "blobs" ||
		!strings.Contains(recs[0]["err"].(string), "secret-photo-folder") {
		t.Fatalf("got log %v, want one record with request id %q, check blobs and the error", recs, rid)
	}
}
