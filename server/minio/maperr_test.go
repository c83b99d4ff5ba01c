package minio

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/gridsync/gridsync/server/blob"
)

// Server errors that a real MinIO rarely produces on demand (5xx, throttling)
// are checked here; the common ones are also covered against a real server.
func TestMapErr(t *testing.T) {
	refused := &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "refused"}}}
	tests := []struct {
		name string
		err  error
		want error // nil: neither ErrNotFound nor ErrUnavailable
	}{
		{"NoSuchKey", miniogo.ErrorResponse{Code: miniogo.NoSuchKey, StatusCode: 404}, blob.ErrNotFound},
		{"InternalError", miniogo.ErrorResponse{Code: miniogo.InternalError, StatusCode: 500}, blob.ErrUnavailable},
		{"SlowDown", miniogo.ErrorResponse{Code: "SlowDown", StatusCode: 503}, blob.ErrUnavailable},
		{"TooManyRequests", miniogo.ErrorResponse{Code: "TooManyRequests", StatusCode: 429}, blob.ErrUnavailable},
		{"AccessDenied", miniogo.ErrorResponse{Code: miniogo.AccessDenied, StatusCode: 403}, nil},
		{"NoSuchBucket", miniogo.ErrorResponse{Code: miniogo.NoSuchBucket, StatusCode: 404}, nil},
		{"ConnectionRefused", refused, blob.ErrUnavailable},
		{"ConnectionReset", syscall.ECONNRESET, blob.ErrUnavailable},
		{"BodyCutShort", io.ErrUnexpectedEOF, blob.ErrUnavailable},
		{"ClosedMidRequest", &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k", Err: io.EOF}, blob.ErrUnavailable},
		// What minio-go returns instead of the EOF above (api.go, Client.do).
		{"ClosedByForeignHost", &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k",
			Err: errors.New("Connection closed by foreign host http://127.0.0.1:9000/b/k. Retry again.")}, blob.ErrUnavailable},
		// What net/http returns when MinIO closed a pooled connection and
		// the body cannot be sent again (transport.go, errServerClosedIdle).
		{"ServerClosedIdle", &url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k",
			Err: errors.New("http: server closed idle connection")}, blob.ErrUnavailable},
		{"Deadline", context.DeadlineExceeded, blob.ErrUnavailable},
		{"Canceled", context.Canceled, nil},
		{"Other", errors.New("invalid header"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapped := mapErr(tt.err)
			if !errors.Is(mapped, tt.err) {
				t.Errorf("got %v, want it to wrap %v", mapped, tt.err)
			}
			for _, sentinel := range []error{blob.ErrNotFound, blob.ErrUnavailable} {
				want := sentinel == tt.want
				if got := errors.Is(mapped, sentinel); got != want {
					t.Errorf("errors.Is(%v, %v): got %v, want %v", mapped, sentinel, got, want)
				}
			}
		})
	}
	if mapErr(nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}
