package http_test

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	gshttp "github.com/gridsync/gridsync/server/http"
)

// TestOpenAPIDescribesEveryRoute keeps docs/openapi.yaml true: every API
// route the server registers is described there, and every described path
// is served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (/[^:]*):$`).FindAllStringSubmatch(string(spec), -1) {
		documented[m[1]] = true
	}
	s := gshttp.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), gshttp.Services{}, nil)
	served := map[string]bool{}
	param := regexp.MustCompile(`:([a-z_]+)`)
	for _, r := range s.Routes() {
		if !strings.HasPrefix(r, "/v1/") && !strings.HasSuffix(r, "z") && r != "/metrics" {
			continue // the dashboard's pages are not API
		}
		p := param.ReplaceAllString(r, "{$1}")
		served[p] = true
		if !documented[p] {
			t.Errorf("route %s is not in docs/openapi.yaml", p)
		}
	}
	for p := range documented {
		if !served[p] {
			t.Errorf("docs/openapi.yaml describes %s, which the server does not serve", p)
		}
	}
}
