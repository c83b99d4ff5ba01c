package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// Page sizes of pulls and snapshots.
const (
	DefaultPullLimit = 500
	MaxPullLimit     = 2000
)

// cursor is the decoded form of a pull cursor: the last server seq the
// device has, and the scope (area and role) it was computed for. The wire
// form "<seq>.<area>.<role>" is opaque to devices.
type cursor struct {
	seq  int64
	area string
	role server.Role
}

func (c cursor) String() string { return fmt.Sprintf("%d.%s.%s", c.seq, c.area, c.role) }

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return cursor{}, server.Errorf(server.EINVALID, "malformed cursor")
	}
	seq, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || seq < 0 {
		return cursor{}, server.Errorf(server.EINVALID, "malformed cursor")
	}
	return cursor{seq: seq, area: parts[1], role: server.Role(parts[2])}, nil
}

func clampLimit(limit int) int {
	if limit <= 0 {
		return DefaultPullLimit
	}
	return min(limit, MaxPullLimit)
}

// readable lists the collections role may read.
func (s *SyncService) readable(role server.Role) map[string]bool {
	out := map[string]bool{}
	for _, c := range s.schema.Collections() {
		if c.CanRead(syncproto.Role(role)) {
			out[c.Name] = true
		}
	}
	return out
}

// Pull implements server.SyncService. It reads one index range of
// op_scopes (the caller's area, seq > cursor), so its cost grows with the
// changes returned, not with the size of the log.
func (s *SyncService) Pull(ctx context.Context, cur string, limit int) (*syncproto.PullResponse, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	resp := &syncproto.PullResponse{Protocol: syncproto.ProtocolVersion, Changes: []syncproto.Change{}, ServerHLC: s.clock.Now()}
	c := cursor{area: p.AreaID, role: p.Role}
	if cur != "" {
		got, err := parseCursor(cur)
		if err != nil {
			return nil, err
		}
		if got.area != p.AreaID || got.role != p.Role {
			// The user was moved or got another role: what the device holds
			// is the wrong scope. It keeps its outbox and re-bootstraps.
			resp.Rescope = true
			resp.Cursor = c.String()
			return resp, nil
		}
		c.seq = got.seq
	}
	limit = clampLimit(limit)
	rows, err := s.db.read.QueryContext(ctx, `SELECT o.seq, o.collection, o.body, u.username, o.received_at
		FROM op_scopes s JOIN ops o ON o.seq = s.seq JOIN users u ON u.id = o.user_id
		WHERE s.scope = ? AND s.seq > ? ORDER BY s.seq LIMIT ?`, p.AreaID, c.seq, limit+1)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	defer rows.Close()
	readable := s.readable(p.Role)
	n := 0
	for rows.Next() {
		if n == limit {
			resp.HasMore = true
			break
		}
		n++
		var ch syncproto.Change
		var collection, body string
		if err := rows.Scan(&ch.ServerSeq, &collection, &body, &ch.User, &ch.ReceivedAt); err != nil {
			return nil, err
		}
		c.seq = ch.ServerSeq
		if !readable[collection] {
			continue
		}
		if err := json.Unmarshal([]byte(body), &ch.Op); err != nil {
			return nil, fmt.Errorf("decode op %d: %w", ch.ServerSeq, err)
		}
		resp.Changes = append(resp.Changes, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	resp.Cursor = c.String()
	return resp, nil
}

// snapshotPage is the decoded page token of a snapshot.
type snapshotPage struct {
	Cursor     string `json:"c"`
	AreaPath   string `json:"p"`
	Collection string `json:"k"`
	ID         string `json:"i"`
}

// Snapshot implements server.SyncService. The first page reads the log's
// head and the first documents in one read transaction; the head becomes
// the cursor the device pulls from afterwards, so nothing written during
// the snapshot is missed (seeing it twice is harmless: merges are
// idempotent). Deleted documents are left out.
func (s *SyncService) Snapshot(ctx context.Context, page string, limit int) (*syncproto.SnapshotResponse, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	limit = clampLimit(limit)
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var pg snapshotPage
	if page == "" {
		var head int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM ops`).Scan(&head); err != nil {
			return nil, err
		}
		pg.Cursor = cursor{seq: head, area: p.AreaID, role: p.Role}.String()
	} else {
		b, err := base64.RawURLEncoding.DecodeString(page)
		if err != nil || json.Unmarshal(b, &pg) != nil {
			return nil, server.Errorf(server.EINVALID, "malformed snapshot page token")
		}
		c, err := parseCursor(pg.Cursor)
		if err != nil {
			return nil, err
		}
		if c.area != p.AreaID || c.role != p.Role {
			return nil, server.Errorf(server.ECONFLICT, "snapshot was started for another scope: start again")
		}
	}
	area, err := findArea(ctx, tx, p.AreaID)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT area_path, collection, id, state FROM docs
		WHERE area_path LIKE ? ESCAPE '\' AND deleted = 0 AND (area_path, collection, id) > (?, ?, ?)
		ORDER BY area_path, collection, id LIMIT ?`, likePrefix(area.Path), pg.AreaPath, pg.Collection, pg.ID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer rows.Close()
	resp := &syncproto.SnapshotResponse{Protocol: syncproto.ProtocolVersion, Cursor: pg.Cursor, Docs: []syncproto.DocState{}, ServerHLC: s.clock.Now()}
	readable := s.readable(p.Role)
	n := 0
	for rows.Next() {
		if n == limit {
			resp.HasMore = true
			break
		}
		n++
		var state string
		if err := rows.Scan(&pg.AreaPath, &pg.Collection, &pg.ID, &state); err != nil {
			return nil, err
		}
		if !readable[pg.Collection] {
			continue
		}
		var d syncproto.DocState
		if err := json.Unmarshal([]byte(state), &d); err != nil {
			return nil, fmt.Errorf("decode doc %s/%s: %w", pg.Collection, pg.ID, err)
		}
		resp.Docs = append(resp.Docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if resp.HasMore {
		b, _ := json.Marshal(pg)
		resp.Next = base64.RawURLEncoding.EncodeToString(b)
	}
	return resp, nil
}

// Conflicts implements server.SyncService.
func (s *SyncService) Conflicts(ctx context.Context, f server.ConflictFilter) ([]*server.Conflict, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	q := `SELECT id, seq, collection, doc_id, area_id, field, winner, loser, created_at, resolved_at IS NOT NULL
		FROM conflicts WHERE area_path LIKE ? ESCAPE '\'`
	args := []any{likePrefix(p.AreaPath)}
	if f.Collection != "" {
		q += ` AND collection = ?`
		args = append(args, f.Collection)
	}
	if f.DocID != "" {
		q += ` AND doc_id = ?`
		args = append(args, f.DocID)
	}
	if f.OpenOnly {
		q += ` AND resolved_at IS NULL`
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, clampLimit(f.Limit))
	rows, err := s.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("conflicts: %w", err)
	}
	defer rows.Close()
	var out []*server.Conflict
	for rows.Next() {
		var c server.Conflict
		var w, l string
		var created int64
		if err := rows.Scan(&c.ID, &c.Seq, &c.Collection, &c.DocID, &c.AreaID, &c.Field, &w, &l, &created, &c.Resolved); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(w), &c.Winner); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(l), &c.Loser); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMS(created)
		out = append(out, &c)
	}
	return out, rows.Err()
}

// Rejected implements server.SyncService.
func (s *SyncService) Rejected(ctx context.Context, f server.RejectedFilter) ([]*server.RejectedOp, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	q := `SELECT r.device, r.dev_seq, u.username, r.collection, r.doc_id, r.code, r.reason, r.body, r.received_at
		FROM rejected_ops r JOIN users u ON u.id = r.user_id JOIN areas a ON a.id = r.area_id
		WHERE a.path LIKE ? ESCAPE '\'`
	args := []any{likePrefix(p.AreaPath)}
	if f.Device != "" {
		q += ` AND r.device = ?`
		args = append(args, f.Device)
	}
	q += ` ORDER BY r.received_at DESC LIMIT ?`
	args = append(args, clampLimit(f.Limit))
	rows, err := s.db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("rejected ops: %w", err)
	}
	defer rows.Close()
	var out []*server.RejectedOp
	for rows.Next() {
		var r server.RejectedOp
		var body string
		var at int64
		if err := rows.Scan(&r.Device, &r.Seq, &r.Username, &r.Collection, &r.DocID, &r.Code, &r.Reason, &body, &at); err != nil {
			return nil, err
		}
		r.Op, r.ReceivedAt = json.RawMessage(body), fromMS(at)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// Devices implements server.SyncService.
func (s *SyncService) Devices(ctx context.Context) ([]*server.DeviceStatus, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT d.id, u.username, u.area_id, d.last_seq, d.last_sync_at, d.outbox_pending,
		d.outbox_oldest_ms, d.app_version, d.clock_offset_ms, d.revoked_at IS NOT NULL,
		(SELECT count(*) FROM rejected_ops r WHERE r.device = d.id)
		FROM devices d JOIN users u ON u.id = d.user_id JOIN areas a ON a.id = u.area_id
		WHERE a.path LIKE ? ESCAPE '\' ORDER BY d.last_sync_at IS NULL, d.last_sync_at`, likePrefix(p.AreaPath))
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	var out []*server.DeviceStatus
	for rows.Next() {
		var d server.DeviceStatus
		var last sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Username, &d.AreaID, &d.LastSeq, &last, &d.OutboxPending, &d.OutboxOldestMS,
			&d.AppVersion, &d.ClockOffsetMS, &d.Revoked, &d.Rejected); err != nil {
			return nil, err
		}
		if last.Valid {
			t := fromMS(last.Int64)
			d.LastSyncAt = &t
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}
