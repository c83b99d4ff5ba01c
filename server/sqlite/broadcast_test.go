package sqlite_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gridsync/gridsync/syncproto"
)

// Areas of the demo county used by the domain tests.
const (
	county       = "330399"
	township1    = "330399101"
	village11    = "330399101201" // 下洋村: grids G01-G03, village-1-1
	village12    = "330399101202" // 岭头村
	grid121      = "330399101202G01"
	demoSiteG01  = "0192f000-0000-7000-8000-000000000001" // 徐永福户, household, general
	demoSite2G01 = "0192f000-0000-7000-8000-000000000002" // 陈建国居住出租房, significant, overdue
)

func warning(target, title string) map[string]any {
	return map[string]any{"target": target, "level": syncproto.WarningImmediate, "title": title, "body": "大风天气，注意用火用电安全。"}
}

func withFlow(op syncproto.Op, to string, round uint32) syncproto.Op {
	op.Flow = map[string]syncproto.FlowStep{"status": {To: to, Round: round}}
	return op
}

func accepted(tb testing.TB, resp *syncproto.PushResponse) {
	tb.Helper()
	for _, v := range resp.Verdicts {
		wantVerdict(tb, v, syncproto.StatusAccepted, "")
	}
}

// TestBroadcast: a warning issued to a village reaches the grid workers of
// that village by pull and snapshot, not other villages; only the issuer's
// level edits it; acknowledgements are the workers' own documents.
func TestBroadcast(t *testing.T) {
	e := mustSyncEnv(t)
	station := e.as(t, "station-1", "pc-station-1")
	ds := newDevice("pc-station-1")
	accepted(t, mustPush(t, e.sync, station, ds.push(
		ds.op("warnings", "w-village", warning(village11, "下洋村大风预警")),
		ds.op("warnings", "w-township", warning(township1, "云岙镇森林防火预警")),
		ds.op("warnings", "w-grid", warning(grid112, "下洋村第二网格停电预警")),
	)))
	countyCtx := e.as(t, "county", "pc-county")
	dc := newDevice("pc-county")
	accepted(t, mustPush(t, e.sync, countyCtx, dc.push(dc.op("warnings", "w-county", warning(county, "全县寒潮预警")))))

	type want struct {
		sees []string // warnings seen by pull and by snapshot
		edit string   // code of editing w-village ("" = accepted)
	}
	cases := []struct {
		user string
		want want
	}{
		{"worker-1-1-1", want{[]string{"w-county", "w-township", "w-village"}, syncproto.CodeForbiddenArea}},
		{"worker-1-1-2", want{[]string{"w-county", "w-grid", "w-township", "w-village"}, syncproto.CodeForbiddenArea}},
		{"village-1-1", want{[]string{"w-county", "w-grid", "w-township", "w-village"}, syncproto.CodeForbiddenRole}},
		{"worker-1-2-1", want{[]string{"w-county", "w-township"}, syncproto.CodeForbiddenArea}},
		{"officer-1-a", want{[]string{"w-county", "w-grid", "w-township", "w-village"}, syncproto.CodeForbiddenRole}},
		{"station-1", want{[]string{"w-county", "w-grid", "w-township", "w-village"}, ""}},
		{"station-2", want{[]string{"w-county"}, syncproto.CodeForbiddenArea}},
		{"worker-2-1-1", want{[]string{"w-county"}, syncproto.CodeForbiddenArea}},
		{"county", want{[]string{"w-county", "w-grid", "w-township", "w-village"}, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			d := newDevice("bc-" + tc.user)
			ctx := e.as(t, tc.user, d.id)
			var pulled, snapped []string
			for _, ch := range pullAll(t, e.sync, ctx) {
				if ch.Op.Collection == "warnings" && !slices.Contains(pulled, ch.Op.Doc) {
					pulled = append(pulled, ch.Op.Doc)
				}
			}
			for _, doc := range snapshotAll(t, e.sync, ctx) {
				if doc.Collection == "warnings" {
					snapped = append(snapped, doc.ID)
				}
			}
			slices.Sort(pulled)
			slices.Sort(snapped)
			if !slices.Equal(pulled, tc.want.sees) || !slices.Equal(snapped, tc.want.sees) {
				t.Errorf("pull sees %v, snapshot sees %v, want %v", pulled, snapped, tc.want.sees)
			}
			edit := d.op("warnings", "w-village", map[string]any{"body": "改 by " + tc.user})
			resp := mustPush(t, e.sync, ctx, d.push(edit))
			if tc.want.edit == "" {
				wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
			} else {
				wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, tc.want.edit)
			}
		})
	}

	t.Run("Acks", func(t *testing.T) {
		d := newDevice("ack-worker-111")
		ctx := e.as(t, "worker-1-1-1", d.id)
		ack := d.op("warning_acks", "ack-1", map[string]any{"warning": "w-village", "acknowledged_at": 1_760_000_000_000})
		other := d.op("warning_acks", "ack-2", map[string]any{"warning": "w-grid"}) // to grid G02, not the worker's
		missing := d.op("warning_acks", "ack-3", map[string]any{"warning": "no-such-warning"})
		resp := mustPush(t, e.sync, ctx, d.push(ack, other, missing))
		wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
		wantVerdict(t, resp.Verdicts[1], syncproto.StatusRejected, syncproto.CodeForbiddenArea)
		wantVerdict(t, resp.Verdicts[2], syncproto.StatusRejected, syncproto.CodeNotFound)
		// The acknowledgement lives in the worker's grid: the village and
		// the station pull it, another grid does not.
		for user, sees := range map[string]bool{"village-1-1": true, "station-1": true, "worker-1-1-2": false} {
			got := false
			for _, ch := range pullAll(t, e.sync, e.as(t, user, "ackview-"+user)) {
				got = got || ch.Op.Doc == "ack-1"
			}
			if got != sees {
				t.Errorf("%s sees the acknowledgement: %v, want %v", user, got, sees)
			}
		}
		for _, doc := range snapshotAll(t, e.sync, e.as(t, "station-1", "ackview-station-1")) {
			if doc.ID == "ack-1" && doc.Area != grid111 {
				t.Errorf("acknowledgement in area %s, want the worker's grid %s", doc.Area, grid111)
			}
		}
	})
	t.Run("DeletedWarningLeavesSnapshot", func(t *testing.T) {
		del := ds.op("warnings", "w-township", nil)
		del.Delete = true
		accepted(t, mustPush(t, e.sync, station, ds.push(del)))
		for _, doc := range snapshotAll(t, e.sync, e.as(t, "worker-1-1-1", "bc-after-delete")) {
			if doc.ID == "w-township" {
				t.Fatal("a deleted broadcast document is in the snapshot")
			}
		}
	})
}

// TestBroadcastPullPaging interleaves ops of the worker's own scope with
// broadcast ops of three levels above it and pulls in small pages: the
// merged ranges yield every visible change exactly once, in seq order,
// and nothing else.
func TestBroadcastPullPaging(t *testing.T) {
	e := mustSyncEnv(t)
	worker := e.as(t, "worker-1-1-1", "phone-worker-111")
	dw := newDevice("phone-worker-111")
	station := e.as(t, "station-1", "pc-station-1")
	ds := newDevice("pc-station-1")
	countyCtx := e.as(t, "county", "pc-county")
	dc := newDevice("pc-county")
	want := map[int64]bool{}
	for _, ch := range pullAll(t, e.sync, worker) { // the demo sites
		want[ch.ServerSeq] = true
	}
	for i := range 12 {
		var resp *syncproto.PushResponse
		visible := true
		switch i % 4 {
		case 0:
			resp = mustPush(t, e.sync, worker, dw.push(dw.op("sites", fmt.Sprintf("p-site-%d", i), site(grid111, "分页"))))
		case 1:
			resp = mustPush(t, e.sync, countyCtx, dc.push(dc.op("warnings", fmt.Sprintf("p-w-county-%d", i), warning(county, "县"))))
		case 2:
			resp = mustPush(t, e.sync, station, ds.push(ds.op("warnings", fmt.Sprintf("p-w-village-%d", i), warning(village11, "村"))))
		case 3:
			// Another village's warning: not visible.
			resp = mustPush(t, e.sync, station, ds.push(ds.op("warnings", fmt.Sprintf("p-w-other-%d", i), warning(village12, "别村"))))
			visible = false
		}
		accepted(t, resp)
		if visible {
			want[resp.Verdicts[0].ServerSeq] = true
		}
	}
	for _, limit := range []int{1, 2, 5, 500} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var got []int64
			cursor := ""
			for {
				resp, err := e.sync.Pull(worker, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Changes) > limit {
					t.Fatalf("page of %d changes, limit %d", len(resp.Changes), limit)
				}
				for _, ch := range resp.Changes {
					got = append(got, ch.ServerSeq)
				}
				cursor = resp.Cursor
				if !resp.HasMore {
					break
				}
			}
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Fatalf("pulled seqs not strictly increasing: %v", got)
			}
			if len(got) != len(want) {
				t.Fatalf("pulled %d changes, want %d", len(got), len(want))
			}
			for _, s := range got {
				if !want[s] {
					t.Fatalf("pulled seq %d, which the worker may not see", s)
				}
			}
		})
	}
	// A cursor at the head returns nothing more.
	resp, _ := e.sync.Pull(worker, "", 0)
	again, err := e.sync.Pull(worker, resp.Cursor, 0)
	if err != nil || len(again.Changes) != 0 || again.HasMore {
		t.Fatalf("pull at head: %+v, %v", again, err)
	}
}
