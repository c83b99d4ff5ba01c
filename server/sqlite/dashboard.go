package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// DashboardService implements server.DashboardService and
// server.WebSessions: the read queries of the station dashboard and its
// sessions. Reads run on the read pool; writes (sessions, resolving a
// conflict) are one short transaction each.
type DashboardService struct {
	db *DB
}

var (
	_ server.DashboardService = (*DashboardService)(nil)
	_ server.WebSessions      = (*DashboardService)(nil)
)

// NewDashboardService returns a DashboardService on db.
func NewDashboardService(db *DB) *DashboardService { return &DashboardService{db: db} }

func caller(ctx context.Context) (*server.Principal, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	return p, nil
}

const docColumns = `d.state, d.area_id, d.area_path, d.created_seq, d.updated_seq, c.received_at, u.received_at, cu.username`

const docJoins = ` FROM docs d JOIN ops c ON c.seq = d.created_seq JOIN ops u ON u.seq = d.updated_seq
	JOIN users cu ON cu.id = c.user_id`

func scanDoc(row interface{ Scan(...any) error }) (*server.DocRow, error) {
	var d server.DocRow
	var state string
	var created, updated int64
	if err := row.Scan(&state, &d.AreaID, &d.AreaPath, &d.CreatedSeq, &d.UpdatedSeq, &created, &updated, &d.CreatedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(state), &d.State); err != nil {
		return nil, fmt.Errorf("decode doc: %w", err)
	}
	d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
	return &d, nil
}

// Docs implements server.DashboardService.
func (s *DashboardService) Docs(ctx context.Context, q server.DocQuery) ([]*server.DocRow, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	area := p.AreaPath
	if q.AreaPath != "" {
		if !server.Covers(p.AreaPath, q.AreaPath) {
			return nil, nil
		}
		area = q.AreaPath
	}
	limit := q.Limit
	if limit <= 0 || limit > server.MaxDashboardDocs {
		limit = server.MaxDashboardDocs
	}
	order := "DESC"
	if q.OldestFirst {
		order = "ASC"
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+docColumns+docJoins+`
		WHERE d.area_path LIKE ? ESCAPE '\' AND d.collection = ? AND d.deleted = 0 AND d.created_seq > ?
		ORDER BY d.created_seq `+order+` LIMIT ?`, likePrefix(area), q.Collection, q.AfterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("dashboard docs: %w", err)
	}
	defer rows.Close()
	var out []*server.DocRow
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Doc implements server.DashboardService.
func (s *DashboardService) Doc(ctx context.Context, collection, id string) (*server.DocRow, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	d, err := scanDoc(s.db.read.QueryRowContext(ctx, `SELECT `+docColumns+docJoins+`
		WHERE d.collection = ? AND d.id = ? AND d.deleted = 0`, collection, id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !server.Covers(p.AreaPath, d.AreaPath)) {
		return nil, server.Errorf(server.ENOTFOUND, "%s/%s not found", collection, id)
	} else if err != nil {
		return nil, fmt.Errorf("dashboard doc %s/%s: %w", collection, id, err)
	}
	return d, nil
}

// Timeline implements server.DashboardService. The area test is on the
// document's current area path (docs), so a document's whole history is
// shown to whoever may see the document.
func (s *DashboardService) Timeline(ctx context.Context, q server.TimelineQuery) ([]*server.TimelineEntry, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	query := `SELECT o.seq, u.username, u.name, u.role, o.body, COALESCE(o.device_hlc, ''), o.received_at
		FROM ops o JOIN docs d ON d.collection = o.collection AND d.id = o.doc_id JOIN users u ON u.id = o.user_id
		WHERE o.collection = ? AND d.area_path LIKE ? ESCAPE '\'`
	args := []any{q.Collection, likePrefix(p.AreaPath)}
	if q.DocID != "" {
		query += ` AND o.doc_id = ?`
		args = append(args, q.DocID)
	}
	if !q.From.IsZero() {
		query += ` AND o.received_at >= ?`
		args = append(args, ms(q.From))
	}
	if !q.To.IsZero() {
		query += ` AND o.received_at < ?`
		args = append(args, ms(q.To))
	}
	rows, err := s.db.read.QueryContext(ctx, query+` ORDER BY o.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	defer rows.Close()
	var out []*server.TimelineEntry
	for rows.Next() {
		var e server.TimelineEntry
		var body string
		var at int64
		if err := rows.Scan(&e.Seq, &e.Username, &e.Name, &e.Role, &body, &e.DeviceHLC, &at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), &e.Op); err != nil {
			return nil, fmt.Errorf("decode op %d: %w", e.Seq, err)
		}
		e.ReceivedAt = fromMS(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// Photos implements server.DashboardService.
func (s *DashboardService) Photos(ctx context.Context, collection string, docIDs []string) ([]*server.PhotoRef, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if docIDs != nil && len(docIDs) == 0 {
		return nil, nil
	}
	query := `SELECT dp.sha256, dp.collection, dp.doc_id, dp.field, dp.live, dp.added_seq, ` + vouched + `
		FROM doc_photos dp WHERE dp.collection = ? AND dp.area_path LIKE ? ESCAPE '\'`
	args := []any{collection, likePrefix(p.AreaPath)}
	if docIDs != nil {
		query += ` AND dp.doc_id IN (SELECT value FROM json_each(?))`
		b, _ := json.Marshal(docIDs)
		args = append(args, string(b))
	}
	rows, err := s.db.read.QueryContext(ctx, query+` ORDER BY dp.added_seq, dp.sha256`, args...)
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	defer rows.Close()
	var out []*server.PhotoRef
	for rows.Next() {
		var r server.PhotoRef
		if err := rows.Scan(&r.SHA256, &r.Collection, &r.DocID, &r.Field, &r.Live, &r.AddedSeq, &r.Arrived); err != nil {
			return nil, err
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// Conflict implements server.DashboardService.
func (s *DashboardService) Conflict(ctx context.Context, id int64) (*server.Conflict, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var c server.Conflict
	var w, l, path string
	var created int64
	err = s.db.read.QueryRowContext(ctx, `SELECT id, seq, collection, doc_id, area_id, area_path, field, winner, loser, created_at, resolved_at IS NOT NULL
		FROM conflicts WHERE id = ?`, id).Scan(&c.ID, &c.Seq, &c.Collection, &c.DocID, &c.AreaID, &path, &c.Field, &w, &l, &created, &c.Resolved)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !server.Covers(p.AreaPath, path)) {
		return nil, server.Errorf(server.ENOTFOUND, "conflict %d not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("conflict %d: %w", id, err)
	}
	if err := json.Unmarshal([]byte(w), &c.Winner); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(l), &c.Loser); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMS(created)
	return &c, nil
}

// ResolveConflict implements server.DashboardService.
func (s *DashboardService) ResolveConflict(ctx context.Context, id int64) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var path string
	var resolved sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT area_path, resolved_at FROM conflicts WHERE id = ?`, id).Scan(&path, &resolved)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !server.Covers(p.AreaPath, path)) {
		return server.Errorf(server.ENOTFOUND, "conflict %d not found", id)
	} else if err != nil {
		return fmt.Errorf("conflict %d: %w", id, err)
	}
	if resolved.Valid {
		return server.Errorf(server.ECONFLICT, "conflict %d was already resolved", id)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE conflicts SET resolved_at = ?, resolved_by = ? WHERE id = ?`, ms(tx.now), p.UserID, id); err != nil {
		return fmt.Errorf("resolve conflict %d: %w", id, err)
	}
	return tx.Commit()
}

// Users implements server.DashboardService.
func (s *DashboardService) Users(ctx context.Context) ([]*server.User, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return listUsers(ctx, s.db.read, likePrefix(p.AreaPath), false)
}

// DeviceLastSeq implements server.DashboardService.
func (s *DashboardService) DeviceLastSeq(ctx context.Context, deviceID string) (uint64, error) {
	p, err := caller(ctx)
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = s.db.read.QueryRowContext(ctx, `SELECT last_seq FROM devices WHERE id = ? AND user_id = ?`, deviceID, p.UserID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, server.Errorf(server.ENOTFOUND, "device %s not found", deviceID)
	}
	return seq, err
}

// ServerClock implements server.DashboardService.
func (s *DashboardService) ServerClock(ctx context.Context) (syncproto.HLC, error) {
	var v string
	err := s.db.read.QueryRowContext(ctx, `SELECT hlc FROM server_clock WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return syncproto.HLC{}, nil
	} else if err != nil {
		return syncproto.HLC{}, fmt.Errorf("server clock: %w", err)
	}
	return syncproto.ParseHLC(strings.TrimSpace(v))
}
