package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// siteCheck is a live site with its latest check.
type siteCheck struct {
	id, name, kind, subKind, risk, address string
	areaID, areaPath                       string
	// last is the latest check (zero: never), from an inspection
	// (lastInspection) or the imported history.
	last           time.Time
	lastInspection string
}

// siteChecks reads the live sites at or below the area at path and the
// latest check of each: the later of the imported history and the live
// inspections that reached the site (result other than no_access). An
// inspection's time is its finished_at (else checked_at, else started_at:
// the device's clock), but never later than the server received it, so a
// phone with its clock in the future cannot check a site in advance.
func siteChecks(ctx context.Context, tx *sql.Tx, path string) ([]*siteCheck, error) {
	prefix := likePrefix(path)
	rows, err := tx.QueryContext(ctx, `SELECT id, area_id, area_path,
		COALESCE(json_extract(state, '$.fields.name.v'), ''), COALESCE(json_extract(state, '$.fields.kind.v'), ''),
		COALESCE(json_extract(state, '$.fields.risk_level.v'), ''), COALESCE(json_extract(state, '$.fields.address.v'), ''),
		COALESCE(json_extract(state, '$.fields.sub_kind.v'), '')
		FROM docs WHERE collection = 'sites' AND deleted = 0 AND area_path LIKE ? ESCAPE '\' ORDER BY area_path, id`, prefix)
	if err != nil {
		return nil, fmt.Errorf("sites: %w", err)
	}
	var out []*siteCheck
	byID := map[string]*siteCheck{}
	for rows.Next() {
		sc := &siteCheck{}
		if err := rows.Scan(&sc.id, &sc.areaID, &sc.areaPath, &sc.name, &sc.kind, &sc.risk, &sc.address, &sc.subKind); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, sc)
		byID[sc.id] = sc
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, `SELECT h.site_id, h.checked_at FROM site_check_history h
		JOIN docs d ON d.collection = 'sites' AND d.id = h.site_id
		WHERE d.deleted = 0 AND d.area_path LIKE ? ESCAPE '\'`, prefix)
	if err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if sc := byID[id]; sc != nil && fromMS(at).After(sc.last) {
			sc.last = fromMS(at)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, `SELECT d.id, COALESCE(json_extract(d.state, '$.fields.site.v'), ''),
		COALESCE(json_extract(d.state, '$.fields.finished_at.v'), json_extract(d.state, '$.fields.checked_at.v'),
			json_extract(d.state, '$.fields.started_at.v')), o.received_at
		FROM docs d JOIN ops o ON o.seq = d.created_seq
		WHERE d.collection = 'inspections' AND d.deleted = 0 AND d.area_path LIKE ? ESCAPE '\'
		AND COALESCE(json_extract(d.state, '$.fields.result.v'), '') != ?`, prefix, syncproto.InspectionNoAccess)
	if err != nil {
		return nil, fmt.Errorf("inspections: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, site string
		var deviceAt sql.NullInt64
		var received int64
		if err := rows.Scan(&id, &site, &deviceAt, &received); err != nil {
			return nil, err
		}
		at := received
		if deviceAt.Valid {
			at = min(deviceAt.Int64, received)
		}
		if sc := byID[site]; sc != nil && fromMS(at).After(sc.last) {
			sc.last, sc.lastInspection = fromMS(at), id
		}
	}
	return out, rows.Err()
}

// Coverage implements server.InspectionService.
func (s *DomainService) Coverage(ctx context.Context, areaID string) ([]*server.Coverage, error) {
	area, tx, err := s.view(ctx, areaID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.db.Now()
	rows, err := tx.QueryContext(ctx, `SELECT id, COALESCE(parent, ''), level, name, path FROM areas
		WHERE path LIKE ? ESCAPE '\' ORDER BY length(path), path`, likePrefix(area.Path))
	if err != nil {
		return nil, fmt.Errorf("areas: %w", err)
	}
	var out []*server.Coverage
	byID := map[string]*server.Coverage{}
	for rows.Next() {
		c := &server.Coverage{}
		var path string
		if err := rows.Scan(&c.AreaID, &c.Parent, &c.Level, &c.Name, &path); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
		byID[c.AreaID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sites, err := siteChecks(ctx, tx, area.Path)
	if err != nil {
		return nil, err
	}
	pol := newPolicies(tx)
	for _, sc := range sites {
		t, err := sc.task(ctx, pol, now)
		if err != nil {
			return nil, err
		}
		for _, id := range pathIDs(sc.areaPath) {
			c := byID[id]
			if c == nil {
				continue // above the requested area
			}
			c.Sites++
			switch t.Status {
			case syncproto.CheckOK:
				c.OK++
			case syncproto.CheckDue:
				c.Due++
			case syncproto.CheckOverdue:
				c.Overdue++
			case syncproto.CheckNever:
				c.Never++
			}
			if t.Status.Covered() {
				c.Covered++
			}
		}
	}
	for _, c := range out {
		if c.Sites > 0 {
			r := float64(c.Covered) / float64(c.Sites)
			c.Rate = &r
		}
	}
	return out, nil
}
