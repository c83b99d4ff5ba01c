package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// Lists the server computes that a device needs offline: the checklist
// templates (检查清单) and the task list of the user's area (which sites
// are due or overdue for a check, 明确检查频次). Sync refreshes them when
// they are older than Options.ListsMaxAge; Checklists and Tasks read the
// local copy, so a grid worker in a village without signal still sees what
// is due and inspects against the right checklist, and a site inspected
// offline leaves the list at once.

// DefaultListsMaxAge is how old the local lists may get before Sync
// fetches them again.
const DefaultListsMaxAge = 30 * time.Minute

// TaskQuery selects tasks. The zero value selects all.
type TaskQuery struct {
	// Statuses keeps tasks with one of these statuses (none: all).
	Statuses []string
	// Area keeps the sites of this grid (its area id; "": all).
	Area string
}

// RefreshLists fetches the checklists and the task list from the server
// now and replaces the local copies (each in one local transaction).
func (c *Client) RefreshLists(ctx context.Context) error {
	var cls []syncproto.Checklist
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/checklists", query: url.Values{"all": {"1"}}, auth: true},
		func(b []byte) (err error) {
			cls, err = decodeChecklists(b)
			return err
		})
	if err != nil {
		return err
	}
	var tasks []syncproto.Task
	if u := c.User(); u == nil || syncproto.Role(u.Role) != syncproto.RoleCountyAdmin {
		// The county's list is every site of the county: the county works
		// from the dashboard, not from a phone's task list.
		err = c.call(ctx, request{method: http.MethodGet, path: "/v1/tasks", auth: true}, func(b []byte) (err error) {
			tasks, err = decodeTasks(b)
			return err
		})
		if err != nil {
			return err
		}
	}
	return c.update(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM checklists`); err != nil {
			return err
		}
		for _, cl := range cls {
			b, _ := json.Marshal(cl)
			if _, err := tx.Exec(`INSERT INTO checklists (kind, version, body) VALUES (?, ?, ?)`, cl.Kind, cl.Version, string(b)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DELETE FROM tasks`); err != nil {
			return err
		}
		for _, t := range tasks {
			b, _ := json.Marshal(t)
			if _, err := tx.Exec(`INSERT INTO tasks (site_id, body) VALUES (?, ?)`, t.SiteID, string(b)); err != nil {
				return err
			}
		}
		return setMetaInt(tx, metaListsFetched, c.opt.Now().UnixMilli())
	})
}

// ListsFetchedAt is when the local lists were last fetched, by the
// device's clock (zero: never).
func (c *Client) ListsFetchedAt() (time.Time, error) {
	var at int64
	err := c.view(func(tx *sql.Tx) (err error) {
		at, err = getMetaInt(tx, metaListsFetched)
		return err
	})
	if err != nil || at == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(at), nil
}

// refreshListsIfOld is Sync's step: fetch the lists when they are older
// than ListsMaxAge (or the device's clock went back past the fetch).
func (c *Client) refreshListsIfOld(ctx context.Context, rep *SyncReport) error {
	if c.opt.ListsMaxAge < 0 {
		return nil
	}
	at, err := c.ListsFetchedAt()
	if err != nil {
		return err
	}
	if age := c.opt.Now().Sub(at); !at.IsZero() && age >= 0 && age < c.opt.ListsMaxAge {
		return nil
	}
	if err := c.RefreshLists(ctx); err != nil {
		return err
	}
	rep.ListsRefreshed = true
	return nil
}

// Checklists returns the local checklist templates: the latest version of
// each kind (of kind only, if not empty), or every version with
// allVersions; by kind, then version.
func (c *Client) Checklists(kind string, allVersions bool) ([]syncproto.Checklist, error) {
	var out []syncproto.Checklist
	err := c.view(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT body FROM checklists WHERE ? = '' OR kind = ? ORDER BY kind, version`, kind, kind)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var body string
			var cl syncproto.Checklist
			if err := rows.Scan(&body); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(body), &cl); err != nil {
				return err
			}
			if !allVersions && len(out) > 0 && out[len(out)-1].Kind == cl.Kind {
				out[len(out)-1] = cl // a later version of the same kind
				continue
			}
			out = append(out, cl)
		}
		return rows.Err()
	})
	return out, err
}

// Tasks returns the local task list, most urgent first (overdue, never
// checked, due, ok; the longest overdue first). Each task's status is
// computed now, from the server's last check and this device's own
// inspections since (also those not synced yet; an inspection with result
// no_access does not count, as on the server). Sites registered since the
// last refresh appear after the next one.
func (c *Client) Tasks(q TaskQuery) ([]syncproto.Task, error) {
	now := c.opt.Now()
	var out []syncproto.Task
	err := c.view(func(tx *sql.Tx) error {
		latest, err := c.localChecks(tx, now)
		if err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT body FROM tasks`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var body string
			var t syncproto.Task
			if err := rows.Scan(&body); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(body), &t); err != nil {
				return err
			}
			if q.Area != "" && t.AreaID != q.Area {
				continue
			}
			var last time.Time
			if t.LastCheckedAt != nil {
				last = *t.LastCheckedAt
			}
			if l, ok := latest[t.SiteID]; ok && l.at.After(last) {
				last, t.LastInspection = l.at, l.id
				t.LastCheckedAt = &l.at
			}
			chk := syncproto.CheckSite(last, t.IntervalDays, now)
			t.Status, t.AgeDays, t.DueAt = chk.Status, chk.AgeDays, nil
			if !last.IsZero() {
				due := chk.DueAt
				t.DueAt = &due
			}
			if len(q.Statuses) == 0 || slices.Contains(q.Statuses, string(t.Status)) {
				out = append(out, t)
			}
		}
		return rows.Err()
	})
	slices.SortStableFunc(out, func(a, b syncproto.Task) int { return syncproto.CompareTasks(&a, &b) })
	return out, err
}

// localCheck is the latest inspection of a site on this device.
type localCheck struct {
	at time.Time
	id string
}

// localChecks finds, per site, the latest inspection in the local view
// (replica and outbox) that counts as a check, dated like the server
// dates it: finished_at, else checked_at, else started_at, never later
// than now.
func (c *Client) localChecks(tx *sql.Tx, now time.Time) (map[string]localCheck, error) {
	col, ok := c.schema.Collection("inspections")
	if !ok {
		return nil, nil
	}
	v := newViewer(c, tx)
	ids, err := v.ids(col.Name)
	if err != nil {
		return nil, err
	}
	out := map[string]localCheck{}
	for _, id := range ids {
		st, exists, _, err := v.doc(col, id)
		if err != nil {
			return nil, err
		}
		d := &Doc{State: st}
		if !exists || st.IsDeleted() || d.String("result") == syncproto.InspectionNoAccess {
			continue
		}
		var ms int64
		for _, f := range []string{"finished_at", "checked_at", "started_at"} {
			if ms = d.Int(f); ms > 0 {
				break
			}
		}
		if ms <= 0 {
			continue
		}
		at := time.UnixMilli(ms)
		if at.After(now) {
			at = now
		}
		site := d.String("site")
		if prev, ok := out[site]; !ok || at.After(prev.at) {
			out[site] = localCheck{at: at, id: id}
		}
	}
	return out, nil
}
