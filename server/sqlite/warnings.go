package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// warningAckRule: an acknowledgement (应急叫应) names a live warning that
// the author can read: issued to the author's area or one above it (a
// broadcast reaches down), or inside the author's area. Otherwise
// CodeNotFound (no such warning) or CodeForbiddenArea.
type warningAckRule struct{}

var _ Rule = warningAckRule{}

// Check implements Rule.
func (warningAckRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("warning") {
		return "", "", nil
	}
	id := strValue(in.Next, "warning")
	w, err := loadDoc(ctx, tx, "warnings", id)
	if err != nil {
		return "", "", err
	}
	if w == nil || w.state.IsDeleted() {
		return syncproto.CodeNotFound, fmt.Sprintf("warnings/%s does not exist", id), nil
	}
	a, err := findArea(ctx, tx, w.areaID)
	if err != nil {
		return "", "", err
	}
	p := in.Principal
	if !server.Covers(a.Path, p.AreaPath) && !server.Covers(p.AreaPath, a.Path) {
		return syncproto.CodeForbiddenArea, fmt.Sprintf("warnings/%s is not addressed to your area", id), nil
	}
	return "", "", nil
}

// warningRule: a warning's valid_until is not before its issued_at
// (CodeInvalidValue); after valid_until the warning no longer waits for
// acknowledgements (WarningAcks).
type warningRule struct{}

var _ Rule = warningRule{}

// Check implements Rule.
func (warningRule) Check(_ context.Context, _ *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("issued_at", "valid_until") {
		return "", "", nil
	}
	issued, ok1 := intValue(in.Next, "issued_at")
	until, ok2 := intValue(in.Next, "valid_until")
	if ok1 && ok2 && until < issued {
		return syncproto.CodeInvalidValue, "valid_until is before issued_at", nil
	}
	return "", "", nil
}

// ackRoles are the roles expected to acknowledge a warning.
var ackRoles = []server.Role{server.RoleGridWorker, server.RoleVillageOfficer}

// WarningAcks implements server.WarningService.
func (s *DomainService) WarningAcks(ctx context.Context, warningID string) ([]*server.WarningStatus, error) {
	area, tx, err := s.view(ctx, "")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.db.Now()
	q := `SELECT d.state, a.path, o.received_at, u.username FROM docs d JOIN areas a ON a.id = d.area_id
		JOIN ops o ON o.seq = d.created_seq JOIN users u ON u.id = o.user_id
		WHERE d.collection = 'warnings' AND d.deleted = 0 AND d.area_path LIKE ? ESCAPE '\'`
	args := []any{likePrefix(area.Path)}
	if warningID != "" {
		q += ` AND d.id = ?`
		args = append(args, warningID)
	}
	q += ` ORDER BY d.created_seq DESC LIMIT ?`
	rows, err := tx.QueryContext(ctx, q, append(args, server.MaxWarningStatus)...)
	if err != nil {
		return nil, fmt.Errorf("warnings: %w", err)
	}
	var out []*server.WarningStatus
	var paths []string
	for rows.Next() {
		var state, path string
		var at int64
		w := &server.WarningStatus{}
		if err := rows.Scan(&state, &path, &at, &w.IssuedBy); err != nil {
			rows.Close()
			return nil, err
		}
		var st syncproto.DocState
		if err := json.Unmarshal([]byte(state), &st); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode warning: %w", err)
		}
		w.ID, w.Title, w.Body, w.Level, w.TargetID, w.IssuedAt = st.ID, strValue(&st, "title"), strValue(&st, "body"), strValue(&st, "level"), st.Area, fromMS(at)
		if until, ok := intValue(&st, "valid_until"); ok {
			t := fromMS(until)
			w.ValidUntil, w.Expired = &t, now.After(t)
		}
		out = append(out, w)
		paths = append(paths, path)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if warningID != "" && len(out) == 0 {
		return nil, server.Errorf(server.ENOTFOUND, "warning %q not found", warningID)
	}
	for i, w := range out {
		if err := warningAcks(ctx, tx, w, paths[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// warningAcks fills who acknowledged w (first acknowledgement per user,
// late if after the warning expired) and which expected users (grid
// workers and village officers at or below the target, not disabled) have
// not: Missing while the warning is in force, Unanswered once it expired.
func warningAcks(ctx context.Context, tx *sql.Tx, w *server.WarningStatus, targetPath string) error {
	prefix := likePrefix(targetPath)
	rows, err := tx.QueryContext(ctx, `SELECT u.username, u.name, u.role, u.area_id, min(o.received_at)
		FROM docs d JOIN ops o ON o.seq = d.created_seq JOIN users u ON u.id = o.user_id
		WHERE d.collection = 'warning_acks' AND d.deleted = 0 AND d.area_path LIKE ? ESCAPE '\'
		AND json_extract(d.state, '$.fields.warning.v') = ?
		GROUP BY u.id ORDER BY 5, u.username`, prefix, w.ID)
	if err != nil {
		return fmt.Errorf("acks of %s: %w", w.ID, err)
	}
	acked := map[string]bool{}
	w.Acked = []*server.Ack{}
	for rows.Next() {
		var a server.Ack
		var at int64
		if err := rows.Scan(&a.Username, &a.Name, &a.Role, &a.AreaID, &at); err != nil {
			rows.Close()
			return err
		}
		a.At = fromMS(at)
		a.Late = w.ValidUntil != nil && a.At.After(*w.ValidUntil)
		w.Acked = append(w.Acked, &a)
		acked[a.Username] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, `SELECT u.id, u.username, u.name, u.role, u.area_id, a.path FROM users u
		JOIN areas a ON a.id = u.area_id WHERE a.path LIKE ? ESCAPE '\' AND u.disabled_at IS NULL
		ORDER BY a.path, u.username`, prefix)
	if err != nil {
		return fmt.Errorf("users under %s: %w", w.TargetID, err)
	}
	defer rows.Close()
	w.Missing, w.Unanswered = []*server.User{}, []*server.User{}
	for rows.Next() {
		var u server.User
		if err := rows.Scan(&u.ID, &u.Username, &u.Name, &u.Role, &u.AreaID, &u.AreaPath); err != nil {
			return err
		}
		switch {
		case !slices.Contains(ackRoles, u.Role) || acked[u.Username]:
		case w.Expired:
			w.Unanswered = append(w.Unanswered, &u)
		default:
			w.Missing = append(w.Missing, &u)
		}
	}
	return rows.Err()
}
