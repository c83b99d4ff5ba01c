package http

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// MaxCompressedPush bounds a gzip push body on the wire; the decompressed
// body is bounded by syncproto.MaxPushBytes (so a zip bomb stops there).
const MaxCompressedPush = syncproto.MaxPushBytes

func (s *Server) syncRoutes(g *echo.Group) {
	// Responses are gzipped when the client accepts it: 2G links.
	gz := middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 512})
	g.POST("/sync/push", s.push, s.authenticate, limitBody(MaxCompressedPush), gunzipBody, limitBody(syncproto.MaxPushBytes), gz)
	g.GET("/sync/pull", s.pull, s.authenticate, gz)
	g.GET("/sync/snapshot", s.snapshot, s.authenticate, gz)
	g.GET("/sync/conflicts", s.conflicts, s.authenticate, gz)
	g.GET("/sync/rejected", s.rejected, s.authenticate, gz)
	g.GET("/devices", s.devices, s.authenticate, gz)
}

// gunzipBody decompresses a request body sent with Content-Encoding: gzip.
func gunzipBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		switch req.Header.Get(echo.HeaderContentEncoding) {
		case "":
			return next(c)
		case "gzip":
		default:
			return server.Errorf(server.EINVALID, "unsupported Content-Encoding %q (use gzip)", req.Header.Get(echo.HeaderContentEncoding))
		}
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return server.Errorf(server.EINVALID, "body is not valid gzip: %v", err)
		}
		defer zr.Close()
		req.Body = io.NopCloser(zr)
		req.Header.Del(echo.HeaderContentEncoding)
		req.ContentLength = -1
		return next(c)
	}
}

// syncError turns a whole-request refusal of syncproto into the API's
// error shape, keeping the protocol code in details.
func syncError(err error) error {
	var re *syncproto.RejectError
	if !errors.As(err, &re) {
		return err
	}
	code := server.EINVALID
	if re.Code == syncproto.CodeTooLarge {
		code = server.ETOOLARGE
	}
	return &server.Error{Code: code, Message: re.Reason, Details: map[string]any{"sync_code": re.Code}}
}

// push: POST /v1/sync/push.
func (s *Server) push(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return server.Errorf(server.EINVALID, "read body: %v", err)
	}
	req, err := syncproto.DecodePush(body)
	if err != nil {
		return syncError(err)
	}
	resp, err := s.svc.Sync.Push(c.Request().Context(), req)
	if err != nil {
		return err
	}
	s.countVerdicts(resp)
	return c.JSON(http.StatusOK, resp)
}

// pull: GET /v1/sync/pull?cursor=&limit=.
func (s *Server) pull(c echo.Context) error {
	limit, err := intParam(c, "limit")
	if err != nil {
		return err
	}
	resp, err := s.svc.Sync.PullPage(c.Request().Context(), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// snapshot: GET /v1/sync/snapshot?page=&limit=.
func (s *Server) snapshot(c echo.Context) error {
	limit, err := intParam(c, "limit")
	if err != nil {
		return err
	}
	resp, err := s.svc.Sync.Snapshot(c.Request().Context(), c.QueryParam("page"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

// conflicts: GET /v1/sync/conflicts?collection=&doc=&open=1.
func (s *Server) conflicts(c echo.Context) error {
	limit, err := intParam(c, "limit")
	if err != nil {
		return err
	}
	out, err := s.svc.Sync.Conflicts(c.Request().Context(), server.ConflictFilter{Collection: c.QueryParam("collection"),
		DocID: c.QueryParam("doc"), OpenOnly: c.QueryParam("open") == "1", Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conflicts": nonNil(out)})
}

// rejected: GET /v1/sync/rejected?device=.
func (s *Server) rejected(c echo.Context) error {
	limit, err := intParam(c, "limit")
	if err != nil {
		return err
	}
	out, err := s.svc.Sync.Rejected(c.Request().Context(), server.RejectedFilter{Device: c.QueryParam("device"), Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rejected": nonNil(out)})
}

// devices: GET /v1/devices, sync status of devices in the caller's area.
func (s *Server) devices(c echo.Context) error {
	out, err := s.svc.Sync.Devices(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"devices": nonNil(out)})
}

func intParam(c echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, server.Errorf(server.EINVALID, "%s must be a non-negative integer", name)
	}
	return n, nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) countVerdicts(resp *syncproto.PushResponse) {
	for _, v := range resp.Verdicts {
		s.ops.WithLabelValues(v.Status, v.Code).Inc()
	}
}
