package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz: the process is up and serving.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: every dependency answers (database, blob store); 503 with the
// failing ones otherwise, so a load balancer stops sending work. Anyone
// may ask, so a failure shows only "down"; the error (which may hold file
// paths or the MinIO endpoint) is logged with the request id.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	for name, p := range s.ready {
		if err := p.Ping(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", slog.String("request_id", requestID(c)), slog.String("check", name), slog.Any("err", err))
			checks[name] = "down"
			status = http.StatusServiceUnavailable
		} else {
			checks[name] = "ok"
		}
	}
	return c.JSON(status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}
