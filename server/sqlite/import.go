package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// ImportService implements server.ImportService. Areas, users, checklists
// and policy are written in one transaction; sites are then written as
// operations through the sync service, like every other document, so they
// reach the devices by pull and enter the audit chain.
type ImportService struct {
	db   *DB
	sync *SyncService
}

// NewImportService returns an ImportService on db; sync may be nil for
// datasets without sites.
func NewImportService(db *DB, sync *SyncService) *ImportService {
	return &ImportService{db: db, sync: sync}
}

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
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if len(d.Sites) == 0 {
		return &r, nil
	}
	n, err := s.importSites(ctx, rootArea(d.Areas), d.Sites)
	r.Sites = n
	return &r, err
}

// datasetSite is a site line of a Dataset (server.Dataset keeps sites raw
// because they are documents of the sites collection).
type datasetSite struct {
	ID          string   `json:"id"`
	Grid        string   `json:"grid"`
	Kind        string   `json:"kind"`
	SubKind     string   `json:"sub_kind"`
	Name        string   `json:"name"`
	Address     string   `json:"address"`
	Lat         *float64 `json:"lat"`
	Lng         *float64 `json:"lng"`
	RiskLevel   string   `json:"risk_level"`
	Responsible string   `json:"responsible"`
	Phone       string   `json:"phone"`
	// LastCheckedDaysAgo is the check history of the county's paper
	// ledger, relative to the import: it goes to site_check_history (not a
	// field, not synced), where the due/overdue views read it.
	LastCheckedDaysAgo *int `json:"last_checked_days_ago"`
}

// importSites pushes one create op per site as the county's admin, from an
// import device of the county. Any refused site fails the import and is
// named; the sites accepted before it stay (they are valid documents).
func (s *ImportService) importSites(ctx context.Context, county string, sites []json.RawMessage) (int, error) {
	if s.sync == nil {
		return 0, errors.New("import sites: no sync service")
	}
	if county == "" {
		return 0, server.Errorf(server.EINVALID, "sites need a county area in the dataset")
	}
	p, err := s.importPrincipal(ctx, county)
	if err != nil {
		return 0, err
	}
	clock := syncproto.NewClock(s.db.Now, syncproto.HLC{})
	ops := make([]syncproto.Op, 0, len(sites))
	var lastSeq uint64
	if err := s.db.read.QueryRowContext(ctx, `SELECT last_seq FROM devices WHERE id = ?`, p.DeviceID).Scan(&lastSeq); err != nil {
		return 0, fmt.Errorf("import device: %w", err)
	}
	history := map[string]int64{}
	for i, raw := range sites {
		var site datasetSite
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&site); err != nil {
			return 0, server.Errorf(server.EINVALID, "sites[%d]: %v", i, err)
		}
		if d := site.LastCheckedDaysAgo; d != nil {
			if *d < 0 {
				return 0, server.Errorf(server.EINVALID, "sites[%d]: last_checked_days_ago %d is negative", i, *d)
			}
			history[site.ID] = s.db.Now().Add(-time.Duration(*d) * server.Day).UnixMilli()
		}
		set := map[string]any{"grid": site.Grid, "kind": site.Kind, "sub_kind": site.SubKind, "name": site.Name, "address": site.Address,
			"responsible": site.Responsible, "phone": site.Phone}
		if site.RiskLevel != "" {
			set["risk_level"] = site.RiskLevel
		}
		if site.Lat != nil && site.Lng != nil {
			set["location"] = map[string]float64{"lat": *site.Lat, "lng": *site.Lng}
		}
		op := syncproto.Op{Device: p.DeviceID, Seq: lastSeq + uint64(i) + 1, HLC: clock.Now(), Collection: "sites", Doc: site.ID,
			Set: map[string]json.RawMessage{}}
		for k, v := range set {
			if v == "" {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				return 0, err
			}
			op.Set[k] = b
		}
		ops = append(ops, op)
	}
	pctx := server.WithPrincipal(ctx, p)
	n := 0
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), syncproto.MaxOpsPerPush)]
		ops = ops[len(chunk):]
		resp, err := s.sync.Push(pctx, &syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: p.DeviceID,
			DeviceTime: s.db.Now().UnixMilli(), Ops: chunk})
		if err != nil {
			return n, fmt.Errorf("import sites: %w", err)
		}
		for i, v := range resp.Verdicts {
			if v.Status != syncproto.StatusAccepted {
				return n, server.Errorf(server.EINVALID, "site %s refused: %s (%s)", chunk[i].Doc, v.Code, v.Reason)
			}
			n++
		}
	}
	return n, s.saveCheckHistory(ctx, history)
}

// saveCheckHistory records the imported last check of each site; a site
// imported again gets its new date.
func (s *ImportService) saveCheckHistory(ctx context.Context, history map[string]int64) error {
	if len(history) == 0 {
		return nil
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for id, at := range history {
		if _, err := tx.ExecContext(ctx, `INSERT INTO site_check_history (site_id, checked_at, source) VALUES (?, ?, 'import')
			ON CONFLICT (site_id) DO UPDATE SET checked_at = excluded.checked_at`, id, at); err != nil {
			return fmt.Errorf("check history: %w", err)
		}
	}
	return tx.Commit()
}

// importPrincipal is the county admin acting through the county's import
// device, registered on first use.
func (s *ImportService) importPrincipal(ctx context.Context, county string) (*server.Principal, error) {
	var username string
	err := s.db.read.QueryRowContext(ctx, `SELECT username FROM users WHERE role = ? AND area_id = ? ORDER BY id LIMIT 1`,
		server.RoleCountyAdmin, county).Scan(&username)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, server.Errorf(server.EINVALID, "importing sites needs a county_admin user of %s", county)
	} else if err != nil {
		return nil, err
	}
	u, _, err := findUserBy(ctx, s.db.read, "username", username)
	if err != nil {
		return nil, err
	}
	device := "import-" + county
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := registerDevice(ctx, tx, u, device); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &server.Principal{UserID: u.ID, Username: u.Username, Role: u.Role, AreaID: u.AreaID, AreaPath: u.AreaPath, DeviceID: device}, nil
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
