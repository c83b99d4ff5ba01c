package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

var hazardLine = regexp.MustCompile(`hazard ([0-9a-f-]{36})  (RH-\d\d)`)

// Photos as cameras wrote them (exiftool-made files with EXIF time and GPS).
const (
	photoA    = "../../../internal/exif/testdata/camera-ii.jpg"
	photoB    = "../../../internal/exif/testdata/camera-mm.jpg"
	signature = "../../../internal/exif/testdata/no-gps.jpg"
	fixed     = "../../../internal/exif/testdata/camera.webp"
	later     = "../../../internal/exif/testdata/camera.png"
)

var queuedLine = regexp.MustCompile(`photo ([0-9a-f]{64}) queued`)

// TestInspectionSession is the README's whole inspection: a grid worker
// keeps the checklists, inspects a rented house offline and fails two
// items with photos (files, queued on the device); syncs on mobile data
// with photos held for Wi-Fi, then uploads them; the station dispatches;
// the worker submits evidence with a photo; the station verifies and
// closes; the worker sees the closure and attaches one more photo.
func TestInspectionSession(t *testing.T) {
	srv := apptest.Start(t)
	url := srv.URL()
	worker := filepath.Join(t.TempDir(), "worker.db")
	station := filepath.Join(t.TempDir(), "station.db")
	const site = "0192f000-0000-7000-8000-000000000002" // 陈建国居住出租房（12间）

	gridctl(t, url, worker, "", 0, "login", "worker-1-1-1", "-password", "demo-password")
	gridctl(t, url, worker, "", 0, "sync")
	wantOutput(t, gridctl(t, url, worker, "", 0, "tasks", "-status", "overdue,never"),
		"overdue", "陈建国居住出租房", "never", "潘建华经营性自建房", "4 sites")
	wantOutput(t, gridctl(t, url, worker, "", 0, "checklists", "-kind", "rented_housing"),
		"rented_housing v1: 居住出租房消防安全检查清单, 11 items", "RH-08")
	wantOutput(t, gridctl(t, url, worker, "", 0, "checklists"), "household", "9 checklists on this device")

	// Offline from here: the server is not needed until the next sync.
	out := gridctl(t, url, worker, "", 0, "inspect", site,
		"-fail", "RH-03=楼道内电动自行车充电", "-photo", "RH-03="+photoA,
		"-fail", "RH-08=三楼飞线充电", "-photo", "RH-08="+photoB, "-na", "RH-09", "-signature", signature)
	wantOutput(t, out, "11 items, 2 failed, 1 not applicable")
	// Still offline, the task list counts the inspection at once.
	if tasks := gridctl(t, url, worker, "", 0, "tasks", "-status", "overdue,never"); strings.Contains(tasks, "陈建国居住出租房") || !strings.Contains(tasks, "3 sites") {
		t.Fatalf("the inspected site is still due:\n%s", tasks)
	}
	hz := map[string]string{}
	for _, m := range hazardLine.FindAllStringSubmatch(out, -1) {
		hz[m[2]] = m[1]
	}
	if len(hz) != 2 || len(queuedLine.FindAllString(out, -1)) != 3 {
		t.Fatalf("want two hazards and three queued photos:\n%s", out)
	}
	wantOutput(t, gridctl(t, url, worker, "", 2, "inspect", site, "-fail", "XX-01=x"), "has no item")
	wantOutput(t, gridctl(t, url, worker, "", 2, "inspect", site, "-fail", "RH-01=x", "-photo", "RH-01=no-such-photo.jpg"),
		"neither a file nor a sha256")
	// One batch of 1 inspection, 11 items, 2 hazards and 2 links; then the
	// signature, 2 item photos and the same 2 photos on the hazards.
	wantOutput(t, gridctl(t, url, worker, "", 0, "outbox"), "21 ops pending")
	wantOutput(t, gridctl(t, url, worker, "", 0, "photos"), "waiting_ref", "3 photos, 3 not stored")
	// On mobile data: the records go, the photos wait.
	wantOutput(t, gridctl(t, url, worker, "", 0, "-unmetered-only", "-metered", "sync"),
		"pushed 21 ops: 21 accepted, 0 rejected", "3 photos wait for an unmetered network")
	wantOutput(t, gridctl(t, url, worker, "", 0, "photos"), "queued", "inspection_items/", "+1", "3 photos, 3 not stored")
	wantOutput(t, gridctl(t, url, worker, "", 0, "upload"), "uploaded 3 photos")
	wantOutput(t, gridctl(t, url, worker, "", 0, "photos"), "stored", "3 photos, 0 not stored")

	gridctl(t, url, station, "", 0, "login", "station-1", "-password", "demo-password")
	gridctl(t, url, station, "", 0, "sync")
	wantOutput(t, gridctl(t, url, station, "", 0, "hazards"), hz["RH-03"], "楼道内电动自行车充电", "reported")
	deadline := time.Now().AddDate(0, 0, 5).Format(time.DateOnly)
	gridctl(t, url, station, "", 0, "hazard-step", hz["RH-03"], "dispatched", "-deadline", deadline, "-assignee", "陈建国")
	gridctl(t, url, station, "", 0, "hazard-step", hz["RH-08"], "dispatched") // the county's default deadline
	gridctl(t, url, station, "", 0, "sync")

	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "pulled 2 changes")
	wantOutput(t, gridctl(t, url, worker, "", 0, "evidence", hz["RH-03"], "-photo", fixed, "-max-edge", "1600", "-note", "电动车已移至集中充电棚", "-submit"),
		"photo ", "queued", "1 evidence photos, submitted")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "pushed 3 ops: 3 accepted", "uploaded 1 photos")
	gridctl(t, url, station, "", 0, "sync")
	gridctl(t, url, station, "", 0, "hazard-step", hz["RH-03"], "verified")
	gridctl(t, url, station, "", 0, "hazard-step", hz["RH-03"], "closed")
	gridctl(t, url, station, "", 0, "sync")
	gridctl(t, url, worker, "", 0, "sync")
	out = gridctl(t, url, worker, "", 0, "hazards")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, hz["RH-03"]) && !strings.Contains(line, "closed") ||
			strings.HasPrefix(line, hz["RH-08"]) && !strings.Contains(line, "dispatched") {
			t.Fatalf("worker's hazards:\n%s", out)
		}
	}
	// The inspected site is no longer overdue.
	if out := gridctl(t, url, worker, "", 0, "tasks", "-status", "overdue"); strings.Contains(out, "陈建国") {
		t.Fatalf("inspected site still overdue:\n%s", out)
	}

	// One more photo of the open hazard, attached on its own.
	sha := strings.TrimSpace(gridctl(t, url, worker, "", 0, "attach", "hazards", hz["RH-08"], later))
	if !syncproto.ValidSHA256(sha) {
		t.Fatalf("attach printed %q, want the sha256", sha)
	}
	wantOutput(t, gridctl(t, url, worker, "", 1, "attach", "hazards", hz["RH-08"], later, "-field", "title"), "refused: unknown_field")
	wantOutput(t, gridctl(t, url, worker, "", 0, "sync"), "pushed 1 ops: 1 accepted", "uploaded 1 photos")
	wantOutput(t, gridctl(t, url, worker, "", 0, "upload"), "no photo to upload")
	wantOutput(t, gridctl(t, url, worker, "", 0, "photos"), sha, "5 photos, 0 not stored")
	wantOutput(t, gridctl(t, url, worker, "", 1, "photo-dismiss", strings.Repeat("0", 64)), "not found")

	// The station closes the other hazard unverified: only with a reason
	// (整改销号 follows 复核 otherwise).
	gridctl(t, url, station, "", 0, "sync")
	wantOutput(t, gridctl(t, url, station, "", 1, "hazard-step", hz["RH-08"], "closed"), "forbidden_transition")
	gridctl(t, url, station, "", 0, "hazard-step", hz["RH-08"], "closed", "-close-reason", "duplicate")
	wantOutput(t, gridctl(t, url, station, "", 0, "sync"), "pushed 1 ops: 1 accepted")
}
