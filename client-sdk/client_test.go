package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// serverLog returns every change visible to station-1 (township 云岙镇,
// which holds grids G01 and G02) from the start of the server's log.
func serverLog(tb testing.TB, srv *apptest.Server) []syncproto.Change {
	tb.Helper()
	d := loginDevice(tb, srv, "station-1")
	var all []syncproto.Change
	cursor := ""
	for {
		q := url.Values{"limit": {"2000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var resp *syncproto.PullResponse
		err := d.call(context.Background(), request{method: http.MethodGet, path: "/v1/sync/pull", query: q, auth: true}, func(b []byte) (err error) {
			resp, err = decodePullResponse(b)
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, resp.Changes...)
		cursor = resp.Cursor
		if !resp.HasMore {
			return all
		}
	}
}

// opsOf returns the ops of device in a log, by seq.
func opsOf(log []syncproto.Change, device string) map[uint64][]syncproto.Change {
	out := map[uint64][]syncproto.Change{}
	for _, ch := range log {
		if ch.Op.Device == device {
			out[ch.Op.Seq] = append(out[ch.Op.Seq], ch)
		}
	}
	return out
}

func TestOpen(t *testing.T) {
	t.Run("DeviceIDKept", func(t *testing.T) {
		d := openDevice(t, Options{})
		id := d.DeviceID()
		if !syncproto.ValidDeviceID(id) || len(id) != 36 {
			t.Fatalf("got device id %q, want a UUID", id)
		}
		d.reopen()
		if got := d.DeviceID(); got != id {
			t.Fatalf("got device id %q after reopen, want %q", got, id)
		}
		if d.User() != nil {
			t.Fatalf("got user %+v on a new file", d.User())
		}
	})
	t.Run("ErrBadServerURL", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{ServerURL: "ftp://x"}); err == nil {
			t.Fatal("got no error for an ftp url")
		}
	})
	t.Run("ErrWriteBeforeLogin", func(t *testing.T) {
		d := openDevice(t, Options{})
		_, err := d.Create("sites", Fields{"grid": gridG01, "name": "x", "kind": "household"})
		if !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v, want ErrLoginRequired", err)
		}
	})
	t.Run("ErrSyncOffline", func(t *testing.T) {
		d := openDevice(t, Options{ServerURL: "http://127.0.0.1:1", MaxRetries: -1})
		if _, err := d.Sync(context.Background()); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v, want ErrLoginRequired", err)
		}
	})
}

// TestOffline writes with the server gone: everything lands in the outbox,
// shows in the local view, and refusals happen locally with the server's
// codes.
func TestOffline(t *testing.T) {
	srv := apptest.Start(t)
	w := loginDevice(t, srv, "worker-1-1-1")
	w.sync()
	srv.Stop()

	site := w.create("sites", Fields{"grid": gridG01, "name": "王大妈小卖部", "kind": "nine_small", "phone": "13800000000"})
	hazard := w.create("hazards", Fields{"site": site, "title": "电动车楼道充电", "status": syncproto.StageReported,
		"photos": []string{strings.Repeat("a", 64)}})
	w.update("sites", site, Change{Set: map[string]any{"address": "下洋村 12 号"}})
	w.update("hazards", hazard, Change{Add: map[string][]string{"photos": {strings.Repeat("b", 64)}},
		Remove: map[string][]string{"photos": {strings.Repeat("a", 64)}}, Flow: map[string]string{"status": syncproto.StageSubmitted}})
	insp := w.create("inspections", Fields{"site": siteG01, "result": "pass", "checked_at": time.Now().UnixMilli()})

	t.Run("LocalView", func(t *testing.T) {
		s := w.get("sites", site)
		if s.String("name") != "王大妈小卖部" || s.String("address") != "下洋村 12 号" || s.Pending != 2 || s.Area != gridG01 {
			t.Fatalf("got site %+v", s)
		}
		h := w.get("hazards", hazard)
		if got := h.Elements("photos"); !slices.Equal(got, []string{strings.Repeat("b", 64)}) || h.Stage("status") != syncproto.StageSubmitted || h.Round("status") != 1 || h.Area != gridG01 {
			t.Fatalf("got hazard photos %v stage %q round %d area %q", got, h.Stage("status"), h.Round("status"), h.Area)
		}
		if got := w.get("inspections", insp); got.String("result") != "pass" || got.Area != gridG01 {
			t.Fatalf("got inspection %+v", got)
		}
		sites, err := w.List("sites", Query{Where: map[string]any{"kind": "nine_small", "grid": gridG01}})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, s := range sites {
			ids = append(ids, s.ID)
		}
		if !slices.Contains(ids, site) || !slices.Contains(ids, "0192f000-0000-7000-8000-000000000003") || len(ids) != 2 {
			t.Fatalf("got nine_small sites %v", ids)
		}
		if st := w.outbox(); st.Pending != 5 || st.Accepted != 0 || st.Oldest.IsZero() {
			t.Fatalf("got outbox %+v", st)
		}
	})
	t.Run("SurvivesRestart", func(t *testing.T) {
		w.reopen()
		if st := w.outbox(); st.Pending != 5 {
			t.Fatalf("got outbox %+v after reopen, want 5 pending", st)
		}
		if w.get("sites", site).String("address") != "下洋村 12 号" {
			t.Fatal("offline edit lost on reopen")
		}
	})
	t.Run("RefusedLocally", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			err  func() error
			code string
		}{
			{"ForbiddenField", func() error {
				return w.Update("sites", site, Change{Set: map[string]any{"risk_level": "major"}})
			}, syncproto.CodeForbiddenField},
			{"ForbiddenDelete", func() error { return w.Delete("sites", site) }, syncproto.CodeForbiddenRole},
			{"ForbiddenTransition", func() error {
				return w.Update("hazards", hazard, Change{Flow: map[string]string{"status": syncproto.StageClosed}})
			}, syncproto.CodeForbiddenTransition},
			{"BackwardsStep", func() error {
				return w.Update("hazards", hazard, Change{Flow: map[string]string{"status": syncproto.StageReported}})
			}, syncproto.CodeForbiddenTransition},
			{"UnknownField", func() error { return w.Update("sites", site, Change{Set: map[string]any{"colour": "red"}}) }, syncproto.CodeUnknownField},
			{"BadEnum", func() error { return w.Update("sites", site, Change{Set: map[string]any{"kind": "castle"}}) }, syncproto.CodeInvalidValue},
			{"ClearRequired", func() error { return w.Update("sites", site, Change{Set: map[string]any{"name": nil}}) }, syncproto.CodeInvalidValue},
			{"MissingRequired", func() error { _, err := w.Create("sites", Fields{"grid": gridG01, "name": "x"}); return err }, syncproto.CodeNotFound},
			{"UnknownDoc", func() error { return w.Update("sites", "no-such-site", Change{Set: map[string]any{"phone": "1"}}) }, syncproto.CodeNotFound},
			{"UnknownSite", func() error {
				_, err := w.Create("hazards", Fields{"site": "no-such-site", "title": "x", "status": "reported"})
				return err
			}, syncproto.CodeNotFound},
			{"RemoveAbsent", func() error {
				return w.Update("hazards", hazard, Change{Remove: map[string][]string{"photos": {strings.Repeat("c", 64)}}})
			}, syncproto.CodeInvalidValue},
			{"UnknownCollection", func() error { _, err := w.Create("castles", Fields{}); return err }, syncproto.CodeUnknownCollection},
			{"EmptyChange", func() error { return w.Update("sites", site, Change{}) }, syncproto.CodeInvalidOp},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.err(), tc.code) })
		}
		if st := w.outbox(); st.Pending != 5 {
			t.Fatalf("got %d pending after refusals, want 5", st.Pending)
		}
	})
	t.Run("ErrSyncServerDown", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := w.Sync(ctx); err == nil {
			t.Fatal("sync with the server down succeeded")
		}
		if st := w.outbox(); st.Pending != 5 {
			t.Fatalf("got %d pending after a failed sync, want 5", st.Pending)
		}
	})
}

// TestRoundTrip syncs offline work of a grid worker to the village officer
// and the station and back, with concurrent edits of one field.
func TestRoundTrip(t *testing.T) {
	srv := apptest.Start(t)
	w := loginDevice(t, srv, "worker-1-1-1")
	v := loginDevice(t, srv, "village-1-1")
	st := loginDevice(t, srv, "station-1")

	site := w.create("sites", Fields{"grid": gridG01, "name": "老周面馆分店", "kind": "nine_small"})
	hazard := w.create("hazards", Fields{"site": site, "title": "灭火器过期", "status": "reported"})
	insp := w.create("inspections", Fields{"site": site, "result": "hazard_found", "inspectors": []string{"worker-1-1-1"}})
	rep := w.sync()
	if rep.Pushed != 3 || rep.Accepted != 3 || rep.Rejected != 0 {
		rej, _ := w.Rejected()
		t.Fatalf("got push report %+v, rejected %+v", rep, rej)
	}
	if o := w.outbox(); o.Pending != 0 || o.Accepted != 0 {
		t.Fatalf("got outbox %+v after sync, want empty", o)
	}

	rep = v.sync()
	if rep.SnapshotDocs == 0 {
		t.Fatalf("got report %+v, want a snapshot bootstrap", rep)
	}
	if got := v.get("hazards", hazard); got.String("title") != "灭火器过期" || got.Pending != 0 {
		t.Fatalf("village officer got hazard %+v", got)
	}
	v.get("inspections", insp)

	st.sync()
	deadline := time.Now().Add(72 * time.Hour).UnixMilli()
	st.update("hazards", hazard, Change{Flow: map[string]string{"status": syncproto.StageDispatched},
		Set: map[string]any{"deadline": deadline, "assignee": "徐志刚"}})
	st.update("sites", site, Change{Set: map[string]any{"risk_level": "significant"}})
	st.sync()

	w.sync()
	h := w.get("hazards", hazard)
	if h.Stage("status") != syncproto.StageDispatched || h.Int("deadline") != deadline {
		t.Fatalf("worker got hazard stage %q deadline %d", h.Stage("status"), h.Int("deadline"))
	}

	// Concurrent edits of one field: both offline, both sync. Everyone
	// converges on one value and the server keeps the other as a conflict.
	w.update("sites", site, Change{Set: map[string]any{"phone": "111"}})
	v.update("sites", site, Change{Set: map[string]any{"phone": "222"}})
	w.sync()
	v.sync()
	w.sync()
	st.sync()
	a, b, c := w.get("sites", site), v.get("sites", site), st.get("sites", site)
	if !a.State.Equal(b.State) || !a.State.Equal(c.State) {
		t.Fatalf("replicas differ:\n%+v\n%+v\n%+v", a.State, b.State, c.State)
	}
	if a.String("risk_level") != "significant" {
		t.Fatalf("got risk level %q", a.String("risk_level"))
	}
	conflicts, err := st.Conflicts(context.Background(), ConflictQuery{Doc: site})
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 1 || conflicts[0].Field != "phone" {
		t.Fatalf("got conflicts %+v, want one on phone", conflicts)
	}
	var loser string
	json.Unmarshal(conflicts[0].Loser.Value, &loser)
	if winner := a.String("phone"); !(winner == "111" && loser == "222" || winner == "222" && loser == "111") {
		t.Fatalf("got winner %q loser %q", winner, loser)
	}

	// A delete made offline hides the document at once and everywhere
	// after syncing.
	if err := st.Delete("inspections", insp); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get("inspections", insp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v for a document deleted offline, want ErrNotFound", err)
	}
	if docs, _ := st.List("inspections", Query{IncludeDeleted: true}); len(docs) != 1 || !docs[0].Deleted() || docs[0].Pending != 1 {
		t.Fatalf("got %d docs listing deleted ones", len(docs))
	}
	st.sync()
	w.sync()
	if _, err := w.Get("inspections", insp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v on the worker's device after the delete synced, want ErrNotFound", err)
	}
	wantCode(t, w.Update("inspections", insp, Change{Set: map[string]any{"note": "late"}}), syncproto.CodeDocDeleted)
}

// TestRejected shows refused ops to the user instead of dropping them.
func TestRejected(t *testing.T) {
	srv := apptest.Start(t)
	w := loginDevice(t, srv, "worker-1-1-1")
	st := loginDevice(t, srv, "station-1")
	w.sync()
	st.sync()

	// The station deletes a site while the worker edits it offline, and
	// the worker registers a site in a grid that is not theirs (the SDK
	// cannot know the area tree; the server can).
	if err := st.Delete("sites", siteG01); err != nil {
		t.Fatal(err)
	}
	st.sync()
	w.update("sites", siteG01, Change{Set: map[string]any{"phone": "13900000000"}})
	other := w.create("sites", Fields{"grid": gridG02, "name": "别人的网格", "kind": "household"})
	ok := w.create("sites", Fields{"grid": gridG01, "name": "自己的网格", "kind": "household"})
	rep := w.sync()
	if rep.Accepted != 1 || rep.Rejected != 2 {
		t.Fatalf("got report %+v, want 1 accepted, 2 rejected", rep)
	}
	rej, err := w.Rejected()
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, r := range rej {
		codes[r.Doc] = r.Code
		if r.Reason == "" || r.Op.Doc != r.Doc || r.CreatedAt.IsZero() {
			t.Fatalf("got rejected op %+v", r)
		}
	}
	if codes[siteG01] != syncproto.CodeDocDeleted || codes[other] != syncproto.CodeForbiddenArea || len(codes) != 2 {
		t.Fatalf("got rejected %v", codes)
	}
	if o := w.outbox(); o.Pending != 0 || o.Accepted != 0 || o.Rejected != 2 {
		t.Fatalf("got outbox %+v", o)
	}
	if _, err := w.Get("sites", siteG01); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v for the deleted site, want ErrNotFound", err)
	}
	if _, err := w.Get("sites", other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v for the refused site, want ErrNotFound", err)
	}
	w.get("sites", ok)
	if err := w.DismissRejected(rej[0].ID); err != nil {
		t.Fatal(err)
	}
	if rej, _ := w.Rejected(); len(rej) != 1 {
		t.Fatalf("got %d rejected after dismissing one, want 1", len(rej))
	}
}

// countingTransport counts requests and 401 answers by path.
type countingTransport struct {
	base          http.RoundTripper
	paths, unauth map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.paths[r.URL.Path]++
	resp, err := c.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		c.unauth[r.URL.Path]++
	}
	return resp, err
}

func TestTokens(t *testing.T) {
	srv := apptest.Start(t, "-access-ttl", "1m")
	now := time.Now()
	clock := func() time.Time { return now }
	ct := &countingTransport{base: http.DefaultTransport, paths: map[string]int{}, unauth: map[string]int{}}
	opt := fastOptions(srv.URL())
	opt.Now = func() time.Time { return clock() }
	opt.HTTPClient = &http.Client{Transport: ct}
	d := openDevice(t, opt)
	d.login("worker-1-1-1")
	d.sync()

	t.Run("ExpiredByDeviceClock", func(t *testing.T) {
		before := d.access
		now = now.Add(2 * time.Minute) // past the 1m token
		d.create("sites", Fields{"grid": gridG01, "name": "a", "kind": "household"})
		d.sync()
		if d.access == before || ct.paths["/v1/auth/refresh"] != 1 || ct.unauth["/v1/sync/push"] != 0 {
			t.Fatalf("got refreshes %d, 401s %v: want a refresh before the push", ct.paths["/v1/auth/refresh"], ct.unauth)
		}
	})
	t.Run("RefusedByServer", func(t *testing.T) {
		// A token the server refuses (expired by its clock, or the account
		// changed): one 401, a refresh, and the request again.
		d.access = "not-a-token"
		d.create("sites", Fields{"grid": gridG01, "name": "b", "kind": "household"})
		if rep := d.sync(); rep.Accepted != 1 {
			t.Fatalf("got %+v", rep)
		}
		if ct.paths["/v1/auth/refresh"] != 2 || ct.unauth["/v1/sync/push"] != 1 {
			t.Fatalf("got refreshes %d, 401s %v", ct.paths["/v1/auth/refresh"], ct.unauth)
		}
	})
	t.Run("ErrTokenReused", func(t *testing.T) {
		// The refresh token was copied (or a restored backup holds an old
		// one): the server revokes the session. The outbox stays.
		stale := d.refresh
		d.access = "not-a-token"
		d.sync() // rotates
		// A second rotation uses the first one's successor, so the stale
		// token is no longer a retry after a lost reply (which the server
		// forgives for a short while) but a copy.
		d.access = "not-a-token"
		d.sync()
		d.access, d.refresh = "not-a-token", stale
		id := d.create("sites", Fields{"grid": gridG01, "name": "c", "kind": "household"})
		_, err := d.Sync(context.Background())
		if !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrTokenReused) {
			t.Fatalf("got %v, want ErrLoginRequired and ErrTokenReused", err)
		}
		if o := d.outbox(); o.Pending != 1 {
			t.Fatalf("got outbox %+v, want the op kept", o)
		}
		d.reopen()
		if _, err := d.Sync(context.Background()); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v after reopen, want ErrLoginRequired", err)
		}
		d.login("worker-1-1-1")
		if rep := d.sync(); rep.Accepted != 1 {
			t.Fatalf("got %+v after login", rep)
		}
		d.get("sites", id)
	})
	t.Run("ErrDeviceRevoked", func(t *testing.T) {
		st := loginDevice(t, srv, "station-1")
		d.create("sites", Fields{"grid": gridG01, "name": "d", "kind": "household"})
		err := st.call(context.Background(), request{method: http.MethodPost, path: "/v1/devices/" + d.DeviceID() + "/revoke", auth: true},
			func([]byte) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Sync(context.Background())
		if !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrDeviceRevoked) {
			t.Fatalf("got %v, want ErrLoginRequired and ErrDeviceRevoked", err)
		}
		if o := d.outbox(); o.Pending != 1 {
			t.Fatalf("got outbox %+v, want the op kept", o)
		}
	})
	t.Run("Logout", func(t *testing.T) {
		e := loginDevice(t, srv, "worker-1-1-2")
		e.create("sites", Fields{"grid": gridG02, "name": "e", "kind": "household"})
		if err := e.Logout(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Sync(context.Background()); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v after logout, want ErrLoginRequired", err)
		}
		if e.outbox().Pending != 1 || e.User() == nil {
			t.Fatal("logout lost the outbox or the user")
		}
		if err := e.Login(context.Background(), "worker-1-1-1", demoPassword); !errors.Is(err, ErrOtherUser) {
			t.Fatalf("got %v logging in as another user with unsynced work, want ErrOtherUser", err)
		}
		if err := e.Login(context.Background(), "worker-1-1-2", "wrong-password"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("got %v for a wrong password, want ErrUnauthorized", err)
		}
		e.login("worker-1-1-2")
		e.sync()
		dev := e.DeviceID()
		e.login("worker-1-1-1") // nothing unsynced: a new device for the new user
		if e.DeviceID() == dev || e.User().Username != "worker-1-1-1" {
			t.Fatalf("got device %s user %+v after switching users", e.DeviceID(), e.User())
		}
		e.sync()
		if _, err := e.Get("sites", siteG02); !errors.Is(err, ErrNotFound) {
			t.Fatal("the new user sees the previous user's grid")
		}
	})
}

// TestCrash kills the device between the server's reply and the local
// commit, at each kind of reply, and checks that the next Sync loses and
// duplicates nothing.
func TestCrash(t *testing.T) {
	srv := apptest.Start(t)

	t.Run("PushReplyNotStored", func(t *testing.T) {
		d := loginDevice(t, srv, "worker-1-1-1")
		d.sync()
		a := d.create("sites", Fields{"grid": gridG01, "name": "crash-a", "kind": "household"})
		d.update("sites", a, Change{Add: map[string][]string{}, Set: map[string]any{"phone": "1"}})
		d.crashAt("push")
		if _, err := d.Sync(context.Background()); !errors.Is(err, errCrash) {
			t.Fatalf("got %v, want the injected crash", err)
		}
		d.reopen()
		if o := d.outbox(); o.Pending != 2 {
			t.Fatalf("got outbox %+v after the crash, want 2 pending", o)
		}
		rep := d.sync()
		if rep.Accepted != 2 {
			t.Fatalf("got %+v, want the 2 ops accepted again (replay)", rep)
		}
		if o := d.outbox(); o.Pending+o.Accepted != 0 {
			t.Fatalf("got outbox %+v", o)
		}
		for seq, chs := range opsOf(serverLog(t, srv), d.DeviceID()) {
			if len(chs) != 1 {
				t.Fatalf("seq %d is %d times in the server's log", seq, len(chs))
			}
		}
		if got := d.get("sites", a); got.String("phone") != "1" || got.Pending != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("PulledBeforeVerdict", func(t *testing.T) {
		// The server accepted the ops but their verdicts never reached the
		// file; a pull that brings them back retires them from the outbox.
		d := loginDevice(t, srv, "worker-1-1-1")
		d.sync()
		a := d.create("sites", Fields{"grid": gridG01, "name": "crash-b", "kind": "household"})
		d.crashAt("push")
		if _, err := d.Sync(context.Background()); !errors.Is(err, errCrash) {
			t.Fatalf("got %v, want the injected crash", err)
		}
		d.reopen()
		d.syncMu.Lock()
		err := d.pull(context.Background(), &SyncReport{})
		d.syncMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if o := d.outbox(); o.Pending+o.Accepted != 0 {
			t.Fatalf("got outbox %+v after pulling the op back", o)
		}
		if rep := d.sync(); rep.Pushed != 0 {
			t.Fatalf("got %+v, want nothing left to push", rep)
		}
		if got := d.get("sites", a); got.Pending != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("PullNotStored", func(t *testing.T) {
		w := loginDevice(t, srv, "worker-1-1-1")
		v := loginDevice(t, srv, "village-1-1")
		w.sync()
		v.sync()
		id := v.create("hazards", Fields{"site": siteG01, "title": "pull-crash", "status": "reported"})
		v.sync()
		w.crashAt("pull")
		if _, err := w.Sync(context.Background()); !errors.Is(err, errCrash) {
			t.Fatalf("got %v, want the injected crash", err)
		}
		w.reopen()
		if _, err := w.Get("hazards", id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v: the crashed pull was stored", err)
		}
		w.sync()
		if got := w.get("hazards", id); got.String("title") != "pull-crash" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("SnapshotResumes", func(t *testing.T) {
		opt := fastOptions(srv.URL())
		opt.PageSize = 4
		d := openDevice(t, opt)
		d.login("station-1")
		pages := 0
		d.crashHook = func(p string) error {
			if p == "snapshot" {
				if pages++; pages == 3 {
					return errCrash
				}
			}
			return nil
		}
		if _, err := d.Sync(context.Background()); !errors.Is(err, errCrash) {
			t.Fatalf("got %v, want the injected crash", err)
		}
		d.reopen()
		if next, _ := getMeta(d.r, metaSnapNext); next == "" {
			t.Fatal("no snapshot page stored to resume from")
		}
		if n := len(d.confirmed()); n != 0 {
			t.Fatalf("got %d docs in the replica mid-snapshot, want 0", n)
		}
		rep := d.sync()
		// Pages 1 and 2 (8 docs) were stored before the crash.
		fresh := loginDevice(t, srv, "station-1")
		fresh.sync()
		want := fresh.confirmed()
		if rep.SnapshotDocs != len(want)-8 {
			t.Fatalf("got %d docs after resuming, want %d", rep.SnapshotDocs, len(want)-8)
		}
		equalReplicas(t, "resumed", d.confirmed(), want)
	})
}

// equalReplicas compares two replicas' live documents.
func equalReplicas(tb testing.TB, name string, got, want map[[2]string]syncproto.DocState) {
	tb.Helper()
	n := 0
	for k, w := range want {
		if w.IsDeleted() {
			continue
		}
		n++
		g, ok := got[k]
		if !ok {
			tb.Fatalf("%s: missing %s/%s", name, k[0], k[1])
		}
		if !g.Equal(w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			tb.Fatalf("%s: %s/%s differs:\n got  %s\n want %s", name, k[0], k[1], gj, wj)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && !g.IsDeleted() {
			tb.Fatalf("%s: has %s/%s, which it should not", name, k[0], k[1])
		}
	}
}

// TestSnapshot bootstraps a second device page by page and checks that a
// replica built by pulling equals one built from a snapshot.
func TestSnapshot(t *testing.T) {
	srv := apptest.Start(t)
	a := loginDevice(t, srv, "worker-1-1-1")
	a.sync() // bootstrap now, so that what follows reaches a by pull
	for i := range 10 {
		id := a.create("sites", Fields{"grid": gridG01, "name": "site " + string(rune('A'+i)), "kind": "household"})
		a.create("hazards", Fields{"site": id, "title": "h", "status": "reported", "photos": []string{strings.Repeat("e", 64)}})
	}
	a.update("sites", siteG01, Change{Set: map[string]any{"phone": "0577-1"}})
	if rep := a.sync(); rep.Pulled != 21 {
		t.Fatalf("got %+v, want the 21 ops pulled back", rep)
	}
	opt := fastOptions(srv.URL())
	opt.PageSize = 3
	b := openDevice(t, opt)
	b.login("worker-1-1-1")
	rep := b.sync()
	if rep.SnapshotDocs != 26 { // 6 demo sites of G01, 10 sites, 10 hazards
		t.Fatalf("got %+v, want 26 docs by snapshot", rep)
	}
	equalReplicas(t, "snapshot vs pull", b.confirmed(), a.confirmed())
	equalReplicas(t, "pull vs snapshot", a.confirmed(), b.confirmed())
}

// TestRescope moves a grid worker to another grid: the device drops its
// replica, keeps its outbox (whose ops for the old grid are now refused
// and shown), and bootstraps the new grid.
func TestRescope(t *testing.T) {
	srv := apptest.Start(t)
	w := loginDevice(t, srv, "worker-1-1-1")
	w.sync()
	w.update("sites", siteG01, Change{Set: map[string]any{"phone": "before the move"}})

	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir(), "gridsync.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE users SET area_id = ? WHERE username = 'worker-1-1-1'`, gridG02); err != nil {
		t.Fatal(err)
	}

	rep := w.sync()
	if !rep.Rescoped || rep.Rejected != 1 || rep.SnapshotDocs != 5 {
		t.Fatalf("got %+v, want a rescope, the old grid's op rejected, 5 sites of G02", rep)
	}
	if u := w.User(); u.AreaID != gridG02 {
		t.Fatalf("got user area %s, want %s", u.AreaID, gridG02)
	}
	if _, err := w.Get("sites", siteG01); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v for the old grid's site, want ErrNotFound", err)
	}
	w.get("sites", siteG02)
	rej, _ := w.Rejected()
	if len(rej) != 1 || rej[0].Code != syncproto.CodeForbiddenArea {
		t.Fatalf("got rejected %+v", rej)
	}
}

// TestSeqReused restores the device's file from an old backup: the server
// refuses the reused seqs, the device renumbers those ops (and the tags
// that later ops remove), and nothing is lost or applied twice.
func TestSeqReused(t *testing.T) {
	srv := apptest.Start(t)
	d := loginDevice(t, srv, "worker-1-1-1")
	d.create("sites", Fields{"grid": gridG01, "name": "before backup", "kind": "household"})
	d.sync()
	d.Client.Close()
	backup := d.path + ".bak"
	copyFile(t, d.path, backup)
	d.reopen()
	lost := d.create("sites", Fields{"grid": gridG01, "name": "after backup", "kind": "household"})
	d.update("sites", siteG01, Change{Set: map[string]any{"phone": "after backup"}})
	d.sync()

	d.Client.Close()
	copyFile(t, backup, d.path)
	os.Remove(d.path + "-wal")
	d.reopen()
	photo := strings.Repeat("f", 64)
	insp := d.create("inspections", Fields{"site": siteG01, "photos": []string{photo}}) // seq 2 again
	d.update("inspections", insp, Change{Remove: map[string][]string{"photos": {photo}}, Set: map[string]any{"note": "wrong photo"}})
	rep := d.sync()
	if rep.Renumbered != 2 || rep.Accepted != 2 || rep.Rejected != 0 {
		t.Fatalf("got %+v, want 2 renumbered and accepted", rep)
	}
	log := opsOf(serverLog(t, srv), d.DeviceID())
	if len(log) != 5 {
		t.Fatalf("got seqs %v in the server's log, want 1-5", slices.Sorted(func(yield func(uint64) bool) {
			for k := range log {
				if !yield(k) {
					return
				}
			}
		}))
	}
	for seq, chs := range log {
		if len(chs) != 1 {
			t.Fatalf("seq %d is %d times in the log", seq, len(chs))
		}
	}
	if got := d.get("inspections", insp); len(got.Elements("photos")) != 0 || got.String("note") != "wrong photo" {
		t.Fatalf("got inspection photos %v: the remove lost its tag when renumbered", got.Elements("photos"))
	}
	d.get("sites", lost) // made after the backup; back from the server
	if o := d.outbox(); o.Pending+o.Accepted != 0 {
		t.Fatalf("got outbox %+v", o)
	}
	if next, _ := getMetaInt(d.r, metaNextSeq); next != 6 {
		t.Fatalf("got next seq %d, want 6", next)
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestClock runs devices whose clocks are 10 minutes off: their ops are
// re-stamped by the server once, then the devices stamp with a corrected
// clock.
func TestClock(t *testing.T) {
	srv := apptest.Start(t)
	for _, skew := range []time.Duration{10 * time.Minute, -10 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			opt := fastOptions(srv.URL())
			opt.Now = func() time.Time { return time.Now().Add(skew) }
			d := openDevice(t, opt)
			d.login("worker-1-1-1")
			id := d.create("sites", Fields{"grid": gridG01, "name": "clock " + skew.String(), "kind": "household"})
			d.sync()
			if off := time.Duration(d.offset.Load()) * time.Millisecond; (off + skew).Abs() > time.Minute {
				t.Fatalf("got clock offset %v for a device %v off", off, skew)
			}
			d.update("sites", id, Change{Set: map[string]any{"phone": "1"}})
			ops, _ := d.OutboxOps()
			if len(ops) != 1 {
				t.Fatalf("got %d outbox ops", len(ops))
			}
			if gap := time.Since(time.UnixMilli(ops[0].Op.HLC.Wall)).Abs(); gap > time.Minute {
				t.Fatalf("got a stamp %v off real time after learning the clock", gap)
			}
			d.sync()
			fresh := loginDevice(t, srv, "worker-1-1-1")
			fresh.sync()
			equalReplicas(t, "skewed device", d.confirmed(), fresh.confirmed())
		})
	}
}

// recordingTransport keeps the bodies of pushes.
type recordingTransport struct {
	base   http.RoundTripper
	pushes []syncproto.PushRequest
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/v1/sync/push" {
		body, err := readRequestBody(req)
		if err != nil {
			return nil, err
		}
		var p syncproto.PushRequest
		json.Unmarshal(body, &p)
		r.pushes = append(r.pushes, p)
	}
	return r.base.RoundTrip(req)
}

// TestPriority pushes hazards before older inspections, but a site
// registered offline before the hazard on it.
func TestPriority(t *testing.T) {
	srv := apptest.Start(t)
	rt := &recordingTransport{base: http.DefaultTransport}
	opt := fastOptions(srv.URL())
	opt.HTTPClient = &http.Client{Transport: rt}
	opt.PushBatch = 2
	d := openDevice(t, opt)
	d.login("worker-1-1-1")
	d.sync()
	site := d.create("sites", Fields{"grid": gridG01, "name": "新登记", "kind": "household"})
	for range 3 {
		d.create("inspections", Fields{"site": siteG01, "result": "pass"})
	}
	d.create("hazards", Fields{"site": site, "title": "新场所的隐患", "status": "reported"})
	d.create("hazards", Fields{"site": siteG01, "title": "急", "status": "reported"})
	if o := d.outbox(); o.Pending != 6 {
		t.Fatalf("got %+v", o)
	}
	if rep := d.sync(); rep.Accepted != 6 {
		rej, _ := d.Rejected()
		t.Fatalf("got %+v, rejected %+v", rep, rej)
	}
	var order []string
	var pending []int
	for _, p := range rt.pushes {
		if p.Outbox.AppVersion != "test" {
			t.Fatalf("got outbox report %+v", p.Outbox)
		}
		pending = append(pending, p.Outbox.Pending)
		for _, op := range p.Ops {
			order = append(order, op.Collection)
		}
	}
	if want := []string{"sites", "hazards", "hazards", "inspections", "inspections", "inspections"}; !slices.Equal(order, want) {
		t.Fatalf("got push order %v, want %v", order, want)
	}
	if !slices.Equal(pending, []int{6, 4, 2}) {
		t.Fatalf("got outbox reports %v, want 6, 4, 2 pending", pending)
	}
}

// TestLargePush splits an outbox larger than the server's body limit into
// several pushes.
func TestLargePush(t *testing.T) {
	srv := apptest.Start(t)
	rt := &recordingTransport{base: http.DefaultTransport}
	opt := fastOptions(srv.URL())
	opt.HTTPClient = &http.Client{Transport: rt}
	d := openDevice(t, opt)
	d.login("worker-1-1-1")
	d.sync()
	note := strings.Repeat("消防通道堵塞需要整改", 350) // 3500 runes, 10.5 kB
	const n = 450
	for range n {
		d.create("inspections", Fields{"site": siteG01, "result": "hazard_found", "note": note})
	}
	if rep := d.sync(); rep.Accepted != n {
		t.Fatalf("got %+v, want %d accepted", rep, n)
	}
	if len(rt.pushes) < 2 {
		t.Fatalf("got %d pushes for %d kB, want the outbox split", len(rt.pushes), n*len(note)/1000)
	}
	for _, p := range rt.pushes {
		b, _ := json.Marshal(p)
		if len(b) > syncproto.MaxPushBytes {
			t.Fatalf("got a push of %d bytes, limit %d", len(b), syncproto.MaxPushBytes)
		}
	}
}

// scripted answers requests to one path from a script (then passes them
// through to the real server) and counts them.
type scripted struct {
	base   http.RoundTripper
	path   string
	script []func() (*http.Response, error)
	calls  int
}

func (s *scripted) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != s.path {
		return s.base.RoundTrip(r)
	}
	s.calls++
	if len(s.script) > 0 {
		step := s.script[0]
		s.script = s.script[1:]
		return step()
	}
	return s.base.RoundTrip(r)
}

func reply(status int, retryAfter, body string) func() (*http.Response, error) {
	return func() (*http.Response, error) {
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}, nil
	}
}

func TestRetry(t *testing.T) {
	srv := apptest.Start(t)
	netErr := func() (*http.Response, error) { return nil, errors.New("connection reset by peer") }
	for _, tc := range []struct {
		name   string
		script []func() (*http.Response, error)
		calls  int
		want   error // nil: the sync succeeds
	}{
		{"Transient", []func() (*http.Response, error){netErr,
			reply(503, "", `{"code":"unavailable","message":"server is shutting down: retry"}`),
			reply(429, "1", `{"code":"rate_limited","message":"slow down"}`),
			reply(502, "", `<html>bad gateway</html>`)}, 5, nil},
		{"ErrPermanent", []func() (*http.Response, error){reply(400, "", `{"code":"invalid","message":"malformed cursor"}`)}, 1, ErrInvalid},
		{"ErrGiveUp", slices.Repeat([]func() (*http.Response, error){netErr}, 20), 9, nil},
		{"ErrProtocol", []func() (*http.Response, error){reply(200, "", `{"protocol":2}`)}, 1, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &scripted{base: http.DefaultTransport, path: "/v1/sync/pull"}
			opt := fastOptions(srv.URL())
			opt.HTTPClient = &http.Client{Transport: st}
			d := openDevice(t, opt)
			d.login("worker-1-1-1")
			d.sync() // snapshot and one pull
			st.script = tc.script
			_, err := d.Sync(context.Background())
			switch {
			case tc.name == "ErrGiveUp":
				if err == nil || errors.Is(err, ErrProtocol) {
					t.Fatalf("got %v, want the network error after the retries", err)
				}
			case tc.want == nil && err != nil, tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if st.calls-1 != tc.calls { // one pull in the first sync
				t.Fatalf("got %d attempts, want %d", st.calls-1, tc.calls)
			}
		})
	}
	t.Run("ErrDeadline", func(t *testing.T) {
		st := &scripted{base: http.DefaultTransport, path: "/v1/sync/pull",
			script: []func() (*http.Response, error){reply(429, "3600", `{"code":"rate_limited","message":"later"}`)}}
		opt := fastOptions(srv.URL())
		opt.HTTPClient = &http.Client{Transport: st}
		opt.MaxBackoff = time.Hour
		d := openDevice(t, opt)
		d.login("worker-1-1-1")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := d.Sync(ctx); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("got %v, want ErrRateLimited", err)
		}
		if time.Since(start) > 900*time.Millisecond {
			t.Fatal("waited for a Retry-After beyond the deadline")
		}
	})
}
