package client

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

var (
	flagSeed      = flag.Uint64("seed", 0, "TestConvergence: run only this seed")
	flagSimSeeds  = flag.Int("sim.seeds", 3, "TestConvergence: run seeds 1..N")
	flagSimRounds = flag.Int("sim.rounds", 20, "TestConvergence: rounds of offline edits and syncs per seed")
)

// simUser is a demo user taking part in the simulation.
type simUser struct {
	name string
	role syncproto.Role
	// area is the prefix of the area ids the user sees: the demo county's
	// area codes nest by prefix (grid 330399101201G01 lies in village
	// 330399101201, in township 330399101).
	area string
	// grids the user registers sites in; foreign is one they may not.
	grids   []string
	foreign string
	devices int
}

var simUsers = []simUser{
	{"worker-1-1-1", syncproto.RoleGridWorker, gridG01, []string{gridG01}, gridG02, 6},
	{"worker-1-1-2", syncproto.RoleGridWorker, gridG02, []string{gridG02}, gridG01, 5},
	{"village-1-1", syncproto.RoleVillageOfficer, "330399101201", []string{gridG01, gridG02}, "330399101202G01", 5},
	{"station-1", syncproto.RoleStationStaff, "330399101", []string{gridG01, gridG02}, "330399102201G01", 5},
}

// TestConvergence is a seeded randomized simulation: 21 devices of four
// users edit the same documents offline, sync through a link that drops,
// duplicates, delays and reorders requests, crash (sometimes between the
// server's commit and their own), lose their sessions, and the server
// restarts. When everyone has synced until quiet, every replica must equal
// the server's state, every accepted op must be in the server's log once,
// every op a device made must be in the log or in its rejected list, and
// no outbox may hold anything.
//
//	go test ./client-sdk -run TestConvergence -sim.seeds=1000   # many seeds
//	go test ./client-sdk -run TestConvergence -seed=42 -v       # one seed
func TestConvergence(t *testing.T) {
	var seeds []uint64
	if *flagSeed != 0 {
		seeds = []uint64{*flagSeed}
	} else {
		for i := 1; i <= *flagSimSeeds; i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("seed %d (rerun with: go test ./client-sdk -run TestConvergence -seed=%d -v)", seed, seed)
				}
			}()
			newSim(t, seed).run()
		})
	}
}

type sim struct {
	t    *testing.T
	seed uint64
	srv  *apptest.Server
	devs []*simDevice

	mu       sync.Mutex
	accepted map[syncproto.OpID]int64 // every accepted verdict a device received

	refused, crashes, relogins, syncErrs atomic.Int64
}

type simDevice struct {
	*device
	u         simUser
	name      string
	rng       *rand.Rand // used by the goroutine stepping the device only
	f         *faults
	written   int // ops this device stored in its outbox
	needLogin bool
}

var simPhotos = func() []string {
	var out []string
	for i := range 8 {
		h := sha256.Sum256([]byte(fmt.Sprint("photo-", i)))
		out = append(out, hex.EncodeToString(h[:]))
	}
	return out
}()

func newSim(t *testing.T, seed uint64) *sim {
	s := &sim{t: t, seed: seed, srv: apptest.Start(t), accepted: map[syncproto.OpID]int64{}}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for _, u := range simUsers {
		for i := range u.devices {
			f := &faults{base: http.DefaultTransport, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), onReply: s.observe}
			opt := fastOptions(s.srv.URL())
			opt.HTTPClient = &http.Client{Transport: f}
			switch len(s.devs) % 7 { // a few phones with wrong clocks
			case 3:
				opt.Now = func() time.Time { return time.Now().Add(9 * time.Minute) }
			case 5:
				opt.Now = func() time.Time { return time.Now().Add(-7 * time.Minute) }
			}
			d := &simDevice{device: openDevice(t, opt), u: u, name: fmt.Sprintf("%s#%d", u.name, i),
				rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), f: f}
			d.login(u.name)
			s.devs = append(s.devs, d)
		}
	}
	return s
}

// observe records the accepted verdicts delivered to devices; a replayed
// push must get the original verdict back.
func (s *sim) observe(path string, req, reply []byte) {
	if path != "/v1/sync/push" {
		return
	}
	var pr syncproto.PushRequest
	var resp syncproto.PushResponse
	if json.Unmarshal(req, &pr) != nil || json.Unmarshal(reply, &resp) != nil {
		s.t.Errorf("undecodable push exchange")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range resp.Verdicts {
		if v.Status != syncproto.StatusAccepted {
			continue
		}
		id := syncproto.OpID{Device: pr.Device, Seq: v.Seq}
		if prev, ok := s.accepted[id]; ok && prev != v.ServerSeq {
			s.t.Errorf("op %s accepted as server seq %d, then %d", id, prev, v.ServerSeq)
		}
		s.accepted[id] = v.ServerSeq
	}
}

func (s *sim) run() {
	start := time.Now()
	for _, d := range s.devs {
		d.sync() // bootstrap on a good link
		d.f.set(0.06, 0.06, 0.04, 0.03, 3*time.Millisecond)
	}
	rounds := *flagSimRounds
	for round := range rounds {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, d := range s.devs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				s.step(d)
			}()
		}
		if round == rounds/2 {
			time.Sleep(2 * time.Millisecond)
			s.srv.Restart() // while devices are syncing
		}
		wg.Wait()
		if s.t.Failed() {
			return
		}
	}
	s.quiet()
	s.check()
	var written int
	for _, d := range s.devs {
		written += d.written
	}
	s.t.Logf("seed %d: %d devices, %d rounds, %d ops written, %d accepted, %d refused locally, %d crashes, %d re-logins, %d failed syncs, %v",
		s.seed, len(s.devs), rounds, written, len(s.accepted), s.refused.Load(), s.crashes.Load(), s.relogins.Load(), s.syncErrs.Load(),
		time.Since(start).Round(time.Millisecond))
}

// step is one round of one device: some offline edits, maybe a crash, maybe
// a sync (sometimes with edits made while it runs).
func (s *sim) step(d *simDevice) {
	if d.needLogin {
		if err := d.Login(context.Background(), d.u.name, demoPassword); err != nil {
			return // the link is bad; next round
		}
		d.needLogin = false
		s.relogins.Add(1)
	}
	for range d.rng.IntN(4) {
		s.randomOp(d)
	}
	if d.rng.Float64() < 0.04 {
		s.reopen(d)
	}
	if d.rng.Float64() < 0.03 {
		d.Client.mu.Lock()
		d.Client.access = "expired-token" // the server refuses it: refresh
		d.Client.mu.Unlock()
	}
	if d.rng.Float64() > 0.6 {
		return
	}
	if d.rng.Float64() < 0.1 {
		point := []string{"push", "pull", "snapshot"}[d.rng.IntN(3)]
		fired := false
		d.crashHook = func(p string) error {
			if p == point && !fired {
				fired = true
				return errCrash
			}
			return nil
		}
	}
	var err error
	if d.rng.Float64() < 0.2 {
		done := make(chan error, 1)
		go func() { done <- s.syncOnce(d) }()
		s.randomOp(d)
		s.randomOp(d)
		err = <-done
	} else {
		err = s.syncOnce(d)
	}
	d.crashHook = nil
	switch {
	case errors.Is(err, errCrash):
		s.crashes.Add(1)
		s.reopen(d)
	case errors.Is(err, ErrLoginRequired):
		d.needLogin = true
	case err != nil:
		s.syncErrs.Add(1)
	}
}

func (s *sim) syncOnce(d *simDevice) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := d.Sync(ctx)
	return err
}

// reopen closes the device's file and opens it again, as after the app
// was killed.
func (s *sim) reopen(d *simDevice) {
	if err := d.Client.Close(); err != nil {
		s.t.Errorf("%s: close: %v", d.name, err)
	}
	c, err := Open(d.path, d.opt)
	if err != nil {
		s.t.Errorf("%s: reopen: %v", d.name, err)
		return
	}
	d.Client = c
}

var errNothing = errors.New("nothing to do")

// randomOp makes one random edit that the user's role may attempt; some
// are refused locally, some by the server (a concurrent delete, a step
// the station's reopen made stale, a grid that is not the user's).
func (s *sim) randomOp(d *simDevice) {
	var err error
	switch x := d.rng.IntN(100); {
	case x < 45:
		err = s.siteOp(d)
	case x < 80:
		err = s.hazardOp(d)
	default:
		err = s.inspectionOp(d)
	}
	var re *syncproto.RejectError
	switch {
	case err == nil:
		d.written++
	case errors.Is(err, errNothing):
	case errors.As(err, &re):
		s.refused.Add(1)
	default:
		s.t.Errorf("%s: %v", d.name, err)
	}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (d *simDevice) list(collection string) ([]*Doc, error) {
	docs, err := d.List(collection, Query{})
	if err == nil && len(docs) == 0 {
		err = errNothing
	}
	return docs, err
}

func (s *sim) siteOp(d *simDevice) error {
	r := d.rng
	sites, err := d.list("sites")
	roll := r.IntN(100)
	if roll < 8 || errors.Is(err, errNothing) {
		grid := pick(r, d.u.grids)
		if roll < 1 {
			grid = d.u.foreign
		}
		_, err := d.Create("sites", Fields{"grid": grid, "name": fmt.Sprintf("sim %s %d", d.name, r.IntN(1000)),
			"kind": pick(r, []string{"household", "rented_housing", "nine_small", "self_built"})})
		return err
	}
	if err != nil {
		return err
	}
	site := pick(r, sites)
	if roll < 11 && d.u.role == syncproto.RoleStationStaff && strings.HasPrefix(site.String("name"), "sim ") {
		return d.Delete("sites", site.ID)
	}
	var ch Change
	switch r.IntN(6) {
	case 0:
		ch.Set = map[string]any{"risk_level": pick(r, []string{"major", "significant", "general", "low"})}
	case 1:
		ch.Set = map[string]any{"location": map[string]float64{"lat": 28 + r.Float64()/100, "lng": 120.6 + r.Float64()/100}}
	case 2:
		ch.Set = map[string]any{"address": fmt.Sprintf("下洋村 %d 号", r.IntN(100)), "responsible": pick(r, []string{"徐", "陈", "周"})}
	default:
		ch.Set = map[string]any{"phone": fmt.Sprintf("138%08d", r.IntN(1e8))}
	}
	return d.Update("sites", site.ID, ch)
}

func (s *sim) hazardOp(d *simDevice) error {
	r := d.rng
	hazards, err := d.list("hazards")
	if r.IntN(100) < 15 || errors.Is(err, errNothing) {
		sites, err := d.list("sites")
		if err != nil {
			return err
		}
		stage := syncproto.StageReported
		if d.u.role == syncproto.RoleStationStaff {
			stage = syncproto.StageDispatched
		}
		f := Fields{"site": pick(r, sites).ID, "title": pick(r, []string{"电动车楼道充电", "灭火器过期", "疏散通道堵塞", "私拉乱接电线"}), "status": stage}
		if r.IntN(2) == 0 {
			f["photos"] = []string{pick(r, simPhotos)}
		}
		_, err = d.Create("hazards", f)
		return err
	}
	if err != nil {
		return err
	}
	h := pick(r, hazards)
	var ch Change
	switch r.IntN(7) {
	case 0:
		ch.Set = map[string]any{"description": fmt.Sprintf("复查 %d", r.IntN(100)), "severity": pick(r, []string{"major", "general"})}
		if d.u.role == syncproto.RoleStationStaff {
			ch.Set["deadline"] = time.Now().Add(72 * time.Hour).UnixMilli()
			ch.Set["assignee"] = pick(r, []string{"徐志刚", "金丽萍"})
		}
	case 1:
		ch.Add = map[string][]string{"photos": {pick(r, simPhotos), pick(r, simPhotos)}}
	case 2:
		present := h.Elements("photos")
		if len(present) == 0 {
			return errNothing
		}
		ch.Remove = map[string][]string{"photos": {pick(r, present)}}
	case 3, 4:
		if d.u.role == syncproto.RoleStationStaff {
			ch.Flow = map[string]string{"status": pick(r, []string{"dispatched", "rectifying", "verified", "closed"})}
		} else {
			ch.Flow = map[string]string{"status": syncproto.StageSubmitted}
		}
	case 5:
		ch.Reopen = map[string]string{"status": syncproto.StageDispatched}
	default:
		ch.Set = map[string]any{"title": fmt.Sprintf("隐患 %d", r.IntN(100))}
	}
	return d.Update("hazards", h.ID, ch)
}

func (s *sim) inspectionOp(d *simDevice) error {
	r := d.rng
	insps, err := d.list("inspections")
	if r.IntN(100) < 30 || errors.Is(err, errNothing) {
		sites, err := d.list("sites")
		if err != nil {
			return err
		}
		_, err = d.Create("inspections", Fields{"site": pick(r, sites).ID, "result": pick(r, []string{"pass", "hazard_found", "no_access"}),
			"checked_at": time.Now().UnixMilli(), "inspectors": []string{d.u.name}, "photos": []string{pick(r, simPhotos)}})
		return err
	}
	if err != nil {
		return err
	}
	in := pick(r, insps)
	switch r.IntN(5) {
	case 0:
		present := in.Elements("photos")
		if len(present) == 0 {
			return errNothing
		}
		return d.Update("inspections", in.ID, Change{Remove: map[string][]string{"photos": {pick(r, present)}}})
	case 1:
		return d.Update("inspections", in.ID, Change{Add: map[string][]string{"inspectors": {pick(r, []string{"officer-1-a", "officer-1-b", d.u.name})}}})
	case 2:
		if d.u.role == syncproto.RoleStationStaff && r.IntN(4) == 0 {
			return d.Delete("inspections", in.ID)
		}
		fallthrough
	default:
		return d.Update("inspections", in.ID, Change{Set: map[string]any{"note": fmt.Sprintf("备注 %d", r.IntN(100))},
			Add: map[string][]string{"photos": {pick(r, simPhotos)}}})
	}
}

// quiet turns the faults off and syncs every device until a whole pass
// moves nothing.
func (s *sim) quiet() {
	for _, d := range s.devs {
		d.f.set(0, 0, 0, 0, 0)
	}
	for _, d := range s.devs {
		d.f.inflight.Wait()
	}
	for pass := 0; ; pass++ {
		if pass == 10 {
			s.t.Fatal("devices still exchanging changes after 10 passes")
		}
		moved := 0
		for _, d := range s.devs {
			if d.needLogin || d.User() == nil {
				d.login(d.u.name)
				d.needLogin = false
			}
			rep, err := d.Sync(context.Background())
			if errors.Is(err, ErrLoginRequired) {
				d.login(d.u.name)
				rep, err = d.Sync(context.Background())
			}
			if err != nil {
				s.t.Fatalf("%s: sync on a good link: %v", d.name, err)
			}
			moved += rep.Pushed + rep.Pulled + rep.SnapshotDocs
		}
		if moved == 0 {
			return
		}
	}
}

// serverDocs reads every document state from the server's own database,
// tombstones included: the truth replicas are compared with.
func (s *sim) serverDocs() map[[2]string]syncproto.DocState {
	s.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.srv.DataDir(), "gridsync.db")+"?_pragma=query_only(1)")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT state FROM docs`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[[2]string]syncproto.DocState{}
	for rows.Next() {
		var raw string
		var st syncproto.DocState
		if err := rows.Scan(&raw); err != nil {
			s.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			s.t.Fatal(err)
		}
		out[[2]string{st.Collection, st.ID}] = st
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// matchServer checks a device's replica against the server's documents in
// its scope: every live document is on the device, and every document on
// the device (a tombstone too, if it pulled the delete) equals the
// server's, area included.
func matchServer(tb testing.TB, name string, got, server map[[2]string]syncproto.DocState, inScope func(syncproto.DocState) bool) {
	tb.Helper()
	for k, w := range server {
		if !inScope(w) || w.IsDeleted() {
			continue
		}
		if _, ok := got[k]; !ok {
			tb.Errorf("%s: missing %s/%s", name, k[0], k[1])
		}
	}
	for k, g := range got {
		w, ok := server[k]
		switch {
		case !ok:
			tb.Errorf("%s: has %s/%s, which the server does not", name, k[0], k[1])
		case !inScope(w):
			tb.Errorf("%s: has %s/%s of area %s, outside its scope", name, k[0], k[1], w.Area)
		case !g.Equal(w):
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			tb.Errorf("%s: %s/%s differs from the server's:\n got  %s\n want %s", name, k[0], k[1], gj, wj)
		}
	}
}

func (s *sim) check() {
	t := s.t
	station := loginDevice(t, s.srv, "station-1")
	station.sync()
	truth := s.serverDocs()
	log := serverLog(t, s.srv)
	bySeq := map[int64]syncproto.Change{}
	perDevice := map[string]int{}
	for _, ch := range log {
		bySeq[ch.ServerSeq] = ch
		perDevice[ch.Op.Device]++
	}
	rejected := s.serverRejected(station)

	for _, d := range s.devs {
		o := d.outbox()
		if o.Pending != 0 || o.Accepted != 0 {
			t.Errorf("%s: outbox %+v after syncing until quiet", d.name, o)
		}
		matchServer(t, d.name, d.confirmed(), truth, func(st syncproto.DocState) bool { return strings.HasPrefix(st.Area, d.u.area) })
		rej, err := d.Rejected()
		if err != nil {
			t.Fatal(err)
		}
		// Nothing lost, nothing doubled: every op the device made is in
		// the log once or in its rejected list, which matches the server's.
		if got := perDevice[d.DeviceID()] + len(rej); got != d.written {
			t.Errorf("%s: made %d ops; the log has %d and %d were rejected", d.name, d.written, perDevice[d.DeviceID()], len(rej))
		}
		if rejected[d.DeviceID()] != len(rej) {
			t.Errorf("%s: %d rejected ops on the device, %d on the server", d.name, len(rej), rejected[d.DeviceID()])
		}
	}
	for id, seq := range s.accepted {
		ch, ok := bySeq[seq]
		if !ok || ch.Op.ID() != id {
			t.Errorf("accepted op %s (server seq %d) is not in the server's log", id, seq)
		}
	}
	seen := map[syncproto.OpID]bool{}
	for _, ch := range log {
		if seen[ch.Op.ID()] {
			t.Errorf("op %s is twice in the log", ch.Op.ID())
		}
		seen[ch.Op.ID()] = true
	}
	if len(truth) < 52 {
		t.Errorf("the server holds %d docs, want at least the 52 demo sites", len(truth))
	}
}

// serverRejected counts the server's rejected ops per device.
func (s *sim) serverRejected(station *device) map[string]int {
	var body struct {
		Rejected []struct {
			Device string `json:"device"`
		} `json:"rejected"`
	}
	err := station.call(context.Background(), request{method: http.MethodGet, path: "/v1/sync/rejected",
		query: url.Values{"limit": {"2000"}}, auth: true}, func(b []byte) error { return json.Unmarshal(b, &body) })
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range body.Rejected {
		out[r.Device]++
	}
	return out
}
