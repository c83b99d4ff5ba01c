package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	gshttp "github.com/gridsync/gridsync/server/http"
)

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// TestRequestID: a short, safe client id is kept; anything else is
// replaced by a generated one, which the error body and the access log
// carry too.
func TestRequestID(t *testing.T) {
	log, logs := newLog()
	s := gshttp.NewServer(log, gshttp.Services{}, nil)
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"Safe", "phone-0001.req_42", true},
		{"Longest", strings.Repeat("a", gshttp.MaxRequestIDLen), true},
		{"TooLong", strings.Repeat("a", gshttp.MaxRequestIDLen+1), false},
		{"Huge", strings.Repeat("x", 3000), false},
		{"Spaces", "id with spaces", false},
		{"Markup", "<script>alert(1)</script>", false},
		{"NonASCII", "请求-1", false},
		{"None", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/no-such-route", nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-ID", tc.sent)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-ID")
			if tc.kept && got != tc.sent || !tc.kept && (got == tc.sent || !safeID.MatchString(got)) {
				t.Fatalf("sent %.40q, got %.80q", tc.sent, got)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["request_id"] != got {
				t.Fatalf("got body %s (%v), want request_id %q", rec.Body, err, got)
			}
			recs := logs.records(t, "http")
			if last := recs[len(recs)-1]; last["request_id"] != got {
				t.Fatalf("access log has request_id %v, want %q", last["request_id"], got)
			}
		})
	}
}

// TestPanic: a panicking handler answers 500 internal, its stack is logged
// with the request id, and it is access-logged and counted like any
// other request.
func TestPanic(t *testing.T) {
	log, logs := newLog()
	web := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom in the dashboard") })
	s := gshttp.NewServer(log, gshttp.Services{Web: web}, nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/overview", nil))
	rid := rec.Header().Get("X-Request-ID")
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
	if rec.Code != http.StatusInternalServerError || body["code"] != "internal" || body["message"] != "internal error" || body["request_id"] != rid {
		t.Fatalf("got %d %v, want 500 internal with the request id", rec.Code, body)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("the panic value reached the client: %s", rec.Body)
	}
	panics := logs.records(t, "panic")
	if len(panics) != 1 || panics[0]["request_id"] != rid || panics[0]["panic"] != "boom in the dashboard" ||
		!strings.Contains(panics[0]["stack"].(string), "TestPanic") {
		t.Fatalf("got panic log %v, want one record with the request id and a stack through TestPanic", panics)
	}
	access := logs.records(t, "http")
	if len(access) != 1 || access[0]["status"] != float64(500) || access[0]["request_id"] != rid {
		t.Fatalf("got access log %v, want one record with status 500", access)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(metrics), `gridsync_http_requests_total{method="GET",route="/*",status="500"} 1`) {
		t.Fatalf("metrics do not count the panicking request:\n%.3000s", metrics)
	}
}
