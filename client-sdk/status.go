package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// RejectedOp is an op of this device that the server refused. It no longer
// applies to the local view; the app shows it so the user can redo the work
// another way (or ask the station).
type RejectedOp struct {
	// ID identifies the entry for DismissRejected.
	ID  int64
	Seq uint64
	// Collection and Doc name the document the op was for.
	Collection string
	Doc        string
	// Code is the server's stable rejection code (syncproto.Code*), Reason
	// its explanation.
	Code   string
	Reason string
	Op     syncproto.Op
	// CreatedAt is when the op was made, RejectedAt when the verdict came
	// (device clock).
	CreatedAt  time.Time
	RejectedAt time.Time
}

// Rejected lists the rejected ops, oldest first.
func (c *Client) Rejected() ([]RejectedOp, error) {
	rows, err := c.r.Query(`SELECT id, seq, collection, doc_id, code, reason, op, created_at, rejected_at FROM rejected ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RejectedOp
	for rows.Next() {
		var r RejectedOp
		var op string
		var created, rejected int64
		if err := rows.Scan(&r.ID, &r.Seq, &r.Collection, &r.Doc, &r.Code, &r.Reason, &op, &created, &rejected); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(op), &r.Op); err != nil {
			return nil, fmt.Errorf("rejected op %d: %w", r.ID, err)
		}
		r.CreatedAt, r.RejectedAt = time.UnixMilli(created), time.UnixMilli(rejected)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DismissRejected removes a rejected op from the list once the user has
// seen it. The server keeps its own record.
func (c *Client) DismissRejected(id int64) error {
	return c.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM rejected WHERE id = ?`, id)
		return err
	})
}

// OutboxStatus describes the device's unsynced work.
type OutboxStatus struct {
	// Pending counts ops the server has not accepted yet.
	Pending int
	// Accepted counts accepted ops not yet pulled back into the replica.
	Accepted int
	// Rejected counts entries in the rejected list.
	Rejected int
	// Oldest is when the oldest pending op was made (device clock), and
	// OldestAge how long ago; zero when nothing is pending.
	Oldest    time.Time
	OldestAge time.Duration
}

// Outbox returns the outbox's status.
func (c *Client) Outbox() (OutboxStatus, error) {
	var s OutboxStatus
	var oldest int64
	err := c.r.QueryRow(`SELECT
		(SELECT count(*) FROM outbox WHERE server_seq IS NULL),
		(SELECT count(*) FROM outbox WHERE server_seq IS NOT NULL),
		(SELECT count(*) FROM rejected),
		(SELECT COALESCE(min(created_at), 0) FROM outbox WHERE server_seq IS NULL)`).Scan(&s.Pending, &s.Accepted, &s.Rejected, &oldest)
	if err != nil {
		return s, err
	}
	if oldest > 0 {
		s.Oldest = time.UnixMilli(oldest)
		s.OldestAge = max(0, c.opt.Now().Sub(s.Oldest))
	}
	return s, nil
}

// OutboxOp is one op in the outbox.
type OutboxOp struct {
	Seq        uint64
	Collection string
	Doc        string
	// Accepted: the server accepted it; it stays until pulled back.
	Accepted  bool
	CreatedAt time.Time
	Op        syncproto.Op
}

// OutboxOps lists the outbox: pending ops in the order they will be
// pushed, then accepted ops waiting to be pulled back.
func (c *Client) OutboxOps() ([]OutboxOp, error) {
	var got []outboxRow
	err := c.view(func(tx *sql.Tx) error {
		var err error
		if got, err = c.pushOrder(tx); err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT ` + outboxColumns + ` FROM outbox WHERE server_seq IS NOT NULL ORDER BY server_seq`)
		if err != nil {
			return err
		}
		acc, err := scanOutbox(rows)
		got = append(got, acc...)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]OutboxOp, len(got))
	for i, r := range got {
		out[i] = OutboxOp{Seq: r.op.Seq, Collection: r.op.Collection, Doc: r.op.Doc, Accepted: r.serverSeq > 0,
			CreatedAt: time.UnixMilli(r.createdAt), Op: r.op}
	}
	return out, nil
}

// Conflict is a concurrent write that lost, as the server keeps it for the
// station: the winning and the losing value of one field.
type Conflict struct {
	ID         int64         `json:"id"`
	Seq        int64         `json:"seq"`
	Collection string        `json:"collection"`
	Doc        string        `json:"doc_id"`
	Area       string        `json:"area_id"`
	Field      string        `json:"field"`
	Winner     syncproto.Reg `json:"winner"`
	Loser      syncproto.Reg `json:"loser"`
	CreatedAt  time.Time     `json:"created_at"`
	Resolved   bool          `json:"resolved"`
}

// ConflictQuery filters Conflicts; the zero value lists all conflicts in
// the user's area, newest first.
type ConflictQuery struct {
	Collection string
	Doc        string
	OpenOnly   bool
	Limit      int
}

// Conflicts asks the server for kept conflicts in the user's area. It
// needs the network.
func (c *Client) Conflicts(ctx context.Context, q ConflictQuery) ([]Conflict, error) {
	v := url.Values{}
	if q.Collection != "" {
		v.Set("collection", q.Collection)
	}
	if q.Doc != "" {
		v.Set("doc", q.Doc)
	}
	if q.OpenOnly {
		v.Set("open", "1")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out []Conflict
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/sync/conflicts", query: v, auth: true}, func(b []byte) (err error) {
		out, err = decodeConflicts(b)
		return err
	})
	return out, err
}
