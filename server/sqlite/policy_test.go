package sqlite_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

// TestInvalidStoredPolicy: a stored policy that no longer parses (here a
// covert limit the seeds do not allow, written before the check existed)
// must not fail pushes: hazards and incident reports are accepted with the
// defaults, the fallback is logged at error level (once per stored
// version), and GET /v1/policy says why.
func TestInvalidStoredPolicy(t *testing.T) {
	db := MustDemoDB(t)
	var logs bytes.Buffer
	svc, err := sqlite.NewSyncService(context.Background(), db, syncproto.DefaultSchema(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	e := &syncEnv{db: db, auth: mustAuth(t, db), sync: svc}
	sqlite.SetPolicy(t, db, county, `{"covert_visit_deadline_days": 30, "hazard_deadline_days": {"general": 20}}`)

	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	now := time.Now()
	accepted(t, mustPush(t, e.sync, worker, dw.push(
		dw.op("incidents", "inc-1", map[string]any{"title": "柴房起火", "occurred_at": now.Add(-40 * time.Minute).UnixMilli()}),
		withFlow(dw.op("hazards", "hz-1", hazard(demoSiteG01, "灭火器过期", "general")), syncproto.StageReported, 1),
		withFlow(dw.op("hazards", "hz-2", hazard(demoSiteG01, "飞线充电", "general")), syncproto.StageReported, 1),
	)))
	accepted(t, mustPush(t, e.sync, station, ds.push(
		withFlow(ds.op("hazards", "hz-1", nil), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-2", nil), syncproto.StageDispatched, 1),
	)))
	// The defaults: 7 days for a general hazard, 30 minutes for a report.
	if got := timeOf(t, docOf(t, e, station, "hazards", "hz-1"), "deadline"); !near(got, now.Add(7*server.Day)) {
		t.Errorf("deadline %s, want the default 7 days (the stored 20 is not used)", got)
	}
	inc, err := mustDomain(t, e).Incidents(station, 0)
	if err != nil || len(inc) != 1 || !inc[0].Late || inc[0].LimitMS != (30*time.Minute).Milliseconds() {
		t.Fatalf("incidents %+v, %v", inc, err)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), "policy_area="+county) ||
		!strings.Contains(logs.String(), "covert_visit_deadline_days") {
		t.Fatalf("want one error line naming the policy and its fault, got %d:\n%s", n, logs.String())
	}
	info, err := mustDomain(t, e).Policy(worker, "")
	if err != nil || info.SourceAreaID != county || !strings.Contains(info.Invalid, "covert_visit_deadline_days") ||
		info.Policy.HazardDeadlineDays["general"] != 7 {
		t.Fatalf("policy info %+v, %v", info, err)
	}
	// The county replaces it with a valid one: no more fallback.
	if _, err := mustDomain(t, e).SetPolicy(e.as(t, "county", "pc-county"), "", []byte(`{"hazard_deadline_days": {"general": 20}}`)); err != nil {
		t.Fatal(err)
	}
	accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", "hz-3", hazard(demoSiteG01, "x", "general")), syncproto.StageReported, 1))))
	accepted(t, mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", "hz-3", nil), syncproto.StageDispatched, 1))))
	if got := timeOf(t, docOf(t, e, station, "hazards", "hz-3"), "deadline"); !near(got, time.Now().Add(20*server.Day)) {
		t.Errorf("deadline %s, want the county's 20 days", got)
	}
}

// TestPolicyService: who reads and sets the policy, validation, township
// overrides, removal and the record of changes.
func TestPolicyService(t *testing.T) {
	e := mustSyncEnv(t)
	dom := mustDomain(t, e)
	countyCtx, station, worker := e.as(t, "county", "pc-county"), e.as(t, "station-1", "pc-station-1"), e.as(t, "worker-1-1-1", "phone-worker-111")

	info, err := dom.Policy(worker, "")
	if err != nil || info.AreaID != grid111 || info.SourceAreaID != county || info.UpdatedBy != "" || info.UpdatedAt == nil ||
		info.Policy.CovertVisitDeadlineDays != 15 || info.Policy.NightPatrolWindow.Start != "22:00" || info.Invalid != "" {
		t.Fatalf("the imported county policy: %+v, %v", info, err)
	}
	body := []byte(`{"hazard_deadline_days": {"major": 2}, "escalate_after_overdue_days": 3,
		"key_periods": [{"name": "春节", "from": "2026-02-10", "to": "2026-02-24"}]}`)
	_, err = dom.SetPolicy(station, "", body)
	wantCode(t, err, server.EFORBIDDEN)
	_, err = dom.SetPolicy(countyCtx, "330399999", body)
	wantCode(t, err, server.ENOTFOUND)
	_, err = dom.SetPolicy(countyCtx, township1, []byte(`{"covert_visit_deadline_days": 20}`))
	wantCode(t, err, server.EINVALID)
	_, err = dom.SetPolicy(countyCtx, township1, []byte(`{"night_patrol_window": {"start": "22:00", "end": "22:00"}}`))
	wantCode(t, err, server.EINVALID)
	if info, _ := dom.Policy(station, ""); info.SourceAreaID != county {
		t.Fatalf("a refused policy was stored: %+v", info)
	}

	set, err := dom.SetPolicy(countyCtx, township1, body)
	if err != nil {
		t.Fatal(err)
	}
	if set.AreaID != township1 || set.SourceAreaID != township1 || set.UpdatedBy != "county" ||
		set.Policy.HazardDeadlineDays["major"] != 2 || set.Policy.HazardDeadlineDays["general"] != 7 ||
		set.Policy.EscalateAfterOverdueDays != 3 || len(set.Policy.KeyPeriods) != 1 {
		t.Fatalf("set: %+v", set)
	}
	// The override reaches below the township, not beside it.
	if info, _ := dom.Policy(worker, ""); info.SourceAreaID != township1 || info.Policy.EscalateAfterOverdueDays != 3 {
		t.Fatalf("worker of township 1: %+v", info)
	}
	if info, _ := dom.Policy(e.as(t, "station-2", "pc-station-2"), ""); info.SourceAreaID != county || info.Policy.EscalateAfterOverdueDays != 7 {
		t.Fatalf("township 2: %+v", info)
	}
	_, err = dom.Policy(worker, village12)
	wantCode(t, err, server.ENOTFOUND)

	wantCode(t, dom.DeletePolicy(station, ""), server.EFORBIDDEN)
	if err := dom.DeletePolicy(countyCtx, township1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, dom.DeletePolicy(countyCtx, township1), server.ENOTFOUND)
	if info, _ := dom.Policy(worker, ""); info.SourceAreaID != county {
		t.Fatalf("after removal: %+v", info)
	}
	if n, err := sqlite.CountRows(context.Background(), e.db, "policy_changes"); err != nil || n != 2 {
		t.Fatalf("policy_changes: %d rows, %v; want the set and the removal", n, err)
	}
}
