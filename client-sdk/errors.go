package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. Errors from the server are *APIError values that match
// the sentinel of their code with errors.Is; local refusals of an op are
// *syncproto.RejectError values carrying the same codes the server would
// have used (syncproto.ErrorCode reads them).
var (
	// ErrLoginRequired means the device has no usable session: never logged
	// in, logged out, refresh token expired or reused, or the device was
	// revoked. Call Login. The outbox and the replica are untouched.
	ErrLoginRequired = errors.New("login required")
	// ErrNotFound: no such document in the local view, or the server's
	// not_found.
	ErrNotFound = errors.New("not found")
	// ErrOtherUser: Login as another user while this file still holds the
	// previous user's unsynced or rejected ops.
	ErrOtherUser = errors.New("the local data belongs to another user")
	// ErrProtocol: the server's reply does not follow the protocol (bad
	// JSON, wrong verdict count, another protocol version).
	ErrProtocol = errors.New("protocol error")
)

// Sentinels of the server's error codes (the "code" of an error reply):
// an *APIError matches the one of its code.
var (
	ErrInvalid       = errors.New("invalid request")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrForbidden     = errors.New("forbidden")
	ErrConflict      = errors.New("conflict")
	ErrTooLarge      = errors.New("too large")
	ErrRateLimited   = errors.New("rate limited")
	ErrUnavailable   = errors.New("server unavailable")
	ErrInternal      = errors.New("server internal error")
	ErrTokenReused   = errors.New("refresh token reused")
	ErrDeviceRevoked = errors.New("device revoked")
)

// Server error codes (server/error.go); stable wire values.
const (
	codeInvalid       = "invalid"
	codeUnauthorized  = "unauthorized"
	codeForbidden     = "forbidden"
	codeNotFound      = "not_found"
	codeConflict      = "conflict"
	codeTooLarge      = "too_large"
	codeRateLimited   = "rate_limited"
	codeUnavailable   = "unavailable"
	codeInternal      = "internal"
	codeTokenReused   = "token_reused"
	codeDeviceRevoked = "device_revoked"
)

var sentinelOf = map[string]error{
	codeInvalid:       ErrInvalid,
	codeUnauthorized:  ErrUnauthorized,
	codeForbidden:     ErrForbidden,
	codeNotFound:      ErrNotFound,
	codeConflict:      ErrConflict,
	codeTooLarge:      ErrTooLarge,
	codeRateLimited:   ErrRateLimited,
	codeUnavailable:   ErrUnavailable,
	codeInternal:      ErrInternal,
	codeTokenReused:   ErrTokenReused,
	codeDeviceRevoked: ErrDeviceRevoked,
}

// APIError is an error answer of the server: its HTTP status and the body
// {"code","message","details","request_id"}.
type APIError struct {
	Status    int
	Code      string
	Message   string
	Details   map[string]any
	RequestID string
	// RetryAfter is the server's Retry-After, zero if absent.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	s := fmt.Sprintf("server: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is matches the sentinel of the error's code, so callers write
// errors.Is(err, client.ErrForbidden).
func (e *APIError) Is(target error) bool {
	s, ok := sentinelOf[e.Code]
	return ok && s == target
}

// transient reports whether repeating the request later may succeed: the
// server is overloaded, restarting or failing, or asked to be retried.
func (e *APIError) transient() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Code == codeUnavailable || e.Code == codeRateLimited
}

// needsLogin reports whether the error ends the session for good: only a
// new login helps.
func (e *APIError) needsLogin() bool {
	return e.Code == codeTokenReused || e.Code == codeDeviceRevoked
}

// protocolError wraps ErrProtocol with what was wrong.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
