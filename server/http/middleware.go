package http

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gridsync/gridsync/server"
)

// observe logs each request and counts it in the metrics. It never logs
// bodies, tokens or query strings (which may carry secrets).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		d := time.Since(start)
		s.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		attrs := []slog.Attr{slog.String("request_id", requestID(c)), slog.String("method", c.Request().Method),
			slog.String("route", route), slog.Int("status", status), slog.Duration("took", d),
			slog.Int64("bytes_out", c.Response().Size)}
		if p := server.PrincipalFrom(c.Request().Context()); p != nil {
			attrs = append(attrs, slog.String("user", p.Username), slog.String("device", p.DeviceID))
		}
		s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "http", attrs...)
		return nil
	}
}

// clientAddr puts the client's address (echo's IPExtractor, see
// TrustProxies) in the request context of the dashboard's routes: the
// dashboard is a plain http.Handler. The API's handlers call c.RealIP().
func (s *Server) clientAddr(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.SetRequest(c.Request().WithContext(server.WithClientAddr(c.Request().Context(), c.RealIP())))
		return next(c)
	}
}

// recover turns a panic into an internal error and logs it with its stack
// and the request id. It runs inside observe, so a panicking request is
// still access-logged and counted (as a 500).
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.ErrorContext(c.Request().Context(), "panic", slog.String("request_id", requestID(c)),
					slog.String("route", c.Path()), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// MaxRequestIDLen bounds a client-supplied X-Request-ID.
const MaxRequestIDLen = 64

// requestIDs gives every request an id for the logs and the error
// replies: the client's X-Request-ID when it is 1-MaxRequestIDLen
// characters of [A-Za-z0-9._-] (so a phone can match its own log), else a
// new random one, so a client cannot put anything else into the logs.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = rand.Text()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// authenticate requires a valid bearer access token and puts the caller in
// the request context; every handler behind it reads server.PrincipalFrom.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="gridsync"`)
			return server.Errorf(server.EUNAUTHORIZED, "missing bearer access token")
		}
		p, err := s.svc.Auth.Authenticate(c.Request().Context(), token)
		if err != nil {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="gridsync", error="invalid_token"`)
			return err
		}
		c.SetRequest(c.Request().WithContext(server.WithPrincipal(c.Request().Context(), p)))
		return next(c)
	}
}

// limitBody caps the bytes a handler can read from the body (after any
// decompression); reading past it fails with ETOOLARGE.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().ContentLength > n {
				return server.Errorf(server.ETOOLARGE, "request body larger than %d bytes", n)
			}
			c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, n)
			return next(c)
		}
	}
}

func promhttpHandler(r *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{Registry: r})
}
