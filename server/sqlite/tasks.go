package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// DomainService implements server.DomainService: read-only views over the
// synced documents, the policy and the domain's own tables. Its writes
// happen in the sync engine, through the rules (domainRules).
type DomainService struct {
	db *DB
}

// NewDomainService returns a DomainService on db.
func NewDomainService(db *DB) *DomainService { return &DomainService{db: db} }

var _ server.DomainService = (*DomainService)(nil)

// scope returns the caller and the area a view is for: areaID ("" = the
// caller's own area), which must lie inside the caller's area. An area
// outside it is ENOTFOUND, like a missing one.
func (s *DomainService) scope(ctx context.Context, areaID string) (*server.Principal, *server.Area, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	if areaID == "" {
		areaID = p.AreaID
	}
	a, err := findArea(ctx, s.db.read, areaID)
	if err != nil {
		return nil, nil, err
	}
	if !server.Covers(p.AreaPath, a.Path) {
		return nil, nil, server.Errorf(server.ENOTFOUND, "area %q not found", areaID)
	}
	return p, a, nil
}

// view opens a domain view: the area (the caller's when areaID is empty,
// as scope) and a read transaction, for the caller to roll back.
func (s *DomainService) view(ctx context.Context, areaID string) (*server.Area, *sql.Tx, error) {
	_, area, err := s.scope(ctx, areaID)
	if err != nil {
		return nil, nil, err
	}
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	return area, tx, nil
}

// now returns at, or the database clock's now when at is zero.
func (s *DomainService) now(at time.Time) time.Time {
	if at.IsZero() {
		return s.db.Now()
	}
	return at
}

// strValue returns a string field of a document ("" if unset).
func strValue(st *syncproto.DocState, field string) string {
	raw, _ := st.Value(field)
	var v string
	json.Unmarshal(raw, &v)
	return v
}

// intValue returns an integer or time field of a document.
func intValue(st *syncproto.DocState, field string) (int64, bool) {
	raw, ok := st.Value(field)
	if !ok {
		return 0, false
	}
	var v int64
	return v, json.Unmarshal(raw, &v) == nil
}

// boolValue returns a bool field of a document (false if unset).
func boolValue(st *syncproto.DocState, field string) bool {
	raw, _ := st.Value(field)
	return string(raw) == "true"
}

// Tasks implements server.InspectionService.
func (s *DomainService) Tasks(ctx context.Context, q server.TaskQuery) ([]*syncproto.Task, error) {
	area, tx, err := s.view(ctx, q.AreaID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, st := range q.Statuses {
		if !slices.Contains([]syncproto.CheckStatus{syncproto.CheckOK, syncproto.CheckDue, syncproto.CheckOverdue, syncproto.CheckNever}, st) {
			return nil, server.Errorf(server.EINVALID, "unknown status %q (ok, due, overdue, never)", st)
		}
	}
	now := s.now(q.At)
	sites, err := siteChecks(ctx, tx, area.Path)
	if err != nil {
		return nil, err
	}
	pol := newPolicies(tx)
	var out []*syncproto.Task
	for _, sc := range sites {
		t, err := sc.task(ctx, pol, now)
		if err != nil {
			return nil, err
		}
		if len(q.Statuses) == 0 || slices.Contains(q.Statuses, t.Status) {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, syncproto.CompareTasks)
	return out, nil
}

// task computes a site's task at now.
func (sc *siteCheck) task(ctx context.Context, pol *policies, now time.Time) (*syncproto.Task, error) {
	p, err := pol.of(ctx, sc.areaPath)
	if err != nil {
		return nil, err
	}
	interval := p.CheckIntervalDaysFor(sc.kind, sc.risk)
	c := syncproto.CheckSite(sc.last, interval, now)
	t := &syncproto.Task{SiteID: sc.id, SiteName: sc.name, Kind: sc.kind, RiskLevel: sc.risk, AreaID: sc.areaID, Address: sc.address,
		IntervalDays: interval, Status: c.Status, AgeDays: c.AgeDays, LastInspection: sc.lastInspection, SubKind: sc.subKind}
	if !sc.last.IsZero() {
		last, due := sc.last, c.DueAt
		t.LastCheckedAt, t.DueAt = &last, &due
	}
	return t, nil
}
