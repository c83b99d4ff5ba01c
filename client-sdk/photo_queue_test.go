package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/miniotest"
	"github.com/gridsync/gridsync/server/app/apptest"
)

// roundTripper is a function-field http.RoundTripper: the boundary where a
// test cuts the device's link.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Photos wait on a metered network when the app asks for unmetered-only
// uploads; without an Unmetered function every network counts as metered.
func TestPhotosUnmeteredOnly(t *testing.T) {
	srv := apptest.Start(t)
	opt := fastOptions(srv.URL())
	opt.PhotosUnmeteredOnly = true
	worker := openDevice(t, opt)
	worker.login("worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("燃气软管老化")
	path, original := cameraPhoto(t, t.TempDir(), "IMG_0700.jpg", 0, 700)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
	rep := worker.sync()
	if rep.Accepted != 2 || !rep.Photos.Metered || rep.Photos.BytesSent != 0 || rep.Photos.Pending != 1 {
		t.Fatalf("no Unmetered function: sync %+v photos %+v", rep, rep.Photos)
	}
	var wifi atomic.Bool
	worker.opt.Unmetered = wifi.Load
	worker.reopen()
	if rep := worker.upload(UploadOptions{}); !rep.Metered || rep.BytesSent != 0 || worker.photo(sha).State != PhotoQueued {
		t.Fatalf("on mobile data %+v", rep)
	}
	wifi.Store(true)
	if rep := worker.upload(UploadOptions{}); rep.Metered || rep.Stored != 1 || rep.BytesSent != int64(len(original)) {
		t.Fatalf("on Wi-Fi %+v", rep)
	}
}

// A failed upload backs off, and the backoff survives an app restart: the
// photo is not tried again before its time (by the device clock), unless
// the user asks (RetryNow).
func TestPhotoBackoffSurvivesRestart(t *testing.T) {
	srv := apptest.Start(t)
	var offset atomic.Int64 // ms added to the device clock
	var linkDown atomic.Bool
	var uploads atomic.Int64
	opt := fastOptions(srv.URL())
	opt.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load()) * time.Millisecond) }
	opt.MaxRetries, opt.MinBackoff, opt.MaxBackoff = -1, time.Minute, 10*time.Minute
	opt.HTTPClient = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Path, "/v1/uploads") {
			uploads.Add(1)
			if linkDown.Load() {
				return nil, errors.New("the village's link dropped")
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	worker := openDevice(t, opt)
	worker.login("worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("电线私拉乱接")
	path, _ := cameraPhoto(t, t.TempDir(), "IMG_0800.jpg", 0, 800)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})

	linkDown.Store(true)
	rep, err := worker.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "link dropped") || rep.Accepted != 2 {
		t.Fatalf("sync with the link down: %v %+v", err, rep)
	}
	p := worker.photo(sha)
	wait := p.NextTry.Sub(opt.Now())
	if p.Attempts != 1 || p.ErrorCode != "network" || !strings.Contains(p.LastError, "link dropped") || wait < 25*time.Second || wait > time.Minute {
		t.Fatalf("after the failure %+v (next try in %s)", p, wait)
	}

	linkDown.Store(false)
	worker.reopen()
	tried := uploads.Load()
	if rep := worker.upload(UploadOptions{}); rep.Stored != 0 || rep.Pending != 1 || uploads.Load() != tried {
		t.Fatalf("tried before the backoff ran out: %+v", rep)
	}
	offset.Store(time.Minute.Milliseconds()) // a minute later
	if rep := worker.upload(UploadOptions{}); rep.Stored != 1 {
		t.Fatalf("after the backoff %+v", rep)
	}

	// The user's "retry" does not wait.
	hz2 := worker.reportedHazard("灭火器被遮挡")
	path2, _ := cameraPhoto(t, t.TempDir(), "IMG_0801.jpg", 0, 801)
	worker.attach("hazards", hz2, "photos", path2, AttachOptions{})
	linkDown.Store(true)
	worker.Sync(context.Background())
	linkDown.Store(false)
	if rep := worker.upload(UploadOptions{RetryNow: true}); rep.Stored != 1 {
		t.Fatalf("retry now %+v", rep)
	}
}

// Incident photos go before routine ones (Collection.Priority), whatever
// the order they were taken in.
func TestPhotoPriority(t *testing.T) {
	srv := apptest.Start(t)
	var wifi atomic.Bool
	opt := fastOptions(srv.URL())
	opt.PhotosUnmeteredOnly, opt.Unmetered = true, wifi.Load
	worker := openDevice(t, opt)
	worker.login("worker-1-1-1")
	worker.sync()
	dir := t.TempDir()
	hz := worker.reportedHazard("楼道堆放纸箱")
	pathH, _ := cameraPhoto(t, dir, "hazard.jpg", 0, 900)
	shaH := worker.attach("hazards", hz, "photos", pathH, AttachOptions{})
	inc := worker.create("incidents", Fields{"occurred_at": time.Now().UnixMilli(), "title": "民房起火，已扑灭"})
	pathI, _ := cameraPhoto(t, dir, "incident.jpg", 0, 901)
	shaI := worker.attach("incidents", inc, "photos", pathI, AttachOptions{})
	if rep := worker.sync(); rep.Accepted != 4 || !rep.Photos.Metered {
		t.Fatalf("sync %+v", rep)
	}
	wifi.Store(true)
	if rep := worker.upload(UploadOptions{MaxPhotos: 1}); rep.Stored != 1 {
		t.Fatalf("one photo: %+v", rep)
	}
	if worker.photo(shaI).State != PhotoStored || worker.photo(shaH).State != PhotoQueued {
		t.Fatalf("incident photo %s, hazard photo %s: want the incident's first", worker.photo(shaI).State, worker.photo(shaH).State)
	}
}

// A file written by the SDK before photos existed (layout 1) is upgraded
// in place on Open to the current layout: its unsynced op and session
// survive, and photos work.
// An upgrade that fails leaves the file as it was; a newer file is refused.
func TestUpgradeLayout1(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("配电箱无防护")
	worker.Close()
	downgrade := func(extra string) {
		db, err := sql.Open("sqlite", worker.path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range []string{`DROP TABLE photo_refs`, `DROP TABLE photos`, `DROP TABLE checklists`, `DROP TABLE tasks`, `PRAGMA user_version = 1`, extra} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	version := func() (v int, tables int) {
		db, err := sql.Open("sqlite", worker.path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.QueryRow(`PRAGMA user_version`).Scan(&v)
		db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('photos', 'photo_refs')`).Scan(&tables)
		return v, tables
	}

	// A layout-1 file with a table the upgrade would create: the upgrade
	// fails as a whole.
	downgrade(`CREATE TABLE photo_refs (x)`)
	if _, err := Open(worker.path, worker.opt); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("layout 1 to %d", schemaVersion)) {
		t.Fatalf("open a file whose upgrade fails: %v", err)
	}
	if v, tables := version(); v != 1 || tables != 1 {
		t.Fatalf("after a failed upgrade: version %d, %d photo tables (want 1, only the stray one)", v, tables)
	}

	db, _ := sql.Open("sqlite", worker.path)
	db.Exec(`DROP TABLE photo_refs`)
	db.Close()
	if v, tables := version(); v != 1 || tables != 0 {
		t.Fatalf("layout-1 file: version %d, %d photo tables", v, tables)
	}
	c, err := Open(worker.path, worker.opt)
	if err != nil {
		t.Fatal(err)
	}
	worker.Client = c
	if v, tables := version(); v != schemaVersion || tables != 2 {
		t.Fatalf("upgraded: version %d, %d photo tables", v, tables)
	}
	if o := worker.outbox(); o.Pending != 1 || worker.User() == nil || worker.User().Username != "worker-1-1-1" {
		t.Fatalf("after the upgrade: outbox %+v user %+v", o, worker.User())
	}
	path, original := cameraPhoto(t, t.TempDir(), "IMG_1000.jpg", 0, 1000)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
	if rep := worker.sync(); rep.Accepted != 2 || rep.Photos.Stored != 1 || rep.Photos.BytesSent != int64(len(original)) {
		t.Fatalf("sync after the upgrade %+v photos %+v", rep, rep.Photos)
	}
	if worker.photo(sha).State != PhotoStored {
		t.Fatal("not stored")
	}

	worker.Close()
	db, _ = sql.Open("sqlite", worker.path)
	db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion+1))
	db.Close()
	if _, err := Open(worker.path, worker.opt); err == nil || !strings.Contains(err.Error(), "newer than this SDK") {
		t.Fatalf("open a newer file: %v", err)
	}
	worker.Client, _ = Open(filepath.Join(t.TempDir(), "other.db"), worker.opt) // for the cleanup's Close
}

// With MinIO down the server verifies the photo's bytes and keeps them
// (503 received): the device marks the photo received, keeps its copy, and
// records go on syncing; once MinIO is back the next run confirms the
// stored photo without sending it again.
func TestPhotoReceivedWhileObjectStoreDown(t *testing.T) {
	ms := miniotest.StartServer(t)
	cfg := ms.Config()
	srv := apptest.Start(t, "-blob", "minio", "-minio-endpoint", cfg.Endpoint, "-minio-bucket", cfg.Bucket,
		"-minio-access-key", cfg.AccessKey, "-minio-secret-key", cfg.SecretKey)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("消防栓被圈占")
	path, original := cameraPhoto(t, t.TempDir(), "IMG_1100.jpg", 300<<10, 1100)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})

	ms.Stop()
	rep := worker.sync()
	p := worker.photo(sha)
	if rep.Accepted != 2 || rep.Photos.Received != 1 || rep.Photos.Stored != 0 || rep.Photos.Pending != 1 ||
		p.State != PhotoReceived || p.Uploaded != p.Size || !exists(p.Path) || p.ErrorCode != "unavailable" {
		t.Fatalf("with MinIO down: sync %+v photos %+v, photo %+v", rep, rep.Photos, p)
	}
	// Records keep syncing meanwhile.
	worker.update("hazards", hz, Change{Set: map[string]any{"description": "东侧消防栓被砖墙圈占"}})
	if rep := worker.sync(); rep.Accepted != 1 {
		t.Fatalf("record sync during the outage %+v", rep)
	}

	ms.Restart(t)
	again := worker.upload(UploadOptions{RetryNow: true})
	if again.Stored != 1 || again.BytesSent != 0 {
		t.Fatalf("after MinIO is back %+v", again)
	}
	if p := worker.photo(sha); p.State != PhotoStored || exists(filepath.Join(worker.path+".photos", sha)) {
		t.Fatalf("photo %+v", p)
	}
	station := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-minio")
	if got := blob(t, srv.URL(), station, sha); string(got) != string(original) {
		t.Fatal("the stored photo differs")
	}
}
