package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gridsync/gridsync/server"
)

// ImportService implements server.ImportService.
type ImportService struct{ db *DB }

// NewImportService returns an ImportService on db.
func NewImportService(db *DB) *ImportService { return &ImportService{db: db} }

var _ server.ImportService = (*ImportService)(nil)

// Import implements server.ImportService.
func (s *ImportService) Import(ctx context.Context, d *server.Dataset) (*server.ImportReport, error) {
	if d.Format != 1 {
		return nil, server.Errorf(server.EINVALID, "dataset format %d: want 1", d.Format)
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var r server.ImportReport
	for i := range d.Areas {
		if err := createArea(ctx, tx, &d.Areas[i]); err != nil {
			return nil, fmt.Errorf("areas[%d]: %w", i, err)
		}
		r.Areas++
	}
	for i, u := range d.Users {
		if _, err := createUser(ctx, tx, server.NewUser{Username: u.Username, Name: u.Name, Phone: u.Phone,
			Role: u.Role, AreaID: u.Area, Password: u.Password}); err != nil {
			return nil, fmt.Errorf("users[%d]: %w", i, err)
		}
		r.Users++
	}
	for i, c := range d.Checklists {
		if err := createChecklist(ctx, tx, c); err != nil {
			return nil, fmt.Errorf("checklists[%d]: %w", i, err)
		}
		r.Checklists++
	}
	if len(d.Policy) > 0 {
		root := rootArea(d.Areas)
		if root == "" {
			return nil, server.Errorf(server.EINVALID, "policy needs a county area in the dataset")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (area_id, body, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (area_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
			root, string(d.Policy), ms(tx.now)); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	return &r, tx.Commit()
}

func rootArea(areas []server.Area) string {
	for _, a := range areas {
		if a.Level == server.LevelCounty {
			return a.ID
		}
	}
	return ""
}

func createChecklist(ctx context.Context, tx *Tx, c server.Checklist) error {
	switch {
	case c.Kind == "" || c.Version < 1 || c.Title == "":
		return server.Errorf(server.EINVALID, "checklist needs kind, version >= 1 and title")
	case len(c.Items) == 0:
		return server.Errorf(server.EINVALID, "checklist %s v%d has no items", c.Kind, c.Version)
	}
	seen := map[string]bool{}
	for _, it := range c.Items {
		if it.Code == "" || it.Text == "" || seen[it.Code] {
			return server.Errorf(server.EINVALID, "checklist %s v%d: item %q needs a unique code and a text", c.Kind, c.Version, it.Code)
		}
		if it.Severity != "major" && it.Severity != "general" {
			return server.Errorf(server.EINVALID, "checklist %s item %s: severity %q, want major or general", c.Kind, it.Code, it.Severity)
		}
		seen[it.Code] = true
	}
	items, err := json.Marshal(c.Items)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO checklists (kind, version, title, items, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, c.Kind, c.Version, c.Title, string(items), ms(tx.now))
	if err != nil {
		return fmt.Errorf("insert checklist: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return server.Errorf(server.ECONFLICT, "checklist %s version %d exists: publish a new version instead", c.Kind, c.Version)
	}
	return nil
}

// Loaded reports whether area id exists; the demo loader uses it to load
// the demo county only once.
func (s *ImportService) Loaded(ctx context.Context, areaID string) (bool, error) {
	_, err := findArea(ctx, s.db.read, areaID)
	if server.ErrorCode(err) == server.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}
