package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// checklistRule: an inspection that names its checklist names both kind
// and version, of a template the server has (CodeUnknownChecklist).
// Templates are never deleted, so a device with an old version keeps
// syncing after a new one is published. An inspection without a checklist
// (a visit that found nobody home) is fine.
type checklistRule struct{}

var _ Rule = checklistRule{}

// Check implements Rule.
func (checklistRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("checklist_kind", "checklist_version") {
		return "", "", nil
	}
	kind := strValue(in.Next, "checklist_kind")
	version, hasVersion := intValue(in.Next, "checklist_version")
	switch {
	case kind == "" && !hasVersion:
		return "", "", nil
	case kind == "" || !hasVersion:
		return syncproto.CodeUnknownChecklist, "checklist_kind and checklist_version go together", nil
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM checklists WHERE kind = ? AND version = ?`, kind, version).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return syncproto.CodeUnknownChecklist, fmt.Sprintf("no checklist %s version %d", kind, version), nil
	} else if err != nil {
		return "", "", fmt.Errorf("checklist: %w", err)
	}
	return "", "", nil
}

// Checklists implements server.ChecklistService. Templates are county-wide
// and not secret, but the caller must be logged in.
func (s *DomainService) Checklists(ctx context.Context, q server.ChecklistQuery) ([]*server.Checklist, error) {
	if server.PrincipalFrom(ctx) == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	query := `SELECT kind, version, title, items FROM checklists c WHERE (? = '' OR kind = ?)`
	if !q.AllVersions {
		query += ` AND version = (SELECT max(version) FROM checklists WHERE kind = c.kind)`
	}
	rows, err := s.db.read.QueryContext(ctx, query+` ORDER BY kind, version`, q.Kind, q.Kind)
	if err != nil {
		return nil, fmt.Errorf("checklists: %w", err)
	}
	defer rows.Close()
	out := []*server.Checklist{}
	for rows.Next() {
		var c server.Checklist
		var items string
		if err := rows.Scan(&c.Kind, &c.Version, &c.Title, &items); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(items), &c.Items); err != nil {
			return nil, fmt.Errorf("checklist %s v%d: %w", c.Kind, c.Version, err)
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}
