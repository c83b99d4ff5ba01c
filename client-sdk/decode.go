package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// tusReply is what the SDK reads of a successful tus response.
type tusReply struct {
	// offset is Upload-Offset (HEAD, PATCH), length Upload-Length (HEAD);
	// -1 when the response has none.
	offset, length int64
	// location is the upload's URL (POST), resolved against the server URL.
	location string
}

// headerInt reads a non-negative decimal header, -1 if absent. ParseUint
// refuses signs, spaces, underscores and prefixes, and a value past an
// int64.
func headerInt(h http.Header, name string) (int64, error) {
	v := h.Get(name)
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if errors.Is(err, strconv.ErrRange) {
		return 0, protocolError("%s %.20q is too large", name, v)
	}
	if err != nil {
		return 0, protocolError("%s %.20q is not a byte count", name, v)
	}
	return int64(n), nil
}

// decodeTusReply checks the headers of a 2xx reply to a tus request
// (docs/PROTOCOL-photos.md): every reply says Tus-Resumable 1.0.0 (a
// captive portal's "200 OK" does not), a POST gives the upload's Location
// on the server's own origin (the access token is sent there), a HEAD its
// offset within its length, a PATCH the new offset.
func decodeTusReply(base *url.URL, method string, status int, h http.Header) (*tusReply, error) {
	if v := h.Get("Tus-Resumable"); v != "1.0.0" {
		return nil, protocolError("%s reply %d without Tus-Resumable 1.0.0 (got %.20q)", method, status, v)
	}
	r := &tusReply{offset: -1, length: -1}
	var err error
	if r.offset, err = headerInt(h, "Upload-Offset"); err != nil {
		return nil, err
	}
	if r.length, err = headerInt(h, "Upload-Length"); err != nil {
		return nil, err
	}
	switch method {
	case http.MethodPost:
		if status != http.StatusCreated {
			return nil, protocolError("upload creation answered %d, want 201", status)
		}
		loc, err := resolveUpload(base, h.Get("Location"))
		if err != nil {
			return nil, err
		}
		r.location = loc
	case http.MethodHead:
		if status != http.StatusOK || r.offset < 0 || r.length < 0 || r.offset > r.length {
			return nil, protocolError("upload HEAD answered %d with offset %d of %d", status, r.offset, r.length)
		}
	case http.MethodPatch:
		if status != http.StatusNoContent || r.offset < 0 {
			return nil, protocolError("upload PATCH answered %d with offset %d", status, r.offset)
		}
	}
	return r, nil
}

// resolveUpload resolves an upload's Location (a path, or an absolute URL)
// against the server URL and refuses one on another origin.
func resolveUpload(base *url.URL, loc string) (string, error) {
	if loc == "" || len(loc) > 2048 {
		return "", protocolError("upload Location of %d bytes", len(loc))
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return "", protocolError("upload Location %.80q: %v", loc, err)
	}
	u := base.ResolveReference(ref)
	if !sameOrigin(base, u) || u.User != nil || u.Path == "" {
		return "", protocolError("upload Location %.80q is not on the server %s", loc, base.Host)
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// sameOrigin reports whether u is on base's scheme, host and port.
func sameOrigin(base, u *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Host, base.Host)
}

// missingPhoto is an entry of GET /v1/photos/missing.
type missingPhoto struct {
	SHA256   string `json:"sha256"`
	Received bool   `json:"received"`
}

// decodeMissing decodes GET /v1/photos/missing.
func decodeMissing(data []byte) ([]missingPhoto, error) {
	var r struct {
		Photos []missingPhoto `json:"photos"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("missing photos reply: %v", err)
	}
	for _, p := range r.Photos {
		if !syncproto.ValidSHA256(p.SHA256) {
			return nil, protocolError("missing photo %.80q is not a sha256", p.SHA256)
		}
	}
	return r.Photos, nil
}

// decodeDocPhotos decodes GET /v1/docs/{collection}/{id}/photos into which
// of the document's photos the server has stored.
func decodeDocPhotos(data []byte) (map[string]bool, error) {
	var r struct {
		Photos []struct {
			SHA256  string `json:"sha256"`
			Present bool   `json:"present"`
		} `json:"photos"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("document photos reply: %v", err)
	}
	out := make(map[string]bool, len(r.Photos))
	for _, p := range r.Photos {
		if !syncproto.ValidSHA256(p.SHA256) {
			return nil, protocolError("document photo %.80q is not a sha256", p.SHA256)
		}
		out[p.SHA256] = out[p.SHA256] || p.Present
	}
	return out, nil
}

// Bounds on the lists a device keeps (lists.go): far above a real county's
// checklists and a township's sites, small enough for a cheap phone.
const (
	maxChecklists     = 200
	maxChecklistItems = 500
	maxTasks          = 20000
)

// decodeChecklists decodes GET /v1/checklists: each template with a kind,
// a version >= 1 and items with codes.
func decodeChecklists(data []byte) ([]syncproto.Checklist, error) {
	var r struct {
		Checklists []syncproto.Checklist `json:"checklists"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("checklists reply: %v", err)
	}
	if len(r.Checklists) > maxChecklists {
		return nil, protocolError("%d checklists, at most %d", len(r.Checklists), maxChecklists)
	}
	for _, cl := range r.Checklists {
		if !syncproto.ValidDocID(cl.Kind) || cl.Version < 1 || len(cl.Items) > maxChecklistItems {
			return nil, protocolError("checklist %q version %d with %d items", cl.Kind, cl.Version, len(cl.Items))
		}
		for _, it := range cl.Items {
			if it.Code == "" || !utf8.ValidString(it.Code) || len(it.Code) > syncproto.MaxIDLen {
				return nil, protocolError("checklist %q: item code %q", cl.Kind, it.Code)
			}
		}
	}
	return r.Checklists, nil
}

// decodeTasks decodes GET /v1/tasks: each task names a site, has a
// positive interval, and a last check when it has a due time.
func decodeTasks(data []byte) ([]syncproto.Task, error) {
	var r struct {
		Tasks []syncproto.Task `json:"tasks"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, protocolError("tasks reply: %v", err)
	}
	if len(r.Tasks) > maxTasks {
		return nil, protocolError("%d tasks, at most %d", len(r.Tasks), maxTasks)
	}
	for _, t := range r.Tasks {
		if !syncproto.ValidDocID(t.SiteID) || t.IntervalDays < 1 || t.IntervalDays > 3660 || (t.DueAt != nil && t.LastCheckedAt == nil) {
			return nil, protocolError("task of site %q: interval %d", t.SiteID, t.IntervalDays)
		}
	}
	return r.Tasks, nil
}
