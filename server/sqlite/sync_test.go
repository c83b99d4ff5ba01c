package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

// Areas of the demo county used below.
const (
	grid111 = "330399101201G01" // worker-1-1-1
	grid112 = "330399101201G02" // worker-1-1-2
	grid211 = "330399102201G01" // worker-2-1-1
)

// syncEnv is a demo database with an auth and a sync service on it.
type syncEnv struct {
	db   *sqlite.DB
	auth *sqlite.AuthService
	sync *sqlite.SyncService
}

func mustSyncEnv(tb testing.TB) *syncEnv {
	tb.Helper()
	db := MustDemoDB(tb)
	return &syncEnv{db: db, auth: mustAuth(tb, db), sync: mustSyncService(tb, db)}
}

func mustSyncService(tb testing.TB, db *sqlite.DB) *sqlite.SyncService {
	tb.Helper()
	s, err := sqlite.NewSyncService(context.Background(), db, syncproto.DefaultSchema(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// as logs user in on device and returns a context carrying the principal,
// through the same path the HTTP middleware takes.
func (e *syncEnv) as(tb testing.TB, user, device string) context.Context {
	tb.Helper()
	p, err := e.auth.Authenticate(context.Background(), login(tb, e.auth, user, device).AccessToken)
	if err != nil {
		tb.Fatal(err)
	}
	return server.WithPrincipal(context.Background(), p)
}

// device builds ops for one device with its own counter and clock.
type device struct {
	id    string
	seq   uint64
	clock *syncproto.Clock
}

func newDevice(id string) *device {
	return &device{id: id, clock: syncproto.NewClock(time.Now, syncproto.HLC{})}
}

func (d *device) op(collection, doc string, set map[string]any) syncproto.Op {
	d.seq++
	o := syncproto.Op{Device: d.id, Seq: d.seq, HLC: d.clock.Now(), Collection: collection, Doc: doc}
	if len(set) > 0 {
		o.Set = map[string]json.RawMessage{}
		for k, v := range set {
			b, _ := json.Marshal(v)
			o.Set[k] = b
		}
	}
	return o
}

func (d *device) push(ops ...syncproto.Op) *syncproto.PushRequest {
	return &syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: d.id, DeviceTime: time.Now().UnixMilli(), Ops: ops}
}

func site(grid, name string) map[string]any {
	return map[string]any{"grid": grid, "name": name, "kind": "household", "address": "下洋村1组"}
}

func mustPush(tb testing.TB, s *sqlite.SyncService, ctx context.Context, req *syncproto.PushRequest) *syncproto.PushResponse {
	tb.Helper()
	resp, err := s.Push(ctx, req)
	if err != nil {
		tb.Fatalf("push: %v", err)
	}
	if len(resp.Verdicts) != len(req.Ops) {
		tb.Fatalf("got %d verdicts for %d ops", len(resp.Verdicts), len(req.Ops))
	}
	return resp
}

func wantVerdict(tb testing.TB, v syncproto.Verdict, status, code string) {
	tb.Helper()
	if v.Status != status || v.Code != code {
		tb.Fatalf("op %d: got %s/%s (%s), want %s/%s", v.Seq, v.Status, v.Code, v.Reason, status, code)
	}
}

// pullAll pulls every change visible to ctx's user from the start.
func pullAll(tb testing.TB, s *sqlite.SyncService, ctx context.Context) []syncproto.Change {
	tb.Helper()
	var out []syncproto.Change
	cursor := ""
	for {
		resp, err := s.Pull(ctx, cursor, 7) // small pages exercise paging
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, resp.Changes...)
		cursor = resp.Cursor
		if !resp.HasMore {
			return out
		}
	}
}

func snapshotAll(tb testing.TB, s *sqlite.SyncService, ctx context.Context) []syncproto.DocState {
	tb.Helper()
	var out []syncproto.DocState
	page := ""
	for {
		resp, err := s.Snapshot(ctx, page, 3)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, resp.Docs...)
		if !resp.HasMore {
			return out
		}
		page = resp.Next
	}
}

func TestPush(t *testing.T) {
	e := mustSyncEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-worker-111")
	d := newDevice("phone-worker-111")

	t.Run("OK", func(t *testing.T) {
		resp := mustPush(t, e.sync, ctx, d.push(d.op("sites", "site-a", site(grid111, "张家"))))
		wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
		if resp.Verdicts[0].ServerSeq <= 0 || resp.LastSeq != 1 || resp.ServerHLC.IsZero() {
			t.Fatalf("got %+v", resp)
		}
	})
	t.Run("ReplayChangesNothing", func(t *testing.T) {
		op := d.op("sites", "site-b", site(grid111, "李家"))
		first := mustPush(t, e.sync, ctx, d.push(op))
		before, _ := sqlite.CountRows(context.Background(), e.db, "ops")
		again := mustPush(t, e.sync, ctx, d.push(op))
		after, _ := sqlite.CountRows(context.Background(), e.db, "ops")
		if after != before {
			t.Fatalf("replay added ops: %d -> %d", before, after)
		}
		if again.Verdicts[0] != first.Verdicts[0] {
			t.Fatalf("replay verdict %+v, first %+v", again.Verdicts[0], first.Verdicts[0])
		}
	})
	t.Run("RejectedReplayKeepsVerdict", func(t *testing.T) {
		op := d.op("sites", "site-c", site(grid211, "外镇"))
		first := mustPush(t, e.sync, ctx, d.push(op))
		wantVerdict(t, first.Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenArea)
		again := mustPush(t, e.sync, ctx, d.push(op))
		wantVerdict(t, again.Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenArea)
	})
	t.Run("SeqReused", func(t *testing.T) {
		op := d.op("sites", "site-d", site(grid111, "王家"))
		mustPush(t, e.sync, ctx, d.push(op))
		reused := op
		reused.Set = map[string]json.RawMessage{"name": json.RawMessage(`"另一个"`)}
		resp := mustPush(t, e.sync, ctx, d.push(reused))
		wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeSeqReused)
		if resp.LastSeq != d.seq {
			t.Fatalf("got last_seq %d, want %d", resp.LastSeq, d.seq)
		}
	})
	t.Run("OutOfOrderForPriority", func(t *testing.T) {
		low := d.op("sites", "site-e", site(grid111, "赵家"))
		high := d.op("sites", "site-f", site(grid111, "钱家"))
		r1 := mustPush(t, e.sync, ctx, d.push(high))
		r2 := mustPush(t, e.sync, ctx, d.push(low))
		wantVerdict(t, r1.Verdicts[0], syncproto.StatusAccepted, "")
		wantVerdict(t, r2.Verdicts[0], syncproto.StatusAccepted, "")
		// The gap left by the high-priority op is reported until it closes.
		if r1.LastSeq != high.Seq || r1.AckedSeq != low.Seq-1 || !slices.Equal(r1.Missing, []uint64{low.Seq}) {
			t.Fatalf("after the high op: last %d acked %d missing %v, want %d, %d, [%d]", r1.LastSeq, r1.AckedSeq, r1.Missing, high.Seq, low.Seq-1, low.Seq)
		}
		if r2.LastSeq != high.Seq || r2.AckedSeq != high.Seq || len(r2.Missing) != 0 {
			t.Fatalf("after the low op: last %d acked %d missing %v, want %d, %d, none", r2.LastSeq, r2.AckedSeq, r2.Missing, high.Seq, high.Seq)
		}
	})
	t.Run("GapsListed", func(t *testing.T) {
		// Seqs +1, +3 and +6 pushed; +2, +4 and +5 never arrive.
		base := d.seq
		ops := make([]syncproto.Op, 6)
		for i := range ops {
			ops[i] = d.op("sites", fmt.Sprintf("site-gap-%d", i), site(grid111, "缺号"))
		}
		resp := mustPush(t, e.sync, ctx, d.push(ops[0], ops[2], ops[5]))
		want := []uint64{base + 2, base + 4, base + 5}
		if resp.AckedSeq != base+1 || resp.LastSeq != base+6 || !slices.Equal(resp.Missing, want) {
			t.Fatalf("got acked %d last %d missing %v, want %d, %d, %v", resp.AckedSeq, resp.LastSeq, resp.Missing, base+1, base+6, want)
		}
		// An empty push (a status report) still tells the gap.
		if again := mustPush(t, e.sync, ctx, d.push()); !slices.Equal(again.Missing, want) {
			t.Fatalf("empty push: missing %v, want %v", again.Missing, want)
		}
		resp = mustPush(t, e.sync, ctx, d.push(ops[1], ops[3], ops[4]))
		if resp.AckedSeq != base+6 || len(resp.Missing) != 0 {
			t.Fatalf("closed gap: acked %d missing %v", resp.AckedSeq, resp.Missing)
		}
	})
	t.Run("ClockFarAheadIsClamped", func(t *testing.T) {
		op := d.op("sites", "site-g", site(grid111, "孙家"))
		op.HLC = syncproto.HLC{Wall: time.Now().Add(24 * time.Hour).UnixMilli()}
		resp := mustPush(t, e.sync, ctx, d.push(op))
		v := resp.Verdicts[0]
		wantVerdict(t, v, syncproto.StatusAccepted, "")
		if v.HLC == nil || v.HLC.Wall > time.Now().Add(time.Second).UnixMilli() || !resp.ClockReset {
			t.Fatalf("got verdict %+v clock_reset %v, want a server-time HLC and clock_reset", v, resp.ClockReset)
		}
		// The stored change carries the server's stamp, not the device's.
		for _, ch := range pullAll(t, e.sync, ctx) {
			if ch.Op.Doc == "site-g" && ch.Op.HLC != *v.HLC {
				t.Fatalf("pulled HLC %s, want %s", ch.Op.HLC, v.HLC)
			}
		}
		// A replay returns the same re-stamped verdict.
		again := mustPush(t, e.sync, ctx, d.push(op))
		if again.Verdicts[0].HLC == nil || *again.Verdicts[0].HLC != *v.HLC {
			t.Fatalf("replay verdict %+v, want HLC %s", again.Verdicts[0], v.HLC)
		}
	})
	t.Run("ErrWrongDevice", func(t *testing.T) {
		other := newDevice("phone-other-999")
		_, err := e.sync.Push(ctx, other.push(other.op("sites", "site-h", site(grid111, "x"))))
		wantCode(t, err, server.EFORBIDDEN)
		op := other.op("sites", "site-h", site(grid111, "x"))
		resp := mustPush(t, e.sync, ctx, d.push(op))
		wantVerdict(t, resp.Verdicts[0], syncproto.StatusRejected, syncproto.CodeWrongDevice)
	})
	t.Run("RejectionsAreKept", func(t *testing.T) {
		station := e.as(t, "station-1", "phone-station-1")
		rej, err := e.sync.Rejected(station, server.RejectedFilter{Device: "phone-worker-111"})
		if err != nil {
			t.Fatal(err)
		}
		codes := map[string]bool{}
		for _, r := range rej {
			codes[r.Code] = true
		}
		if !codes[syncproto.CodeForbiddenArea] {
			t.Fatalf("station does not see the worker's rejected op: %+v", rej)
		}
		other, _ := e.sync.Rejected(e.as(t, "station-2", "phone-station-2"), server.RejectedFilter{})
		if len(other) != 0 {
			t.Fatalf("station-2 sees township 1's rejected ops: %+v", other)
		}
	})
	t.Run("DeviceStatus", func(t *testing.T) {
		req := d.push()
		req.Outbox = syncproto.OutboxReport{Pending: 3, OldestPendingMS: req.DeviceTime - 60_000, AppVersion: "1.2.3"}
		mustPush(t, e.sync, ctx, req)
		devs, err := e.sync.Devices(e.as(t, "station-1", "phone-station-1"))
		if err != nil {
			t.Fatal(err)
		}
		for _, dev := range devs {
			if dev.ID == "phone-worker-111" {
				if dev.OutboxPending != 3 || dev.OutboxOldestMS != 60_000 || dev.AppVersion != "1.2.3" || dev.LastSyncAt == nil || dev.Rejected == 0 {
					t.Fatalf("got %+v", dev)
				}
				return
			}
		}
		t.Fatal("station does not see the worker's device")
	})
	t.Run("AuditChainVerifies", func(t *testing.T) {
		n, err := e.sync.VerifyChain(context.Background())
		if err != nil || n == 0 {
			t.Fatalf("got %d, %v", n, err)
		}
	})
}

// TestMissingPastHeldSeqs: the missing seqs are listed up to MaxMissing
// however many seqs the server holds between them. With seqs 1 and 700 of
// 1000 never pushed, both are listed, not only the gaps among the first
// MaxMissing held seqs.
func TestMissingPastHeldSeqs(t *testing.T) {
	e := mustSyncEnv(t)
	ctx := e.as(t, "worker-1-1-2", "phone-worker-112")
	d := newDevice("phone-worker-112")
	ops := make([]syncproto.Op, 1000)
	for i := range ops {
		ops[i] = d.op("sites", fmt.Sprintf("site-held-%d", i), site(grid112, "多号"))
	}
	var held []syncproto.Op
	for _, op := range ops {
		if op.Seq != 1 && op.Seq != 700 {
			held = append(held, op)
		}
	}
	var resp *syncproto.PushResponse
	for chunk := range slices.Chunk(held, syncproto.MaxOpsPerPush) {
		resp = mustPush(t, e.sync, ctx, d.push(chunk...))
	}
	if resp.AckedSeq != 0 || resp.LastSeq != 1000 || !slices.Equal(resp.Missing, []uint64{1, 700}) {
		t.Fatalf("got acked %d last %d missing %v, want 0, 1000, [1 700]", resp.AckedSeq, resp.LastSeq, resp.Missing)
	}
	resp = mustPush(t, e.sync, ctx, d.push(ops[0]))
	if resp.AckedSeq != 699 || !slices.Equal(resp.Missing, []uint64{700}) {
		t.Fatalf("seq 1 pushed: acked %d missing %v, want 699, [700]", resp.AckedSeq, resp.Missing)
	}
	resp = mustPush(t, e.sync, ctx, d.push(ops[699]))
	if resp.AckedSeq != 1000 || len(resp.Missing) != 0 {
		t.Fatalf("seq 700 pushed: acked %d missing %v, want 1000, none", resp.AckedSeq, resp.Missing)
	}
}

func TestConflictsKept(t *testing.T) {
	e := mustSyncEnv(t)
	worker := e.as(t, "worker-1-1-1", "phone-worker-111")
	village := e.as(t, "village-1-1", "phone-village-11")
	dw, dv := newDevice("phone-worker-111"), newDevice("phone-village-11")
	create := dw.op("sites", "site-a", site(grid111, "张家"))
	mustPush(t, e.sync, worker, dw.push(create))
	createStamp := create.Stamp()

	// Both edit the name offline, having seen only the creation.
	a := dw.op("sites", "site-a", map[string]any{"name": "张家(西)"})
	a.Base = map[string]syncproto.Stamp{"name": createStamp}
	time.Sleep(2 * time.Millisecond)
	b := dv.op("sites", "site-a", map[string]any{"name": "张家(东)"})
	b.Base = map[string]syncproto.Stamp{"name": createStamp}
	mustPush(t, e.sync, village, dv.push(b))
	mustPush(t, e.sync, worker, dw.push(a))

	station := e.as(t, "station-1", "phone-station-1")
	cs, err := e.sync.Conflicts(station, server.ConflictFilter{Collection: "sites", DocID: "site-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Field != "name" || string(cs[0].Winner.Value) != `"张家(东)"` || string(cs[0].Loser.Value) != `"张家(西)"` {
		t.Fatalf("got conflicts %+v, want name: 张家(东) over 张家(西)", cs)
	}
	if cs[0].Loser.Stamp.Device != "phone-worker-111" || cs[0].LoserUser != "worker-1-1-1" || cs[0].WinnerUser != "village-1-1" {
		t.Fatalf("authors: loser %s (%s), winner %s, want phone-worker-111 (worker-1-1-1), village-1-1",
			cs[0].Loser.Stamp.Device, cs[0].LoserUser, cs[0].WinnerUser)
	}

	// An edit made after seeing the winner is an overwrite, not a conflict.
	c := dw.op("sites", "site-a", map[string]any{"name": "张家"})
	c.Base = map[string]syncproto.Stamp{"name": b.Stamp()}
	mustPush(t, e.sync, worker, dw.push(c))
	cs, _ = e.sync.Conflicts(station, server.ConflictFilter{Collection: "sites", DocID: "site-a"})
	if len(cs) != 1 {
		t.Fatalf("got %d conflicts after a causal overwrite, want still 1", len(cs))
	}
	if other, _ := e.sync.Conflicts(e.as(t, "station-2", "phone-station-2"), server.ConflictFilter{}); len(other) != 0 {
		t.Fatalf("station-2 sees township 1's conflicts")
	}
}

func TestDocRules(t *testing.T) {
	e := mustSyncEnv(t)
	worker := e.as(t, "worker-1-1-1", "phone-worker-111")
	station := e.as(t, "station-1", "phone-station-1")
	dw, ds := newDevice("phone-worker-111"), newDevice("phone-station-1")
	mustPush(t, e.sync, worker, dw.push(dw.op("sites", "site-a", site(grid111, "张家"))))

	t.Run("HazardInheritsSiteArea", func(t *testing.T) {
		h := dw.op("hazards", "hz-1", map[string]any{"site": "site-a", "title": "电动车楼道充电"})
		h.Flow = map[string]syncproto.FlowStep{"status": {To: "reported", Round: 1}}
		resp := mustPush(t, e.sync, worker, dw.push(h))
		wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
		areas := map[string]string{}
		for _, d := range snapshotAll(t, e.sync, station) {
			areas[d.ID] = d.Area
		}
		if areas["site-a"] != grid111 || areas["hz-1"] != grid111 {
			t.Fatalf("station snapshot: site-a in %q, hz-1 in %q, want both in %s", areas["site-a"], areas["hz-1"], grid111)
		}
	})
	t.Run("ErrRefMissing", func(t *testing.T) {
		h := dw.op("hazards", "hz-2", map[string]any{"site": "no-such-site", "title": "x"})
		h.Flow = map[string]syncproto.FlowStep{"status": {To: "reported", Round: 1}}
		wantVerdict(t, mustPush(t, e.sync, worker, dw.push(h)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeNotFound)
	})
	t.Run("ErrMoveToAnotherGrid", func(t *testing.T) {
		op := dw.op("sites", "site-a", map[string]any{"grid": grid112})
		wantVerdict(t, mustPush(t, e.sync, worker, dw.push(op)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenArea)
	})
	t.Run("ErrWorkerClosesHazard", func(t *testing.T) {
		op := dw.op("hazards", "hz-1", nil)
		op.Flow = map[string]syncproto.FlowStep{"status": {To: "closed", Round: 1}}
		wantVerdict(t, mustPush(t, e.sync, worker, dw.push(op)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenTransition)
	})
	t.Run("ErrWorkerSetsRiskLevel", func(t *testing.T) {
		op := dw.op("sites", "site-a", map[string]any{"risk_level": "low"})
		wantVerdict(t, mustPush(t, e.sync, worker, dw.push(op)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeForbiddenField)
	})
	t.Run("EditAfterDeleteRefused", func(t *testing.T) {
		mustPush(t, e.sync, worker, dw.push(dw.op("sites", "site-z", site(grid111, "待删"))))
		del := ds.op("sites", "site-z", nil)
		del.Delete = true
		wantVerdict(t, mustPush(t, e.sync, station, ds.push(del)).Verdicts[0], syncproto.StatusAccepted, "")
		edit := dw.op("sites", "site-z", map[string]any{"name": "改名"})
		wantVerdict(t, mustPush(t, e.sync, worker, dw.push(edit)).Verdicts[0], syncproto.StatusRejected, syncproto.CodeDocDeleted)
		for _, d := range snapshotAll(t, e.sync, worker) {
			if d.ID == "site-z" {
				t.Fatal("a deleted document is in the snapshot")
			}
		}
	})
}

// TestAuthorizationMatrix: every role, against documents inside and
// outside its area, for push (create and edit), pull and snapshot.
func TestAuthorizationMatrix(t *testing.T) {
	e := mustSyncEnv(t)
	// Seed one site in grid 1-1-1 and one in township 2, by their workers.
	seed := map[string]string{grid111: "worker-1-1-1", grid211: "worker-2-1-1"}
	for grid, user := range seed {
		d := newDevice("seed-" + user)
		resp := mustPush(t, e.sync, e.as(t, user, d.id), d.push(d.op("sites", "seed-"+grid, site(grid, "种子"))))
		wantVerdict(t, resp.Verdicts[0], syncproto.StatusAccepted, "")
	}
	type want struct {
		create, edit string // rejection code, "" = accepted
		sees         bool
	}
	inside, outside := grid111, grid211
	cases := []struct {
		user          string
		inside, other want
	}{
		{"worker-1-1-1", want{"", "", true}, want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}},
		{"worker-1-1-2", want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}, want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}},
		{"village-1-1", want{"", "", true}, want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}},
		{"station-1", want{"", "", true}, want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}},
		{"officer-1-a", want{syncproto.CodeForbiddenRole, syncproto.CodeForbiddenRole, true}, want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}},
		{"station-2", want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}, want{"", "", true}},
		{"worker-2-1-1", want{syncproto.CodeForbiddenArea, syncproto.CodeForbiddenArea, false}, want{"", "", true}},
		{"county", want{"", "", true}, want{"", "", true}},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			d := newDevice("matrix-" + tc.user)
			ctx := e.as(t, tc.user, d.id)
			for _, target := range []struct {
				grid string
				w    want
			}{{inside, tc.inside}, {outside, tc.other}} {
				status := func(code string) string {
					if code == "" {
						return syncproto.StatusAccepted
					}
					return syncproto.StatusRejected
				}
				create := d.op("sites", fmt.Sprintf("new-%s-%s", tc.user, target.grid), site(target.grid, "新建"))
				edit := d.op("sites", "seed-"+target.grid, map[string]any{"address": "改地址 by " + tc.user})
				resp := mustPush(t, e.sync, ctx, d.push(create, edit))
				wantVerdict(t, resp.Verdicts[0], status(target.w.create), target.w.create)
				wantVerdict(t, resp.Verdicts[1], status(target.w.edit), target.w.edit)

				pulled, snap := false, false
				for _, ch := range pullAll(t, e.sync, ctx) {
					pulled = pulled || ch.Op.Doc == "seed-"+target.grid
				}
				for _, doc := range snapshotAll(t, e.sync, ctx) {
					snap = snap || doc.ID == "seed-"+target.grid
				}
				if pulled != target.w.sees || snap != target.w.sees {
					t.Errorf("%s on a doc in %s: pull sees %v, snapshot sees %v, want %v", tc.user, target.grid, pulled, snap, target.w.sees)
				}
			}
		})
	}
}

// TestForbiddenAreaRevealsNothing: an edit of a document in another area
// is refused with a reason that names neither that area nor any of the
// document's values, whether it also tries to move the document or not.
func TestForbiddenAreaRevealsNothing(t *testing.T) {
	e := mustSyncEnv(t)
	dw := newDevice("seed-worker-211")
	mustPush(t, e.sync, e.as(t, "worker-2-1-1", dw.id), dw.push(dw.op("sites", "far-site", site(grid211, "外镇秘密户"))))
	d := newDevice("probe-worker-111")
	ctx := e.as(t, "worker-1-1-1", d.id)
	del := d.op("sites", "far-site", nil)
	del.Delete = true
	resp := mustPush(t, e.sync, ctx, d.push(
		d.op("sites", "far-site", map[string]any{"grid": grid111}),
		d.op("sites", "far-site", map[string]any{"name": "改名"}),
		del,
	))
	for _, v := range resp.Verdicts {
		wantVerdict(t, v, syncproto.StatusRejected, syncproto.CodeForbiddenArea)
		if strings.Contains(v.Reason, grid211) || strings.Contains(v.Reason, "外镇") || strings.Contains(v.Reason, "330399102") {
			t.Errorf("op %d: reason %q reveals the other area's document", v.Seq, v.Reason)
		}
	}
}

// TestReadsFollowReaders: conflicts and rejected ops carry field values, so
// a role that may not read a collection (a grid worker and enforcement
// records) sees neither its conflicts nor its rejected ops, even in its own
// area; the station does.
func TestReadsFollowReaders(t *testing.T) {
	e := mustSyncEnv(t)
	da, db := newDevice("phone-officer-1a"), newDevice("phone-officer-1b")
	officerA, officerB := e.as(t, "officer-1-a", da.id), e.as(t, "officer-1-b", db.id)
	create := da.op("enforcement_records", "case-1", map[string]any{"site": demoSiteG01, "subject": "案由"})
	create.Add = map[string][]string{"officers": {"officer-1-a", "officer-1-b"}, "certificates": {"officer-1-a:ZJ33030001", "officer-1-b:ZJ33030002"}}
	wantVerdict(t, mustPush(t, e.sync, officerA, da.push(create)).Verdicts[0], syncproto.StatusAccepted, "")
	// Both officers change the subject concurrently: a conflict on an
	// enforcement record.
	a := da.op("enforcement_records", "case-1", map[string]any{"subject": "案由甲"})
	a.Base = map[string]syncproto.Stamp{"subject": create.Stamp()}
	time.Sleep(2 * time.Millisecond)
	b := db.op("enforcement_records", "case-1", map[string]any{"subject": "案由乙"})
	b.Base = map[string]syncproto.Stamp{"subject": create.Stamp()}
	mustPush(t, e.sync, officerB, db.push(b))
	mustPush(t, e.sync, officerA, da.push(a))
	// And one op of theirs is refused: a record outside their township.
	wantVerdict(t, mustPush(t, e.sync, officerA, da.push(da.op("enforcement_records", "case-far", map[string]any{"site": "no-such-site"}))).Verdicts[0],
		syncproto.StatusRejected, syncproto.CodeNotFound)

	count := func(user string) (conflicts, rejected int) {
		ctx := e.as(t, user, "reader-"+user)
		cs, err := e.sync.Conflicts(ctx, server.ConflictFilter{Collection: "enforcement_records"})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := e.sync.Rejected(ctx, server.RejectedFilter{Device: da.id})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs), len(rs)
	}
	for _, tc := range []struct {
		user               string
		conflicts, rejects int
	}{
		{"station-1", 1, 1},
		{"officer-1-b", 1, 1},
		{"county", 1, 1},
		{"village-1-1", 0, 0},
		{"worker-1-1-1", 0, 0},
		{"station-2", 0, 0},
	} {
		if c, r := count(tc.user); c != tc.conflicts || r != tc.rejects {
			t.Errorf("%s sees %d conflicts and %d rejected ops, want %d and %d", tc.user, c, r, tc.conflicts, tc.rejects)
		}
	}
}

func TestPullRescope(t *testing.T) {
	e := mustSyncEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-worker-111")
	d := newDevice("phone-worker-111")
	mustPush(t, e.sync, ctx, d.push(d.op("sites", "site-a", site(grid111, "张家"))))
	first, err := e.sync.Pull(ctx, "", 0)
	if err != nil || len(first.Changes) == 0 || first.Changes[len(first.Changes)-1].Op.Doc != "site-a" {
		t.Fatalf("got %d changes, %v; want the demo sites of the grid and site-a last", len(first.Changes), err)
	}
	// The worker is reassigned to grid 1-1-2; the new token's scope differs
	// from the cursor's, so the device is told to re-bootstrap.
	moved := e.as(t, "worker-1-1-2", "phone-worker-112")
	resp, err := e.sync.Pull(moved, first.Cursor, 0)
	if err != nil || !resp.Rescope || len(resp.Changes) != 0 {
		t.Fatalf("got %+v, %v; want rescope", resp, err)
	}
	t.Run("ErrMalformedCursor", func(t *testing.T) {
		for _, c := range []string{"x", "1.2", "-1.a.b", "1.a.b.c"} {
			_, err := e.sync.Pull(ctx, c, 0)
			wantCode(t, err, server.EINVALID)
		}
	})
}

// TestGroupCommit pushes from many devices at once: every op is accepted
// exactly once, server seqs are unique, and the audit chain verifies.
func TestGroupCommit(t *testing.T) {
	e := mustSyncEnv(t)
	base, _ := sqlite.CountRows(context.Background(), e.db, "ops") // the demo sites
	const devices, pushes, opsPer = 16, 5, 10
	ctxs := make([]context.Context, devices)
	devs := make([]*device, devices)
	for i := range devices {
		devs[i] = newDevice(fmt.Sprintf("group-device-%02d", i))
		ctxs[i] = e.as(t, "worker-1-1-1", devs[i].id)
	}
	var wg sync.WaitGroup
	seqs := make(chan int64, devices*pushes*opsPer)
	for i := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range pushes {
				ops := make([]syncproto.Op, opsPer)
				for k := range ops {
					ops[k] = devs[i].op("sites", fmt.Sprintf("g-%d-%d-%d", i, p, k), site(grid111, "并发"))
				}
				resp, err := e.sync.Push(ctxs[i], devs[i].push(ops...))
				if err != nil {
					t.Error(err)
					return
				}
				for _, v := range resp.Verdicts {
					if v.Status != syncproto.StatusAccepted {
						t.Errorf("got %+v", v)
					}
					seqs <- v.ServerSeq
				}
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("server seq %d given twice", s)
		}
		seen[s] = true
	}
	if len(seen) != devices*pushes*opsPer {
		t.Fatalf("got %d accepted ops, want %d", len(seen), devices*pushes*opsPer)
	}
	if n, err := e.sync.VerifyChain(context.Background()); err != nil || n != base+len(seen) {
		t.Fatalf("chain: %d, %v", n, err)
	}
}

// TestRestartKeepsClockAndChain closes and reopens the service on the same
// file: the clock does not go back and the chain continues.
func TestRestartKeepsClockAndChain(t *testing.T) {
	e := mustSyncEnv(t)
	base, _ := sqlite.CountRows(context.Background(), e.db, "ops") // the demo sites
	ctx := e.as(t, "worker-1-1-1", "phone-worker-111")
	d := newDevice("phone-worker-111")
	future := d.op("sites", "site-a", site(grid111, "张家"))
	future.HLC = syncproto.HLC{Wall: time.Now().Add(2 * time.Minute).UnixMilli()} // ahead, within the drift bound
	r1 := mustPush(t, e.sync, ctx, d.push(future))
	e.sync.Close()
	again := mustSyncService(t, e.db)
	r2 := mustPush(t, again, ctx, d.push(d.op("sites", "site-b", site(grid111, "李家"))))
	if r2.ServerHLC.Compare(r1.ServerHLC) <= 0 || r2.ServerHLC.Compare(future.HLC) <= 0 {
		t.Fatalf("server clock went back across restart: %s then %s (saw %s)", r1.ServerHLC, r2.ServerHLC, future.HLC)
	}
	if n, err := again.VerifyChain(context.Background()); err != nil || n != base+2 {
		t.Fatalf("chain after restart: %d, %v", n, err)
	}
}

// TestPullIsContact: a device that only pulls still shows when it last
// synced, so the station does not mistake it for a lost phone.
func TestPullIsContact(t *testing.T) {
	e := mustSyncEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-pull-only")
	before := time.Now().Add(-time.Second)
	if _, err := e.sync.Pull(ctx, "", 0); err != nil {
		t.Fatal(err)
	}
	e.sync.Close() // writes the contacts it holds
	list, err := mustSyncService(t, e.db).Devices(e.as(t, "station-1", "pc-station-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.ID == "phone-pull-only" {
			if d.LastSyncAt == nil || d.LastSyncAt.Before(before) {
				t.Fatalf("last sync %v, want after %v", d.LastSyncAt, before)
			}
			return
		}
	}
	t.Fatal("device not listed")
}

// TestReadRestrictedMatrix: enforcement records are read only by the roles
// the collection names, and only inside their area, by pull and by
// snapshot alike.
func TestReadRestrictedMatrix(t *testing.T) {
	e := mustSyncEnv(t)
	da := newDevice("phone-officer-1a")
	create := da.op("enforcement_records", "case-matrix", map[string]any{"site": demoSiteG01, "subject": "占用疏散通道"})
	create.Add = map[string][]string{"officers": {"officer-1-a", "officer-1-b"}, "certificates": {"officer-1-a:ZJ33030001", "officer-1-b:ZJ33030002"}}
	accepted(t, mustPush(t, e.sync, e.as(t, "officer-1-a", da.id), da.push(create)))
	for _, tc := range []struct {
		user string
		sees bool
	}{
		{"officer-1-a", true}, {"officer-1-b", true}, {"station-1", true}, {"county", true},
		{"worker-1-1-1", false}, {"worker-1-1-2", false}, {"village-1-1", false},
		{"station-2", false}, {"worker-2-1-1", false},
	} {
		t.Run(tc.user, func(t *testing.T) {
			ctx := e.as(t, tc.user, "reader-"+tc.user)
			pulled, snap := false, false
			for _, ch := range pullAll(t, e.sync, ctx) {
				pulled = pulled || ch.Op.Collection == "enforcement_records"
			}
			for _, doc := range snapshotAll(t, e.sync, ctx) {
				snap = snap || doc.Collection == "enforcement_records"
			}
			if pulled != tc.sees || snap != tc.sees {
				t.Errorf("pull sees %v, snapshot sees %v, want %v", pulled, snap, tc.sees)
			}
		})
	}
}

// TestPullPageJSON: a pull page sent as stored JSON reads back as exactly
// the response Pull decodes, empty pages too.
func TestPullPageJSON(t *testing.T) {
	e := mustSyncEnv(t)
	ctx := e.as(t, "worker-1-1-1", "phone-worker-111")
	d := newDevice("phone-worker-111")
	mustPush(t, e.sync, ctx, d.push(d.op("sites", "site-a", site(grid111, "张家"))))
	cursor := ""
	for range 3 {
		page, err := e.sync.PullPage(ctx, cursor, 4)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		var sent syncproto.PullResponse
		if err := json.Unmarshal(b, &sent); err != nil {
			t.Fatal(err)
		}
		want, err := page.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&sent, want) || sent.Changes == nil {
			t.Fatalf("sent %s\ndecoded %+v", b, want)
		}
		cursor = page.Cursor
	}
}
