package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

func TestWebSessions(t *testing.T) {
	e := mustSyncEnv(t)
	dash := sqlite.NewDashboardService(e.db)
	ctx := context.Background()
	station := e.as(t, "station-1", "web-browser-0001")
	p := server.PrincipalFrom(station)

	t.Run("OK", func(t *testing.T) {
		id, err := dash.CreateWebSession(ctx, p.UserID, p.DeviceID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := dash.WebSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ws.Principal.Username != "station-1" || ws.Principal.AreaPath != "/330399/330399101/" || ws.Principal.DeviceID != "web-browser-0001" {
			t.Fatalf("got %+v", ws.Principal)
		}
		if ws.Name != "林晓东" || len(ws.CSRF) < 32 {
			t.Fatalf("got name %q csrf %q", ws.Name, ws.CSRF)
		}
		if err := dash.DeleteWebSession(ctx, id); err != nil {
			t.Fatal(err)
		}
		_, err = dash.WebSession(ctx, id)
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		id, err := dash.CreateWebSession(ctx, p.UserID, p.DeviceID, -time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dash.WebSession(ctx, id)
		wantCode(t, err, server.EUNAUTHORIZED)
		// The next login purges it.
		if _, err := dash.CreateWebSession(ctx, p.UserID, p.DeviceID, time.Hour); err != nil {
			t.Fatal(err)
		}
		n, _ := sqlite.CountRows(ctx, e.db, "web_sessions")
		if n != 1 {
			t.Fatalf("got %d sessions, want the expired one purged", n)
		}
	})
	t.Run("ErrDeviceRevoked", func(t *testing.T) {
		id, err := dash.CreateWebSession(ctx, p.UserID, p.DeviceID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.auth.RevokeDevice(e.as(t, "county", "web-county-0001"), p.DeviceID); err != nil {
			t.Fatal(err)
		}
		_, err = dash.WebSession(ctx, id)
		wantCode(t, err, server.EUNAUTHORIZED)
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		for _, id := range []string{"", "nope", string(make([]byte, 200))} {
			_, err := dash.WebSession(ctx, id)
			wantCode(t, err, server.EUNAUTHORIZED)
		}
	})
}

func TestDashboardScope(t *testing.T) {
	e := mustSyncEnv(t)
	dash := sqlite.NewDashboardService(e.db)
	worker := e.as(t, "worker-1-1-1", "phone-worker-111")
	dw := newDevice("phone-worker-111")
	sha := "1111111111111111111111111111111111111111111111111111111111111111"
	create := dw.op("hazards", "hz-1", map[string]any{"site": "0192f000-0000-7000-8000-000000000001", "title": "灭火器过期"})
	create.Add = map[string][]string{"photos": {sha}}
	create.Flow = map[string]syncproto.FlowStep{"status": {To: syncproto.StageReported, Round: 1}}
	mustPush(t, e.sync, worker, dw.push(create))
	station1, station2 := e.as(t, "station-1", "web-station-1"), e.as(t, "station-2", "web-station-2")

	t.Run("Docs", func(t *testing.T) {
		rows, err := dash.Docs(station1, server.DocQuery{Collection: "hazards"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].State.ID != "hz-1" || rows[0].CreatedBy != "worker-1-1-1" || rows[0].AreaID != grid111 {
			t.Fatalf("got %+v", rows)
		}
		if rows, _ := dash.Docs(station2, server.DocQuery{Collection: "hazards"}); len(rows) != 0 {
			t.Fatalf("station-2 sees %d hazards of township 1", len(rows))
		}
		if rows, _ := dash.Docs(station1, server.DocQuery{Collection: "hazards", AreaPath: "/330399/330399102/"}); len(rows) != 0 {
			t.Fatal("a narrowing path outside the caller's area widened the scope")
		}
		if rows, _ := dash.Docs(station1, server.DocQuery{Collection: "hazards", AfterSeq: rows[0].CreatedSeq}); len(rows) != 0 {
			t.Fatal("AfterSeq kept the document created at that seq")
		}
	})
	t.Run("Doc", func(t *testing.T) {
		if _, err := dash.Doc(station1, "hazards", "hz-1"); err != nil {
			t.Fatal(err)
		}
		_, err := dash.Doc(station2, "hazards", "hz-1")
		wantCode(t, err, server.ENOTFOUND)
		_, err = dash.Doc(station1, "hazards", "hz-missing")
		wantCode(t, err, server.ENOTFOUND)
	})
	t.Run("TimelineAndPhotos", func(t *testing.T) {
		tl, err := dash.Timeline(station1, server.TimelineQuery{Collection: "hazards", DocID: "hz-1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != 1 || tl[0].Username != "worker-1-1-1" || tl[0].Name != "金丽萍" || tl[0].Op.Flow["status"].To != syncproto.StageReported {
			t.Fatalf("got %+v", tl)
		}
		if tl, _ := dash.Timeline(station2, server.TimelineQuery{Collection: "hazards"}); len(tl) != 0 {
			t.Fatal("station-2 reads township 1's history")
		}
		refs, err := dash.Photos(station1, "hazards", []string{"hz-1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0].SHA256 != sha || !refs[0].Live {
			t.Fatalf("got %+v", refs)
		}
	})
	t.Run("ResolveConflict", func(t *testing.T) {
		village := e.as(t, "village-1-1", "phone-village-11")
		dv := newDevice("phone-village-11")
		a := dw.op("hazards", "hz-1", map[string]any{"description": "A"})
		a.Base = map[string]syncproto.Stamp{"description": create.Stamp()}
		time.Sleep(2 * time.Millisecond)
		b := dv.op("hazards", "hz-1", map[string]any{"description": "B"})
		b.Base = a.Base
		mustPush(t, e.sync, worker, dw.push(a))
		mustPush(t, e.sync, village, dv.push(b))
		cs, err := e.sync.Conflicts(station1, server.ConflictFilter{OpenOnly: true})
		if err != nil || len(cs) != 1 {
			t.Fatalf("got %v, %v", cs, err)
		}
		wantCode(t, dash.ResolveConflict(station2, cs[0].ID), server.ENOTFOUND)
		if _, err := dash.Conflict(station2, cs[0].ID); server.ErrorCode(err) != server.ENOTFOUND {
			t.Fatalf("station-2 reads township 1's conflict: %v", err)
		}
		if err := dash.ResolveConflict(station1, cs[0].ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, dash.ResolveConflict(station1, cs[0].ID), server.ECONFLICT)
		if c, err := dash.Conflict(station1, cs[0].ID); err != nil || !c.Resolved {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
	t.Run("DocsPagedOldestFirst", func(t *testing.T) {
		var ops []syncproto.Op
		for i := range 5 {
			o := dw.op("hazards", fmt.Sprintf("hz-page-%d", i), map[string]any{"site": "0192f000-0000-7000-8000-000000000001", "title": "灭火器过期"})
			o.Flow = map[string]syncproto.FlowStep{"status": {To: syncproto.StageReported, Round: 1}}
			ops = append(ops, o)
		}
		mustPush(t, e.sync, worker, dw.push(ops...))
		// Pages of 2 from the start read every hazard once, in creation
		// order: the newest-first order would skip the older ones of a
		// backlog larger than a page.
		var got []string
		var after int64
		for range 10 {
			rows, err := dash.Docs(station1, server.DocQuery{Collection: "hazards", AfterSeq: after, Limit: 2, OldestFirst: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				got = append(got, r.State.ID)
				after = r.CreatedSeq
			}
			if len(rows) < 2 {
				break
			}
		}
		want := []string{"hz-1", "hz-page-0", "hz-page-1", "hz-page-2", "hz-page-3", "hz-page-4"}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("DeviceLastSeq", func(t *testing.T) {
		seq, err := dash.DeviceLastSeq(worker, "phone-worker-111")
		if err != nil || seq != dw.seq {
			t.Fatalf("got %d, %v, want %d", seq, err, dw.seq)
		}
		_, err = dash.DeviceLastSeq(station1, "phone-worker-111")
		wantCode(t, err, server.ENOTFOUND)
		if h, err := dash.ServerClock(context.Background()); err != nil || h.IsZero() {
			t.Fatalf("server clock %v, %v", h, err)
		}
	})
}
