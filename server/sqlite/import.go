package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// ImportService implements server.ImportService. A data set is checked
// whole before anything is written (policy, every site as an operation of
// the schema). Areas, users, checklists, policy and the import's record
// are then written in one transaction; sites follow as operations through
// the sync service, like every other document, so they reach the devices
// by pull and enter the audit chain; the record is completed with the last
// of them. A start or an import interrupted in between finishes when the
// same data set is imported again.
type ImportService struct {
	db   *DB
	sync *SyncService
	// push and chunk are the sync service's Push and the sites per push;
	// tests replace them to interrupt an import between two pushes, where
	// a crash leaves it.
	push  func(context.Context, *syncproto.PushRequest) (*syncproto.PushResponse, error)
	chunk int
}

// NewImportService returns an ImportService on db; sync may be nil for
// datasets without sites.
func NewImportService(db *DB, sync *SyncService) *ImportService {
	s := &ImportService{db: db, sync: sync, chunk: syncproto.MaxOpsPerPush}
	if sync != nil {
		s.push = sync.Push
	}
	return s
}

var _ server.ImportService = (*ImportService)(nil)

// importRecord is a row of imports: one per county data set.
type importRecord struct {
	sum       []byte
	firstSeq  uint64
	completed bool
	startedAt time.Time
}

// Import implements server.ImportService.
func (s *ImportService) Import(ctx context.Context, d *server.Dataset) (*server.ImportReport, error) {
	if d.Format != 1 {
		return nil, server.Errorf(server.EINVALID, "dataset format %d: want 1", d.Format)
	}
	county := rootArea(d.Areas)
	if len(d.Policy) > 0 {
		if county == "" {
			return nil, server.Errorf(server.EINVALID, "policy needs a county area in the dataset")
		}
		if _, err := server.ParsePolicy(d.Policy); err != nil {
			return nil, err
		}
	}
	sites, err := s.decodeSites(d, county)
	if err != nil {
		return nil, err
	}
	if county == "" {
		// No county, no sites: areas below an existing county, users or
		// checklists, all in one transaction.
		return s.writeBase(ctx, d, "", nil)
	}
	sum, err := datasetSum(d)
	if err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, county)
	if err != nil {
		return nil, err
	}
	r := &server.ImportReport{}
	switch {
	case rec == nil:
		if r, err = s.writeBase(ctx, d, county, sum); err != nil {
			return nil, err
		}
		if rec, err = s.record(ctx, county); err != nil {
			return nil, err
		}
	case rec.completed:
		return nil, server.Errorf(server.ECONFLICT, "county %s was already imported (%s): a data set is imported once; change its data through the dashboard or the API",
			county, rec.startedAt.Format(time.DateTime))
	case !bytes.Equal(rec.sum, sum):
		return nil, server.Errorf(server.ECONFLICT, "county %s has an unfinished import of another data set: import that one again to finish it", county)
	default:
		r.Resumed = true
	}
	if rec.completed {
		return r, nil
	}
	n, err := s.pushSites(ctx, county, rec, sites)
	r.Sites = n
	if err != nil {
		return r, err
	}
	return r, s.complete(ctx, county, sites)
}

// Imported reports whether the import of county's data set finished; the
// demo loader imports (or resumes) until it did.
func (s *ImportService) Imported(ctx context.Context, county string) (bool, error) {
	rec, err := s.record(ctx, county)
	return rec != nil && rec.completed, err
}

func (s *ImportService) record(ctx context.Context, county string) (*importRecord, error) {
	var rec importRecord
	var started int64
	var completed sql.NullInt64
	err := s.db.read.QueryRowContext(ctx, `SELECT dataset_sha256, first_seq, started_at, completed_at FROM imports WHERE county = ?`, county).
		Scan(&rec.sum, &rec.firstSeq, &started, &completed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("import record: %w", err)
	}
	rec.completed, rec.startedAt = completed.Valid, fromMS(started)
	return &rec, nil
}

// datasetSum identifies a data set, so that only the same one resumes an
// unfinished import.
func datasetSum(d *server.Dataset) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// writeBase writes areas, users, checklists and policy in one transaction
// and, for a county's data set, its import record with the import device
// registered, complete at once when there are no sites.
func (s *ImportService) writeBase(ctx context.Context, d *server.Dataset, county string, sum []byte) (*server.ImportReport, error) {
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (area_id, body, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (area_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
			county, string(d.Policy), ms(tx.now)); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	if county != "" {
		device, firstSeq := importDevice(county), uint64(1)
		if len(d.Sites) > 0 {
			p, err := importPrincipal(ctx, tx, county)
			if err != nil {
				return nil, err
			}
			if err := tx.QueryRowContext(ctx, `SELECT last_seq + 1 FROM devices WHERE id = ?`, p.DeviceID).Scan(&firstSeq); err != nil {
				return nil, fmt.Errorf("import device: %w", err)
			}
		}
		var completed any
		if len(d.Sites) == 0 {
			completed = ms(tx.now)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO imports (county, dataset_sha256, device, first_seq, started_at, completed_at)
			VALUES (?, ?, ?, ?, ?, ?)`, county, sum, device, firstSeq, ms(tx.now), completed); err != nil {
			return nil, fmt.Errorf("import record: %w", err)
		}
	}
	return &r, tx.Commit()
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

// importSite is a site as the operation that creates it (without seq and
// HLC, given when pushed) and its imported check history.
type importSite struct {
	op          syncproto.Op
	checkedDays *int
}

// decodeSites decodes every site strictly and checks it as the sync
// service will (schema, a grid of this data set, unique ids), so a bad line
// is refused before anything is written.
func (s *ImportService) decodeSites(d *server.Dataset, county string) ([]importSite, error) {
	if len(d.Sites) == 0 {
		return nil, nil
	}
	switch {
	case s.sync == nil:
		return nil, errors.New("import sites: no sync service")
	case county == "":
		return nil, server.Errorf(server.EINVALID, "sites need a county area in the dataset")
	}
	grids := map[string]bool{}
	for _, a := range d.Areas {
		if a.Level == server.LevelGrid {
			grids[a.ID] = true
		}
	}
	clock := syncproto.NewClock(s.db.Now, syncproto.HLC{})
	seen := map[string]bool{}
	out := make([]importSite, 0, len(d.Sites))
	for i, raw := range d.Sites {
		var site datasetSite
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&site); err != nil {
			return nil, server.Errorf(server.EINVALID, "sites[%d]: %v", i, err)
		}
		switch {
		case seen[site.ID]:
			return nil, server.Errorf(server.EINVALID, "sites[%d]: id %q appears twice", i, site.ID)
		case !grids[site.Grid]:
			return nil, server.Errorf(server.EINVALID, "sites[%d]: grid %q is not a grid area of this data set", i, site.Grid)
		case site.LastCheckedDaysAgo != nil && *site.LastCheckedDaysAgo < 0:
			return nil, server.Errorf(server.EINVALID, "sites[%d]: last_checked_days_ago %d is negative", i, *site.LastCheckedDaysAgo)
		}
		seen[site.ID] = true
		set := map[string]any{"grid": site.Grid, "kind": site.Kind, "sub_kind": site.SubKind, "name": site.Name, "address": site.Address,
			"responsible": site.Responsible, "phone": site.Phone}
		if site.RiskLevel != "" {
			set["risk_level"] = site.RiskLevel
		}
		if site.Lat != nil && site.Lng != nil {
			set["location"] = map[string]float64{"lat": *site.Lat, "lng": *site.Lng}
		}
		op := syncproto.Op{Device: importDevice(county), Collection: "sites", Doc: site.ID, Set: map[string]json.RawMessage{}}
		for k, v := range set {
			if v == "" {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			op.Set[k] = b
		}
		// Checked with a stand-in seq and stamp; both are set when pushed.
		check := op
		check.Seq, check.HLC = 1, clock.Now()
		if err := s.sync.schema.ValidateOp(&check); err != nil {
			return nil, server.Errorf(server.EINVALID, "sites[%d] (%s): %v", i, site.ID, err)
		}
		out = append(out, importSite{op: op, checkedDays: site.LastCheckedDaysAgo})
	}
	return out, nil
}

// pushSites pushes the create op of every site not yet pushed, as the
// county's admin from the county's import device. Site i has seq
// firstSeq+i, so after an interruption the device's last_seq tells how many
// are in; a refused site fails the import and is named.
func (s *ImportService) pushSites(ctx context.Context, county string, rec *importRecord, sites []importSite) (int, error) {
	p, err := s.principal(ctx, county)
	if err != nil {
		return 0, err
	}
	var lastSeq uint64
	if err := s.db.read.QueryRowContext(ctx, `SELECT last_seq FROM devices WHERE id = ?`, p.DeviceID).Scan(&lastSeq); err != nil {
		return 0, fmt.Errorf("import device: %w", err)
	}
	if lastSeq >= rec.firstSeq {
		var doc, code, reason string
		err := s.db.read.QueryRowContext(ctx, `SELECT doc_id, code, reason FROM rejected_ops WHERE device = ? AND dev_seq >= ? ORDER BY dev_seq LIMIT 1`,
			p.DeviceID, rec.firstSeq).Scan(&doc, &code, &reason)
		if err == nil {
			return 0, server.Errorf(server.EINVALID, "site %s was refused: %s (%s)", doc, code, reason)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("import: %w", err)
		}
	}
	done := 0
	if lastSeq >= rec.firstSeq {
		done = int(lastSeq - rec.firstSeq + 1)
	}
	clock := syncproto.NewClock(s.db.Now, syncproto.HLC{})
	ops := make([]syncproto.Op, 0, len(sites)-min(done, len(sites)))
	for i := done; i < len(sites); i++ {
		op := sites[i].op
		op.Seq, op.HLC = rec.firstSeq+uint64(i), clock.Now()
		ops = append(ops, op)
	}
	pctx := server.WithPrincipal(ctx, p)
	n := 0
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), s.chunk)]
		ops = ops[len(chunk):]
		resp, err := s.push(pctx, &syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: p.DeviceID,
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
	return n, nil
}

// complete records the imported check history of each site and marks the
// import finished, in one transaction.
func (s *ImportService) complete(ctx context.Context, county string, sites []importSite) error {
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, site := range sites {
		if site.checkedDays == nil {
			continue
		}
		at := tx.now.Add(-time.Duration(*site.checkedDays) * server.Day).UnixMilli()
		if _, err := tx.ExecContext(ctx, `INSERT INTO site_check_history (site_id, checked_at, source) VALUES (?, ?, 'import')
			ON CONFLICT (site_id) DO UPDATE SET checked_at = excluded.checked_at`, site.op.Doc, at); err != nil {
			return fmt.Errorf("check history: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE imports SET completed_at = ? WHERE county = ?`, ms(tx.now), county); err != nil {
		return fmt.Errorf("import record: %w", err)
	}
	return tx.Commit()
}

func importDevice(county string) string { return "import-" + county }

// importPrincipal registers the county's import device to the county's
// first county_admin in tx and returns them as the importer.
func importPrincipal(ctx context.Context, tx *Tx, county string) (*server.Principal, error) {
	var username string
	err := tx.QueryRowContext(ctx, `SELECT username FROM users WHERE role = ? AND area_id = ? ORDER BY id LIMIT 1`,
		server.RoleCountyAdmin, county).Scan(&username)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, server.Errorf(server.EINVALID, "importing sites needs a county_admin user of %s", county)
	} else if err != nil {
		return nil, err
	}
	u, _, err := findUserBy(ctx, tx, "username", username)
	if err != nil {
		return nil, err
	}
	device := importDevice(county)
	if err := registerDevice(ctx, tx, u, device); err != nil {
		return nil, err
	}
	return &server.Principal{UserID: u.ID, Username: u.Username, Role: u.Role, AreaID: u.AreaID, AreaPath: u.AreaPath, DeviceID: device}, nil
}

// principal is the importer of county, read again when an import resumes.
func (s *ImportService) principal(ctx context.Context, county string) (*server.Principal, error) {
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, err := importPrincipal(ctx, tx, county)
	if err != nil {
		return nil, err
	}
	return p, tx.Commit()
}

func rootArea(areas []server.Area) string {
	for _, a := range areas {
		if a.Level == server.LevelCounty {
			return a.ID
		}
	}
	return ""
}

func createChecklist(ctx context.Context, tx *Tx, c syncproto.Checklist) error {
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
