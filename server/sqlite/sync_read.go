package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
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

// MaxCursor bounds a pull cursor: a seq, an area id and a role.
const MaxCursor = 160

func parseCursor(s string) (cursor, error) {
	if len(s) > MaxCursor {
		return cursor{}, server.Errorf(server.EINVALID, "cursor longer than %d bytes", MaxCursor)
	}
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

// readableNames lists, in schema order, the collections role may read.
func (s *SyncService) readableNames(role server.Role) []string {
	var out []string
	for _, c := range s.schema.Collections() {
		if c.CanRead(syncproto.Role(role)) {
			out = append(out, c.Name)
		}
	}
	return out
}

// readable is the set of the collections role may read.
func (s *SyncService) readable(role server.Role) map[string]bool {
	out := map[string]bool{}
	for _, name := range s.readableNames(role) {
		out[name] = true
	}
	return out
}

// PullPage implements server.SyncService. It reads the index range of
// op_scopes of the caller's area (seq > cursor), so its cost grows with the
// changes returned, not with the size of the log. When the schema has
// broadcast collections it also reads the "^" range of each area above
// the caller's (documents issued to an ancestor, such as a warning to the
// caller's village), each as its own bounded range, and merges them by
// seq; all ranges are read in one read transaction, so no range can see a
// commit another missed.
func (s *SyncService) PullPage(ctx context.Context, cur string, limit int) (*server.PullPage, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	resp := &server.PullPage{ServerHLC: s.clock.Now()}
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
	scopes := []string{p.AreaID}
	if s.broadcast {
		for _, id := range ancestorIDs(p.AreaPath) {
			scopes = append(scopes, broadcastScope(id))
		}
	}
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var rows []pulledOp
	for _, scope := range scopes {
		got, err := pullRange(ctx, tx, scope, c.seq, limit+1)
		if err != nil {
			return nil, err
		}
		rows = append(rows, got...)
	}
	if len(scopes) > 1 {
		// Each range is sorted and holds at most limit+1 rows, so the first
		// limit rows of the merge are the first limit of the union.
		slices.SortFunc(rows, func(a, b pulledOp) int { return cmp.Compare(a.seq, b.seq) })
	}
	if len(rows) > limit {
		resp.HasMore = true
		rows = rows[:limit]
	}
	readable := s.readable(p.Role)
	for _, r := range rows {
		c.seq = r.seq
		if !readable[r.collection] {
			continue
		}
		resp.Changes = append(resp.Changes, server.StoredChange{ServerSeq: r.seq, Op: json.RawMessage(r.body), User: r.user, ReceivedAt: r.receivedAt, Area: r.area})
	}
	resp.Cursor = c.String()
	s.notePull(p.DeviceID)
	return resp, nil
}

// pulledOp is one op read by pullRange, not yet decoded.
type pulledOp struct {
	seq              int64
	collection, body string
	user, area       string
	receivedAt       int64
}

// pullRange reads at most n ops of one scope after seq, in seq order: one
// range of the op_scopes primary key.
func pullRange(ctx context.Context, tx *sql.Tx, scope string, after int64, n int) ([]pulledOp, error) {
	rows, err := tx.QueryContext(ctx, `SELECT o.seq, o.collection, o.body, u.username, o.received_at, o.area_id
		FROM op_scopes s JOIN ops o ON o.seq = s.seq JOIN users u ON u.id = o.user_id
		WHERE s.scope = ? AND s.seq > ? ORDER BY s.seq LIMIT ?`, scope, after, n)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", scope, err)
	}
	defer rows.Close()
	var out []pulledOp
	for rows.Next() {
		var r pulledOp
		if err := rows.Scan(&r.seq, &r.collection, &r.body, &r.user, &r.receivedAt, &r.area); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ancestorIDs returns the ids of the areas strictly above the area at
// path, from the county down. (The area itself needs no "^" range: its own
// scope already holds every document at or below it.)
func ancestorIDs(path string) []string {
	ids := pathIDs(path)
	return ids[:len(ids)-1]
}

// ancestorPaths returns the paths of the areas strictly above the area at
// path, from the county down.
func ancestorPaths(path string) []string {
	ids := ancestorIDs(path)
	out := make([]string, len(ids))
	for i := range ids {
		out[i] = "/" + strings.Join(ids[:i+1], "/") + "/"
	}
	return out
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
// idempotent). Deleted documents are left out. Pages run in (area path,
// collection, id) order: first the live broadcast documents of the areas
// above the caller's (their paths are prefixes of the caller's, so they
// sort first), then every document at or below the caller's area.
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
		var c cursor
		if pg, c, err = parseSnapshotPage(page); err != nil {
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
	readable := s.readable(p.Role)
	docs, err := s.ancestorBroadcasts(ctx, tx, area, readable, pg, limit+1)
	if err != nil {
		return nil, err
	}
	if len(docs) <= limit {
		more, err := snapshotDocs(ctx, tx, `area_path LIKE ? ESCAPE '\'`, []any{likePrefix(area.Path)}, pg, limit+1-len(docs))
		if err != nil {
			return nil, err
		}
		docs = append(docs, more...)
	}
	resp := &syncproto.SnapshotResponse{Protocol: syncproto.ProtocolVersion, Cursor: pg.Cursor, Docs: []syncproto.DocState{}, ServerHLC: s.clock.Now()}
	if len(docs) > limit {
		resp.HasMore = true
		docs = docs[:limit]
	}
	for _, d := range docs {
		pg.AreaPath, pg.Collection, pg.ID = d.areaPath, d.collection, d.id
		if !readable[d.collection] {
			continue
		}
		var st syncproto.DocState
		if err := json.Unmarshal([]byte(d.state), &st); err != nil {
			return nil, fmt.Errorf("decode doc %s/%s: %w", d.collection, d.id, err)
		}
		resp.Docs = append(resp.Docs, st)
	}
	if resp.HasMore {
		b, _ := json.Marshal(pg)
		resp.Next = base64.RawURLEncoding.EncodeToString(b)
	}
	return resp, nil
}

// MaxSnapshotPageToken bounds a snapshot page token: a cursor and a
// document key (area path, collection, id), base64-encoded JSON.
const MaxSnapshotPageToken = 1024

// parseSnapshotPage decodes an untrusted snapshot page token and its cursor.
func parseSnapshotPage(token string) (snapshotPage, cursor, error) {
	var pg snapshotPage
	if len(token) > MaxSnapshotPageToken {
		return pg, cursor{}, server.Errorf(server.EINVALID, "snapshot page token longer than %d bytes", MaxSnapshotPageToken)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || json.Unmarshal(b, &pg) != nil {
		return pg, cursor{}, server.Errorf(server.EINVALID, "malformed snapshot page token")
	}
	c, err := parseCursor(pg.Cursor)
	return pg, c, err
}

// snapshotDoc is a document row read for a snapshot, not yet decoded.
type snapshotDoc struct {
	areaPath, collection, id, state string
}

// ancestorBroadcasts reads at most n live documents of readable broadcast
// collections whose area is strictly above area, after the page key.
func (s *SyncService) ancestorBroadcasts(ctx context.Context, tx *sql.Tx, area *server.Area, readable map[string]bool, pg snapshotPage, n int) ([]snapshotDoc, error) {
	paths := ancestorPaths(area.Path)
	var cols []string
	for _, c := range s.schema.Collections() {
		if c.Broadcast && readable[c.Name] {
			cols = append(cols, c.Name)
		}
	}
	if !s.broadcast || len(paths) == 0 || len(cols) == 0 {
		return nil, nil
	}
	var args []any
	for _, p := range paths {
		args = append(args, p)
	}
	for _, c := range cols {
		args = append(args, c)
	}
	where := `area_path IN (?` + strings.Repeat(`, ?`, len(paths)-1) + `) AND collection IN (?` + strings.Repeat(`, ?`, len(cols)-1) + `)`
	return snapshotDocs(ctx, tx, where, args, pg, n)
}

// snapshotDocs reads at most n live documents matching where, after the
// page key, in (area path, collection, id) order.
func snapshotDocs(ctx context.Context, tx *sql.Tx, where string, args []any, pg snapshotPage, n int) ([]snapshotDoc, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT area_path, collection, id, state FROM docs
		WHERE `+where+` AND deleted = 0 AND (area_path, collection, id) > (?, ?, ?)
		ORDER BY area_path, collection, id LIMIT ?`, append(args, pg.AreaPath, pg.Collection, pg.ID, n)...)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer rows.Close()
	var out []snapshotDoc
	for rows.Next() {
		var d snapshotDoc
		if err := rows.Scan(&d.areaPath, &d.collection, &d.id, &d.state); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// readableIn returns an SQL condition "<column> IN (...)" over the
// collections role may read, and its arguments; reads of conflicts and
// rejected ops carry field values, so they follow the collections' Readers
// like pulls do.
func (s *SyncService) readableIn(column string, role server.Role) (string, []any) {
	names := s.readableNames(role)
	if len(names) == 0 {
		return "0", nil
	}
	args := make([]any, len(names))
	for i, name := range names {
		args[i] = name
	}
	return column + ` IN (?` + strings.Repeat(`, ?`, len(args)-1) + `)`, args
}

// stampUser is SQL for the username of the device that wrote a register:
// the device id is what follows '@' in the register's stamp.
const stampUser = `(SELECT u.username FROM devices d JOIN users u ON u.id = d.user_id
	WHERE d.id = substr(json_extract(%[1]s, '$.s'), instr(json_extract(%[1]s, '$.s'), '@') + 1))`

// Conflicts implements server.SyncService.
func (s *SyncService) Conflicts(ctx context.Context, f server.ConflictFilter) ([]*server.Conflict, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	cols, colArgs := s.readableIn("c.collection", p.Role)
	q := `SELECT c.id, c.seq, c.collection, c.doc_id, c.area_id, c.field, c.winner, c.loser, c.created_at, c.resolved_at IS NOT NULL,
		COALESCE(` + fmt.Sprintf(stampUser, "c.winner") + `, ''), COALESCE(` + fmt.Sprintf(stampUser, "c.loser") + `, '')
		FROM conflicts c WHERE c.area_path LIKE ? ESCAPE '\' AND ` + cols
	args := append([]any{likePrefix(p.AreaPath)}, colArgs...)
	if f.Collection != "" {
		q += ` AND c.collection = ?`
		args = append(args, f.Collection)
	}
	if f.DocID != "" {
		q += ` AND c.doc_id = ?`
		args = append(args, f.DocID)
	}
	if f.OpenOnly {
		q += ` AND c.resolved_at IS NULL`
	}
	q += ` ORDER BY c.id DESC LIMIT ?`
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
		if err := rows.Scan(&c.ID, &c.Seq, &c.Collection, &c.DocID, &c.AreaID, &c.Field, &w, &l, &created, &c.Resolved,
			&c.WinnerUser, &c.LoserUser); err != nil {
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
	cols, colArgs := s.readableIn("r.collection", p.Role)
	q := `SELECT r.device, r.dev_seq, u.username, r.collection, r.doc_id, r.code, r.reason, r.body, r.received_at
		FROM rejected_ops r JOIN users u ON u.id = r.user_id JOIN areas a ON a.id = r.area_id
		WHERE a.path LIKE ? ESCAPE '\' AND ` + cols
	args := append([]any{likePrefix(p.AreaPath)}, colArgs...)
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
	rows, err := s.db.read.QueryContext(ctx, `SELECT d.id, u.username, u.area_id, d.last_seq, d.acked_seq, d.last_sync_at, d.outbox_pending,
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
		if err := rows.Scan(&d.ID, &d.Username, &d.AreaID, &d.LastSeq, &d.AckedSeq, &last, &d.OutboxPending, &d.OutboxOldestMS,
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
