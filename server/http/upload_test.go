package http_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/internal/cutproxy"
	"github.com/gridsync/gridsync/internal/exif/exiftest"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// The demo site all test hazards are about: grid 330399101201G01
// (worker-1-1-1), township 330399101 (station-1).
const (
	demoSite    = "0192f000-0000-7000-8000-000000000001"
	demoSiteLat = 27.962686
	demoSiteLng = 120.584811
)

// client is a device talking to the server with a token.
type client struct {
	base, token, device string
	http                *http.Client
	seq                 uint64
	clock               *syncproto.Clock
}

func login(t testing.TB, base, user, device string) *client {
	t.Helper()
	return &client{base: base, token: apptest.Login(t, base, user, device), device: device, http: &http.Client{Timeout: 30 * time.Second},
		clock: syncproto.NewClock(time.Now, syncproto.HLC{})}
}

// tus sends one tus request; headers alternate name, value.
func (c *client) tus(t testing.TB, method, path string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := c.tryTus(method, path, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, b
}

func (c *client) tryTus(method, path string, body []byte, headers ...string) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// download fetches the photo sha through GET /v1/blobs.
func (c *client) download(t testing.TB, sha string) (*http.Response, []byte) {
	t.Helper()
	return c.tus(t, "GET", "/v1/blobs/"+sha, nil, "Tus-Resumable", "")
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// create starts an upload of photo and returns its path.
func (c *client) create(t testing.TB, photo []byte, declared string) string {
	t.Helper()
	resp, body := c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(photo)),
		"Upload-Metadata", "sha256 "+b64(declared)+",filename "+b64("IMG_0001.jpg"))
	// Location is absolute, on the address the request went to.
	path, ok := strings.CutPrefix(resp.Header.Get("Location"), c.base)
	if resp.StatusCode != 201 || !ok || !strings.HasPrefix(path, "/v1/uploads/") {
		t.Fatalf("create: %d %s, Location %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	return path
}

func (c *client) patch(t testing.TB, loc string, offset int, chunk []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return c.tus(t, "PATCH", loc, chunk, append([]string{"Content-Type", "application/offset+octet-stream",
		"Upload-Offset", strconv.Itoa(offset)}, headers...)...)
}

// upload sends a whole photo in one PATCH.
func (c *client) upload(t testing.TB, photo []byte) (*http.Response, []byte) {
	t.Helper()
	return c.patch(t, c.create(t, photo, sha(photo)), 0, photo)
}

// hazard pushes a hazard at the demo site referencing photos.
func (c *client) hazard(t testing.TB, id string, shas ...string) {
	t.Helper()
	c.seq++
	op := syncproto.Op{Device: c.device, Seq: c.seq, HLC: c.clock.Now(), Collection: "hazards", Doc: id,
		Set:  map[string]json.RawMessage{"site": json.RawMessage(`"` + demoSite + `"`), "title": json.RawMessage(`"疏散通道堵塞"`)},
		Flow: map[string]syncproto.FlowStep{"status": {To: "reported", Round: 1}}, Add: map[string][]string{"photos": shas}}
	c.push(t, op)
}

func (c *client) push(t testing.TB, ops ...syncproto.Op) {
	t.Helper()
	body, _ := json.Marshal(syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: c.device, DeviceTime: time.Now().UnixMilli(), Ops: ops})
	var out syncproto.PushResponse
	resp := c.getJSON(t, "POST", "/v1/sync/push", body, &out)
	if resp.StatusCode != 200 || len(out.Verdicts) != len(ops) {
		t.Fatalf("push: %d %+v", resp.StatusCode, out)
	}
	for _, v := range out.Verdicts {
		if v.Status != syncproto.StatusAccepted {
			t.Fatalf("push: op %d %s %s", v.Seq, v.Code, v.Reason)
		}
	}
}

func (c *client) getJSON(t testing.TB, method, path string, body []byte, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp
}

type apiErr struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func wantStatus(t testing.TB, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: got %d %s, want %d", what, resp.StatusCode, body, status)
	}
	if resp.Header.Get("Tus-Resumable") != "1.0.0" && strings.Contains(resp.Request.URL.Path, "/v1/uploads") {
		t.Errorf("%s: no Tus-Resumable header on the response", what)
	}
	if code != "" {
		var e apiErr
		json.Unmarshal(body, &e)
		if e.Code != code {
			t.Fatalf("%s: got code %q (%s), want %q", what, e.Code, e.Message, code)
		}
	}
}

// photoOf returns a real JPEG of about size bytes (noise does not compress).
func photoOf(t testing.TB, size, seed int) []byte {
	t.Helper()
	px := size * 100 / 68
	w := 4 * int(sqrt(float64(px)/12))
	return exiftest.JPEG(t, exiftest.Options{Noise: true, Width: w, Height: px / w, Seed: seed, TakenAt: time.Now().Format("2006:01:02 15:04:05"),
		Offset: "+08:00", GPS: true, Lat: demoSiteLat, Lng: demoSiteLng})
}

func sqrt(x float64) float64 {
	r := x
	for range 50 {
		r = (r + x/r) / 2
	}
	return r
}

func TestTusProtocol(t *testing.T) {
	srv := apptest.Start(t)
	c := login(t, srv.URL(), "worker-1-1-1", "phone-tus-0001")
	photo := exiftest.JPEG(t, exiftest.Options{Width: 400, Height: 300, TakenAt: "2026:03:01 09:00:00"})

	t.Run("Options", func(t *testing.T) {
		anon := &client{base: c.base, http: c.http}
		resp, body := anon.tus(t, "OPTIONS", "/v1/uploads", nil, "Tus-Resumable", "")
		wantStatus(t, "OPTIONS", resp, body, 204, "")
		for h, want := range map[string]string{"Tus-Version": "1.0.0", "Tus-Extension": "creation,checksum,termination,expiration",
			"Tus-Max-Size": "15728640", "Tus-Checksum-Algorithm": "sha256"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: got %q, want %q", h, got, want)
			}
		}
	})
	t.Run("ErrVersion", func(t *testing.T) {
		resp, body := c.tus(t, "POST", "/v1/uploads", nil, "Tus-Resumable", "0.2.2", "Upload-Length", "10", "Upload-Metadata", "sha256 "+b64(sha(photo)))
		wantStatus(t, "POST 0.2.2", resp, body, 412, "unsupported_version")
		if resp.Header.Get("Tus-Version") != "1.0.0" {
			t.Errorf("412 without Tus-Version")
		}
		resp, body = c.tus(t, "HEAD", "/v1/uploads/00000000000000000000000000000000", nil, "Tus-Resumable", "")
		wantStatus(t, "HEAD without Tus-Resumable", resp, body, 412, "")
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		anon := &client{base: c.base, http: c.http}
		resp, body := anon.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", "10", "Upload-Metadata", "sha256 "+b64(sha(photo)))
		wantStatus(t, "POST without token", resp, body, 401, "unauthorized")
	})
	t.Run("CreateHeadPatch", func(t *testing.T) {
		loc := c.create(t, photo, sha(photo))
		resp, body := c.tus(t, "HEAD", loc, nil)
		wantStatus(t, "HEAD", resp, body, 200, "")
		if resp.Header.Get("Upload-Offset") != "0" || resp.Header.Get("Upload-Length") != strconv.Itoa(len(photo)) ||
			resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("HEAD headers %v", resp.Header)
		}
		resp, body = c.patch(t, loc, 0, photo[:1000], "Content-Type", "application/octet-stream")
		wantStatus(t, "PATCH wrong type", resp, body, 415, "unsupported_media")
		resp, body = c.patch(t, loc, 0, photo[:1000])
		wantStatus(t, "PATCH 1", resp, body, 204, "")
		if resp.Header.Get("Upload-Offset") != "1000" || resp.Header.Get("Upload-Expires") == "" {
			t.Fatalf("PATCH headers %v", resp.Header)
		}
		resp, body = c.patch(t, loc, 500, photo[500:])
		wantStatus(t, "PATCH wrong offset", resp, body, 409, "offset_mismatch")
		bad := sha256.Sum256([]byte("garbage"))
		resp, body = c.patch(t, loc, 1000, photo[1000:2000], "Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(bad[:]))
		wantStatus(t, "PATCH bad checksum", resp, body, 460, "checksum_mismatch")
		resp, body = c.patch(t, loc, 1000, photo[1000:2000], "Upload-Checksum", "md5 "+base64.StdEncoding.EncodeToString(bad[:16]))
		wantStatus(t, "PATCH md5", resp, body, 400, "invalid")
		good := sha256.Sum256(photo[1000:2000])
		resp, body = c.patch(t, loc, 1000, photo[1000:2000], "Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(good[:]))
		wantStatus(t, "PATCH good checksum", resp, body, 204, "")
		resp, body = c.patch(t, loc, 2000, photo[2000:])
		wantStatus(t, "PATCH last", resp, body, 204, "")
		if resp.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
			t.Fatalf("last PATCH: offset %s", resp.Header.Get("Upload-Offset"))
		}
		// A retried last PATCH whose reply was lost: the upload is done.
		resp, body = c.patch(t, loc, len(photo), nil)
		wantStatus(t, "PATCH again", resp, body, 204, "")
		resp, body = c.tus(t, "HEAD", loc, nil)
		wantStatus(t, "HEAD done", resp, body, 200, "")
		if resp.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
			t.Fatalf("HEAD after completion: %v", resp.Header)
		}
	})
	t.Run("Terminate", func(t *testing.T) {
		loc := c.create(t, photo, sha(photo))
		c.patch(t, loc, 0, photo[:100])
		resp, body := c.tus(t, "DELETE", loc, nil)
		wantStatus(t, "DELETE", resp, body, 204, "")
		resp, body = c.tus(t, "HEAD", loc, nil)
		wantStatus(t, "HEAD after DELETE", resp, body, 404, "")
		if entries, _ := os.ReadDir(srv.DataDir() + "/uploads"); len(entries) != 0 {
			t.Errorf("partial files left: %v", entries)
		}
	})
	t.Run("ErrCreate", func(t *testing.T) {
		for _, tt := range []struct {
			name           string
			length, meta   string
			status         int
			code           string
			dropMetaHeader bool
		}{
			{"TooLarge", "15728641", "sha256 " + b64(sha(photo)), 413, "too_large", false},
			{"NoLength", "", "sha256 " + b64(sha(photo)), 400, "invalid", false},
			{"NoSHA256", "100", "filename " + b64("a.jpg"), 400, "invalid", false},
			{"BadSHA256", "100", "sha256 " + b64("abc"), 400, "invalid", false},
			{"NotBase64", "100", "sha256 !!!", 400, "invalid", false},
		} {
			resp, body := c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", tt.length, "Upload-Metadata", tt.meta)
			wantStatus(t, tt.name, resp, body, tt.status, tt.code)
		}
	})
}

// The refusal matrix: every refusal has its status and stable code, and
// nothing is stored.
func TestUploadRefusals(t *testing.T) {
	srv := apptest.Start(t)
	w111 := login(t, srv.URL(), "worker-1-1-1", "phone-ref-w111")
	w211 := login(t, srv.URL(), "worker-2-1-1", "phone-ref-w211")
	photo := exiftest.JPEG(t, exiftest.Options{Width: 200, Height: 100, Seed: 5})
	w111.hazard(t, "hz-refusals", sha(photo))
	if resp, body := w111.upload(t, photo); resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	zip := append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0}, 200)...)
	pdf := append([]byte("%PDF-1.7\n%âãÏÓ\n"), bytes.Repeat([]byte("1 0 obj\n"), 30)...)
	text := bytes.Repeat([]byte("巡查记录 "), 40)

	t.Run("HashMismatch", func(t *testing.T) {
		other := exiftest.JPEG(t, exiftest.Options{Seed: 6})
		loc := w111.create(t, other, sha(photo)) // declares another photo's hash
		resp, body := w111.patch(t, loc, 0, other)
		wantStatus(t, "PATCH", resp, body, 422, "hash_mismatch")
		resp, body = w111.tus(t, "HEAD", loc, nil)
		wantStatus(t, "HEAD", resp, body, 404, "")
	})
	t.Run("Oversize", func(t *testing.T) {
		resp, body := w111.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", "20000000", "Upload-Metadata", "sha256 "+b64(sha(photo)))
		wantStatus(t, "POST", resp, body, 413, "too_large")
	})
	for name, b := range map[string][]byte{"PDF": pdf, "Zip": zip, "Text": text} {
		t.Run("WrongType"+name, func(t *testing.T) {
			resp, body := w111.upload(t, b)
			wantStatus(t, "PATCH", resp, body, 415, "unsupported_photo")
		})
	}
	t.Run("WrongAreaDoc", func(t *testing.T) {
		// An upload for a document of another area is refused like one for
		// a document that does not exist: the answer reveals nothing.
		other := exiftest.JPEG(t, exiftest.Options{Seed: 9})
		var msgs []string
		for _, doc := range []string{"hazards/hz-refusals", "hazards/hz-nowhere"} {
			resp, body := w211.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(other)),
				"Upload-Metadata", "sha256 "+b64(sha(other))+",doc "+b64(doc))
			wantStatus(t, "POST doc "+doc, resp, body, 403, "forbidden")
			var e apiErr
			json.Unmarshal(body, &e)
			msgs = append(msgs, strings.ReplaceAll(e.Message, doc, "DOC"))
		}
		if msgs[0] != msgs[1] {
			t.Fatalf("another area's doc is told apart from a missing one: %q vs %q", msgs[0], msgs[1])
		}
		loc := w111.create(t, other, sha(other)) // the doc's own area: fine
		resp, body := w111.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(other)),
			"Upload-Metadata", "sha256 "+b64(sha(other))+",doc "+b64("hazards/hz-refusals"))
		wantStatus(t, "POST doc in the area", resp, body, 201, "")
		w111.tus(t, "DELETE", loc, nil)
	})
	t.Run("WrongAreaDownload", func(t *testing.T) {
		for _, path := range []string{"/v1/blobs/" + sha(photo), "/v1/blobs/" + sha(photo) + "/thumb", "/v1/blobs/" + sha([]byte("none"))} {
			var e apiErr
			resp := w211.getJSON(t, "GET", path, nil, &e)
			if resp.StatusCode != 404 || e.Code != "not_found" || e.Message != "photo not found" {
				t.Fatalf("%s as worker-2-1-1: %d %+v", path, resp.StatusCode, e)
			}
		}
		var e apiErr
		if resp := w211.getJSON(t, "GET", "/v1/docs/hazards/hz-refusals/photos", nil, &e); resp.StatusCode != 404 || e.Code != "not_found" {
			t.Fatalf("doc photos as worker-2-1-1: %d %+v", resp.StatusCode, e)
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		anon := &client{base: srv.URL(), http: w111.http}
		for _, path := range []string{"/v1/blobs/" + sha(photo), "/v1/photos/missing"} {
			var e apiErr
			if resp := anon.getJSON(t, "GET", path, nil, &e); resp.StatusCode != 401 || e.Code != "unauthorized" {
				t.Fatalf("%s: %d %+v", path, resp.StatusCode, e)
			}
		}
		resp, body := anon.tus(t, "PATCH", "/v1/uploads/00000000000000000000000000000000", []byte("x"), "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")
		wantStatus(t, "PATCH", resp, body, 401, "unauthorized")
	})
	var photos int
	for _, dir := range []string{"/blobs/sha256"} {
		entries, _ := os.ReadDir(srv.DataDir() + dir)
		photos += len(entries)
	}
	if photos != 1 {
		t.Fatalf("%d photo folders in the blob store, want 1 (the accepted photo)", photos)
	}
}

// Download: bytes as uploaded, cache headers, ETag revalidation, a
// thumbnail, no thumbnail for HEIC, and EXIF flags in the listing.
func TestDownload(t *testing.T) {
	srv := apptest.Start(t)
	w := login(t, srv.URL(), "worker-1-1-1", "phone-dl-w111")
	station := login(t, srv.URL(), "station-1", "phone-dl-station")
	photo := exiftest.JPEG(t, exiftest.Options{Width: 1024, Height: 768, Seed: 8, TakenAt: time.Now().Add(-96 * time.Hour).Format("2006:01:02 15:04:05"),
		Offset: "+08:00", GPS: true, Lat: demoSiteLat + 0.01, Lng: demoSiteLng})
	heic, err := os.ReadFile("../../internal/exif/testdata/tiny.heic")
	if err != nil {
		t.Fatal(err)
	}
	w.hazard(t, "hz-download", sha(photo), sha(heic))
	for _, p := range [][]byte{photo, heic} {
		if resp, body := w.upload(t, p); resp.StatusCode != 204 {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
	}

	req, _ := http.NewRequest("GET", srv.URL()+"/v1/blobs/"+sha(photo), nil)
	req.Header.Set("Authorization", "Bearer "+station.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, photo) {
		t.Fatalf("download: %d, %d bytes, equal %v", resp.StatusCode, len(got), bytes.Equal(got, photo))
	}
	for h, want := range map[string]string{"Content-Type": "image/jpeg", "Content-Length": strconv.Itoa(len(photo)),
		"ETag": `"` + sha(photo) + `"`, "Cache-Control": "private, max-age=31536000, immutable"} {
		if resp.Header.Get(h) != want {
			t.Errorf("%s: got %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 304 {
		t.Fatalf("revalidation: %v %v", resp.StatusCode, err)
	}

	var e apiErr
	if resp := w.getJSON(t, "GET", "/v1/blobs/"+sha(heic)+"/thumb", nil, &e); resp.StatusCode != 404 || e.Code != "no_thumbnail" {
		t.Fatalf("HEIC thumbnail: %d %+v", resp.StatusCode, e)
	}
	req, _ = http.NewRequest("GET", srv.URL()+"/v1/blobs/"+sha(photo)+"/thumb", nil)
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	thumb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || len(thumb) == 0 || len(thumb) > len(photo) {
		t.Fatalf("thumbnail: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(thumb))
	}

	var dp struct {
		Evidence struct {
			Photos, Present, Flagged int
			Complete                 bool
		} `json:"evidence"`
		Photos []struct {
			SHA256    string   `json:"sha256"`
			Present   bool     `json:"present"`
			Flags     []string `json:"flags"`
			DistanceM float64  `json:"distance_m"`
			Photo     struct {
				MIME string `json:"mime"`
			} `json:"photo"`
		} `json:"photos"`
	}
	if resp := station.getJSON(t, "GET", "/v1/docs/hazards/hz-download/photos", nil, &dp); resp.StatusCode != 200 {
		t.Fatalf("doc photos: %d", resp.StatusCode)
	}
	if !dp.Evidence.Complete || dp.Evidence.Photos != 2 || dp.Evidence.Flagged != 1 {
		t.Fatalf("evidence %+v", dp.Evidence)
	}
	for _, p := range dp.Photos {
		switch p.SHA256 {
		case sha(photo):
			if strings.Join(p.Flags, ",") != "gps_far,time_off" || p.DistanceM < 1000 || p.Photo.MIME != "image/jpeg" {
				t.Errorf("JPEG: %+v", p)
			}
		case sha(heic):
			if strings.Join(p.Flags, ",") != "no_gps,no_time" || p.Photo.MIME != "image/heic" {
				t.Errorf("HEIC: %+v", p)
			}
		}
	}
}

// Resume after a restart of the whole server: the offset and the partial
// bytes survive.
func TestUploadResumesAfterRestart(t *testing.T) {
	srv := apptest.Start(t)
	c := login(t, srv.URL(), "worker-1-1-1", "phone-restart-01")
	photo := photoOf(t, 300<<10, 1)
	loc := c.create(t, photo, sha(photo))
	half := len(photo) / 2
	if resp, body := c.patch(t, loc, 0, photo[:half]); resp.StatusCode != 204 {
		t.Fatalf("first half: %d %s", resp.StatusCode, body)
	}
	srv.Restart()
	c = login(t, srv.URL(), "worker-1-1-1", "phone-restart-01")
	resp, body := c.tus(t, "HEAD", loc, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(half) {
		t.Fatalf("HEAD after restart: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp, body := c.patch(t, loc, half, photo[half:]); resp.StatusCode != 204 {
		t.Fatalf("second half: %d %s", resp.StatusCode, body)
	}
	c.hazard(t, "hz-restart", sha(photo))
	if _, got := c.download(t, sha(photo)); !bytes.Equal(got, photo) {
		t.Fatalf("downloaded %d bytes differ from the %d uploaded", len(got), len(photo))
	}
}

// An upload through a link that drops several times mid-PATCH completes by
// resuming (HEAD + PATCH from the offset), and sends little more than the
// photo itself.
func TestInterruptedUpload(t *testing.T) {
	srv := apptest.Start(t)
	c := login(t, srv.URL(), "worker-1-1-1", "phone-cut-0001")
	photo := photoOf(t, 2<<20, 2)
	c.hazard(t, "hz-cut", sha(photo))
	loc := c.create(t, photo, sha(photo))

	// Five cuts, each after a few hundred KB of one connection.
	budgets := []int64{300 << 10, 250 << 10, 400 << 10, 200 << 10, 350 << 10}
	proxy := cutproxy.Start(t, srv.Addr(), budgets...)
	// Each request on a new connection, as on a phone that lost its link,
	// and PATCH bodies only after "100 Continue": a refused chunk costs no
	// body bytes.
	dev := &client{base: proxy.URL(), token: c.token, device: c.device,
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 10 * time.Second}}}

	offset, attempts := -1, 0
	for attempts = 1; attempts <= 30; attempts++ {
		if offset < 0 {
			resp, _, err := dev.tryTus("HEAD", loc, nil)
			if err != nil {
				continue
			}
			if resp.StatusCode != 200 {
				t.Fatalf("HEAD: %d", resp.StatusCode)
			}
			offset, _ = strconv.Atoi(resp.Header.Get("Upload-Offset"))
			if offset == len(photo) {
				break
			}
		}
		resp, body, err := dev.tryTus("PATCH", loc, photo[offset:], "Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(offset),
			"Expect", "100-continue")
		if err != nil {
			// The link dropped: once the phone has a signal again (a
			// moment later), ask where to resume.
			offset = -1
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode == 409 {
			// A stale request on a half-open connection got its bytes in
			// first (as tus clients do: ask again).
			offset = -1
			continue
		}
		if resp.StatusCode != 204 {
			t.Fatalf("PATCH at %d: %d %s", offset, resp.StatusCode, body)
		}
		offset, _ = strconv.Atoi(resp.Header.Get("Upload-Offset"))
		if offset == len(photo) {
			break
		}
	}
	if offset != len(photo) {
		t.Fatalf("upload did not complete in %d attempts (offset %d of %d)", attempts, offset, len(photo))
	}
	if proxy.Cuts() < len(budgets) {
		t.Fatalf("only %d cuts happened", proxy.Cuts())
	}
	ratio := float64(proxy.Sent.Load()) / float64(len(photo))
	t.Logf("interrupted upload: %d cuts, %d requests, %d bytes sent for a %d-byte photo: ratio %.4f",
		proxy.Cuts(), attempts, proxy.Sent.Load(), len(photo), ratio)
	if ratio > 1.1 {
		t.Fatalf("sent %.3f× the photo's size, want < 1.1", ratio)
	}
	var missing struct {
		Photos []json.RawMessage `json:"photos"`
	}
	c.getJSON(t, "GET", "/v1/photos/missing", nil, &missing)
	if len(missing.Photos) != 0 {
		t.Fatalf("still missing: %s", missing.Photos)
	}
}

// A stock tus 1.0.0 client, request by request: discovery, creation with
// metadata, an absolute Location resolved like a relative one, HEAD with
// the metadata as sent, PATCH and DELETE sent as POST with
// X-HTTP-Method-Override (tus-js-client's overridePatchMethod, go-tus), and
// a creation sent again after a lost reply.
func TestTusStockClient(t *testing.T) {
	srv := apptest.Start(t)
	c := login(t, srv.URL(), "worker-1-1-1", "phone-stock-0001")
	photo := photoOf(t, 200<<10, 50)
	c.hazard(t, "hz-stock", sha(photo))
	endpoint, _ := url.Parse(srv.URL() + "/v1/uploads")

	resp, body := c.tus(t, "OPTIONS", "/v1/uploads", nil)
	wantStatus(t, "OPTIONS", resp, body, 204, "")
	meta := "filename " + b64("现场照片.jpg") + ",filetype " + b64("image/jpeg") + ",sha256 " + b64(sha(photo)) + ",doc " + b64("hazards/hz-stock")
	resp, body = c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(photo)), "Upload-Metadata", meta)
	wantStatus(t, "POST", resp, body, 201, "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !loc.IsAbs() || resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("Location %q (%v), Upload-Offset %q: want an absolute URL and 0", resp.Header.Get("Location"), err, resp.Header.Get("Upload-Offset"))
	}
	if got := endpoint.ResolveReference(loc); got.String() != loc.String() || got.Host != endpoint.Host {
		t.Fatalf("Location %s resolves to %s", loc, got)
	}
	path := loc.Path

	// The reply was lost: the client creates again and gets the same upload.
	resp, body = c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(photo)), "Upload-Metadata", meta)
	wantStatus(t, "POST again", resp, body, 201, "")
	if resp.Header.Get("Location") != loc.String() {
		t.Fatalf("second creation: Location %q, want %q", resp.Header.Get("Location"), loc)
	}

	half := len(photo) / 2
	resp, body = c.tus(t, "POST", path, photo[:half], "X-HTTP-Method-Override", "PATCH", "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", "0")
	wantStatus(t, "PATCH as POST", resp, body, 204, "")
	if resp.Header.Get("Upload-Offset") != strconv.Itoa(half) {
		t.Fatalf("PATCH as POST: Upload-Offset %q, want %d", resp.Header.Get("Upload-Offset"), half)
	}
	resp, body = c.tus(t, "POST", path, nil, "X-HTTP-Method-Override", "HEAD")
	wantStatus(t, "HEAD as POST", resp, body, 200, "")
	resp, body = c.tus(t, "HEAD", path, nil)
	wantStatus(t, "HEAD", resp, body, 200, "")
	if resp.Header.Get("Upload-Offset") != strconv.Itoa(half) || resp.Header.Get("Upload-Metadata") != meta {
		t.Fatalf("HEAD: Upload-Offset %q, Upload-Metadata %q; want %d and %q", resp.Header.Get("Upload-Offset"), resp.Header.Get("Upload-Metadata"), half, meta)
	}
	resp, body = c.tus(t, "POST", path, nil, "X-HTTP-Method-Override", "GET")
	wantStatus(t, "unknown override", resp, body, 400, "invalid")
	resp, body = c.tus(t, "POST", path, photo[half:], "X-HTTP-Method-Override", "patch", "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", strconv.Itoa(half))
	wantStatus(t, "last PATCH as POST", resp, body, 204, "")
	if resp.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
		t.Fatalf("last PATCH: Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}

	// Termination by override.
	other := photoOf(t, 50<<10, 51)
	loc2 := c.create(t, other, sha(other))
	resp, body = c.tus(t, "POST", loc2, nil, "X-HTTP-Method-Override", "DELETE")
	wantStatus(t, "DELETE as POST", resp, body, 204, "")
	resp, body = c.tus(t, "HEAD", loc2, nil)
	wantStatus(t, "HEAD after DELETE", resp, body, 404, "")

	// The override is honoured only under /v1/uploads/: POST /v1/me is
	// not GET /v1/me.
	req, _ := http.NewRequest("POST", srv.URL()+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-HTTP-Method-Override", "GET")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("X-HTTP-Method-Override honoured outside /v1/uploads/")
	}
}

// GRIDSYNC_PUBLIC_URL (here -public-url) is the base of Location behind a
// reverse proxy with a path prefix.
func TestTusPublicURL(t *testing.T) {
	srv := apptest.Start(t, "-public-url", "https://photos.example.org/gridsync/")
	c := login(t, srv.URL(), "worker-1-1-1", "phone-public-0001")
	photo := photoOf(t, 10<<10, 52)
	resp, body := c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(photo)), "Upload-Metadata", "sha256 "+b64(sha(photo)))
	wantStatus(t, "POST", resp, body, 201, "")
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, "https://photos.example.org/gridsync/v1/uploads/")
	if !ok || len(id) != 32 {
		t.Fatalf("Location %q, want https://photos.example.org/gridsync/v1/uploads/<id>", loc)
	}
}

// A full quota is 429 with Retry-After; a chunk past the declared length is
// 413 whether or not it carries a checksum, and nothing of it is kept.
func TestTusQuotaAndOverlong(t *testing.T) {
	srv := apptest.Start(t)
	c := login(t, srv.URL(), "worker-1-1-2", "phone-quota-0001")
	for i := range 32 {
		resp, body := c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", "1000", "Upload-Metadata", "sha256 "+b64(sha([]byte{byte(i)})))
		wantStatus(t, "POST", resp, body, 201, "")
	}
	resp, body := c.tus(t, "POST", "/v1/uploads", nil, "Upload-Length", "1000", "Upload-Metadata", "sha256 "+b64(sha([]byte("one more"))))
	wantStatus(t, "POST past the quota", resp, body, 429, "quota_exceeded")
	if resp.Header.Get("Retry-After") != "15" {
		t.Fatalf("429 with Retry-After %q, want 15", resp.Header.Get("Retry-After"))
	}

	w := login(t, srv.URL(), "worker-1-1-1", "phone-long-0001")
	photo := photoOf(t, 20<<10, 53)
	loc := w.create(t, photo, sha(photo))
	long := append(append([]byte{}, photo...), "extra"...)
	sum := sha256.Sum256(long)
	resp, body = w.patch(t, loc, 0, long, "Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum[:]))
	wantStatus(t, "checksummed PATCH past the length", resp, body, 413, "too_large")
	resp, body = w.patch(t, loc, 0, long)
	wantStatus(t, "PATCH past the length", resp, body, 413, "too_large")
	resp, body = w.tus(t, "HEAD", loc, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("HEAD after the refusals: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = w.patch(t, loc, 0, photo)
	wantStatus(t, "the right PATCH", resp, body, 204, "")
}
