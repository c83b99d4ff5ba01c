package client

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/gridsync/gridsync/syncproto"
)

// Decoders of server replies. Replies are untrusted input (a proxy, a
// captive portal on a village hotspot, a server bug): each decoder checks
// what the SDK relies on before anything reaches the local file, and
// returns ErrProtocol otherwise. Unknown members are ignored so that a newer
// server can add some.

// decodeError turns an error reply into an *APIError. A body that is not
// the API's error shape (an HTML page from a proxy) still gives an
// APIError, with the code implied by the status.
func decodeError(status int, retry string, data []byte) *APIError {
	e := &APIError{Status: status, RetryAfter: retryAfter(retry)}
	var body struct {
		Code      string         `json:"code"`
		Message   string         `json:"message"`
		Details   map[string]any `json:"details"`
		RequestID string         `json:"request_id"`
	}
	if json.Unmarshal(data, &body) == nil && body.Code != "" && utf8.ValidString(body.Code) && len(body.Code) <= 64 {
		e.Code, e.Message, e.Details, e.RequestID = body.Code, body.Message, body.Details, body.RequestID
	} else {
		e.Code, e.Message = codeOfStatus(status), http.StatusText(status)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

func codeOfStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return codeUnauthorized
	case status == http.StatusForbidden:
		return codeForbidden
	case status == http.StatusNotFound:
		return codeNotFound
	case status == http.StatusConflict:
		return codeConflict
	case status == http.StatusRequestEntityTooLarge:
		return codeTooLarge
	case status == http.StatusTooManyRequests:
		return codeRateLimited
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return codeUnavailable
	case status >= 500:
		return codeInternal
	}
	return codeInvalid
}

// decodeSession decodes a login or refresh reply.
func decodeSession(data []byte) (*session, error) {
	var s session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, protocolError("session: %v", err)
	}
	switch {
	case s.AccessToken == "" || s.RefreshToken == "":
		return nil, protocolError("session without tokens")
	case s.ExpiresIn <= 0:
		return nil, protocolError("session expires_in %d", s.ExpiresIn)
	case s.User == nil || s.User.Username == "" || s.User.Role == "" || s.User.AreaID == "":
		return nil, protocolError("session without user, role or area")
	}
	return &s, nil
}

// decodePushResponse decodes the reply to a push of sent: one verdict per
// op, in order, for the same seqs; accepted verdicts carry a server seq,
// rejected ones a code.
func decodePushResponse(data []byte, sent []syncproto.Op) (*syncproto.PushResponse, error) {
	var r syncproto.PushResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("push reply: %v", err)
	}
	if r.Protocol != syncproto.ProtocolVersion {
		return nil, protocolError("push reply speaks protocol %d, want %d", r.Protocol, syncproto.ProtocolVersion)
	}
	if len(r.Verdicts) != len(sent) {
		return nil, protocolError("push reply has %d verdicts for %d ops", len(r.Verdicts), len(sent))
	}
	for i, v := range r.Verdicts {
		if v.Seq != sent[i].Seq {
			return nil, protocolError("verdict %d is for seq %d, want %d", i, v.Seq, sent[i].Seq)
		}
		switch v.Status {
		case syncproto.StatusAccepted:
			if v.ServerSeq <= 0 {
				return nil, protocolError("accepted verdict for seq %d without server seq", v.Seq)
			}
		case syncproto.StatusRejected:
			if v.Code == "" {
				return nil, protocolError("rejected verdict for seq %d without code", v.Seq)
			}
		default:
			return nil, protocolError("verdict status %q", v.Status)
		}
		if v.HLC != nil && v.HLC.IsZero() {
			return nil, protocolError("verdict for seq %d re-stamps to zero", v.Seq)
		}
	}
	return &r, nil
}

// decodePullResponse decodes a pull page: changes in increasing server
// seq, each a valid op, and a cursor to continue from.
func decodePullResponse(data []byte) (*syncproto.PullResponse, error) {
	var r syncproto.PullResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("pull reply: %v", err)
	}
	if r.Protocol != syncproto.ProtocolVersion {
		return nil, protocolError("pull reply speaks protocol %d, want %d", r.Protocol, syncproto.ProtocolVersion)
	}
	if r.Cursor == "" {
		return nil, protocolError("pull reply without cursor")
	}
	var last int64
	for i := range r.Changes {
		ch := &r.Changes[i]
		if ch.ServerSeq <= last {
			return nil, protocolError("pull changes out of order at server seq %d", ch.ServerSeq)
		}
		last = ch.ServerSeq
		if err := ch.Op.Validate(); err != nil {
			return nil, protocolError("pulled op %d: %v", ch.ServerSeq, err)
		}
		if ch.Area != "" && !syncproto.ValidDocID(ch.Area) {
			return nil, protocolError("pulled op %d: area %q", ch.ServerSeq, ch.Area)
		}
	}
	return &r, nil
}

// decodeSnapshotResponse decodes a snapshot page: live documents with
// valid ids, the cursor to pull from afterwards, and the next page's token
// when there is one.
func decodeSnapshotResponse(data []byte) (*syncproto.SnapshotResponse, error) {
	var r syncproto.SnapshotResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("snapshot reply: %v", err)
	}
	if r.Protocol != syncproto.ProtocolVersion {
		return nil, protocolError("snapshot reply speaks protocol %d, want %d", r.Protocol, syncproto.ProtocolVersion)
	}
	if r.Cursor == "" {
		return nil, protocolError("snapshot reply without cursor")
	}
	if r.HasMore && r.Next == "" {
		return nil, protocolError("snapshot reply has more pages but no next token")
	}
	for _, d := range r.Docs {
		if d.Collection == "" || !syncproto.ValidDocID(d.ID) || d.Area != "" && !syncproto.ValidDocID(d.Area) {
			return nil, protocolError("snapshot document %q/%q (area %q)", d.Collection, d.ID, d.Area)
		}
	}
	return &r, nil
}

// decodeConflicts decodes GET /v1/sync/conflicts.
func decodeConflicts(data []byte) ([]Conflict, error) {
	var r struct {
		Conflicts []Conflict `json:"conflicts"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("conflicts reply: %v", err)
	}
	return r.Conflicts, nil
}
