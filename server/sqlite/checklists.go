package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// checklistRule: an inspection that names its checklist names both kind
// and version, of a template the server has (CodeUnknownChecklist), for
// the inspected site's kind (CodeChecklistMismatch). Templates are never
// deleted, so a device with an old version keeps syncing after a new one
// is published. An inspection without a checklist (a visit that found
// nobody home) is fine.
type checklistRule struct{ items *checklistItems }

var _ Rule = checklistRule{}

// Check implements Rule.
func (r checklistRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
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
	if codes, err := r.items.of(ctx, tx, kind, version); err != nil {
		return "", "", err
	} else if codes == nil {
		return syncproto.CodeUnknownChecklist, fmt.Sprintf("no checklist %s version %d", kind, version), nil
	}
	siteID := strValue(in.Next, "site")
	site, err := loadDoc(ctx, tx, "sites", siteID)
	if err != nil {
		return "", "", err
	}
	if site != nil {
		if siteKind := strValue(&site.state, "kind"); siteKind != kind {
			return syncproto.CodeChecklistMismatch, fmt.Sprintf("checklist %s is not for sites/%s, a %s", kind, siteID, siteKind), nil
		}
	}
	return "", "", nil
}

// itemRule: an inspection item's code is on the checklist version its
// inspection names (CodeUnknownItem), so an old device checks against its
// old version and a new one against the new. Items of an inspection
// without a checklist are not checked.
type itemRule struct{ items *checklistItems }

var _ Rule = itemRule{}

// Check implements Rule.
func (r itemRule) Check(ctx context.Context, tx *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("item", "inspection") {
		return "", "", nil
	}
	id := strValue(in.Next, "inspection")
	insp, err := loadDoc(ctx, tx, "inspections", id)
	if err != nil || insp == nil {
		return "", "", err
	}
	kind := strValue(&insp.state, "checklist_kind")
	version, ok := intValue(&insp.state, "checklist_version")
	if kind == "" || !ok {
		return "", "", nil
	}
	codes, err := r.items.of(ctx, tx, kind, version)
	if err != nil {
		return "", "", err
	}
	if item := strValue(in.Next, "item"); !codes[item] {
		return syncproto.CodeUnknownItem, fmt.Sprintf("item %q is not on checklist %s version %d of inspections/%s", item, kind, version, id), nil
	}
	return "", "", nil
}

// checklistItems caches the item codes of each checklist version. A
// published version never changes (a new one is a new version), so the
// cache never goes stale; versions the server does not have are not
// cached, so a later import is seen.
type checklistItems struct {
	mu    sync.Mutex
	codes map[string]map[string]bool // "kind/version" → item codes
}

func newChecklistItems() *checklistItems { return &checklistItems{codes: map[string]map[string]bool{}} }

// of returns the item codes of a checklist version, nil if the server does
// not have it.
func (c *checklistItems) of(ctx context.Context, tx *Tx, kind string, version int64) (map[string]bool, error) {
	key := fmt.Sprintf("%s/%d", kind, version)
	c.mu.Lock()
	codes, ok := c.codes[key]
	c.mu.Unlock()
	if ok {
		return codes, nil
	}
	var raw string
	err := tx.QueryRowContext(ctx, `SELECT items FROM checklists WHERE kind = ? AND version = ?`, kind, version).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	var items []syncproto.ChecklistItem
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		return nil, fmt.Errorf("checklist %s: %w", key, err)
	}
	codes = make(map[string]bool, len(items))
	for _, it := range items {
		codes[it.Code] = true
	}
	c.mu.Lock()
	c.codes[key] = codes
	c.mu.Unlock()
	return codes, nil
}

// Checklists implements server.ChecklistService. Templates are county-wide
// and not secret, but the caller must be logged in.
func (s *DomainService) Checklists(ctx context.Context, q server.ChecklistQuery) ([]*syncproto.Checklist, error) {
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
	out := []*syncproto.Checklist{}
	for rows.Next() {
		var c syncproto.Checklist
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
