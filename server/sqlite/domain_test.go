package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

func mustDomain(tb testing.TB, e *syncEnv) *sqlite.DomainService {
	tb.Helper()
	return sqlite.NewDomainService(e.db)
}

// docOf returns a document as the caller's snapshot has it.
func docOf(tb testing.TB, e *syncEnv, ctx context.Context, collection, id string) syncproto.DocState {
	tb.Helper()
	for _, d := range snapshotAll(tb, e.sync, ctx) {
		if d.Collection == collection && d.ID == id {
			return d
		}
	}
	tb.Fatalf("%s/%s not in the snapshot", collection, id)
	return syncproto.DocState{}
}

func timeOf(tb testing.TB, st syncproto.DocState, field string) time.Time {
	tb.Helper()
	raw, ok := st.Value(field)
	if !ok {
		tb.Fatalf("%s/%s has no %s", st.Collection, st.ID, field)
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err != nil {
		tb.Fatal(err)
	}
	return time.UnixMilli(ms)
}

func near(got, want time.Time) bool { return got.Sub(want).Abs() < time.Minute }

func hazard(site, title, severity string) map[string]any {
	h := map[string]any{"site": site, "title": title}
	if severity != "" {
		h["severity"] = severity
	}
	return h
}

// wantCodes checks a push's verdicts in order: "" accepted, otherwise
// rejected with that code.
func wantCodes(tb testing.TB, resp *syncproto.PushResponse, codes ...string) {
	tb.Helper()
	if len(resp.Verdicts) != len(codes) {
		tb.Fatalf("%d verdicts, want %d", len(resp.Verdicts), len(codes))
	}
	for i, code := range codes {
		status := syncproto.StatusRejected
		if code == "" {
			status = syncproto.StatusAccepted
		}
		wantVerdict(tb, resp.Verdicts[i], status, code)
	}
}

func addUsers(tb testing.TB, e *syncEnv, users ...server.DatasetUser) {
	tb.Helper()
	for i := range users {
		users[i].Password = "demo-password"
		users[i].Name = users[i].Username
	}
	if _, err := sqlite.NewImportService(e.db, nil).Import(context.Background(), &server.Dataset{Format: 1, Users: users}); err != nil {
		tb.Fatal(err)
	}
}

// TestHazardDeadlineDefaults: a dispatch without a deadline gets the
// county's default for the hazard's severity (demo policy: major 3 days,
// general 7), written into the dispatch op itself so every replica sees it.
func TestHazardDeadlineDefaults(t *testing.T) {
	e := mustSyncEnv(t)
	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	accepted(t, mustPush(t, e.sync, worker, dw.push(
		withFlow(dw.op("hazards", "hz-major", hazard(demoSiteG01, "三合一住人", "major")), syncproto.StageReported, 1),
		withFlow(dw.op("hazards", "hz-plain", hazard(demoSiteG01, "灭火器过期", "")), syncproto.StageReported, 1),
		withFlow(dw.op("hazards", "hz-given", hazard(demoSiteG01, "飞线充电", "general")), syncproto.StageReported, 1),
	)))
	given := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Millisecond)
	dispatchMajor := withFlow(ds.op("hazards", "hz-major", map[string]any{"assignee": "徐永福"}), syncproto.StageDispatched, 1)
	resp := mustPush(t, e.sync, station, ds.push(
		dispatchMajor,
		withFlow(ds.op("hazards", "hz-plain", nil), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-given", map[string]any{"deadline": given.UnixMilli()}), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-station", hazard(demoSiteG01, "暗访发现：安全出口锁闭", "major")), syncproto.StageDispatched, 1),
	))
	accepted(t, resp)
	now := time.Now()
	for id, want := range map[string]time.Time{"hz-major": now.Add(3 * server.Day), "hz-plain": now.Add(7 * server.Day),
		"hz-given": given, "hz-station": now.Add(3 * server.Day)} {
		if got := timeOf(t, docOf(t, e, worker, "hazards", id), "deadline"); !near(got, want) {
			t.Errorf("%s: deadline %s, want %s", id, got, want)
		}
	}
	t.Run("TheOpAsAppliedCarriesIt", func(t *testing.T) {
		for _, ch := range pullAll(t, e.sync, worker) {
			if ch.ServerSeq == resp.Verdicts[0].ServerSeq {
				if _, ok := ch.Op.Set["deadline"]; !ok || ch.Op.Device != ds.id || ch.Op.Seq != dispatchMajor.Seq {
					t.Fatalf("pulled dispatch %+v, want the station's op with the deadline", ch.Op)
				}
				return
			}
		}
		t.Fatal("dispatch not pulled")
	})
	t.Run("ReplayKeepsVerdict", func(t *testing.T) {
		before, _ := sqlite.CountRows(context.Background(), e.db, "ops")
		again := mustPush(t, e.sync, station, ds.push(dispatchMajor))
		after, _ := sqlite.CountRows(context.Background(), e.db, "ops")
		if again.Verdicts[0] != resp.Verdicts[0] || after != before {
			t.Fatalf("replay: %+v (first %+v), ops %d -> %d", again.Verdicts[0], resp.Verdicts[0], before, after)
		}
	})
	t.Run("ReopenGetsANewDeadline", func(t *testing.T) {
		// Dispatched with a deadline that has passed, submitted, then
		// the verification fails (复核不通过: a reopen into round 2): the
		// old deadline would make it overdue at once, so the reopen gets
		// the default from now. A reopen that sets a deadline keeps it.
		past := time.Now().Add(-2 * server.Day).UnixMilli()
		for _, id := range []string{"hz-reopen", "hz-reopen-given"} {
			accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", id, hazard(demoSiteG01, "疏散通道堆物", "major")), syncproto.StageReported, 1))))
			accepted(t, mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", id, map[string]any{"deadline": past}), syncproto.StageDispatched, 1))))
			accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", id, nil), syncproto.StageSubmitted, 1))))
		}
		given := time.Now().Add(2 * server.Day).Truncate(time.Millisecond)
		accepted(t, mustPush(t, e.sync, station, ds.push(
			withFlow(ds.op("hazards", "hz-reopen", map[string]any{"verification_note": "复核不通过：仍有堆物"}), syncproto.StageRectifying, 2),
			withFlow(ds.op("hazards", "hz-reopen-given", map[string]any{"deadline": given.UnixMilli()}), syncproto.StageRectifying, 2))))
		if got := timeOf(t, docOf(t, e, worker, "hazards", "hz-reopen"), "deadline"); !near(got, time.Now().Add(3*server.Day)) {
			t.Errorf("reopened: deadline %s, want the major default of 3 days from now", got)
		}
		if got := timeOf(t, docOf(t, e, worker, "hazards", "hz-reopen-given"), "deadline"); !got.Equal(given) {
			t.Errorf("reopened with a deadline: %s, want %s", got, given)
		}
		if over, _ := mustDomain(t, e).OverdueHazards(station, server.HazardQuery{}); len(over) != 0 {
			t.Errorf("a reopened hazard is overdue at once: %+v", over[0])
		}
	})
	t.Run("NoDefaultWithoutDispatch", func(t *testing.T) {
		accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", "hz-open", hazard(demoSiteG01, "x", "")), syncproto.StageReported, 1))))
		if _, ok := docOf(t, e, worker, "hazards", "hz-open").Value("deadline"); ok {
			t.Fatal("a reported hazard got a deadline")
		}
	})
	if n, err := e.sync.VerifyChain(context.Background()); err != nil || n == 0 {
		t.Fatalf("chain: %d, %v", n, err)
	}
}

// TestCovertDeadline: hazards from covert visits close within 15 days of
// their report (暗访督办15日办结).
func TestCovertDeadline(t *testing.T) {
	e := mustSyncEnv(t)
	// The township gives general hazards 30 days: longer than the covert
	// limit, so the default is capped.
	sqlite.SetPolicy(t, e.db, township1, `{"hazard_deadline_days": {"general": 30}}`)
	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	covert := hazard(demoSiteG01, "暗访：电动车楼道充电", "general")
	covert["covert"] = true
	accepted(t, mustPush(t, e.sync, worker, dw.push(
		withFlow(dw.op("hazards", "hz-covert", covert), syncproto.StageReported, 1),
		withFlow(dw.op("hazards", "hz-plain", hazard(demoSiteG01, "灭火器过期", "general")), syncproto.StageReported, 1),
	)))
	now := time.Now()
	in := func(days int) int64 { return now.Add(time.Duration(days) * server.Day).UnixMilli() }
	resp := mustPush(t, e.sync, station, ds.push(
		withFlow(ds.op("hazards", "hz-covert", nil), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-plain", nil), syncproto.StageDispatched, 1),
		ds.op("hazards", "hz-covert", map[string]any{"deadline": in(20)}),
		ds.op("hazards", "hz-covert", map[string]any{"deadline": in(10)}),
	))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
	wantVerdict(t, resp.Verdicts[1], syncproto.StatusAccepted, "")
	wantVerdict(t, resp.Verdicts[2], syncproto.StatusRejected, syncproto.CodeCovertDeadline)
	wantVerdict(t, resp.Verdicts[3], syncproto.StatusAccepted, "")
	// Before the 10-day edit the covert default was capped at 15 days; the
	// plain one got the township's 30.
	for _, ch := range pullAll(t, e.sync, worker) {
		if ch.ServerSeq == resp.Verdicts[0].ServerSeq {
			var ms int64
			json.Unmarshal(ch.Op.Set["deadline"], &ms)
			if !near(time.UnixMilli(ms), now.Add(15*server.Day)) {
				t.Errorf("covert default deadline %s, want 15 days", time.UnixMilli(ms))
			}
		}
	}
	if got := timeOf(t, docOf(t, e, station, "hazards", "hz-plain"), "deadline"); !near(got, now.Add(30*server.Day)) {
		t.Errorf("township policy: deadline %s, want 30 days", got)
	}
	// covert is fixed once reported: the worker cannot clear it, and the
	// station marking a hazard covert after a long deadline was set is
	// refused for the deadline.
	resp = mustPush(t, e.sync, worker, dw.push(dw.op("hazards", "hz-covert", map[string]any{"covert": false})))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenField)
	accepted(t, mustPush(t, e.sync, station, ds.push(ds.op("hazards", "hz-plain", map[string]any{"deadline": in(20)}))))
	resp = mustPush(t, e.sync, station, ds.push(ds.op("hazards", "hz-plain", map[string]any{"covert": true})))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeCovertDeadline)

	// A failed verification of the covert hazard (a reopen without a
	// deadline) gets the township's 30 days from now, capped at 15 days
	// from the report.
	accepted(t, mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", "hz-covert", map[string]any{"verification_note": "复核不通过"}),
		syncproto.StageRectifying, 2))))
	if got := timeOf(t, docOf(t, e, station, "hazards", "hz-covert"), "deadline"); !near(got, now.Add(15*server.Day)) {
		t.Errorf("covert reopen: deadline %s, want the 15-day limit", got)
	}
}

// TestCovertInspection: a hazard found on a covert inspection is covert
// (the server fills it in, refuses covert = false), and a covert hazard is
// overdue 15 days after its report even when nobody dispatched it, also
// when it reached the server before its inspection (devices push hazards
// first).
func TestCovertInspection(t *testing.T) {
	e := mustSyncEnv(t)
	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	visit := map[string]any{"site": demoSiteG01, "checklist_kind": "household", "checklist_version": 1, "result": "hazard_found", "covert": true}
	accepted(t, mustPush(t, e.sync, worker, dw.push(dw.op("inspections", "in-covert", visit))))
	linked := func(id string, covert any) syncproto.Op {
		h := hazard(demoSiteG01, "暗访：楼道堆放杂物", "general")
		h["inspection"] = "in-covert"
		if covert != nil {
			h["covert"] = covert
		}
		return withFlow(dw.op("hazards", id, h), syncproto.StageReported, 1)
	}
	resp := mustPush(t, e.sync, worker, dw.push(linked("hz-filled", nil), linked("hz-denied", false), linked("hz-said", true)))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
	wantVerdict(t, resp.Verdicts[1], syncproto.StatusRejected, syncproto.CodeCovertRequired)
	wantVerdict(t, resp.Verdicts[2], syncproto.StatusAccepted, "")
	if raw, _ := docOf(t, e, station, "hazards", "hz-filled").Value("covert"); string(raw) != "true" {
		t.Fatalf("hazard of a covert inspection: covert %s, want true", raw)
	}
	for _, ch := range pullAll(t, e.sync, station) {
		if ch.ServerSeq == resp.Verdicts[0].ServerSeq && string(ch.Op.Set["covert"]) != "true" {
			t.Fatalf("the op as applied does not carry covert: %+v", ch.Op)
		}
	}
	// Not even the station clears it while the inspection is covert.
	resp = mustPush(t, e.sync, station, ds.push(ds.op("hazards", "hz-said", map[string]any{"covert": false})))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeCovertRequired)

	// A hazard that arrives before its (covert) inspection, and a plain
	// hazard: neither dispatched, so neither has a deadline.
	d2 := newDevice("phone-worker-111-b")
	w2 := e.as(t, "worker-1-1-1", d2.id)
	early := hazard(demoSiteG01, "暗访：电线私拉乱接", "general")
	early["inspection"] = "in-late"
	late := map[string]any{"site": demoSiteG01, "result": "hazard_found", "covert": true}
	reported := time.Now()
	accepted(t, mustPush(t, e.sync, w2, d2.push(withFlow(d2.op("hazards", "hz-early", early), syncproto.StageReported, 1),
		d2.op("inspections", "in-late", late),
		withFlow(d2.op("hazards", "hz-plain", hazard(demoSiteG01, "灭火器过期", "general")), syncproto.StageReported, 1))))
	dom := mustDomain(t, e)
	ids := func(at time.Time) (out []string) {
		hs, err := dom.OverdueHazards(station, server.HazardQuery{At: at})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if !h.Covert || !h.CovertLimit || !near(h.Deadline, h.ReportedAt.Add(15*server.Day)) {
				t.Errorf("%s: %+v, want covert with the 15-day limit as deadline", h.ID, h)
			}
			out = append(out, h.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(time.Now().Add(14 * server.Day)); len(got) != 0 {
		t.Fatalf("overdue after 14 days: %v", got)
	}
	if got := ids(time.Now().Add(16 * server.Day)); !slices.Equal(got, []string{"hz-early", "hz-filled", "hz-said"}) {
		t.Fatalf("overdue after 16 days: %v, want the three covert hazards and not hz-plain", got)
	}

	// The station dispatches hz-early with no fields: the server fills
	// covert from its inspection and the deadline, capped at the covert
	// limit (the township gives general hazards 30 days).
	sqlite.SetPolicy(t, e.db, township1, `{"hazard_deadline_days": {"general": 30}}`)
	resp = mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", "hz-early", nil), syncproto.StageDispatched, 1)))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
	st := docOf(t, e, station, "hazards", "hz-early")
	if raw, _ := st.Value("covert"); string(raw) != "true" {
		t.Errorf("dispatched hazard of a covert inspection: covert %s, want true", raw)
	}
	if got := timeOf(t, st, "deadline"); !near(got, reported.Add(15*server.Day)) {
		t.Errorf("dispatched hazard of a covert inspection: deadline %s, want the 15-day limit", got)
	}
}

// TestHazardTransitionsServer runs every role against every step from a
// dispatched hazard through the server (the full matrix from every stage
// is syncproto's TestHazardTransitions): the server adds the area check
// and agrees with the declarations.
func TestHazardTransitionsServer(t *testing.T) {
	e := mustSyncEnv(t)
	worker, station := e.as(t, "worker-1-1-1", "setup-worker"), e.as(t, "station-1", "setup-station")
	dw, ds := newDevice("setup-worker"), newDevice("setup-station")
	// From dispatched, round 1: "ok" accepted, "T" forbidden_transition.
	// Columns: reported dispatched rectifying submitted verified closed.
	want := map[string][2]string{ // same round, reopen (round 2)
		"worker-1-1-1": {"T T T ok T T", "T T T T T T"},
		"village-1-1":  {"T T T ok T T", "T T T T T T"},
		// Closing needs verification first (or a close_reason, below).
		"station-1":   {"T ok ok T ok T", "T ok ok T ok T"},
		"officer-1-a": {"T T T T T T", "T T T T T T"},
		"county":      {"T T T T T T", "T T T T T T"},
		// Outside the area: refused before the role is looked at.
		"station-2": {"A A A A A A", "A A A A A A"},
	}
	codes := map[string]string{"ok": "", "T": syncproto.CodeForbiddenTransition, "A": syncproto.CodeForbiddenArea}
	n := 0
	for user, rows := range want {
		d := newDevice("tr-" + user)
		ctx := e.as(t, user, d.id)
		for r, row := range rows {
			for i, cell := range strings.Fields(row) {
				to := syncproto.HazardStages()[i]
				n++
				id := fmt.Sprintf("hz-tr-%d", n)
				accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", id, hazard(demoSiteG01, "x", "")), syncproto.StageReported, 1))))
				accepted(t, mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", id, nil), syncproto.StageDispatched, 1))))
				resp := mustPush(t, e.sync, ctx, d.push(withFlow(d.op("hazards", id, nil), to, uint32(r+1))))
				if code := codes[cell]; resp.Verdicts[0].Code != code {
					t.Errorf("%s: dispatched → %s (round %d): got %q, want %q", user, to, r+1, resp.Verdicts[0].Code, code)
				}
			}
		}
	}
	// A duplicate is closed from dispatched with its reason.
	accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", "hz-dup", hazard(demoSiteG01, "x", "")), syncproto.StageReported, 1))))
	accepted(t, mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", "hz-dup", nil), syncproto.StageDispatched, 1))))
	accepted(t, mustPush(t, e.sync, station, ds.push(withFlow(ds.op("hazards", "hz-dup", map[string]any{"close_reason": syncproto.CloseDuplicate}),
		syncproto.StageClosed, 1))))
}

// certs returns one certificate number (执法证号) per officer.
func certs(officers ...string) []string {
	var out []string
	for i, o := range officers {
		out = append(out, fmt.Sprintf("%s:ZJ3303%04d", o, i+1))
	}
	return out
}

// TestEnforcementRules: 双人执法, 持证执法, only the listed officers write
// a case, 执法全过程记录 kept as recorded, 重大执法决定法制审核.
func TestEnforcementRules(t *testing.T) {
	e := mustSyncEnv(t)
	addUsers(t, e,
		server.DatasetUser{Username: "officer-1-c", Role: server.RoleEnforcementOfficer, Area: township1},
		server.DatasetUser{Username: "officer-2-a", Role: server.RoleEnforcementOfficer, Area: "330399102"},
	)
	a := e.as(t, "officer-1-a", "phone-officer-1a")
	da := newDevice("phone-officer-1a")
	recordWith := func(id string, officers, certificates []string) syncproto.Op {
		op := da.op("enforcement_records", id, map[string]any{"site": demoSiteG01, "subject": "出租房消防安全检查"})
		op.Add = map[string][]string{"officers": officers, "certificates": certificates}
		return op
	}
	record := func(id string, officers ...string) syncproto.Op { return recordWith(id, officers, certs(officers...)) }
	ok := record("er-ok", "officer-1-a", "officer-1-b")
	resp := mustPush(t, e.sync, a, da.push(
		recordWith("er-1", []string{"officer-1-a"}, certs("officer-1-a")),
		record("er-2", "officer-1-a", "worker-1-1-1"),
		record("er-3", "officer-1-a", "officer-2-a"),
		record("er-4", "officer-1-b", "officer-1-c"),
		record("er-5", "officer-1-a", "no-such-user"),
		// 持证执法: one certificate per officer, of listed officers only.
		recordWith("er-6", []string{"officer-1-a", "officer-1-b"}, certs("officer-1-a")),
		recordWith("er-7", []string{"officer-1-a", "officer-1-b"}, append(certs("officer-1-a", "officer-1-b"), "officer-1-c:ZJ33030009")),
		recordWith("er-8", []string{"officer-1-a", "officer-1-b"}, append(certs("officer-1-a", "officer-1-b"), "officer-1-b:ZJ33039999")),
		recordWith("er-9", []string{"officer-1-a", "officer-1-b"}, []string{"officer-1-a:ZJ1", "officer-1-b:ZJ33030002"}),
		ok,
	))
	wantCodes(t, resp, syncproto.CodeTwoOfficers, syncproto.CodeNotOfficer, syncproto.CodeNotOfficer, syncproto.CodeNotOfficer,
		syncproto.CodeNotOfficer, syncproto.CodeCertificateRequired, syncproto.CodeCertificateRequired, syncproto.CodeCertificateRequired,
		syncproto.CodeCertificateRequired, "")

	remove := da.op("enforcement_records", "er-ok", nil)
	remove.Remove = map[string]map[string][]syncproto.OpID{"officers": {"officer-1-b": {ok.ID()}}}
	wantVerdict(t, mustPush(t, e.sync, a, da.push(remove)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeTwoOfficers)

	// An officer of the area who is not on the case writes neither the
	// record nor its steps.
	step := func(d *device, record, name string, extra map[string]any) syncproto.Op {
		f := map[string]any{"record": record, "step": name, "at": time.Now().UnixMilli(), "note": name + "：现场记录"}
		for k, v := range extra {
			f[k] = v
		}
		return d.op("enforcement_steps", fmt.Sprintf("%s-%s-%s", record, name, d.id), f)
	}
	announce := step(da, "er-ok", syncproto.EnforceAnnounce, nil)
	accepted(t, mustPush(t, e.sync, a, da.push(announce, step(da, "er-ok", syncproto.EnforceInspect, nil))))
	dc := newDevice("phone-officer-1c")
	c := e.as(t, "officer-1-c", dc.id)
	wantVerdict(t, mustPush(t, e.sync, c, dc.push(step(dc, "er-ok", syncproto.EnforceEvidence, nil))).Verdicts[0], syncproto.StatusRejected, syncproto.CodeNotOfficer)
	wantVerdict(t, mustPush(t, e.sync, c, dc.push(dc.op("enforcement_records", "er-ok", map[string]any{"outcome": "no_violation"}))).Verdicts[0],
		syncproto.StatusRejected, syncproto.CodeNotOfficer)
	addC := dc.op("enforcement_records", "er-ok", nil)
	addC.Add = map[string][]string{"officers": {"officer-1-c"}, "certificates": {"officer-1-c:ZJ33030003"}}
	wantVerdict(t, mustPush(t, e.sync, c, dc.push(addC)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeNotOfficer)
	// A listed officer adds them, with their certificate (without it:
	// refused).
	add := da.op("enforcement_records", "er-ok", nil)
	add.Add = map[string][]string{"officers": {"officer-1-c"}}
	wantVerdict(t, mustPush(t, e.sync, a, da.push(add)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeCertificateRequired)
	add = da.op("enforcement_records", "er-ok", nil)
	add.Add = map[string][]string{"officers": {"officer-1-c"}, "certificates": {"officer-1-c:ZJ33030003"}}
	accepted(t, mustPush(t, e.sync, a, da.push(add)))
	accepted(t, mustPush(t, e.sync, c, dc.push(step(dc, "er-ok", syncproto.EnforceEvidence, nil))))
	dst := newDevice("pc-station-1")
	wantVerdict(t, mustPush(t, e.sync, e.as(t, "station-1", dst.id), dst.push(step(dst, "er-ok", syncproto.EnforceArchive, nil))).Verdicts[0],
		syncproto.StatusRejected, syncproto.CodeForbiddenRole)

	// A step is kept as recorded: its note cannot be rewritten, photos are
	// added but never removed.
	wantVerdict(t, mustPush(t, e.sync, a, da.push(da.op("enforcement_steps", announce.Doc, map[string]any{"note": "改写"}))).Verdicts[0],
		syncproto.StatusRejected, syncproto.CodeForbiddenField)
	photo := da.op("enforcement_steps", announce.Doc, nil)
	photo.Add = map[string][]string{"photos": {strings.Repeat("c", 64)}}
	accepted(t, mustPush(t, e.sync, a, da.push(photo)))
	unphoto := da.op("enforcement_steps", announce.Doc, nil)
	unphoto.Remove = map[string]map[string][]syncproto.OpID{"photos": {strings.Repeat("c", 64): {photo.ID()}}}
	wantVerdict(t, mustPush(t, e.sync, a, da.push(unphoto)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenField)

	// 重大执法决定法制审核: a major decision, as a decide step or as an
	// outcome, comes after a legal_review step that names its reviewer.
	accepted(t, mustPush(t, e.sync, a, da.push(da.op("enforcement_records", "er-ok", map[string]any{"major_decision": true}))))
	resp = mustPush(t, e.sync, a, da.push(
		step(da, "er-ok", syncproto.EnforceDecide, nil),
		da.op("enforcement_records", "er-ok", map[string]any{"outcome": "penalty"}),
		step(da, "er-ok", syncproto.EnforceLegalReview, nil),
		step(da, "er-ok", syncproto.EnforceLegalReview, map[string]any{"reviewer": "县应急管理局法制科 林"}),
		step(da, "er-ok", syncproto.EnforceDecide, nil),
		da.op("enforcement_records", "er-ok", map[string]any{"outcome": "penalty"}),
	))
	wantCodes(t, resp, syncproto.CodeLegalReviewRequired, syncproto.CodeLegalReviewRequired, syncproto.CodeInvalidValue, "", "", "")
	// A record that is not major decides without a review.
	accepted(t, mustPush(t, e.sync, a, da.push(record("er-minor", "officer-1-a", "officer-1-b"),
		da.op("enforcement_records", "er-minor", map[string]any{"outcome": "order_rectify"}),
		step(da, "er-minor", syncproto.EnforceDecide, nil))))

	// Enforcement records are read by officers, the station and the
	// county, not by grid workers.
	for user, sees := range map[string]bool{"worker-1-1-1": false, "station-1": true, "officer-1-b": true} {
		got := false
		for _, ch := range pullAll(t, e.sync, e.as(t, user, "view-"+user)) {
			got = got || ch.Op.Collection == "enforcement_records"
		}
		if got != sees {
			t.Errorf("%s pulls enforcement records: %v, want %v", user, got, sees)
		}
	}
}

// TestIncidentDelay: the server records each report's delay from the
// incident to its arrival, corrected by the device's clock offset, and
// flags those over 30 minutes (30分钟以内上报).
func TestIncidentDelay(t *testing.T) {
	e := mustSyncEnv(t)
	d := newDevice("phone-worker-111")
	worker := e.as(t, "worker-1-1-1", d.id)
	now := time.Now()
	incident := func(id string, occurred time.Time) syncproto.Op {
		return d.op("incidents", id, map[string]any{"title": "民房起火", "occurred_at": occurred.UnixMilli(),
			"reported_at": occurred.Add(time.Minute).UnixMilli(), "location": map[string]float64{"lat": 27.96, "lng": 120.58}})
	}
	accepted(t, mustPush(t, e.sync, worker, d.push(incident("inc-quick", now.Add(-10*time.Minute)), incident("inc-late", now.Add(-45*time.Minute)))))
	// A phone whose clock is an hour slow reports an incident of five
	// minutes ago: its occurred_at reads 65 minutes ago on the server's
	// clock, but the push says what the phone's clock reads.
	slow := now.Add(-time.Hour)
	req := d.push(incident("inc-slow-clock", slow.Add(-5*time.Minute)))
	req.DeviceTime = slow.UnixMilli()
	accepted(t, mustPush(t, e.sync, worker, req))
	// A phone 20 minutes fast reports an incident of 25 minutes ago: by
	// its clock 5 minutes before the server's now, which is no delay of 5
	// minutes but of 25.
	df := newDevice("tablet-worker-111")
	fast := now.Add(20 * time.Minute)
	req = df.push(df.op("incidents", "inc-fast-clock", map[string]any{"title": "电瓶车起火", "occurred_at": fast.Add(-25 * time.Minute).UnixMilli()}))
	req.DeviceTime = fast.UnixMilli()
	accepted(t, mustPush(t, e.sync, e.as(t, "worker-1-1-1", df.id), req))
	resp := mustPush(t, e.sync, worker, d.push(incident("inc-future", now.Add(2*time.Hour))))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeInvalidValue)

	got, err := mustDomain(t, e).Incidents(e.as(t, "station-1", "pc-station-1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		delay time.Duration
		late  bool
	}{"inc-quick": {10 * time.Minute, false}, "inc-late": {45 * time.Minute, true}, "inc-slow-clock": {5 * time.Minute, false},
		"inc-fast-clock": {25 * time.Minute, false}}
	if len(got) != len(want) {
		t.Fatalf("got %d incidents, want %d", len(got), len(want))
	}
	for _, in := range got {
		w := want[in.ID]
		if d := time.Duration(in.DelayMS) * time.Millisecond; (d-w.delay).Abs() > 30*time.Second || in.Late != w.late ||
			in.LimitMS != (30*time.Minute).Milliseconds() || in.ReportedBy != "worker-1-1-1" || in.AreaID != grid111 {
			t.Errorf("%s: delay %s late %v %+v, want delay %s late %v", in.ID, d, in.Late, in, w.delay, w.late)
		}
		if in.ID == "inc-slow-clock" && (time.Duration(in.ClockOffsetMS)*time.Millisecond+time.Hour).Abs() > 30*time.Second {
			t.Errorf("clock offset %d ms, want about -1h", in.ClockOffsetMS)
		}
	}
	if other, _ := mustDomain(t, e).Incidents(e.as(t, "station-2", "pc-station-2"), 0); len(other) != 0 {
		t.Errorf("station-2 sees township 1's incidents: %+v", other)
	}
}

// TestWarningAcks: the station sees who has and has not acknowledged
// (应急叫应).
func TestWarningAcks(t *testing.T) {
	e := mustSyncEnv(t)
	station := e.as(t, "station-1", "pc-station-1")
	ds := newDevice("pc-station-1")
	accepted(t, mustPush(t, e.sync, station, ds.push(ds.op("warnings", "w-village", warning(village11, "下洋村大风预警")))))
	accepted(t, mustPush(t, e.sync, station, ds.push(ds.op("warnings", "w-grid", warning(grid111, "第一网格停电")))))
	ack := func(user, device, id string) {
		d := newDevice(device)
		accepted(t, mustPush(t, e.sync, e.as(t, user, d.id), d.push(d.op("warning_acks", id+"-"+device, map[string]any{"warning": id}))))
	}
	ack("worker-1-1-1", "phone-worker-111", "w-village")
	ack("worker-1-1-1", "tablet-worker-111", "w-village") // a second device of the same user
	ack("village-1-1", "phone-village-11", "w-village")

	dom := mustDomain(t, e)
	got, err := dom.WarningAcks(station, "")
	if err != nil {
		t.Fatal(err)
	}
	names := func(us []*server.User) (out []string) {
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	acked := func(as []*server.Ack) (out []string) {
		for _, a := range as {
			out = append(out, a.Username)
		}
		slices.Sort(out) // two acknowledgements may arrive in the same millisecond
		return out
	}
	if len(got) != 2 || got[0].ID != "w-grid" || got[1].ID != "w-village" {
		t.Fatalf("got %d warnings, want w-grid then w-village", len(got))
	}
	if a, m := acked(got[1].Acked), names(got[1].Missing); !slices.Equal(a, []string{"village-1-1", "worker-1-1-1"}) ||
		!slices.Equal(m, []string{"worker-1-1-2", "worker-1-1-3"}) {
		t.Errorf("w-village: acked %v, missing %v", a, m)
	}
	if a, m := acked(got[0].Acked), names(got[0].Missing); len(a) != 0 || !slices.Equal(m, []string{"worker-1-1-1"}) {
		t.Errorf("w-grid: acked %v, missing %v", a, m)
	}
	if got[1].IssuedBy != "station-1" || got[1].TargetID != village11 || got[1].Level != syncproto.WarningImmediate ||
		got[1].Body != "大风天气，注意用火用电安全。" {
		t.Errorf("w-village: %+v", got[1])
	}
	if one, err := dom.WarningAcks(station, "w-village"); err != nil || len(one) != 1 {
		t.Errorf("one warning: %d, %v", len(one), err)
	}
	_, err = dom.WarningAcks(e.as(t, "station-2", "pc-station-2"), "w-village")
	wantCode(t, err, server.ENOTFOUND)

	t.Run("Expired", func(t *testing.T) {
		// A warning that ran out an hour ago waits for nobody: the
		// expected users who never acknowledged are unanswered, not
		// missing; an acknowledgement after the end is late.
		w := warning(village11, "昨夜大风预警")
		w["issued_at"], w["valid_until"] = time.Now().Add(-5*time.Hour).UnixMilli(), time.Now().Add(-time.Hour).UnixMilli()
		accepted(t, mustPush(t, e.sync, station, ds.push(ds.op("warnings", "w-expired", w))))
		ack("worker-1-1-2", "phone-worker-112", "w-expired")
		got, err := dom.WarningAcks(station, "w-expired")
		if err != nil || len(got) != 1 {
			t.Fatal(err)
		}
		w0 := got[0]
		if !w0.Expired || w0.ValidUntil == nil || len(w0.Missing) != 0 || len(w0.Acked) != 1 || !w0.Acked[0].Late ||
			!slices.Equal(names(w0.Unanswered), []string{"village-1-1", "worker-1-1-1", "worker-1-1-3"}) {
			t.Fatalf("expired warning: %+v, unanswered %v", w0, names(w0.Unanswered))
		}
		if open, _ := dom.WarningAcks(station, "w-village"); open[0].Expired || len(open[0].Unanswered) != 0 || len(open[0].Missing) != 2 {
			t.Fatalf("open warning: %+v", open[0])
		}
		bad := warning(village11, "x")
		bad["issued_at"], bad["valid_until"] = time.Now().UnixMilli(), time.Now().Add(-time.Hour).UnixMilli()
		wantVerdict(t, mustPush(t, e.sync, station, ds.push(ds.op("warnings", "w-bad", bad))).Verdicts[0], syncproto.StatusRejected, syncproto.CodeInvalidValue)
	})
}

// TestChecklistRule: inspections name a checklist the server has; an old
// version keeps syncing after a new one is published.
func TestChecklistRule(t *testing.T) {
	e := mustSyncEnv(t)
	d := newDevice("phone-worker-111")
	worker := e.as(t, "worker-1-1-1", d.id)
	dom := mustDomain(t, e)
	latest, err := dom.Checklists(worker, server.ChecklistQuery{})
	if err != nil || len(latest) != 9 {
		t.Fatalf("got %d checklists, %v; want the 9 of the demo county", len(latest), err)
	}
	insp := func(id string, set map[string]any) syncproto.Op {
		f := map[string]any{"site": demoSiteG01, "result": "pass", "finished_at": time.Now().UnixMilli()}
		for k, v := range set {
			f[k] = v
		}
		return d.op("inspections", id, f)
	}
	resp := mustPush(t, e.sync, worker, d.push(
		insp("in-v1", map[string]any{"checklist_kind": "household", "checklist_version": 1}),
		insp("in-v2", map[string]any{"checklist_kind": "household", "checklist_version": 2}),
		insp("in-half", map[string]any{"checklist_kind": "household"}),
		insp("in-none", nil),
	))
	wantCodes(t, resp, "", syncproto.CodeUnknownChecklist, syncproto.CodeUnknownChecklist, "")
	// The county publishes household v2; v1 devices keep syncing.
	v2 := syncproto.Checklist{Kind: "household", Version: 2, Title: "家庭户检查清单（2026版）", Items: []syncproto.ChecklistItem{
		{Code: "HH-01", Text: "电动自行车未在室内、楼道充电", Severity: "general"}}}
	if _, err := sqlite.NewImportService(e.db, nil).Import(context.Background(), &server.Dataset{Format: 1, Checklists: []syncproto.Checklist{v2}}); err != nil {
		t.Fatal(err)
	}
	resp = mustPush(t, e.sync, worker, d.push(
		insp("in-old-device", map[string]any{"checklist_kind": "household", "checklist_version": 1}),
		insp("in-new-device", map[string]any{"checklist_kind": "household", "checklist_version": 2}),
	))
	accepted(t, resp)
	hh, _ := dom.Checklists(worker, server.ChecklistQuery{Kind: "household"})
	all, _ := dom.Checklists(worker, server.ChecklistQuery{Kind: "household", AllVersions: true})
	if len(hh) != 1 || hh[0].Version != 2 || len(hh[0].Items) != 1 || len(all) != 2 {
		t.Fatalf("latest %+v, all %d", hh, len(all))
	}

	// The checklist is for the site's kind: a household checklist at a
	// rented house is refused, also when it is named afterwards.
	rented := insp("in-rented", map[string]any{"checklist_kind": "household", "checklist_version": 1})
	rented.Set["site"] = json.RawMessage(`"` + demoSite2G01 + `"`)
	later := insp("in-later", nil)
	later.Set["site"] = json.RawMessage(`"` + demoSite2G01 + `"`)
	resp = mustPush(t, e.sync, worker, d.push(rented, later,
		d.op("inspections", "in-later", map[string]any{"checklist_kind": "household", "checklist_version": 1}),
		d.op("inspections", "in-later", map[string]any{"checklist_kind": "rented_housing", "checklist_version": 1})))
	wantCodes(t, resp, syncproto.CodeChecklistMismatch, "", syncproto.CodeChecklistMismatch, "")

	// Item codes are checked against the inspection's own version: the v1
	// device's HH-07 is fine, the v2 device's is not (v2 has only HH-01);
	// items of an inspection without a checklist are not checked.
	item := func(id, inspection, code string) syncproto.Op {
		return d.op("inspection_items", id, map[string]any{"inspection": inspection, "item": code, "result": "pass"})
	}
	resp = mustPush(t, e.sync, worker, d.push(
		item("it-v1-07", "in-old-device", "HH-07"),
		item("it-v1-99", "in-old-device", "HH-99"),
		item("it-v2-01", "in-new-device", "HH-01"),
		item("it-v2-07", "in-new-device", "HH-07"),
		item("it-none-x", "in-none", "X-1"),
	))
	wantCodes(t, resp, "", syncproto.CodeUnknownItem, "", syncproto.CodeUnknownItem, "")
	resp = mustPush(t, e.sync, worker, d.push(d.op("inspection_items", "it-v1-07", map[string]any{"item": "HH-42"})))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeUnknownItem)
}

// TestSiteSubKind: sub_kind (九小场所) belongs to nine_small sites; the
// demo county's carry one, and the task list shows it.
func TestSiteSubKind(t *testing.T) {
	e := mustSyncEnv(t)
	d := newDevice("phone-worker-111")
	worker := e.as(t, "worker-1-1-1", d.id)
	small := func(id, kind, sub string) syncproto.Op {
		f := map[string]any{"grid": grid111, "name": "小旅馆：下洋客栈", "kind": kind}
		if sub != "" {
			f["sub_kind"] = sub
		}
		return d.op("sites", id, f)
	}
	resp := mustPush(t, e.sync, worker, d.push(
		small("s-hotel", syncproto.SiteNineSmall, syncproto.NineSmallHotel),
		small("s-house", syncproto.SiteHousehold, syncproto.NineSmallHotel),
		small("s-bad", syncproto.SiteNineSmall, "small_castle"),
		// Accepted without one (older apps, imports without the column);
		// the task list shows it missing.
		small("s-old-app", syncproto.SiteNineSmall, ""),
		d.op("sites", "s-hotel", map[string]any{"sub_kind": nil}),
		d.op("sites", "s-hotel", map[string]any{"sub_kind": syncproto.NineSmallRestaurant}),
		d.op("sites", "s-hotel", map[string]any{"kind": syncproto.SiteSharedUse}),
		d.op("sites", "s-hotel", map[string]any{"kind": syncproto.SiteSharedUse, "sub_kind": nil}),
	))
	wantCodes(t, resp, "", syncproto.CodeInvalidValue, syncproto.CodeInvalidValue, "", syncproto.CodeInvalidValue, "",
		syncproto.CodeInvalidValue, "")
	tasks, err := mustDomain(t, e).Tasks(worker, server.TaskQuery{})
	if err != nil {
		t.Fatal(err)
	}
	sub := map[string]string{}
	for _, t := range tasks {
		sub[t.SiteID] = t.SubKind
	}
	if sub["0192f000-0000-7000-8000-000000000003"] != syncproto.NineSmallRestaurant || sub["s-old-app"] != "" || sub["s-hotel"] != "" {
		t.Fatalf("sub kinds in the task list: %v", sub)
	}
}

// TestReferral: 抄告 of a refused check (no hazard needed) and of a
// hazard, with the department's reply (反馈); the server stamps when.
func TestReferral(t *testing.T) {
	e := mustSyncEnv(t)
	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	accepted(t, mustPush(t, e.sync, worker, dw.push(
		dw.op("inspections", "in-refused", map[string]any{"site": demoSite2G01, "result": "no_access", "refused": true,
			"refusal_note": "房东拒绝入户检查"}),
		dw.op("inspections", "in-pass", map[string]any{"site": demoSiteG01, "result": "pass"}),
		withFlow(dw.op("hazards", "hz-refer", hazard(demoSite2G01, "拒不整改：楼道飞线充电", "general")), syncproto.StageReported, 1),
	)))
	resp := mustPush(t, e.sync, worker, dw.push(dw.op("inspections", "in-refused", map[string]any{"referred_to": "县住建局"})))
	wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenField)
	resp = mustPush(t, e.sync, station, ds.push(
		ds.op("inspections", "in-refused", map[string]any{"referred_to": "县住建局", "referral_note": "出租房房东拒绝消防检查，请督促"}),
		ds.op("inspections", "in-pass", map[string]any{"referred_to": "县住建局"}),
		ds.op("hazards", "hz-refer", map[string]any{"feedback": "已约谈"}),
		ds.op("hazards", "hz-refer", map[string]any{"referred_to": "市场监管所"}),
	))
	wantCodes(t, resp, "", syncproto.CodeInvalidValue, syncproto.CodeInvalidValue, "")
	accepted(t, mustPush(t, e.sync, station, ds.push(ds.op("inspections", "in-refused", map[string]any{"feedback": "住建局已上门，房东同意下周配合检查"}))))
	in := docOf(t, e, worker, "inspections", "in-refused")
	if !near(timeOf(t, in, "referred_at"), time.Now()) || !near(timeOf(t, in, "feedback_at"), time.Now()) {
		t.Fatalf("referral times not stamped: %+v", in.Fields)
	}
	if !near(timeOf(t, docOf(t, e, worker, "hazards", "hz-refer"), "referred_at"), time.Now()) {
		t.Fatal("hazard referral not stamped")
	}
}

// TestEscalations: overdue hazards past escalate_after_overdue_days (demo
// 7) and not escalated are flagged should_escalate; the county sees them
// per township.
func TestEscalations(t *testing.T) {
	e := mustSyncEnv(t)
	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	ago := func(days int) int64 { return time.Now().Add(-time.Duration(days)*server.Day - time.Hour).UnixMilli() }
	for _, id := range []string{"hz-3days", "hz-8days", "hz-9days-escalated"} {
		accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", id, hazard(demoSiteG01, id, "general")), syncproto.StageReported, 1))))
	}
	accepted(t, mustPush(t, e.sync, station, ds.push(
		withFlow(ds.op("hazards", "hz-3days", map[string]any{"deadline": ago(3)}), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-8days", map[string]any{"deadline": ago(8)}), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-9days-escalated", map[string]any{"deadline": ago(9), "escalated": true, "escalation_note": "挂牌督办"}),
			syncproto.StageDispatched, 1),
	)))
	dom := mustDomain(t, e)
	over, err := dom.OverdueHazards(station, server.HazardQuery{})
	if err != nil || len(over) != 3 {
		t.Fatalf("overdue %d, %v", len(over), err)
	}
	should := map[string]bool{}
	for _, h := range over {
		should[h.ID] = h.ShouldEscalate
	}
	if !should["hz-8days"] || should["hz-3days"] || should["hz-9days-escalated"] {
		t.Fatalf("should_escalate %v", should)
	}
	rep, err := dom.Escalations(e.as(t, "county", "pc-county"), server.HazardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Areas) != 2 || rep.Areas[0].AreaID != township1 || rep.Areas[0].Overdue != 3 || rep.Areas[0].ShouldEscalate != 1 ||
		rep.Areas[0].Escalated != 1 || rep.Areas[1].Overdue != 0 || len(rep.Hazards) != 1 || rep.Hazards[0].ID != "hz-8days" {
		t.Fatalf("county escalations: %+v %+v %+v", rep.Areas[0], rep.Areas[1], rep.Hazards)
	}
	// A stricter township escalates after 3 days.
	if _, err := dom.SetPolicy(e.as(t, "county", "pc-county"), township1, []byte(`{"escalate_after_overdue_days": 3}`)); err != nil {
		t.Fatal(err)
	}
	if rep, _ := dom.Escalations(station, server.HazardQuery{}); len(rep.Areas) != 1 || rep.Areas[0].ShouldEscalate != 2 || len(rep.Hazards) != 2 {
		t.Fatalf("station with 3 days: %+v", rep)
	}
	if rep, _ := dom.Escalations(worker, server.HazardQuery{}); len(rep.Areas) != 1 || rep.Areas[0].AreaID != grid111 || rep.Areas[0].Overdue != 3 {
		t.Fatalf("a grid below a township is its own row: %+v", rep.Areas)
	}
}

// TestTasksAndCoverage checks the due/overdue lists and the coverage rates
// of the demo county against hand counts.
//
// How they were counted: fixtures/demo-county.json gives every site a risk
// level and last_checked_days_ago; the policy's intervals are major 7,
// significant 15, general 30, low 90 days. Per site: never checked (null)
// → never; days > interval → overdue; interval - days <= 3 → due; else ok.
// Covered = ok + due. Going through the 52 sites grid by grid
// (site: level interval/days):
//
//	101201G01 徐永福户 gen 30/18 ok, 陈建国出租房 sig 15/21 over, 老周面馆 gen 30/35 over,
//	          林素娥 sig 15/9 ok, 潘建华自建房 sig never, 吴海平加工点 maj 7/9 over      → 2 ok, 0 due, 3 over, 1 never
//	101201G02 金小军户 low 90/40 ok, 叶国强户 never, 下洋超市 gen 30/12 ok,
//	          郑荣华出租房 sig 15/16 over, 郑有根 gen 30/33 over                     → 2, 0, 2, 1
//	101201G03 鞋材厂 sig 15/11 ok, 阿强塑料 sig 15/20 over, 吴美兰户 low 90/95 over,
//	          胡志刚自建房 gen 30/29 due                                             → 1, 1, 2, 0
//	101202G01 王金花 sig 15/3 ok, 王兴旺户 gen 30/22 ok, 岭头幼儿园 sig 15/14 due,
//	          岭上人家民宿 sig 15/12 due                                             → 2, 2, 0, 0
//	101202G02 张德才 gen 30/12 ok, 张丽芳户 low 90/60 ok, 岭头卫生室 sig 15/8 ok      → 3, 0, 0, 0
//	101203G01 东岙五金 maj 7/10 over, 顺通物流 sig 15/6 ok, 东岙出租楼 never,
//	          李明辉作坊 maj 7/4 due                                                 → 1, 1, 1, 1
//	101203G02 包装材料厂 sig 15/17 over, 金鑫眼镜 sig 15/13 due,
//	          东岙农贸市场 sig 15/15 due (the boundary), 林海东户 gen 30/8 ok          → 1, 2, 1, 0
//	102201G01 望江花园 sig 15/12 due, 青江商贸城 maj 7/6 due, 欢唱KTV sig 15/19 over,
//	          滨江路群租房 sig 15/9 ok, 陈玉珍 gen 30/20 ok                           → 2, 2, 1, 0
//	102201G02 望江大厦 sig 15/10 ok, 极速网咖 sig 15/10 ok, 江滨维修店 never,
//	          刘建新户 low 90/70 ok                                                  → 3, 0, 0, 1
//	102201G03 中心小学 sig 15/14 due, 如意足浴 sig 15/30 over, 赵志远户 gen 30/25 ok   → 1, 1, 1, 0
//	102202G01 新桥公寓 sig 15/5 ok, 新桥颐养院 maj 7/3 ok, 园丁路出租楼 sig 15/40 over,
//	          新桥路自建房 sig 15/14 due, 新桥客栈 sig 15/16 over                      → 2, 1, 2, 0
//	102202G02 锦园3幢 never, 文化礼堂 sig 15/28 over, 周桂英 gen 30/45 over,
//	          老街巷出租房 gen 30/12 ok, 新桥服装仓储店 sig 15/11 ok                   → 2, 0, 2, 1
//
// Villages, townships and the county are the sums; the county's 22 ok + 10
// due = 32 covered of 52, 15 overdue, 5 never matches fixtures/README.md.
func TestTasksAndCoverage(t *testing.T) {
	e := mustSyncEnv(t)
	dom := mustDomain(t, e)
	countyCtx := e.as(t, "county", "pc-county")
	type counts struct{ sites, ok, due, overdue, never int }
	hand := map[string]counts{
		"330399":          {52, 22, 10, 15, 5},
		"330399101":       {30, 12, 6, 9, 3},
		"330399101201":    {15, 5, 1, 7, 2},
		"330399101201G01": {6, 2, 0, 3, 1},
		"330399101201G02": {5, 2, 0, 2, 1},
		"330399101201G03": {4, 1, 1, 2, 0},
		"330399101202":    {7, 5, 2, 0, 0},
		"330399101202G01": {4, 2, 2, 0, 0},
		"330399101202G02": {3, 3, 0, 0, 0},
		"330399101203":    {8, 2, 3, 2, 1},
		"330399101203G01": {4, 1, 1, 1, 1},
		"330399101203G02": {4, 1, 2, 1, 0},
		"330399102":       {22, 10, 4, 6, 2},
		"330399102201":    {12, 6, 3, 2, 1},
		"330399102201G01": {5, 2, 2, 1, 0},
		"330399102201G02": {4, 3, 0, 0, 1},
		"330399102201G03": {3, 1, 1, 1, 0},
		"330399102202":    {10, 4, 1, 4, 1},
		"330399102202G01": {5, 2, 1, 2, 0},
		"330399102202G02": {5, 2, 0, 2, 1},
	}
	rows, err := dom.Coverage(countyCtx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(hand) {
		t.Fatalf("got %d coverage rows, want %d (every area)", len(rows), len(hand))
	}
	for _, r := range rows {
		w := hand[r.AreaID]
		got := counts{r.Sites, r.OK, r.Due, r.Overdue, r.Never}
		if got != w || r.Covered != w.ok+w.due || r.Rate == nil || *r.Rate != float64(w.ok+w.due)/float64(w.sites) {
			t.Errorf("%s %s: got %+v covered %d, want %+v", r.AreaID, r.Name, got, r.Covered, w)
		}
	}
	if rows[0].AreaID != county || *rows[0].Rate < 0.61 || *rows[0].Rate > 0.62 {
		t.Errorf("county first with about 62%%: %+v", rows[0])
	}

	worker := e.as(t, "worker-1-1-1", "phone-worker-111")
	taskNames := func(ts []*syncproto.Task) (out []string) {
		for _, t := range ts {
			out = append(out, fmt.Sprintf("%s:%s", t.Status, strings.SplitN(t.SiteName, "（", 2)[0]))
		}
		return out
	}
	t.Run("GridWorkerTaskList", func(t *testing.T) {
		tasks, err := dom.Tasks(worker, server.TaskQuery{})
		if err != nil {
			t.Fatal(err)
		}
		// Most overdue first (陈建国 6 days over, 老周面馆 5, 吴海平 2), then
		// never checked, then ok by how soon they fall due.
		want := []string{"overdue:陈建国居住出租房", "overdue:小餐饮：老周面馆", "overdue:吴海平服装加工点",
			"never:潘建华经营性自建房", "ok:独居老人林素娥家", "ok:徐永福户"}
		if got := taskNames(tasks); !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
		first := tasks[0]
		if first.IntervalDays != 15 || first.AgeDays != 21 || first.LastCheckedAt == nil || first.DueAt == nil ||
			!near(*first.DueAt, first.LastCheckedAt.Add(16*server.Day)) || first.LastInspection != "" {
			t.Fatalf("got %+v", first)
		}
		overdue, _ := dom.Tasks(worker, server.TaskQuery{Statuses: []syncproto.CheckStatus{syncproto.CheckOverdue, syncproto.CheckNever}})
		if len(overdue) != 4 {
			t.Fatalf("overdue or never: got %d, want 4", len(overdue))
		}
		_, err = dom.Tasks(worker, server.TaskQuery{AreaID: grid112})
		wantCode(t, err, server.ENOTFOUND)
		_, err = dom.Tasks(worker, server.TaskQuery{Statuses: []syncproto.CheckStatus{"late"}})
		wantCode(t, err, server.EINVALID)
	})
	t.Run("TomorrowTheBoundaryFlips", func(t *testing.T) {
		// One day on (hand count: every age + 1), 东岙农贸市场 (15/15) is
		// overdue: grid 101203G02 goes from 1 ok, 2 due, 1 overdue to
		// 1 ok, 1 due, 2 overdue.
		tasks, err := dom.Tasks(countyCtx, server.TaskQuery{AreaID: "330399101203G02", At: time.Now().Add(server.Day)})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"overdue:青溪县东岙包装材料厂", "overdue:东岙农贸市场", "due:小生产加工企业：金鑫眼镜配件加工点", "ok:林海东户"}
		if got := taskNames(tasks); !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("AnInspectionCovers", func(t *testing.T) {
		d := newDevice("phone-worker-111")
		now := time.Now()
		accepted(t, mustPush(t, e.sync, worker, d.push(
			d.op("inspections", "in-chen", map[string]any{"site": demoSite2G01, "checklist_kind": "rented_housing", "checklist_version": 1,
				"started_at": now.Add(-20 * time.Minute).UnixMilli(), "finished_at": now.UnixMilli(), "result": "pass"}),
			// Nobody home at 老周面馆: not a check.
			d.op("inspections", "in-zhou", map[string]any{"site": "0192f000-0000-7000-8000-000000000003", "result": "no_access"}),
			// A phone with its clock ten days ahead cannot check in advance.
			d.op("inspections", "in-future", map[string]any{"site": "0192f000-0000-7000-8000-000000000006", "result": "pass",
				"finished_at": now.Add(10 * server.Day).UnixMilli()}),
		)))
		tasks, _ := dom.Tasks(worker, server.TaskQuery{})
		byName := map[string]*syncproto.Task{}
		for _, t := range tasks {
			byName[strings.SplitN(t.SiteName, "（", 2)[0]] = t
		}
		if c := byName["陈建国居住出租房"]; c.Status != syncproto.CheckOK || c.LastInspection != "in-chen" || c.AgeDays != 0 {
			t.Errorf("inspected site: %+v", c)
		}
		if z := byName["小餐饮：老周面馆"]; z.Status != syncproto.CheckOverdue {
			t.Errorf("no_access counted as a check: %+v", z)
		}
		if f := byName["吴海平服装加工点"]; f.Status != syncproto.CheckOK || f.LastCheckedAt.After(time.Now()) {
			t.Errorf("future check: %+v", f)
		}
		rows, _ := dom.Coverage(worker, "")
		if len(rows) != 1 || rows[0].Covered != 4 || rows[0].Overdue != 1 {
			t.Errorf("grid coverage after two checks: %+v", rows[0])
		}
		_, err := dom.Coverage(worker, village11)
		wantCode(t, err, server.ENOTFOUND)
	})
}

// TestOverdueHazards: hazards past their deadline before rectification
// was submitted, most overdue first, with escalation (挂牌督办).
func TestOverdueHazards(t *testing.T) {
	e := mustSyncEnv(t)
	worker, station := e.as(t, "worker-1-1-1", "phone-worker-111"), e.as(t, "station-1", "pc-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("pc-station-1")
	now := time.Now()
	ago := func(days int) int64 { return now.Add(-time.Duration(days) * server.Day).UnixMilli() }
	for _, id := range []string{"hz-2days", "hz-5days", "hz-future", "hz-submitted"} {
		accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", id, hazard(demoSiteG01, id, "general")), syncproto.StageReported, 1))))
	}
	accepted(t, mustPush(t, e.sync, station, ds.push(
		withFlow(ds.op("hazards", "hz-2days", map[string]any{"deadline": ago(2)}), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-5days", map[string]any{"deadline": ago(5), "escalated": true}), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-future", map[string]any{"deadline": ago(-2)}), syncproto.StageDispatched, 1),
		withFlow(ds.op("hazards", "hz-submitted", map[string]any{"deadline": ago(1)}), syncproto.StageDispatched, 1),
	)))
	accepted(t, mustPush(t, e.sync, worker, dw.push(withFlow(dw.op("hazards", "hz-submitted", nil), syncproto.StageSubmitted, 1))))
	got, err := mustDomain(t, e).OverdueHazards(station, server.HazardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "hz-5days" || got[0].OverdueDays != 5 || !got[0].Escalated ||
		got[1].ID != "hz-2days" || got[1].OverdueDays != 2 || got[1].Escalated || got[1].SiteName != "徐永福户" || got[1].Stage != syncproto.StageDispatched {
		t.Fatalf("got %+v", got)
	}
	if other, _ := mustDomain(t, e).OverdueHazards(e.as(t, "station-2", "pc-station-2"), server.HazardQuery{}); len(other) != 0 {
		t.Fatalf("station-2 sees %+v", other)
	}
}

// TestChainExport: the exported audit chain verifies, ends at the
// database's head, and any edit or gap in it is found.
func TestChainExport(t *testing.T) {
	e := mustSyncEnv(t)
	ctx := context.Background()
	var buf bytes.Buffer
	n, head, err := e.sync.ExportChain(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	dbN, dbHead, err := e.sync.VerifyChainHead(ctx)
	if err != nil || n != dbN || !bytes.Equal(head, dbHead) || n != 52 {
		t.Fatalf("export %d ops head %x, database %d ops head %x, %v", n, head, dbN, dbHead, err)
	}
	vn, vhead, err := sqlite.VerifyChainExport(bytes.NewReader(buf.Bytes()))
	if err != nil || vn != n || !bytes.Equal(vhead, head) {
		t.Fatalf("verify: %d ops head %x, %v", vn, vhead, err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	t.Run("ErrEdited", func(t *testing.T) {
		edited := slices.Clone(lines)
		edited[9] = strings.Replace(edited[9], "household", "high_rise", 1)
		if edited[9] == lines[9] {
			edited[9] = strings.Replace(edited[9], `\"grid\"`, `\"grid\" `, 1)
		}
		_, _, err := sqlite.VerifyChainExport(strings.NewReader(strings.Join(edited, "")))
		if err == nil || !strings.Contains(err.Error(), "broken at op 10") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrLineRemoved", func(t *testing.T) {
		gap := slices.Delete(slices.Clone(lines), 20, 21)
		if _, _, err := sqlite.VerifyChainExport(strings.NewReader(strings.Join(gap, ""))); err == nil {
			t.Fatal("a missing entry verified")
		}
	})
}

// TestSignaturePhotoRef: a photo named by a scalar field (the resident's
// signature) is a photo reference like a set element: the server tracks
// it as missing evidence and lets the area read it; replacing it keeps the
// old one as a removed reference.
func TestSignaturePhotoRef(t *testing.T) {
	e := mustSyncEnv(t)
	d := newDevice("phone-worker-111")
	worker := e.as(t, "worker-1-1-1", d.id)
	sigA, sigB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	accepted(t, mustPush(t, e.sync, worker, d.push(d.op("inspections", "in-sig", map[string]any{"site": demoSiteG01, "result": "pass", "signature": sigA}))))
	accepted(t, mustPush(t, e.sync, worker, d.push(d.op("inspections", "in-sig", map[string]any{"signature": sigB}))))
	refs, err := sqlite.NewDashboardService(e.db).Photos(e.as(t, "station-1", "pc-station-1"), "inspections", []string{"in-sig"})
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, r := range refs {
		if r.Field == "signature" {
			live[r.SHA256] = r.Live
		}
	}
	if len(live) != 2 || live[sigA] || !live[sigB] {
		t.Fatalf("signature refs: %v, want %s removed and %s live", live, sigA[:4], sigB[:4])
	}
}
