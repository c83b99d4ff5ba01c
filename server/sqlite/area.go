package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gridsync/gridsync/server"
)

// AreaService implements server.AreaService.
type AreaService struct{ db *DB }

// NewAreaService returns an AreaService on db.
func NewAreaService(db *DB) *AreaService { return &AreaService{db: db} }

var _ server.AreaService = (*AreaService)(nil)

// Area returns one area.
func (s *AreaService) Area(ctx context.Context, id string) (*server.Area, error) {
	return findArea(ctx, s.db.read, id)
}

// Subtree returns id's area and all below it, parents first.
func (s *AreaService) Subtree(ctx context.Context, id string) ([]*server.Area, error) {
	a, err := findArea(ctx, s.db.read, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT id, COALESCE(parent, ''), level, name, path FROM areas
		WHERE path LIKE ? ESCAPE '\' ORDER BY length(path), path`, likePrefix(a.Path))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*server.Area
	for rows.Next() {
		var x server.Area
		if err := rows.Scan(&x.ID, &x.Parent, &x.Level, &x.Name, &x.Path); err != nil {
			return nil, err
		}
		out = append(out, &x)
	}
	return out, rows.Err()
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// areasAt returns the areas of one level at or below path, in order of
// path.
func areasAt(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, path, level string) ([]*server.Area, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, COALESCE(parent, ''), level, name, path FROM areas
		WHERE path LIKE ? ESCAPE '\' AND level = ? ORDER BY path`, likePrefix(path), level)
	if err != nil {
		return nil, fmt.Errorf("%ss: %w", level, err)
	}
	defer rows.Close()
	var out []*server.Area
	for rows.Next() {
		var a server.Area
		if err := rows.Scan(&a.ID, &a.Parent, &a.Level, &a.Name, &a.Path); err != nil {
			return nil, err
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

func findArea(ctx context.Context, q queryer, id string) (*server.Area, error) {
	var a server.Area
	err := q.QueryRowContext(ctx, `SELECT id, COALESCE(parent, ''), level, name, path FROM areas WHERE id = ?`, id).
		Scan(&a.ID, &a.Parent, &a.Level, &a.Name, &a.Path)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, server.Errorf(server.ENOTFOUND, "area %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find area %s: %w", id, err)
	}
	return &a, nil
}

// createArea inserts an area under its parent; the level must be the
// parent's child level (a county has no parent).
func createArea(ctx context.Context, tx *Tx, a *server.Area) error {
	parentPath := ""
	switch {
	case !server.ValidAreaID(a.ID):
		return server.Errorf(server.EINVALID, "area id %q: want 1-64 characters of A-Z a-z 0-9 _ -", a.ID)
	case !server.ValidLevel(a.Level):
		return server.Errorf(server.EINVALID, "area %s: unknown level %q", a.ID, a.Level)
	case a.Name == "":
		return server.Errorf(server.EINVALID, "area %s: name required", a.ID)
	case a.Parent == "" && a.Level != server.LevelCounty:
		return server.Errorf(server.EINVALID, "area %s: only a county has no parent", a.ID)
	case a.Parent != "":
		p, err := findArea(ctx, tx, a.Parent)
		if err != nil {
			return err
		}
		if server.ChildLevel(p.Level) != a.Level {
			return server.Errorf(server.EINVALID, "area %s: a %s cannot be under a %s", a.ID, a.Level, p.Level)
		}
		parentPath = p.Path
	}
	a.Path = server.AreaPath(parentPath, a.ID)
	res, err := tx.ExecContext(ctx, `INSERT INTO areas (id, parent, level, name, path) VALUES (?, NULLIF(?, ''), ?, ?, ?)
		ON CONFLICT DO NOTHING`, a.ID, a.Parent, a.Level, a.Name, a.Path)
	if err != nil {
		return fmt.Errorf("insert area %s: %w", a.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return server.Errorf(server.ECONFLICT, "area %s already exists: was this data set imported before?", a.ID)
	}
	return nil
}

// likePrefix returns a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	out := make([]byte, 0, len(p)+1)
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '%' || c == '_' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(append(out, '%'))
}
