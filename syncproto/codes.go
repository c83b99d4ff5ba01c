package syncproto

import (
	"errors"
	"fmt"
)

// Rejection codes. They are stable wire values: a device shows the user a
// message chosen by code, so a code is never renamed or reused. A rejected
// operation is kept by the server and reported in its Verdict; it is never
// silently dropped.
const (
	// CodeInvalidOp: the operation or request is malformed (bad id, missing
	// or contradictory parts, unknown JSON member).
	CodeInvalidOp = "invalid_op"

	// CodeUnknownCollection: the operation names a collection that the
	// schema does not declare.
	CodeUnknownCollection = "unknown_collection"

	// CodeUnknownField: the operation names a field that its collection
	// does not declare, or uses a field with the wrong kind of change (set
	// on a set field, add on a scalar field...).
	CodeUnknownField = "unknown_field"

	// CodeInvalidValue: a value has the wrong type, is not in its enum, is
	// out of range, or clears a required field.
	CodeInvalidValue = "invalid_value"

	// CodeTooLarge: a protocol limit (see limits.go) is exceeded.
	CodeTooLarge = "too_large"

	// CodeForbiddenRole: the user's role may not do this to the document
	// (create it, delete it, edit it, or reopen its workflow).
	CodeForbiddenRole = "forbidden_role"

	// CodeForbiddenField: the user's role may edit the document but not
	// this field (a grid worker setting a site's risk level).
	CodeForbiddenField = "forbidden_field"

	// CodeForbiddenArea: the document lies outside the user's area, or the
	// operation would move it there.
	CodeForbiddenArea = "forbidden_area"

	// CodeForbiddenTransition: a workflow step the role may not take, a
	// step backwards within a round, or a step in a round other than the
	// current one (or current+1 for a reopen).
	CodeForbiddenTransition = "forbidden_transition"

	// CodeDocDeleted: the document is deleted (tombstoned); edits are
	// refused so that nobody works on a record that no longer exists.
	CodeDocDeleted = "doc_deleted"

	// CodeClockAhead: the operation's clock is further ahead of the
	// server's than MaxDrift allows and the server did not re-stamp it.
	CodeClockAhead = "clock_ahead"

	// CodeWrongDevice: the operation's device is not the device that
	// pushed it; a device only pushes its own operations.
	CodeWrongDevice = "wrong_device"

	// CodeNotFound: the operation edits or deletes a document that does
	// not exist, and the operation cannot create it (it lacks a required
	// field).
	CodeNotFound = "not_found"

	// CodeUnsupportedProtocol: the request's protocol version is not
	// ProtocolVersion. The whole request is refused; the client must be
	// upgraded before it pushes again.
	CodeUnsupportedProtocol = "unsupported_protocol"

	// CodeSeqReused: the device already used this op's Seq for a different
	// operation (its counter went back, e.g. after restoring an old backup
	// of the app's data). The op is not stored; the device gives it, and
	// every later unacknowledged op, a new Seq above PushResponse.LastSeq
	// and pushes again. This is the protocol's recoverable counter error.
	CodeSeqReused = "seq_reused"
)

// RejectError is the error for anything refused by this package: it carries
// a stable Code from the list above and a human-readable Reason for logs and
// for the user. Reasons may change between releases; codes do not.
type RejectError struct {
	Code   string
	Reason string
}

// Error implements error as "code: reason".
func (e *RejectError) Error() string { return e.Code + ": " + e.Reason }

// reject builds a *RejectError with a formatted reason.
func reject(code, format string, args ...any) *RejectError {
	return &RejectError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of the *RejectError in err's chain, or "" if
// there is none.
func ErrorCode(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}
