package syncproto

// The wire messages of the sync endpoints, shared by the server and the
// SDK. All are JSON objects with snake_case member names; every response
// carries Protocol and the server's clock so that a device's clock learns
// from every exchange.

// Verdict statuses.
const (
	// StatusAccepted: the op is stored and applied. Pushing it again
	// returns the same verdict and changes nothing.
	StatusAccepted = "accepted"
	// StatusRejected: the op is stored as rejected with a Code and Reason
	// and will never apply; the device shows it to the user instead of
	// dropping it.
	StatusRejected = "rejected"
)

// PushRequest is the body of a push: a batch of a device's own ops. Decode
// untrusted bodies with DecodePush.
type PushRequest struct {
	// Protocol must be ProtocolVersion.
	Protocol int `json:"protocol"`
	// Device is the pushing device; every op's Device must equal it.
	Device string `json:"device"`
	// DeviceTime is the device's physical clock (unix ms) when sending; the
	// server compares it with its own to detect a wrong device clock even
	// when the ops' HLCs are fine.
	DeviceTime int64 `json:"device_time"`
	// Outbox reports the device's backlog, so the station can see devices
	// that hold unsynced work.
	Outbox OutboxReport `json:"outbox"`
	// Ops are the device's ops, at most MaxOpsPerPush. They need not be in
	// Seq order: an outbox sends high-Priority collections first.
	Ops []Op `json:"ops"`
}

// OutboxReport describes a device's unsynced ops at push time.
type OutboxReport struct {
	// Pending is the number of ops in the outbox, including this push.
	Pending int `json:"pending"`
	// OldestPendingMS is the device time (unix ms) of the oldest pending op,
	// 0 when none.
	OldestPendingMS int64 `json:"oldest_pending_ms"`
	// AppVersion is the app's version string, at most MaxStringLen runes.
	AppVersion string `json:"app_version"`
}

// Verdict is the server's answer for one pushed op, identified by its Seq
// (the device is the pusher).
type Verdict struct {
	Seq uint64 `json:"seq"`
	// Status is StatusAccepted or StatusRejected.
	Status string `json:"status"`
	// Code is the rejection code (codes.go), set when rejected.
	Code string `json:"code,omitempty"`
	// Reason explains a rejection to a human.
	Reason string `json:"reason,omitempty"`
	// ServerSeq is the position of the accepted op in the server's change
	// log.
	ServerSeq int64 `json:"server_seq,omitempty"`
	// HLC is set when the server re-stamped (clamped) the op because its
	// clock was beyond MaxDrift: the op now has this HLC everywhere, and
	// the device must re-stamp its local copy to match.
	HLC *HLC `json:"hlc,omitempty"`
}

// PushResponse answers a PushRequest with one Verdict per op, in request
// order.
type PushResponse struct {
	Protocol int `json:"protocol"`
	// ServerHLC is the server clock after the push; the device passes it to
	// Clock.Update (or Clock.Reset when ClockReset is set).
	ServerHLC HLC `json:"server_hlc"`
	// LastSeq is the highest Seq of this device that the server has
	// received (accepted or rejected). Seqs may arrive out of order (higher
	// priority first), so there may be gaps below it.
	LastSeq uint64 `json:"last_seq"`
	// AckedSeq is the gap-free watermark: every Seq from 1 to AckedSeq has
	// a verdict on the server, so a device never needs to send any of them
	// again.
	AckedSeq uint64 `json:"acked_seq"`
	// Missing lists, in order, up to MaxMissing seqs between AckedSeq and
	// LastSeq that the server has not received: ops the device still has to
	// push. A device that no longer holds one of them has lost it.
	Missing  []uint64  `json:"missing,omitempty"`
	Verdicts []Verdict `json:"verdicts"`
	// ClockReset tells the device its clock is beyond MaxDrift: it must
	// call Clock.Reset(ServerHLC).
	ClockReset bool `json:"clock_reset,omitempty"`
}

// Change is one accepted op in the server's change log, as pulled.
type Change struct {
	// ServerSeq is the op's position in the server's log.
	ServerSeq int64 `json:"server_seq"`
	// Op is the op as stored (with the server's HLC if it was re-stamped).
	Op Op `json:"op"`
	// User is the id of the user who pushed it.
	User string `json:"user"`
	// ReceivedAt is the server time (unix ms) the op was accepted.
	ReceivedAt int64 `json:"received_at"`
	// Area is the id of the document's area, as the server fixed it when
	// the document was created (DocState.Area). A device sets it on the
	// document when it has none: it cannot derive it for documents whose
	// area is their author's.
	Area string `json:"area,omitempty"`
}

// PullResponse is a page of changes visible to the user since a cursor.
// A device applies every Change with Apply and stores Cursor; duplicates
// and reordering are harmless because Apply is idempotent and commutative.
type PullResponse struct {
	Protocol int      `json:"protocol"`
	Changes  []Change `json:"changes"`
	// Cursor is opaque; the device sends it back to get the next changes.
	Cursor string `json:"cursor"`
	// HasMore says another page is ready now.
	HasMore   bool `json:"has_more"`
	ServerHLC HLC  `json:"server_hlc"`
	// Rescope tells the device its user's visible scope changed (new area
	// or role): it must drop its replica and bootstrap from a snapshot.
	Rescope bool `json:"rescope,omitempty"`
}

// SnapshotResponse is a page of whole document states visible to the user,
// used to bootstrap a new device. After the last page, the device pulls
// changes from Cursor, which was taken before the first page so that no
// change made during the snapshot is missed (re-applying one is harmless).
type SnapshotResponse struct {
	Protocol int `json:"protocol"`
	// Cursor is the pull cursor to continue from after the snapshot.
	Cursor string     `json:"cursor"`
	Docs   []DocState `json:"docs"`
	// Next is the opaque token of the next page, empty on the last.
	Next      string `json:"next,omitempty"`
	HasMore   bool   `json:"has_more"`
	ServerHLC HLC    `json:"server_hlc"`
}
