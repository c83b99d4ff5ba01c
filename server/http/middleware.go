package http

import (
	"fmt"
	"log/slog"
	"net/http"
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
// TrustProxies) in the request context, where the dashboard, which is a
// plain http.Handler, reads it too.
func (s *Server) clientAddr(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.SetRequest(c.Request().WithContext(server.WithClientAddr(c.Request().Context(), c.RealIP())))
		return next(c)
	}
}

// recover turns a panic into an internal error with a logged stack.
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
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
