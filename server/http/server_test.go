package http_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gridsync/gridsync/server"
	gshttp "github.com/gridsync/gridsync/server/http"
)

// TestClientAddr checks the address the login limits and the dashboard
// see: the TCP peer, unless the peer is a trusted proxy.
func TestClientAddr(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("192.0.2.0/24")
	for _, tc := range []struct {
		name    string
		trusted []*net.IPNet
		peer    string
		headers map[string]string
		want    string
	}{
		{"Direct", nil, "198.51.100.1:5000", nil, "198.51.100.1"},
		{"UntrustedForwardedFor", nil, "198.51.100.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.5"}, "198.51.100.1"},
		{"UntrustedRealIP", nil, "198.51.100.1:5000", map[string]string{"X-Real-IP": "203.0.113.5"}, "198.51.100.1"},
		// echo's default checker trusts loopback and private networks; ours
		// trusts none of them unless configured.
		{"LoopbackNotTrustedByDefault", nil, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.5"}, "127.0.0.1"},
		{"PrivateNotTrustedWhenOthersAre", []*net.IPNet{proxies}, "10.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.5"}, "10.0.0.1"},
		{"TrustedForwardedFor", []*net.IPNet{proxies}, "192.0.2.10:5000", map[string]string{"X-Forwarded-For": "203.0.113.5"}, "203.0.113.5"},
		{"TrustedChainNearestUntrusted", []*net.IPNet{proxies}, "192.0.2.10:5000", map[string]string{"X-Forwarded-For": "10.9.9.9, 203.0.113.5, 192.0.2.11"}, "203.0.113.5"},
		{"TrustedGarbage", []*net.IPNet{proxies}, "192.0.2.10:5000", map[string]string{"X-Forwarded-For": "not-an-ip"}, "192.0.2.10"},
		{"TrustedRealIP", []*net.IPNet{proxies}, "192.0.2.10:5000", map[string]string{"X-Real-IP": "203.0.113.6"}, "203.0.113.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = server.ClientAddrFrom(r.Context()) })
			s := gshttp.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), gshttp.Services{Web: web}, nil, gshttp.TrustProxies(tc.trusted))
			req := httptest.NewRequest("GET", "/login", nil)
			req.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			s.Handler().ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
