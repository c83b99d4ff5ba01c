package http

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/gridsync/gridsync/server"
)

// statusOf is the one place where an error code becomes an HTTP status.
var statusOf = map[string]int{
	server.EINVALID:      http.StatusBadRequest,
	server.EUNAUTHORIZED: http.StatusUnauthorized,
	server.ETOKENREUSED:  http.StatusUnauthorized,
	server.EDEVICEREVOKE: http.StatusUnauthorized,
	server.EFORBIDDEN:    http.StatusForbidden,
	server.ENOTFOUND:     http.StatusNotFound,
	server.ECONFLICT:     http.StatusConflict,
	server.ESEQGAP:       http.StatusConflict,
	server.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	server.ERATELIMITED:  http.StatusTooManyRequests,
	server.EUNAVAILABLE:  http.StatusServiceUnavailable,
	server.EINTERNAL:     http.StatusInternalServerError,
	// Photo uploads (tus) and downloads.
	server.EHASHMISMATCH: http.StatusUnprocessableEntity,
	server.ECHECKSUM:     460, // tus checksum extension: "Checksum Mismatch"
	server.EOFFSET:       http.StatusConflict,
	server.EPHOTOTYPE:    http.StatusUnsupportedMediaType,
	server.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	server.EQUOTA:        http.StatusTooManyRequests,
	server.ELOCKED:       http.StatusLocked,
	server.EVERSION:      http.StatusPreconditionFailed,
	server.ENOTHUMB:      http.StatusNotFound,
}

// codeOfStatus maps statuses produced by echo itself (unknown route, wrong
// method, ...) back to our codes.
func codeOfStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return server.ENOTFOUND
	case http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return server.EINVALID
	case http.StatusUnauthorized:
		return server.EUNAUTHORIZED
	case http.StatusForbidden:
		return server.EFORBIDDEN
	case http.StatusRequestEntityTooLarge:
		return server.ETOOLARGE
	case http.StatusTooManyRequests:
		return server.ERATELIMITED
	case http.StatusServiceUnavailable:
		return server.EUNAVAILABLE
	}
	return server.EINTERNAL
}

// ErrorResponse is the one JSON shape of every error the API returns.
type ErrorResponse struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
}

// handleError writes err as an ErrorResponse. Internal errors are logged
// with the request id and shown only as "internal error".
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	resp := ErrorResponse{RequestID: requestID(c)}
	var he *echo.HTTPError
	var de *server.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &de):
		resp.Code, resp.Message, resp.Details = de.Code, de.Message, de.Details
	case errors.As(err, &mbe):
		resp.Code, resp.Message = server.ETOOLARGE, "request body larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes"
	case errors.As(err, &he):
		resp.Code, resp.Message = codeOfStatus(he.Code), http.StatusText(he.Code)
	default:
		resp.Code, resp.Message = server.EINTERNAL, "internal error"
	}
	status, ok := statusOf[resp.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", slog.String("request_id", resp.RequestID),
			slog.String("method", c.Request().Method), slog.String("path", c.Path()), slog.Any("err", err))
	}
	// Any error that says when to try again (a login limit, a full upload
	// quota, the photo store down) says it in the standard header too.
	if ra, ok := resp.Details["retry_after"].(int); ok {
		c.Response().Header().Set("Retry-After", strconv.Itoa(ra))
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, resp)
	}
	if err != nil {
		s.log.Warn("write error response", slog.Any("err", err))
	}
}
