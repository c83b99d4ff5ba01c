package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// photo returns the bytes of a small PNG unique to name: what the phone's
// camera took.
func photo(name string) []byte {
	seed := sha256.Sum256([]byte(name))
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = seed[i%len(seed)]
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// photoRef is the content address (sha256) of photo(name): documents name
// photos by it, and sync before and independently of the bytes.
func photoRef(name string) string {
	h := sha256.Sum256(photo(name))
	return hex.EncodeToString(h[:])
}

// apiGet decodes a GET of the API into out.
func apiGet(t *testing.T, base, token, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// photoFile writes photo(name) where the phone's camera would, and returns
// its path for AttachPhoto.
func photoFile(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
	if err := os.WriteFile(path, photo(name), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// missingPhotos lists the sha256 of the photos the station's area
// references and the server has not stored.
func missingPhotos(t *testing.T, base, token string) []string {
	t.Helper()
	var out struct {
		Photos []struct {
			SHA256 string `json:"sha256"`
		} `json:"photos"`
	}
	apiGet(t, base, token, "/v1/photos/missing?scope=area", &out)
	var shas []string
	for _, p := range out.Photos {
		shas = append(shas, p.SHA256)
	}
	slices.Sort(shas)
	return shas
}

func sortedRefs(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, photoRef(n))
	}
	slices.Sort(out)
	return out
}

// siteRented is a demo site in grid G01: 陈建国居住出租房（12间）,
// rented housing, significant risk, overdue at load.
const siteRented = "0192f000-0000-7000-8000-000000000002"

// TestInspectionClosedLoop is the hazard closed loop (隐患闭环) end to end
// through the SDK on the real server: a grid worker, offline, inspects a
// site against its checklist, fails two items and photographs them
// (AttachPhoto), and reports the two hazards; syncs on mobile data (the
// records go, the photos wait for Wi-Fi), then on Wi-Fi (the photos go).
// The station dispatches one hazard with a deadline and one without (the
// server gives the county's default); the worker submits rectification
// evidence; the station verifies and closes; the worker's device shows the
// closure. Then the concurrent offline
// variant: on the second hazard the worker submits evidence while the
// station, offline too, reopens it; every replica converges.
func TestInspectionClosedLoop(t *testing.T) {
	srv := apptest.Start(t)
	var wifi atomic.Bool
	opt := fastOptions(srv.URL())
	opt.PhotosUnmeteredOnly, opt.Unmetered = true, wifi.Load
	worker := openDevice(t, opt)
	worker.login("worker-1-1-1")
	station := loginDevice(t, srv, "station-1")
	camera := t.TempDir()
	worker.sync()
	station.sync()

	// Offline from here until the worker's next sync.
	started := time.Now().Add(-25 * time.Minute)
	insp := worker.create("inspections", Fields{"site": siteRented, "checklist_kind": "rented_housing", "checklist_version": 1,
		"started_at": started.UnixMilli(), "finished_at": time.Now().UnixMilli(), "result": syncproto.InspectionHazardFound,
		"location": map[string]float64{"lat": 27.962568, "lng": 120.585686}, "inspectors": []string{"worker-1-1-1"},
		"note": "房东陈建国在场，配合检查。"})
	worker.attach("inspections", insp, "signature", photoFile(t, camera, "resident signature"), AttachOptions{})
	items := map[string]string{}
	for _, it := range []struct{ code, result, note, photo string }{
		{"RH-01", syncproto.ItemPass, "", ""},
		{"RH-02", syncproto.ItemFail, "楼道内电动自行车飞线充电", "charging"},
		{"RH-03", syncproto.ItemFail, "三楼出租间灭火器压力不足", "extinguisher"},
		{"RH-04", syncproto.ItemNA, "", ""},
	} {
		items[it.code] = worker.create("inspection_items", Fields{"inspection": insp, "item": it.code, "result": it.result, "note": it.note})
		if it.photo != "" {
			worker.attach("inspection_items", items[it.code], "photos", photoFile(t, camera, it.photo), AttachOptions{})
		}
	}
	// Each failed item becomes a hazard, on the device, with the item's
	// photo (already queued: named by its hash).
	hzCharging := worker.create("hazards", Fields{"site": siteRented, "inspection": insp, "item": items["RH-02"],
		"title": "楼道电动自行车飞线充电", "severity": "major", "photos": []string{photoRef("charging")}, "status": syncproto.StageReported})
	hzExtinguisher := worker.create("hazards", Fields{"site": siteRented, "inspection": insp, "item": items["RH-03"],
		"title": "灭火器压力不足", "severity": "general", "photos": []string{photoRef("extinguisher")}, "status": syncproto.StageReported})
	worker.update("inspection_items", items["RH-02"], Change{Set: map[string]any{"hazard": hzCharging}})
	worker.update("inspection_items", items["RH-03"], Change{Set: map[string]any{"hazard": hzExtinguisher}})
	if o := worker.outbox(); o.Pending != 12 {
		t.Fatalf("outbox %+v, want the 12 ops made offline", o)
	}
	if ps, _ := worker.PendingPhotos(); len(ps) != 3 || ps[0].State != PhotoWaitingRef {
		t.Fatalf("photo queue %+v, want 3 photos waiting for their records", ps)
	}
	if rep := worker.sync(); rep.Accepted != 12 || rep.Rejected != 0 || !rep.Photos.Metered || rep.Photos.Pending != 3 {
		rej, _ := worker.Rejected()
		t.Fatalf("worker sync %+v, rejected %+v", rep, rej)
	}

	// The records arrived before their photos: the server lists the
	// photos as missing evidence until the phone uploads them.
	stationToken := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-api")
	if got, want := missingPhotos(t, srv.URL(), stationToken), sortedRefs("charging", "extinguisher", "resident signature"); !slices.Equal(got, want) {
		t.Fatalf("missing photos %v, want %v", got, want)
	}
	wifi.Store(true)
	if rep := worker.sync(); rep.Photos.Stored != 3 || rep.Photos.Pending != 0 {
		t.Fatalf("worker sync on Wi-Fi: photos %+v", rep.Photos)
	}
	if got := missingPhotos(t, srv.URL(), stationToken); len(got) != 0 {
		t.Fatalf("missing photos after upload: %v", got)
	}

	// The station sees both hazards and dispatches them.
	station.sync()
	for _, id := range []string{hzCharging, hzExtinguisher} {
		if h := station.get("hazards", id); h.Stage("status") != syncproto.StageReported || len(h.Elements("photos")) != 1 || h.Area != gridG01 {
			t.Fatalf("station sees %+v", h)
		}
	}
	if it := station.get("inspection_items", items["RH-03"]); it.String("hazard") != hzExtinguisher || it.String("result") != syncproto.ItemFail {
		t.Fatalf("station sees item %+v", it)
	}
	deadline := time.Now().Add(3 * 24 * time.Hour).Truncate(time.Millisecond)
	station.update("hazards", hzCharging, Change{Flow: map[string]string{"status": syncproto.StageDispatched},
		Set: map[string]any{"assignee": "陈建国", "deadline": deadline.UnixMilli()}})
	station.update("hazards", hzExtinguisher, Change{Flow: map[string]string{"status": syncproto.StageDispatched},
		Set: map[string]any{"assignee": "陈建国"}})
	station.sync()

	worker.sync()
	h := worker.get("hazards", hzCharging)
	if h.Stage("status") != syncproto.StageDispatched || h.Int("deadline") != deadline.UnixMilli() || h.String("assignee") != "陈建国" {
		t.Fatalf("worker sees %s deadline %d", h.Stage("status"), h.Int("deadline"))
	}
	// No deadline given: the county's default for a general hazard, 7 days.
	if got := time.UnixMilli(worker.get("hazards", hzExtinguisher).Int("deadline")); (got.Sub(time.Now().Add(7 * 24 * time.Hour))).Abs() > time.Minute {
		t.Fatalf("default deadline %s, want 7 days from now", got)
	}

	// The worker submits the rectification evidence (排改分离: the
	// worker collects it, the station judges it).
	worker.attach("hazards", hzCharging, "evidence", photoFile(t, camera, "charger moved"), AttachOptions{})
	worker.update("hazards", hzCharging, Change{Set: map[string]any{"rectification_note": "已拆除飞线，电动车移至集中充电棚。"}})
	worker.update("hazards", hzCharging, Change{Flow: map[string]string{"status": syncproto.StageSubmitted}})
	if rep := worker.sync(); rep.Accepted != 3 || rep.Photos.Stored != 1 {
		t.Fatalf("worker sync %+v photos %+v", rep, rep.Photos)
	}
	station.sync()
	if h := station.get("hazards", hzCharging); h.Stage("status") != syncproto.StageSubmitted || !slices.Equal(h.Elements("evidence"), []string{photoRef("charger moved")}) {
		t.Fatalf("station sees %s evidence %v", h.Stage("status"), h.Elements("evidence"))
	}
	var ev struct {
		Evidence struct {
			Photos   int  `json:"photos"`
			Complete bool `json:"complete"`
		} `json:"evidence"`
	}
	apiGet(t, srv.URL(), stationToken, "/v1/docs/hazards/"+hzCharging+"/photos", &ev)
	if ev.Evidence.Photos != 2 || !ev.Evidence.Complete {
		t.Fatalf("evidence of the hazard: %+v, want its finding and rectification photos, all stored", ev.Evidence)
	}
	station.update("hazards", hzCharging, Change{Flow: map[string]string{"status": syncproto.StageVerified},
		Set: map[string]any{"verification_note": "复查确认整改到位"}})
	station.update("hazards", hzCharging, Change{Flow: map[string]string{"status": syncproto.StageClosed}})
	station.sync()
	worker.sync()
	if h := worker.get("hazards", hzCharging); h.Stage("status") != syncproto.StageClosed || h.Round("status") != 1 || h.Pending != 0 {
		t.Fatalf("worker sees %s round %d", h.Stage("status"), h.Round("status"))
	}
	// 排改分离 holds on the device too: the worker cannot close or reopen.
	if err := worker.Update("hazards", hzExtinguisher, Change{Flow: map[string]string{"status": syncproto.StageClosed}}); syncproto.ErrorCode(err) != syncproto.CodeForbiddenTransition {
		t.Fatalf("worker closing: %v", err)
	}

	t.Run("ConcurrentEvidenceAndReopen", func(t *testing.T) {
		// Both offline: the worker records evidence and submits; the
		// station, judging from a site visit, reopens the hazard into a
		// new round of rectification.
		worker.attach("hazards", hzExtinguisher, "evidence", photoFile(t, camera, "new extinguisher"), AttachOptions{})
		worker.update("hazards", hzExtinguisher, Change{Flow: map[string]string{"status": syncproto.StageSubmitted}})
		station.update("hazards", hzExtinguisher, Change{Reopen: map[string]string{"status": syncproto.StageRectifying},
			Set: map[string]any{"verification_note": "现场复查：灭火器仍未更换"}})
		// The station's reopen reaches the server first; the worker's
		// submission belongs to the round that was closed, so it is
		// refused and kept on the device; the evidence, its own op, is
		// accepted (add-wins).
		station.sync()
		rep := worker.sync()
		if rep.Accepted != 1 || rep.Rejected != 1 {
			t.Fatalf("worker sync %+v", rep)
		}
		rej, _ := worker.Rejected()
		if len(rej) != 1 || rej[0].Code != syncproto.CodeForbiddenTransition || rej[0].Doc != hzExtinguisher {
			t.Fatalf("rejected %+v", rej)
		}
		station.sync()
		county := loginDevice(t, srv, "county")
		county.sync() // a fresh replica from the server's snapshot
		w, s, c := worker.get("hazards", hzExtinguisher), station.get("hazards", hzExtinguisher), county.get("hazards", hzExtinguisher)
		if !w.State.Equal(s.State) || !s.State.Equal(c.State) {
			t.Fatalf("replicas differ:\nworker  %+v\nstation %+v\ncounty  %+v", w.State, s.State, c.State)
		}
		if w.Stage("status") != syncproto.StageRectifying || w.Round("status") != 2 ||
			!slices.Equal(w.Elements("evidence"), []string{photoRef("new extinguisher")}) {
			t.Fatalf("converged to %s round %d evidence %v", w.Stage("status"), w.Round("status"), w.Elements("evidence"))
		}
		// The worker submits again, in the new round; the station closes.
		worker.update("hazards", hzExtinguisher, Change{Flow: map[string]string{"status": syncproto.StageSubmitted}})
		worker.sync()
		station.sync()
		station.update("hazards", hzExtinguisher, Change{Flow: map[string]string{"status": syncproto.StageVerified}})
		station.update("hazards", hzExtinguisher, Change{Flow: map[string]string{"status": syncproto.StageClosed}})
		station.sync()
		worker.sync()
		if h := worker.get("hazards", hzExtinguisher); h.Stage("status") != syncproto.StageClosed || h.Round("status") != 2 {
			t.Fatalf("worker sees %s round %d", h.Stage("status"), h.Round("status"))
		}
	})
	t.Run("OtherOrderConverges", func(t *testing.T) {
		// The same race the other way round, on a hazard the station
		// reported at the site: the worker's submission arrives first and
		// is accepted; the reopen that follows wins (a higher round).
		hz := station.create("hazards", Fields{"site": siteRented, "title": "疏散通道堆放杂物", "severity": "general", "status": syncproto.StageDispatched})
		station.sync()
		worker.sync()
		worker.update("hazards", hz, Change{Add: map[string][]string{"evidence": {photoRef("corridor cleared")}},
			Flow: map[string]string{"status": syncproto.StageSubmitted}})
		station.update("hazards", hz, Change{Reopen: map[string]string{"status": syncproto.StageRectifying}})
		worker.sync()
		station.sync()
		worker.sync()
		w, s := worker.get("hazards", hz), station.get("hazards", hz)
		if !w.State.Equal(s.State) || w.Stage("status") != syncproto.StageRectifying || w.Round("status") != 2 || len(w.Elements("evidence")) != 1 {
			t.Fatalf("worker %s/%d %v, station %s/%d", w.Stage("status"), w.Round("status"), w.Elements("evidence"), s.Stage("status"), s.Round("status"))
		}
	})
}
