// Package server holds the gridsync domain: areas, users, devices, the error
// model and the service interfaces that the HTTP layer consumes. Adapters live
// below it, one package per dependency: server/sqlite (storage),
// server/http (echo API), server/jwt (tokens), server/blob and server/minio
// (photo storage). server/app (Config, Main) wires them together;
// server/cmd/gridsyncd is the program around it.
package server

import (
	"errors"
	"fmt"
)

// Error codes are stable: clients switch on them, so they never change
// meaning. The HTTP status for each is fixed in server/http (one place).
const (
	EINVALID      = "invalid"        // malformed or out-of-range input
	EUNAUTHORIZED = "unauthorized"   // not logged in, bad credentials, bad or expired token
	EFORBIDDEN    = "forbidden"      // logged in, but role or area does not allow it
	ENOTFOUND     = "not_found"      // no such thing visible to the caller
	ECONFLICT     = "conflict"       // the request contradicts current state
	ETOOLARGE     = "too_large"      // body, batch or field over its explicit limit
	ERATELIMITED  = "rate_limited"   // too many attempts; retry after a while
	EUNAVAILABLE  = "unavailable"    // a dependency is down; retry later
	EINTERNAL     = "internal"       // a bug or an unexpected failure; details are only logged
	ESEQGAP       = "seq_gap"        // a push skipped operation counters; resend from last_seq+1
	ETOKENREUSED  = "token_reused"   // a rotated refresh token came back; the device's sessions are revoked
	EDEVICEREVOKE = "device_revoked" // the device was revoked (lost phone); log in again on a new device
)

// Error is the one error type the domain returns to callers. Code is stable
// and machine-readable; Message is safe to show to the user; Details carries
// structured hints (e.g. {"last_seq": 41}). Internal causes are never put here:
// wrap them with fmt.Errorf and they surface as EINTERNAL.
type Error struct {
	Code    string
	Message string
	Details map[string]any
}

// Error returns "code: message", for logs; clients get the two apart.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the user-facing message of err: the *Error's message,
// or a generic text for internal errors so that no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
