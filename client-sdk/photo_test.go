package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// Position of the demo site siteG01 (fixtures).
const siteG01Lat, siteG01Lng = 27.962686, 120.584811

func shaOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// cameraPhoto writes a JPEG as a phone camera takes it at siteG01 now (EXIF
// time and GPS), of about size bytes when size > 0, into dir and returns
// its path and bytes.
func cameraPhoto(tb testing.TB, dir, name string, size, seed int) (string, []byte) {
	tb.Helper()
	o := exiftest.Options{TakenAt: time.Now().Format("2006:01:02 15:04:05"), Offset: time.Now().Format("-07:00"),
		GPS: true, Lat: siteG01Lat, Lng: siteG01Lng, Seed: seed}
	if size > 0 {
		// Noise does not compress: like a real photo's detail, it costs
		// about 0.68 bytes a pixel at the builder's quality.
		px := size * 100 / 68
		o.Noise, o.Width = true, 4*int(sqrtInt(px/12))
		o.Height = px / o.Width
	}
	b := exiftest.JPEG(tb, o)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, b
}

func sqrtInt(n int) int {
	r := 1
	for r*r < n {
		r++
	}
	return r
}

// reportedHazard creates a hazard at siteG01 on the device, offline.
func (d *device) reportedHazard(title string) string {
	d.tb.Helper()
	return d.create("hazards", Fields{"site": siteG01, "title": title, "severity": "general", "status": syncproto.StageReported})
}

func (d *device) attach(collection, doc, field, path string, opt AttachOptions) string {
	d.tb.Helper()
	sha, err := d.AttachPhoto(collection, doc, field, path, opt)
	if err != nil {
		d.tb.Fatalf("attach %s to %s/%s.%s: %v", path, collection, doc, field, err)
	}
	return sha
}

// photo returns the device's entry for sha.
func (d *device) photo(sha string) *Photo {
	d.tb.Helper()
	all, err := d.Photos()
	if err != nil {
		d.tb.Fatal(err)
	}
	for _, p := range all {
		if p.SHA256 == sha {
			return p
		}
	}
	d.tb.Fatalf("no photo %s on the device", sha)
	return nil
}

func (d *device) upload(opt UploadOptions) *PhotoReport {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := d.UploadPhotos(ctx, opt)
	if err != nil {
		d.tb.Fatalf("upload photos: %v (report %+v)", err, rep)
	}
	return rep
}

// blob downloads a photo with token; nil when the server answers 404.
func blob(tb testing.TB, base, token, sha string) []byte {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/blobs/"+sha, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("download %s: %d %v", sha, resp.StatusCode, err)
	}
	return b
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// The whole path of a photo: attached offline to a hazard, queued, the
// hazard synced, the photo uploaded in the same Sync, confirmed, the local
// copy removed; the server has it byte for byte and nothing is missing.
func TestAttachPhotoUploads(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()

	// Offline from here.
	hz := worker.reportedHazard("灭火器过期")
	path, original := cameraPhoto(t, t.TempDir(), "IMG_0001.jpg", 0, 1)
	sha := worker.attach("hazards", hz, "photos", path, AttachOptions{})
	if sha != shaOf(original) {
		t.Fatalf("sha %s, want the file's %s", sha, shaOf(original))
	}
	p := worker.photo(sha)
	if p.State != PhotoWaitingRef || p.Size != int64(len(original)) || p.MIME != "image/jpeg" || len(p.Refs) != 1 ||
		p.Refs[0] != (PhotoRef{Collection: "hazards", Doc: hz, Field: "photos", Seq: p.Refs[0].Seq, State: RefPending}) {
		t.Fatalf("queued photo %+v", p)
	}
	if copyBytes, err := os.ReadFile(p.Path); err != nil || !bytes.Equal(copyBytes, original) || filepath.Dir(p.Path) != worker.path+".photos" {
		t.Fatalf("local copy %s: %v", p.Path, err)
	}
	// The original is not needed any more: the SDK has its own copy.
	os.Remove(path)
	if doc := worker.get("hazards", hz); !slices.Equal(doc.Elements("photos"), []string{sha}) || doc.Pending != 2 {
		t.Fatalf("hazard photos %v pending %d", doc.Elements("photos"), doc.Pending)
	}

	rep := worker.sync()
	if rep.Accepted != 2 || rep.Photos.Stored != 1 || rep.Photos.BytesSent != int64(len(original)) || rep.Photos.Pending != 0 {
		t.Fatalf("sync %+v photos %+v", rep, rep.Photos)
	}
	p = worker.photo(sha)
	if p.State != PhotoStored || p.Path != "" || p.Uploaded != p.Size || p.StoredAt.IsZero() || p.Refs[0].State != RefAccepted {
		t.Fatalf("after sync %+v", p)
	}
	if exists(filepath.Join(worker.path+".photos", sha)) {
		t.Fatal("the local copy of a stored photo is still there")
	}
	station := apptest.Login(t, srv.URL(), "station-1", "pc-station-1-photos")
	if got := missingPhotos(t, srv.URL(), station); len(got) != 0 {
		t.Fatalf("missing photos %v", got)
	}
	if got := blob(t, srv.URL(), station, sha); !bytes.Equal(got, original) {
		t.Fatalf("downloaded %d bytes, want the %d attached", len(got), len(original))
	}
	var ev struct {
		Evidence struct {
			Photos, Present, Flagged int
			Complete                 bool
		} `json:"evidence"`
		Photos []struct {
			Flags []string `json:"flags"`
		} `json:"photos"`
	}
	apiGet(t, srv.URL(), station, "/v1/docs/hazards/"+hz+"/photos", &ev)
	if !ev.Evidence.Complete || ev.Evidence.Present != 1 || len(ev.Photos) != 1 || len(ev.Photos[0].Flags) != 0 {
		t.Fatalf("evidence %+v", ev)
	}
	// Nothing left to do: a second run sends nothing.
	if rep := worker.upload(UploadOptions{}); rep.Stored != 0 || rep.BytesSent != 0 || rep.Pending != 0 {
		t.Fatalf("second run %+v", rep)
	}
}

// The same bytes attached to two records are queued and uploaded once; the
// photo's references are both recorded.
func TestAttachPhotoDedupe(t *testing.T) {
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	hz1, hz2 := worker.reportedHazard("疏散通道堵塞"), worker.reportedHazard("安全出口锁闭")
	path, original := cameraPhoto(t, t.TempDir(), "IMG_0002.jpg", 0, 2)
	sha1 := worker.attach("hazards", hz1, "photos", path, AttachOptions{})
	sha2 := worker.attach("hazards", hz2, "photos", path, AttachOptions{})
	// A record created naming the attached photo references it too.
	insp := worker.create("inspections", Fields{"site": siteG01, "result": syncproto.InspectionHazardFound, "photos": []string{sha1}})
	all, err := worker.Photos()
	if err != nil || sha1 != sha2 || len(all) != 1 || len(all[0].Refs) != 3 {
		t.Fatalf("photos %+v, %v", all, err)
	}
	rep := worker.sync()
	if rep.Photos.Stored != 1 || rep.Photos.BytesSent != int64(len(original)) {
		t.Fatalf("photos %+v", rep.Photos)
	}
	docs := map[string]bool{}
	for _, r := range worker.photo(sha1).Refs {
		if r.State != RefAccepted {
			t.Fatalf("ref %+v", r)
		}
		docs[r.Doc] = true
	}
	if !docs[hz1] || !docs[hz2] || !docs[insp] {
		t.Fatalf("refs %v", docs)
	}
	// Attached again after it was stored: no upload, no copy kept.
	hz3 := worker.reportedHazard("灭火器压力不足")
	if sha := worker.attach("hazards", hz3, "photos", path, AttachOptions{}); sha != sha1 || worker.photo(sha).State != PhotoStored ||
		exists(filepath.Join(worker.path+".photos", sha)) {
		t.Fatalf("re-attached stored photo: %+v", worker.photo(sha))
	}
	if rep := worker.sync(); rep.Accepted != 2 || rep.Photos.BytesSent != 0 {
		t.Fatalf("sync %+v photos %+v", rep, rep.Photos)
	}
}

// Refusals on the device: not a photo, too large, a field that does not
// hold photos, a document the device does not have, no session. Nothing is
// queued and the outbox is untouched.
func TestAttachPhotoRefusals(t *testing.T) {
	if MaxPhotoSize != syncproto.MaxPhotoSize {
		t.Fatalf("MaxPhotoSize %d, the server's is %d", MaxPhotoSize, syncproto.MaxPhotoSize)
	}
	srv := apptest.Start(t)
	worker := loginDevice(t, srv, "worker-1-1-1")
	worker.sync()
	hz := worker.reportedHazard("电动车违规充电")
	dir := t.TempDir()
	photo, _ := cameraPhoto(t, dir, "ok.jpg", 0, 3)
	text := filepath.Join(dir, "note.jpg")
	os.WriteFile(text, []byte("灭火器已更换，见照片。\n"), 0o600)
	empty := filepath.Join(dir, "empty.jpg")
	os.WriteFile(empty, nil, 0o600)
	big := filepath.Join(dir, "big.jpg")
	sparse(t, big, []byte("\xFF\xD8\xFF\xE0"), MaxPhotoSize+1)
	huge := filepath.Join(dir, "huge.jpg")
	sparse(t, huge, []byte("\xFF\xD8\xFF\xE0"), MaxSourceSize+1)

	tests := []struct {
		name                   string
		collection, doc, field string
		path                   string
		opt                    AttachOptions
		code                   string
	}{
		{"ErrTextRenamedJPG", "hazards", hz, "photos", text, AttachOptions{}, CodeUnsupportedPhoto},
		{"ErrEmpty", "hazards", hz, "photos", empty, AttachOptions{}, syncproto.CodeInvalidValue},
		{"ErrTooLarge", "hazards", hz, "photos", big, AttachOptions{}, syncproto.CodeTooLarge},
		{"ErrSourceTooLargeToDownscale", "hazards", hz, "photos", huge, AttachOptions{MaxEdge: 1600}, syncproto.CodeTooLarge},
		{"ErrFieldNotPhotos", "hazards", hz, "title", photo, AttachOptions{}, syncproto.CodeUnknownField},
		{"ErrFlowField", "hazards", hz, "status", photo, AttachOptions{}, syncproto.CodeUnknownField},
		{"ErrUnknownField", "hazards", hz, "pictures", photo, AttachOptions{}, syncproto.CodeUnknownField},
		{"ErrUnknownCollection", "pictures", hz, "photos", photo, AttachOptions{}, syncproto.CodeUnknownCollection},
		{"ErrNoSuchDoc", "hazards", "0192f000-0000-7000-8000-0000000000ff", "photos", photo, AttachOptions{}, syncproto.CodeNotFound},
		{"ErrBadQuality", "hazards", hz, "photos", photo, AttachOptions{Quality: 101}, syncproto.CodeInvalidValue},
		{"Evidence", "hazards", hz, "evidence", photo, AttachOptions{}, ""}, // allowed: the finder submits evidence
	}
	before := worker.outbox().Pending
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := worker.AttachPhoto(tt.collection, tt.doc, tt.field, tt.path, tt.opt)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				before++
				return
			}
			wantCode(t, err, tt.code)
		})
	}
	if o := worker.outbox(); o.Pending != before {
		t.Fatalf("outbox %d, want %d", o.Pending, before)
	}
	if all, _ := worker.Photos(); len(all) != 1 {
		t.Fatalf("%d photos queued, want the one allowed", len(all))
	}
	entries, _ := os.ReadDir(worker.path + ".photos")
	if len(entries) != 1 {
		t.Fatalf("photo folder holds %d files, want 1", len(entries))
	}

	if _, err := worker.AttachPhoto("hazards", hz, "photos", filepath.Join(dir, "absent.jpg"), AttachOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent file: %v", err)
	}
	fresh := openDevice(t, fastOptions(srv.URL()))
	if _, err := fresh.AttachPhoto("hazards", hz, "photos", photo, AttachOptions{}); !errors.Is(err, ErrLoginRequired) {
		t.Fatalf("no session: %v", err)
	}
}

// sparse makes a file of size bytes that starts with head (the rest is a
// hole: no disk used).
func sparse(tb testing.TB, path string, head []byte, size int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(head); err != nil {
		tb.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
}
