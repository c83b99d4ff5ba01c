package client

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gridsync/gridsync/internal/cutproxy"
	"github.com/gridsync/gridsync/server/app/apptest"
)

// serverCount counts rows in the server's database.
func serverCount(tb testing.TB, srv *apptest.Server, query string, args ...any) int {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir(), "gridsync.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// inStore reports whether the photo is in the server's blob folder (which
// names objects by their hash: it holds one per photo or none).
func inStore(tb testing.TB, srv *apptest.Server, sha string) bool {
	tb.Helper()
	_, err := os.Stat(filepath.Join(srv.DataDir(), "blobs", "sha256", sha[:2], sha))
	if errors.Is(err, os.ErrNotExist) {
		return false
	} else if err != nil {
		tb.Fatal(err)
	}
	return true
}

// A 2 MB photo goes up through a link that drops five times mid-PATCH
// (every other drop leaves the server's side of the connection open), and
// the app is closed after the second drop and opened again: the upload
// resumes each time from the server's offset and completes, sending little
// more than the photo itself.
func TestPhotoUploadInterrupted(t *testing.T) {
	srv := apptest.Start(t)
	proxy := cutproxy.Start(t, srv.Addr(), 300<<10, 250<<10, 400<<10, 200<<10, 350<<10)
	var unmetered atomic.Bool
	opt := fastOptions(proxy.URL())
	opt.PhotosUnmeteredOnly, opt.Unmetered = true, unmetered.Load
	worker := openDevice(t, opt)
	worker.login("worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("配电箱周围堆放可燃物")
	path, original := cameraPhoto(t, t.TempDir(), "IMG_0100.jpg", 2<<20, 100)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
	// On mobile data the record syncs and the photo waits for Wi-Fi.
	rep := worker.sync()
	if rep.Accepted != 2 || !rep.Photos.Metered || rep.Photos.BytesSent != 0 || rep.Photos.Pending != 1 ||
		worker.photo(sha).State != PhotoQueued {
		t.Fatalf("metered sync %+v photos %+v", rep, rep.Photos)
	}

	unmetered.Store(true)
	proxy.Sent.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxy.OnCut = func(n int) {
		if n == 2 {
			cancel() // the user swipes the app away
		}
	}
	first, err := worker.UploadPhotos(ctx, UploadOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v (report %+v)", err, first)
	}
	p := worker.photo(sha)
	if p.State != PhotoUploading || p.Uploaded <= 0 || p.Path == "" {
		t.Fatalf("after the first run %+v", p)
	}
	worker.reopen()
	second := worker.upload(UploadOptions{RetryNow: true})
	if second.Stored != 1 || proxy.Cuts() != 5 {
		t.Fatalf("second run %+v after %d cuts", second, proxy.Cuts())
	}
	ratio := float64(proxy.Sent.Load()) / float64(len(original))
	sdkRatio := float64(first.BytesSent+second.BytesSent) / float64(len(original))
	t.Logf("interrupted photo upload: %d cuts and a restart, %d bytes on the wire (requests included) for a %d-byte photo: %.4f; photo bytes sent by the SDK: %.4f",
		proxy.Cuts(), proxy.Sent.Load(), len(original), ratio, sdkRatio)
	if ratio >= 1.5 {
		t.Fatalf("sent %.3f× the photo's size, want < 1.5", ratio)
	}
	p = worker.photo(sha)
	if p.State != PhotoStored || exists(filepath.Join(worker.path+".photos", sha)) {
		t.Fatalf("after the second run %+v", p)
	}
	station := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-cut")
	if got := blob(t, srv.URL(), station, sha); string(got) != string(original) {
		t.Fatalf("downloaded %d bytes differ from the %d attached", len(got), len(original))
	}
	if got := missingPhotos(t, srv.URL(), station); len(got) != 0 {
		t.Fatalf("missing %v", got)
	}
}

// The app dies right after the server answered a POST (the upload's URL is
// not recorded) or the final PATCH (the confirmation is not recorded): the
// next run completes the photo, nothing is lost, the server holds one
// upload and has the photo in its store; after the lost PATCH reply not a
// byte is sent again.
func TestPhotoUploadCrash(t *testing.T) {
	srv := apptest.Start(t)
	station := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-crash")
	for i, point := range []string{"photo-post", "photo-patch"} {
		t.Run(point, func(t *testing.T) {
			worker := loginDevice(t, srv, "worker-1-1-1")
			worker.sync()
			hz := worker.reportedHazard("消防通道被占用")
			path, original := cameraPhoto(t, t.TempDir(), "IMG_0200.jpg", 200<<10, 200+i)
			sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
			worker.crashAt(point)
			rep, err := worker.Sync(context.Background())
			if !errors.Is(err, errCrash) || rep.Accepted != 2 {
				t.Fatalf("sync with a crash at %s: %v %+v", point, err, rep)
			}
			if p := worker.photo(sha); p.State == PhotoStored || !exists(p.Path) {
				t.Fatalf("after the crash %+v", p)
			}
			worker.reopen()
			again := worker.upload(UploadOptions{})
			if again.Stored != 1 {
				t.Fatalf("after the restart %+v", again)
			}
			// After a lost POST reply the new POST gets the same upload back
			// (creation is idempotent per device, sha256 and length): no
			// orphan. After a lost final PATCH reply nothing is resent.
			wantUploads, wantResent := 1, int64(len(original))
			if point == "photo-patch" {
				wantResent = 0
			}
			if again.BytesSent != wantResent {
				t.Fatalf("sent %d bytes after the restart, want %d", again.BytesSent, wantResent)
			}
			if n := serverCount(t, srv, `SELECT count(*) FROM uploads WHERE sha256 = ?`, sha); n != wantUploads {
				t.Fatalf("%d uploads on the server, want %d", n, wantUploads)
			}
			if !inStore(t, srv, sha) {
				t.Fatal("the photo is not in the server's store")
			}
			if got := blob(t, srv.URL(), station, sha); string(got) != string(original) {
				t.Fatal("the stored photo differs from the one attached")
			}
			if p := worker.photo(sha); p.State != PhotoStored || exists(filepath.Join(worker.path+".photos", sha)) {
				t.Fatalf("after the restart %+v", p)
			}
		})
	}
}

// A photo whose bytes changed on the device is refused: by the SDK before
// it sends a byte, or by the server (hash_mismatch) when the copy changed
// after the upload started. Either way it stays on the device, refused,
// with the code shown, is not retried, and the document's photo stays
// missing on the server.
func TestPhotoRefused(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	dir := t.TempDir()
	corrupt := func(sha string) {
		if err := os.WriteFile(filepath.Join(worker.path+".photos", sha), []byte("\xFF\xD8\xFF\xE0 garbage written over the photo"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	hz1 := worker.reportedHazard("疏散指示标志损坏")
	path1, _ := cameraPhoto(t, dir, "IMG_0301.jpg", 0, 301)
	sha1 := worker.attach("hazards", hz1, "photos", path1, AttachOptions{})
	corrupt(sha1)
	rep := worker.sync()
	if rep.Photos.Refused != 1 || rep.Photos.BytesSent != 0 {
		t.Fatalf("photos %+v", rep.Photos)
	}
	if p := worker.photo(sha1); p.State != PhotoRefused || p.ErrorCode != CodeHashMismatch || p.LastError == "" || !exists(p.Path) {
		t.Fatalf("refused on the device %+v", p)
	}

	hz2 := worker.reportedHazard("应急照明不亮")
	path2, original2 := cameraPhoto(t, dir, "IMG_0302.jpg", 0, 302)
	sha2 := worker.attach("hazards", hz2, "photos", path2, AttachOptions{})
	worker.crashHook = func(point string) error {
		if point == "photo-post" {
			// The storage of a cheap phone flips bits mid-upload.
			b := slices.Clone(original2)
			b[len(b)/2] ^= 0xFF
			if err := os.WriteFile(filepath.Join(worker.path+".photos", sha2), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	rep = worker.sync()
	p := worker.photo(sha2)
	if rep.Photos.Refused != 1 || p.State != PhotoRefused || p.ErrorCode != CodeHashMismatch || !strings.Contains(p.LastError, "server: 422") ||
		!exists(p.Path) || rep.Photos.BytesSent != int64(len(original2)) {
		t.Fatalf("refused by the server %+v, photo %+v", rep.Photos, p)
	}
	// Refused photos are not retried, and still need the user.
	if rep := worker.upload(UploadOptions{RetryNow: true}); rep.BytesSent != 0 || rep.Refused != 0 {
		t.Fatalf("refused photos were tried again: %+v", rep)
	}
	pending, err := worker.PendingPhotos()
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending photos %d, %v", len(pending), err)
	}
	station := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-refused")
	if got := missingPhotos(t, srv.URL(), station); len(got) != 2 {
		t.Fatalf("missing on the server %v, want both", got)
	}
	// The user dismisses one: the copy goes, the entry too.
	if err := worker.DismissPhoto(sha1); err != nil {
		t.Fatal(err)
	}
	if all, _ := worker.Photos(); len(all) != 1 || exists(filepath.Join(worker.path+".photos", sha1)) {
		t.Fatalf("after dismissing: %d photos", len(all))
	}
}

// A photo whose record the server rejects is not uploaded; it is kept as
// ref_rejected, and queued again when another record that the server
// accepts references it.
func TestPhotoRefRejected(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	// A site in another grid: the device cannot know, the server refuses
	// it and the hazard on it.
	site := worker.create("sites", Fields{"grid": gridG02, "name": "别的网格的店", "kind": "household"})
	hz := worker.create("hazards", Fields{"site": site, "title": "灭火器过期", "status": "reported"})
	path, _ := cameraPhoto(t, t.TempDir(), "IMG_0400.jpg", 0, 400)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
	rep := worker.sync()
	if rep.Rejected != 3 || rep.Photos.BytesSent != 0 || rep.Photos.Pending != 0 {
		t.Fatalf("sync %+v photos %+v", rep, rep.Photos)
	}
	p := worker.photo(sha)
	if p.State != PhotoRefRejected || !exists(p.Path) || p.Refs[0].State != RefRejected {
		t.Fatalf("photo %+v", p)
	}
	mine := worker.reportedHazard("灭火器过期")
	if err := worker.Update("hazards", mine, Change{Add: map[string][]string{"photos": {sha}}}); err != nil {
		t.Fatal(err)
	}
	if p := worker.photo(sha); p.State != PhotoWaitingRef {
		t.Fatalf("referenced again: %+v", p)
	}
	if rep := worker.sync(); rep.Accepted != 2 || rep.Photos.Stored != 1 {
		t.Fatalf("sync %+v photos %+v", rep, rep.Photos)
	}
}

// The server forgets an upload (its record expires 7 days after the last
// progress, or after the photo was stored). The device finds out what
// happened: a photo the server stored is confirmed from the document's
// photos without a byte sent; one it does not have (listed as missing) is
// uploaded again from the start.
func TestPhotoUploadGone(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	forget := func(sha string, uploaded int64) {
		t.Helper()
		if _, err := worker.w.Exec(`UPDATE photos SET upload_url = ?, uploaded = ?, state = ? WHERE sha256 = ?`,
			srv.URL()+"/v1/uploads/0123456789abcdef0123456789abcdef", uploaded, PhotoUploading, sha); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()

	t.Run("Stored", func(t *testing.T) {
		hz := worker.reportedHazard("室内停放电动车")
		path, _ := cameraPhoto(t, dir, "IMG_1200.jpg", 0, 1200)
		sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
		worker.crashAt("photo-patch") // stored on the server, not confirmed here
		if _, err := worker.Sync(context.Background()); !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		uploads := serverCount(t, srv, `SELECT count(*) FROM uploads WHERE sha256 = ?`, sha)
		forget(sha, worker.photo(sha).Size)
		rep := worker.upload(UploadOptions{})
		if rep.Stored != 1 || rep.BytesSent != 0 || worker.photo(sha).State != PhotoStored {
			t.Fatalf("run %+v photo %+v", rep, worker.photo(sha))
		}
		if n := serverCount(t, srv, `SELECT count(*) FROM uploads WHERE sha256 = ?`, sha); n != uploads {
			t.Fatalf("%d uploads on the server, want %d: no new upload", n, uploads)
		}
	})
	t.Run("NotStored", func(t *testing.T) {
		hz := worker.reportedHazard("厨房未装燃气报警器")
		path, original := cameraPhoto(t, dir, "IMG_1201.jpg", 0, 1201)
		sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
		worker.opt.PhotosUnmeteredOnly = true
		worker.reopen()
		if rep := worker.sync(); !rep.Photos.Metered {
			t.Fatalf("photos %+v", rep.Photos)
		}
		forget(sha, 1000) // a partial upload that expired
		worker.opt.PhotosUnmeteredOnly = false
		worker.reopen()
		rep := worker.upload(UploadOptions{})
		if rep.Stored != 1 || rep.BytesSent != int64(len(original)) {
			t.Fatalf("run %+v", rep)
		}
	})
}
