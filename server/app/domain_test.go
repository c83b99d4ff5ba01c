package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// rawDevice pushes ops over HTTP as one device.
type rawDevice struct {
	t     *testing.T
	base  string
	token string
	id    string
	seq   uint64
}

func newRawDevice(t *testing.T, base, user, id string) *rawDevice {
	return &rawDevice{t: t, base: base, token: apptest.Login(t, base, user, id), id: id}
}

func (d *rawDevice) op(collection, doc string, set map[string]any) syncproto.Op {
	d.seq++
	op := syncproto.Op{Device: d.id, Seq: d.seq, HLC: syncproto.HLC{Wall: time.Now().UnixMilli(), Logical: uint16(d.seq)},
		Collection: collection, Doc: doc, Set: map[string]json.RawMessage{}}
	for k, v := range set {
		op.Set[k], _ = json.Marshal(v)
	}
	return op
}

func (d *rawDevice) push(ops ...syncproto.Op) []syncproto.Verdict {
	d.t.Helper()
	var resp syncproto.PushResponse
	req := syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: d.id, DeviceTime: time.Now().UnixMilli(), Ops: ops}
	if r := call(d.t, "POST", d.base+"/v1/sync/push", d.token, req, &resp); r.StatusCode != 200 {
		d.t.Fatalf("push: %d", r.StatusCode)
	}
	for _, v := range resp.Verdicts {
		if v.Status != syncproto.StatusAccepted {
			d.t.Fatalf("op %d: %s %s", v.Seq, v.Code, v.Reason)
		}
	}
	return resp.Verdicts
}

func (d *rawDevice) get(path string, out any) int {
	d.t.Helper()
	return call(d.t, "GET", d.base+path, d.token, nil, out).StatusCode
}

// TestDomainHTTP exercises the domain's endpoints through the real server.
func TestDomainHTTP(t *testing.T) {
	base := apptest.Start(t).URL()
	worker := newRawDevice(t, base, "worker-1-1-1", "phone-worker-111")
	station := newRawDevice(t, base, "station-1", "pc-station-1")

	var cl struct {
		Checklists []struct {
			Kind    string `json:"kind"`
			Version int    `json:"version"`
			Items   []struct {
				Code string `json:"code"`
			} `json:"items"`
		} `json:"checklists"`
	}
	if worker.get("/v1/checklists?kind=household", &cl) != 200 || len(cl.Checklists) != 1 || len(cl.Checklists[0].Items) != 10 {
		t.Fatalf("checklists: %+v", cl)
	}

	var tasks struct {
		Tasks []struct {
			SiteID string `json:"site_id"`
			Status string `json:"status"`
		} `json:"tasks"`
	}
	if worker.get("/v1/tasks?status=overdue,never", &tasks) != 200 || len(tasks.Tasks) != 4 || tasks.Tasks[0].Status != "overdue" {
		t.Fatalf("tasks: %+v", tasks)
	}
	var e apiError
	if code := worker.get("/v1/tasks?area=330399101201G02", &e); code != 404 || e.Code != "not_found" {
		t.Fatalf("another grid's tasks: %d %+v", code, e)
	}

	var cov struct {
		Coverage []struct {
			AreaID  string   `json:"area_id"`
			Sites   int      `json:"sites"`
			Covered int      `json:"covered"`
			Rate    *float64 `json:"rate"`
		} `json:"coverage"`
	}
	if station.get("/v1/coverage", &cov) != 200 || len(cov.Coverage) != 11 || cov.Coverage[0].AreaID != "330399101" ||
		cov.Coverage[0].Sites != 30 || cov.Coverage[0].Covered != 18 {
		t.Fatalf("coverage: %+v", cov)
	}

	// A warning to the village reaches the worker, who acknowledges it.
	station.push(station.op("warnings", "w-http", map[string]any{"target": "330399101201", "level": "immediate", "title": "大风预警"}))
	var pull syncproto.PullResponse
	worker.get("/v1/sync/pull", &pull)
	seen := false
	for _, ch := range pull.Changes {
		seen = seen || ch.Op.Doc == "w-http"
	}
	if !seen {
		t.Fatal("the worker did not pull the village's warning")
	}
	worker.push(worker.op("warning_acks", "ack-http", map[string]any{"warning": "w-http"}))
	var acks struct {
		Warnings []struct {
			ID    string `json:"id"`
			Acked []struct {
				Username string `json:"username"`
			} `json:"acked"`
			Missing []struct {
				Username string `json:"username"`
			} `json:"missing"`
		} `json:"warnings"`
	}
	if station.get("/v1/warnings/acks?warning=w-http", &acks) != 200 || len(acks.Warnings) != 1 ||
		len(acks.Warnings[0].Acked) != 1 || len(acks.Warnings[0].Missing) != 3 {
		t.Fatalf("acks: %+v", acks)
	}

	// An incident report 40 minutes after the fact is flagged late.
	worker.push(worker.op("incidents", "inc-http", map[string]any{"title": "柴房起火",
		"occurred_at": time.Now().Add(-40 * time.Minute).UnixMilli(), "reported_at": time.Now().UnixMilli()}))
	var inc struct {
		Incidents []struct {
			ID   string `json:"id"`
			Late bool   `json:"late"`
		} `json:"incidents"`
	}
	if station.get("/v1/incidents", &inc) != 200 || len(inc.Incidents) != 1 || !inc.Incidents[0].Late {
		t.Fatalf("incidents: %+v", inc)
	}

	// A hazard dispatched without a deadline gets the policy's; moved
	// past it, it is listed overdue.
	h := worker.op("hazards", "hz-http", map[string]any{"site": "0192f000-0000-7000-8000-000000000001", "title": "灭火器过期"})
	h.Flow = map[string]syncproto.FlowStep{"status": {To: "reported", Round: 1}}
	worker.push(h)
	late := station.op("hazards", "hz-http", map[string]any{"deadline": time.Now().Add(-48 * time.Hour).UnixMilli()})
	late.Flow = map[string]syncproto.FlowStep{"status": {To: "dispatched", Round: 1}}
	station.push(late)
	var over struct {
		Hazards []struct {
			ID          string `json:"id"`
			OverdueDays int    `json:"overdue_days"`
		} `json:"hazards"`
	}
	if station.get("/v1/hazards/overdue", &over) != 200 || len(over.Hazards) != 1 || over.Hazards[0].OverdueDays != 2 {
		t.Fatalf("overdue: %+v", over)
	}
}

// TestDomainPolicyHTTP: the county sets a township's policy through the
// API (the station may not), a stricter escalation flags the overdue
// hazard for the county's escalation list, and a night patrol in a key
// period shows in the patrol view.
func TestDomainPolicyHTTP(t *testing.T) {
	base := apptest.Start(t).URL()
	county := newRawDevice(t, base, "county", "pc-county-admin")
	station := newRawDevice(t, base, "station-1", "pc-station-1")
	worker := newRawDevice(t, base, "worker-1-1-1", "phone-worker-111")

	type policyInfo struct {
		AreaID       string `json:"area_id"`
		SourceAreaID string `json:"source_area_id"`
		UpdatedBy    string `json:"updated_by"`
		Policy       struct {
			EscalateAfterOverdueDays int `json:"escalate_after_overdue_days"`
			NightPatrolWindow        struct {
				Start string `json:"start"`
			} `json:"night_patrol_window"`
		} `json:"policy"`
	}
	var info policyInfo
	if worker.get("/v1/policy", &info) != 200 || info.SourceAreaID != "330399" || info.Policy.EscalateAfterOverdueDays != 7 ||
		info.Policy.NightPatrolWindow.Start != "22:00" {
		t.Fatalf("GET /v1/policy: %+v", info)
	}
	// Last night, 23:00–01:00 county time, lies in the key period.
	cst := server.CountyTime
	y, m, d := time.Now().In(cst).AddDate(0, 0, -1).Date()
	start := time.Date(y, m, d, 23, 0, 0, 0, cst)
	body := `{"escalate_after_overdue_days": 1, "key_periods": [{"name": "春节", "from": "` +
		start.AddDate(0, 0, -2).Format(time.DateOnly) + `", "to": "` + start.AddDate(0, 0, 1).Format(time.DateOnly) + `"}]}`
	var e apiError
	wantError(t, call(t, "PUT", base+"/v1/policy?area=330399101", station.token, body, &e), e, 403, "forbidden")
	e = apiError{}
	wantError(t, call(t, "PUT", base+"/v1/policy?area=330399101", county.token, `{"covert_visit_deadline_days": 30}`, &e), e, 400, "invalid")
	e = apiError{}
	wantError(t, call(t, "PUT", base+"/v1/policy?area=330399101", county.token, `{"key_periods": [], "x": "`+strings.Repeat("a", 70<<10)+`"}`, &e), e, 413, "too_large")
	if r := call(t, "PUT", base+"/v1/policy?area=330399101", county.token, body, &info); r.StatusCode != 200 ||
		info.SourceAreaID != "330399101" || info.UpdatedBy != "county" || info.Policy.EscalateAfterOverdueDays != 1 {
		t.Fatalf("PUT: %d %+v", r.StatusCode, info)
	}

	h := worker.op("hazards", "hz-esc", map[string]any{"site": "0192f000-0000-7000-8000-000000000001", "title": "安全出口锁闭"})
	h.Flow = map[string]syncproto.FlowStep{"status": {To: "reported", Round: 1}}
	worker.push(h)
	late := station.op("hazards", "hz-esc", map[string]any{"deadline": time.Now().Add(-50 * time.Hour).UnixMilli()})
	late.Flow = map[string]syncproto.FlowStep{"status": {To: "dispatched", Round: 1}}
	station.push(late)
	var esc struct {
		Areas []struct {
			AreaID         string `json:"area_id"`
			ShouldEscalate int    `json:"should_escalate"`
		} `json:"areas"`
		Hazards []struct {
			ID             string `json:"id"`
			ShouldEscalate bool   `json:"should_escalate"`
		} `json:"hazards"`
	}
	if county.get("/v1/hazards/escalations", &esc) != 200 || len(esc.Areas) != 2 || esc.Areas[0].ShouldEscalate != 1 ||
		len(esc.Hazards) != 1 || esc.Hazards[0].ID != "hz-esc" || !esc.Hazards[0].ShouldEscalate {
		t.Fatalf("escalations: %+v", esc)
	}

	p := worker.op("patrols", "p-http", map[string]any{"kind": "patrol", "level": "village",
		"started_at": start.UnixMilli(), "ended_at": start.Add(2 * time.Hour).UnixMilli()})
	worker.push(p, worker.op("patrol_checkins", "c-http", map[string]any{"patrol": "p-http", "at": start.Add(30 * time.Minute).UnixMilli()}))
	var rep struct {
		Patrols []struct {
			ID         string `json:"id"`
			DurationMS int64  `json:"duration_ms"`
			Checkins   []struct {
				Flags []string `json:"flags"`
			} `json:"checkins"`
		} `json:"patrols"`
		KeyNights []struct {
			Night       string `json:"night"`
			Unpatrolled []struct {
				AreaID string `json:"area_id"`
			} `json:"unpatrolled"`
		} `json:"key_nights"`
	}
	night := start.Format(time.DateOnly)
	if station.get("/v1/patrols?from="+night+"&to="+night, &rep) != 200 || len(rep.Patrols) != 1 || rep.Patrols[0].DurationMS != 2*3600*1000 ||
		len(rep.Patrols[0].Checkins) != 1 || len(rep.Patrols[0].Checkins[0].Flags) != 0 ||
		len(rep.KeyNights) != 1 || len(rep.KeyNights[0].Unpatrolled) != 2 {
		t.Fatalf("patrols: %+v", rep)
	}
	e = apiError{}
	wantError(t, call(t, "GET", base+"/v1/patrols?from=2025-01-10&to=2025-01-01", station.token, nil, &e), e, 400, "invalid")

	if r := call(t, "DELETE", base+"/v1/policy?area=330399101", county.token, nil, nil); r.StatusCode != 204 {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	if worker.get("/v1/policy", &info); info.SourceAreaID != "330399" {
		t.Fatalf("after DELETE: %+v", info)
	}
}

// runMain runs one gridsyncd subcommand on a data folder and returns its
// output.
func runMain(t *testing.T, command string, args ...string) (string, error) {
	t.Helper()
	m := app.NewMain()
	var out bytes.Buffer
	m.Stdout = &out
	m.Getenv = func(string) string { return "" }
	if err := m.ParseFlags(append([]string{command, "-log-level", "error"}, args...)); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	m.Close()
	return out.String(), err
}

// TestChainCommands: gridsyncd check verifies the audit chain of the
// database; export-chain writes it; verify-chain checks the export, ending
// at the same head; an edited export fails.
func TestChainCommands(t *testing.T) {
	srv := apptest.Start(t)
	worker := newRawDevice(t, srv.URL(), "worker-1-1-1", "phone-worker-111")
	worker.push(worker.op("sites", "site-chain", map[string]any{"grid": "330399101201G01", "name": "链上的场所", "kind": "household"}))
	data := srv.DataDir()
	srv.Stop()

	headRe := regexp.MustCompile(`audit chain: (\d+) ops verified, head ([0-9a-f]{64})`)
	out, err := runMain(t, "check", "-data", data)
	m := headRe.FindStringSubmatch(out)
	if err != nil || !strings.Contains(out, "integrity_check: ok") || m == nil || m[1] != "53" {
		t.Fatalf("check: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "chain.jsonl")
	if out, err := runMain(t, "export-chain", "-data", data, file); err != nil || !strings.Contains(out, "exported 53 ops, head "+m[2]) {
		t.Fatalf("export: %v\n%s", err, out)
	}
	out, err = runMain(t, "verify-chain", file)
	if v := headRe.FindStringSubmatch(out); err != nil || v == nil || v[1] != "53" || v[2] != m[2] {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(file)
	os.WriteFile(file, bytes.Replace(b, []byte("链上的场所"), []byte("改过的场所"), 1), 0o600)
	if _, err := runMain(t, "verify-chain", file); err == nil || !strings.Contains(err.Error(), "broken at op 53") {
		t.Fatalf("an edited export verified: %v", err)
	}
}
