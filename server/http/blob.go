package http

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/gridsync/gridsync/server"
)

func (s *Server) blobRoutes(g *echo.Group) {
	gz := middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 512})
	g.GET("/blobs/:sha", s.getBlob, s.authenticate)
	g.GET("/blobs/:sha/thumb", s.getBlob, s.authenticate)
	g.GET("/photos/missing", s.missingPhotos, s.authenticate, gz)
	g.GET("/docs/:collection/:id/photos", s.docPhotos, s.authenticate, gz)
}

// getBlob: GET /v1/blobs/:sha and /v1/blobs/:sha/thumb stream a photo (or
// its thumbnail) the caller's area references. Content is immutable (named
// by its hash), so it is cached privately forever and revalidated by ETag.
func (s *Server) getBlob(c echo.Context) error {
	sha := c.Param("sha")
	thumb := strings.HasSuffix(c.Path(), "/thumb")
	rc, ph, err := s.svc.Photos.OpenPhoto(c.Request().Context(), sha, thumb)
	if err != nil {
		return err
	}
	defer rc.Close()
	etag := `"` + sha + `"`
	if thumb {
		etag = `"thumb-` + sha + `"`
	}
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	if match := c.Request().Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		return c.NoContent(http.StatusNotModified)
	}
	h.Set(echo.HeaderContentType, ph.MIME)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(ph.Size, 10))
	c.Response().WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Response(), rc); err != nil {
		// Headers are out: the client sees a short body and retries.
		s.log.WarnContext(c.Request().Context(), "photo download broke off", "sha256", sha, "err", err)
	}
	return nil
}

// missingPhotos: GET /v1/photos/missing[?scope=area][&limit=N].
func (s *Server) missingPhotos(c echo.Context) error {
	var q server.MissingQuery
	switch c.QueryParam("scope") {
	case "", "device":
	case "area":
		q.Area = true
	default:
		return server.Errorf(server.EINVALID, "scope must be device or area")
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > server.MaxMissingPhotos {
			return server.Errorf(server.EINVALID, "limit must be 1..%d", server.MaxMissingPhotos)
		}
		q.Limit = n
	}
	photos, err := s.svc.Photos.Missing(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"photos": photos})
}

// docPhotos: GET /v1/docs/:collection/:id/photos.
func (s *Server) docPhotos(c echo.Context) error {
	dp, err := s.svc.Photos.DocPhotos(c.Request().Context(), c.Param("collection"), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, dp)
}
