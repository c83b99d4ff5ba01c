package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// SyncService is the server side of the sync protocol (docs/PROTOCOL.md).
// Every method takes the caller from ctx (PrincipalFrom) and checks each
// operation and each returned document against the caller's role and area.
type SyncService interface {
	// Push applies a device's batch. Whole-request problems (not the
	// caller's device, bad protocol) are errors; each operation otherwise
	// gets its own accepted/rejected verdict. The reply is sent only after
	// the transaction holding the batch is durable.
	Push(ctx context.Context, req *syncproto.PushRequest) (*syncproto.PushResponse, error)
	// PullPage returns changes visible to the caller after cursor ("" =
	// from the start), at most limit, each op as stored.
	PullPage(ctx context.Context, cursor string, limit int) (*PullPage, error)
	// Snapshot returns a page of the document states visible to the caller;
	// page is "" for the first page, then the previous page's Next.
	Snapshot(ctx context.Context, page string, limit int) (*syncproto.SnapshotResponse, error)
	// Conflicts lists kept losing values in the caller's area.
	Conflicts(ctx context.Context, f ConflictFilter) ([]*Conflict, error)
	// Rejected lists refused operations of users in the caller's area.
	Rejected(ctx context.Context, f RejectedFilter) ([]*RejectedOp, error)
	// Devices lists the sync status of devices of users in the caller's area.
	Devices(ctx context.Context) ([]*DeviceStatus, error)
}

// Conflict is a field write that lost to a concurrent one; the losing value
// is kept so that the station can see it and choose.
type Conflict struct {
	ID         int64         `json:"id"`
	Seq        int64         `json:"seq"`
	Collection string        `json:"collection"`
	DocID      string        `json:"doc_id"`
	AreaID     string        `json:"area_id"`
	Field      string        `json:"field"`
	Winner     syncproto.Reg `json:"winner"`
	Loser      syncproto.Reg `json:"loser"`
	// WinnerUser and LoserUser are the usernames of the registers' authors
	// (the users of the devices in their stamps).
	WinnerUser string    `json:"winner_user"`
	LoserUser  string    `json:"loser_user"`
	CreatedAt  time.Time `json:"created_at"`
	Resolved   bool      `json:"resolved"`
}

// ConflictFilter selects conflicts.
type ConflictFilter struct {
	Collection, DocID string
	OpenOnly          bool
	Limit             int
}

// RejectedOp is a refused operation, kept with its verdict.
type RejectedOp struct {
	Device     string          `json:"device"`
	Seq        uint64          `json:"seq"`
	Username   string          `json:"username"`
	Collection string          `json:"collection"`
	DocID      string          `json:"doc_id"`
	Code       string          `json:"code"`
	Reason     string          `json:"reason"`
	Op         json.RawMessage `json:"op"`
	ReceivedAt time.Time       `json:"received_at"`
}

// RejectedFilter selects rejected operations.
type RejectedFilter struct {
	Device string
	Limit  int
}

// DeviceStatus is what the server knows of a device's sync health.
type DeviceStatus struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	AreaID   string `json:"area_id"`
	LastSeq  uint64 `json:"last_seq"`
	// AckedSeq is the gap-free watermark: below LastSeq, the seqs above it
	// have not arrived (pushed out of order, or lost on the device).
	AckedSeq       uint64     `json:"acked_seq"`
	LastSyncAt     *time.Time `json:"last_sync_at,omitempty"`
	OutboxPending  int        `json:"outbox_pending"`
	OutboxOldestMS int64      `json:"outbox_oldest_ms"`
	AppVersion     string     `json:"app_version"`
	ClockOffsetMS  int64      `json:"clock_offset_ms"`
	Revoked        bool       `json:"revoked"`
	Rejected       int        `json:"rejected"`
}

// PullPage is a page of a pull with each op's JSON as the server stored it
// (canonical: the encoding of the op as applied), so that a pull is sent
// without decoding and encoding every op again. Its JSON is a
// syncproto.PullResponse.
type PullPage struct {
	Changes   []StoredChange
	Cursor    string
	HasMore   bool
	ServerHLC syncproto.HLC
	Rescope   bool
}

// StoredChange is a syncproto.Change with its op still encoded.
type StoredChange struct {
	ServerSeq  int64           `json:"server_seq"`
	Op         json.RawMessage `json:"op"`
	User       string          `json:"user"`
	ReceivedAt int64           `json:"received_at"`
	Area       string          `json:"area,omitempty"`
}

// MarshalJSON writes the page as a syncproto.PullResponse.
func (p *PullPage) MarshalJSON() ([]byte, error) {
	changes := p.Changes
	if changes == nil {
		changes = []StoredChange{}
	}
	return json.Marshal(struct {
		Protocol  int            `json:"protocol"`
		Changes   []StoredChange `json:"changes"`
		Cursor    string         `json:"cursor"`
		HasMore   bool           `json:"has_more"`
		ServerHLC syncproto.HLC  `json:"server_hlc"`
		Rescope   bool           `json:"rescope,omitempty"`
	}{syncproto.ProtocolVersion, changes, p.Cursor, p.HasMore, p.ServerHLC, p.Rescope})
}

// Decode returns the page with every op decoded.
func (p *PullPage) Decode() (*syncproto.PullResponse, error) {
	resp := &syncproto.PullResponse{Protocol: syncproto.ProtocolVersion, Changes: make([]syncproto.Change, len(p.Changes)),
		Cursor: p.Cursor, HasMore: p.HasMore, ServerHLC: p.ServerHLC, Rescope: p.Rescope}
	for i, c := range p.Changes {
		resp.Changes[i] = syncproto.Change{ServerSeq: c.ServerSeq, User: c.User, ReceivedAt: c.ReceivedAt, Area: c.Area}
		if err := json.Unmarshal(c.Op, &resp.Changes[i].Op); err != nil {
			return nil, fmt.Errorf("decode op %d: %w", c.ServerSeq, err)
		}
	}
	return resp, nil
}
