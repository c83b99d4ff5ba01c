// Package http is the gridsync HTTP API on github.com/labstack/echo/v4, the
// only package that imports echo. Handlers decode and validate requests, take
// the caller from the context (set by the auth middleware) and call the
// domain services; errors become one JSON shape in error.go.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gridsync/gridsync/server"
)

// Limits of the HTTP layer. Sync and upload routes set their own.
const (
	// MaxJSONBody bounds small JSON requests (login, refresh, admin calls).
	MaxJSONBody = 64 << 10
	// ReadHeaderTimeout stops slow-header clients from holding connections.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout = 2 * time.Minute
)

// Pinger is a dependency /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Services are the domain services the API calls.
type Services struct {
	Auth  server.AuthService
	Areas server.AreaService
	Sync  server.SyncService
	// Photos receives (tus uploads) and serves photo evidence.
	Photos server.PhotoService
	// Domain serves the inspection domain's views (checklists, tasks,
	// coverage, overdue hazards, warning acknowledgements, incidents).
	Domain server.DomainService
	// Web is the station dashboard (server/web), served at "/"; nil
	// serves the API alone.
	Web http.Handler
}

// Server is the gridsync HTTP server.
type Server struct {
	echo     *echo.Echo
	srv      *http.Server
	log      *slog.Logger
	svc      Services
	ready    map[string]Pinger
	handlers handlerGate
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ops      *prometheus.CounterVec

	// publicURL is the base of absolute tus Location headers (upload.go).
	publicURL string
}

// Option configures a Server.
type Option func(*Server)

// TrustProxies names the reverse proxies of the operator. The client's
// address is taken from X-Forwarded-For (the nearest address not in nets)
// or X-Real-IP only when the TCP peer is in nets; otherwise, and by default,
// it is the TCP peer and those headers are ignored, so a client cannot pick
// its own address to escape the per-address login limit.
func TrustProxies(nets []*net.IPNet) Option {
	return func(s *Server) { s.echo.IPExtractor = clientIP(nets) }
}

// NewServer builds the API. ready lists the dependencies /readyz checks by
// name (e.g. "database", "blobs").
func NewServer(log *slog.Logger, svc Services, ready map[string]Pinger, opts ...Option) *Server {
	s := &Server{echo: echo.New(), log: log, svc: svc, ready: ready, registry: prometheus.NewRegistry()}
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.IPExtractor = clientIP(nil)
	for _, o := range opts {
		o(s)
	}
	s.srv = &http.Server{Handler: s.handlers.wrap(s.echo), ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gridsync_http_requests_total",
		Help: "HTTP requests by route, method and status."}, []string{"route", "method", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gridsync_http_request_duration_seconds",
		Help: "HTTP request latency by route.", Buckets: prometheus.DefBuckets}, []string{"route"})
	s.ops = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gridsync_sync_ops_total",
		Help: "Pushed operations by verdict status and rejection code."}, []string{"status", "code"})
	s.registry.MustRegister(s.requests, s.latency, s.ops, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// observe wraps recover, so a panic is logged, counted and answered
	// as a 500 like any other failure.
	s.echo.Use(requestIDs, s.observe, s.recover)
	s.routes()
	return s
}

func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttpHandler(s.registry)))

	v1 := e.Group("/v1")
	v1.POST("/auth/login", s.login, limitBody(MaxJSONBody))
	v1.POST("/auth/refresh", s.refresh, limitBody(MaxJSONBody))
	v1.POST("/auth/logout", s.logout, s.authenticate)
	v1.GET("/me", s.me, s.authenticate)
	v1.POST("/devices/:id/revoke", s.revokeDevice, s.authenticate)
	s.syncRoutes(v1)
	s.uploadRoutes(v1)
	s.blobRoutes(v1)
	s.domainRoutes(v1)

	if s.svc.Web != nil {
		// Every other path is the dashboard's, except under /v1/, where an
		// unknown path stays a JSON API error.
		web := echo.WrapHandler(s.svc.Web)
		e.Any("/*", func(c echo.Context) error {
			if strings.HasPrefix(c.Request().URL.Path, "/v1/") {
				return echo.ErrNotFound
			}
			return web(c)
		}, s.clientAddr)
	}
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close closes every connection at once, for when Shutdown ran out of
// time, and then waits until the handlers still running have returned (a
// handler notices its closed connection at its next read or write) or ctx
// ends, so the caller can close the database after it.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Close()
	select {
	case <-s.handlers.close():
		return err
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("handlers still running: %w", ctx.Err()))
	}
}

// handlerGate counts running handlers. Once closed it turns new requests
// away and reports when the last running one has returned.
type handlerGate struct {
	mu      sync.Mutex
	running int
	closed  bool
	idle    chan struct{} // closed when closed and running == 0
}

func (g *handlerGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		g.running++
		g.mu.Unlock()
		defer g.leave()
		h.ServeHTTP(w, r)
	})
}

func (g *handlerGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.closed && g.running == 0 {
		close(g.idle)
	}
}

func (g *handlerGate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed, g.idle = true, make(chan struct{})
		if g.running == 0 {
			close(g.idle)
		}
	}
	return g.idle
}

// Handler exposes the router, for tests with httptest.
func (s *Server) Handler() http.Handler { return s.echo }

// clientIP returns the extractor of the client's address: the TCP peer,
// or, from a peer in trusted, the forwarded address. echo's own checker
// trusts loopback and private networks by default; here only the
// configured networks are trusted.
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if r.Header.Get(echo.HeaderXForwardedFor) != "" {
			return xff(r)
		}
		return realIP(r)
	}
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// Routes lists the paths of every registered route (for the OpenAPI test).
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Path)
	}
	return out
}
