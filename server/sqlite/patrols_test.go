package sqlite_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// local is a moment of January 2025 in the county's time.
func local(day, hour, minute int) time.Time {
	return time.Date(2025, time.January, day, hour, minute, 0, 0, server.CountyTime)
}

// TestPatrols: night patrols (夜查/巡防) in a key period: sessions and
// durations, check-ins flagged outside 22:00–06:00, outside the session
// or by someone not on the patrol (never refused), device clocks
// corrected, and the villages without a patrol on each key-period night.
func TestPatrols(t *testing.T) {
	e := mustSyncEnv(t)
	dom := mustDomain(t, e)
	if _, err := dom.SetPolicy(e.as(t, "county", "pc-county"), township1,
		[]byte(`{"key_periods": [{"name": "元旦前后", "from": "2025-01-09", "to": "2025-01-10"}]}`)); err != nil {
		t.Fatal(err)
	}
	dw := newDevice("phone-worker-111")
	worker := e.as(t, "worker-1-1-1", dw.id)
	patrol := func(d *device, id string, start, end time.Time) syncproto.Op {
		op := d.op("patrols", id, map[string]any{"kind": syncproto.PatrolPatrol, "level": syncproto.PatrolVillage,
			"started_at": start.UnixMilli(), "ended_at": end.UnixMilli(), "leader": "worker-1-1-1", "note": "下洋村夜间巡防"})
		op.Add = map[string][]string{"members": {"worker-1-1-1"}}
		return op
	}
	checkin := func(d *device, id string, at time.Time) syncproto.Op {
		return d.op("patrol_checkins", id, map[string]any{"patrol": "p-xiayang", "at": at.UnixMilli(), "site": demoSiteG01, "note": "巡查正常"})
	}
	resp := mustPush(t, e.sync, worker, dw.push(
		patrol(dw, "p-xiayang", local(9, 22, 10), local(10, 1, 30)),
		patrol(dw, "p-backwards", local(9, 23, 0), local(9, 22, 0)),
		checkin(dw, "c-ok", local(9, 22, 30)),
		checkin(dw, "c-early", local(9, 21, 0)),
		checkin(dw, "c-after", local(10, 2, 0)),
	))
	wantCodes(t, resp, "", syncproto.CodeInvalidValue, "", "", "")
	// The village officer is not on the patrol; a second phone of the
	// worker runs an hour slow: its 21:40 is 22:40 on the server's clock.
	dv := newDevice("phone-village-11")
	accepted(t, mustPush(t, e.sync, e.as(t, "village-1-1", dv.id), dv.push(checkin(dv, "c-stranger", local(9, 23, 0)))))
	slow := newDevice("tablet-worker-111")
	req := slow.push(checkin(slow, "c-slow", local(9, 21, 40)))
	req.DeviceTime = time.Now().Add(-time.Hour).UnixMilli()
	accepted(t, mustPush(t, e.sync, e.as(t, "worker-1-1-1", slow.id), req))
	// 岭头村 patrols the second night only.
	d121 := newDevice("phone-worker-121")
	p2 := d121.op("patrols", "p-lingtou", map[string]any{"kind": syncproto.PatrolNightCheck, "level": syncproto.PatrolVillage,
		"started_at": local(10, 23, 0).UnixMilli(), "ended_at": local(11, 2, 0).UnixMilli()})
	accepted(t, mustPush(t, e.sync, e.as(t, "worker-1-2-1", d121.id), d121.push(p2)))

	station := e.as(t, "station-1", "pc-station-1")
	rep, err := dom.Patrols(station, server.PatrolQuery{From: "2025-01-08", To: "2025-01-11"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Patrols) != 2 || rep.Patrols[0].ID != "p-xiayang" || rep.Patrols[1].ID != "p-lingtou" {
		t.Fatalf("patrols %+v", rep.Patrols)
	}
	p := rep.Patrols[0]
	if p.Night != "2025-01-09" || p.StartedBy != "worker-1-1-1" || p.AreaID != grid111 || p.DurationMS == nil ||
		*p.DurationMS != (3*time.Hour+20*time.Minute).Milliseconds() || p.Flagged != 3 || len(p.Checkins) != 5 {
		t.Fatalf("p-xiayang %+v", p)
	}
	want := map[string][]string{
		"c-ok":       {},
		"c-slow":     {},
		"c-early":    {server.FlagOutsideNight, server.FlagOutsideSession},
		"c-after":    {server.FlagOutsideSession},
		"c-stranger": {server.FlagNotMember},
	}
	for _, c := range p.Checkins {
		if !slices.Equal(c.Flags, want[c.ID]) {
			t.Errorf("%s at %s by %s: flags %v, want %v", c.ID, c.At.In(server.CountyTime).Format("15:04"), c.By, c.Flags, want[c.ID])
		}
		if c.ID == "c-slow" && c.At.Sub(local(9, 22, 40)).Abs() > 30*time.Second {
			t.Errorf("c-slow at %s, want 22:40 on the server's clock", c.At.In(server.CountyTime))
		}
	}
	if q := rep.Patrols[1]; q.Night != "2025-01-10" || q.Kind != syncproto.PatrolNightCheck || len(q.Members) != 0 || q.Flagged != 0 {
		t.Errorf("p-lingtou %+v", q)
	}
	unpatrolled := func(kn *server.KeyNight) (out []string) {
		for _, a := range kn.Unpatrolled {
			out = append(out, a.Name)
		}
		return out
	}
	if len(rep.KeyNights) != 2 || rep.KeyNights[0].Night != "2025-01-09" || rep.KeyNights[0].Period != "元旦前后" ||
		!slices.Equal(unpatrolled(rep.KeyNights[0]), []string{"岭头村", "东岙村"}) ||
		rep.KeyNights[1].Night != "2025-01-10" || !slices.Equal(unpatrolled(rep.KeyNights[1]), []string{"下洋村", "东岙村"}) {
		t.Fatalf("key nights %+v %+v", rep.KeyNights, rep.KeyNights[len(rep.KeyNights)-1])
	}

	t.Run("AreaScope", func(t *testing.T) {
		mine, err := dom.Patrols(worker, server.PatrolQuery{From: "2025-01-08", To: "2025-01-11"})
		if err != nil || len(mine.Patrols) != 1 || len(mine.KeyNights) != 2 || len(mine.KeyNights[0].Unpatrolled) != 0 {
			t.Fatalf("the worker's grid: %+v, %v", mine, err)
		}
		other, err := dom.Patrols(e.as(t, "station-2", "pc-station-2"), server.PatrolQuery{From: "2025-01-08", To: "2025-01-11"})
		if err != nil || len(other.Patrols) != 0 || len(other.KeyNights) != 0 {
			t.Fatalf("township 2 (no key period): %+v, %v", other, err)
		}
		_, err = dom.Patrols(worker, server.PatrolQuery{AreaID: village12})
		wantCode(t, err, server.ENOTFOUND)
	})
	t.Run("Range", func(t *testing.T) {
		def, err := dom.Patrols(station, server.PatrolQuery{At: local(11, 10, 0)})
		if err != nil || def.From != "2025-01-04" || def.To != "2025-01-10" || len(def.Patrols) != 2 {
			t.Fatalf("default range before tonight: %s..%s, %d patrols, %v", def.From, def.To, len(def.Patrols), err)
		}
		if tonight, _ := dom.Patrols(station, server.PatrolQuery{At: local(11, 22, 30)}); tonight.To != "2025-01-11" {
			t.Fatalf("once tonight's window has begun: to %s", tonight.To)
		}
		for _, q := range []server.PatrolQuery{{From: "2025-01-11", To: "2025-01-08"}, {From: "2024-10-01", To: "2025-01-10"},
			{From: "2025/01/08"}, {To: "yesterday"}} {
			_, err := dom.Patrols(station, q)
			wantCode(t, err, server.EINVALID)
		}
		if ok, err := dom.Patrols(station, server.PatrolQuery{From: "2024-10-11", To: "2025-01-10"}); err != nil || len(ok.Patrols) != 2 {
			t.Fatalf("92 nights: %v", err)
		}
	})
}
