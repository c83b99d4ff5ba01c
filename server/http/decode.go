package http

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gridsync/gridsync/server"
)

// decodeJSON strictly decodes the request body into v: unknown fields,
// trailing data and wrong types are EINVALID; an over-limit body ETOOLARGE.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return server.Errorf(server.EINVALID, "request body is empty")
		}
		return server.Errorf(server.EINVALID, "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return server.Errorf(server.EINVALID, "malformed JSON body: data after the object")
	}
	return nil
}
