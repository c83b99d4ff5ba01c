package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gridsync/gridsync/internal/miniotest"
	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/server/minio"
	"github.com/gridsync/gridsync/syncproto"
)

// startWithMinIO runs the real server with a real MinIO as its photo store.
func startWithMinIO(t *testing.T) (*apptest.Server, *miniotest.Server) {
	t.Helper()
	ms := miniotest.StartServer(t)
	return startOn(t, ms.Config()), ms
}

func startOn(t *testing.T, cfg minio.Config) *apptest.Server {
	t.Helper()
	return apptest.Start(t, "-blob", "minio", "-minio-endpoint", cfg.Endpoint, "-minio-bucket", cfg.Bucket,
		"-minio-access-key", cfg.AccessKey, "-minio-secret-key", cfg.SecretKey)
}

// rawMinIO reaches MinIO without the server, to check what it stored.
func rawMinIO(t *testing.T, cfg minio.Config) *miniogo.Client {
	t.Helper()
	c, err := miniogo.New(cfg.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Region: cfg.Region})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bucketObjects lists the photos in the bucket and checks each one's bytes
// hash to its name.
func bucketObjects(t *testing.T, cfg minio.Config) map[string]bool {
	t.Helper()
	c := rawMinIO(t, cfg)
	out := map[string]bool{}
	for obj := range c.ListObjects(t.Context(), cfg.Bucket, miniogo.ListObjectsOptions{Prefix: "sha256/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list bucket: %v", obj.Err)
		}
		o, err := c.GetObject(t.Context(), cfg.Bucket, obj.Key, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatalf("read %s: %v", obj.Key, err)
		}
		name := strings.TrimPrefix(obj.Key, "sha256/")
		if sha(b) != name {
			t.Errorf("object %s holds %d bytes hashing to %s", obj.Key, len(b), sha(b))
		}
		out[name] = true
	}
	return out
}

// The server starts, and restarts, while MinIO is down: record sync works,
// /readyz says the blob store is down, an upload is answered 503 with
// Retry-After; once MinIO is up the upload completes without the device
// and the object is in the bucket (created then).
func TestServerStartsWhileMinIODown(t *testing.T) {
	ms := miniotest.StartServer(t)
	cfg := ms.Config()
	ms.Stop()
	srv := startOn(t, cfg)
	base := srv.URL()
	if status, checks := readyz(t, base); status != 503 || checks["blobs"] == "ok" || checks["database"] != "ok" {
		t.Fatalf("readyz with MinIO down: %d %v", status, checks)
	}
	w := login(t, base, "worker-1-1-1", "phone-down-0001")
	photo := photoOf(t, 300<<10, 40)
	w.hazard(t, "hz-down-1", sha(photo))

	srv.Restart()
	w = login(t, srv.URL(), "worker-1-1-1", "phone-down-0001")
	w.seq = 1
	w.hazard(t, "hz-down-2", sha(photo))

	loc := w.create(t, photo, sha(photo))
	resp, body := w.patch(t, loc, 0, photo)
	wantStatus(t, "PATCH with MinIO down", resp, body, 503, "unavailable")
	var e apiErr
	json.Unmarshal(body, &e)
	if e.Details["received"] != true || resp.Header.Get("Retry-After") != "15" {
		t.Fatalf("503 with details %v, Retry-After %q; want received and 15", e.Details, resp.Header.Get("Retry-After"))
	}
	resp, body = w.tus(t, "HEAD", loc, nil)
	wantStatus(t, "HEAD with MinIO down", resp, body, 503, "")
	if resp.Header.Get("Retry-After") != "15" {
		t.Fatalf("HEAD 503 without Retry-After: %v", resp.Header)
	}

	ms.Restart(t)

	// Nobody retries: the server's background loop stores the photo.
	deadline := time.Now().Add(90 * time.Second)
	for !bucketHas(t, cfg, sha(photo)) {
		if time.Now().After(deadline) {
			t.Fatal("photo not in the bucket after MinIO came back")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if objs := bucketObjects(t, cfg); len(objs) != 1 || !objs[sha(photo)] {
		t.Fatalf("bucket holds %v", objs)
	}
	resp, body = w.tus(t, "HEAD", loc, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(photo)) {
		t.Fatalf("HEAD after MinIO came back: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if status, checks := readyz(t, base); status != 200 {
		t.Fatalf("readyz after MinIO came back: %d %v", status, checks)
	}
}

// bucketHas reports whether the bucket has the photo (false while the
// bucket does not exist yet).
func bucketHas(t *testing.T, cfg minio.Config, sha string) bool {
	_, err := rawMinIO(t, cfg).StatObject(t.Context(), cfg.Bucket, "sha256/"+sha, miniogo.StatObjectOptions{})
	return err == nil
}

func readyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Checks map[string]string `json:"checks"`
	}
	json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r.Checks
}

// MinIO is stopped gracefully between the PATCHes of several uploads (the
// kill during Puts is TestMinIOKilledDuringPuts): the last chunks get
// retryable errors, record sync goes on, /readyz says the blob store is
// down; when MinIO is back every upload completes, no photo is lost and
// the bucket holds exactly the photos.
func TestUploadsSurviveMinIORestart(t *testing.T) {
	srv, ms := startWithMinIO(t)
	base := srv.URL()
	station := login(t, base, "station-1", "phone-minio-station")
	const n = 4
	type inFlight struct {
		c     *client
		photo []byte
		loc   string
	}
	uploads := make([]*inFlight, n)
	for i := range uploads {
		c := login(t, base, "worker-1-1-1", fmt.Sprintf("phone-minio-%04d", i))
		u := &inFlight{c: c, photo: photoOf(t, 400<<10, 100+i)}
		c.hazard(t, fmt.Sprintf("hz-minio-%d", i), sha(u.photo))
		u.loc = c.create(t, u.photo, sha(u.photo))
		if resp, body := c.patch(t, u.loc, 0, u.photo[:len(u.photo)/2]); resp.StatusCode != 204 {
			t.Fatalf("first half: %d %s", resp.StatusCode, body)
		}
		uploads[i] = u
	}
	if status, checks := readyz(t, base); status != 200 || checks["blobs"] != "ok" {
		t.Fatalf("readyz before the outage: %d %v", status, checks)
	}

	ms.Stop()

	if status, checks := readyz(t, base); status != 503 || !strings.HasPrefix(checks["blobs"], "down") || checks["database"] != "ok" {
		t.Fatalf("readyz during the outage: %d %v", status, checks)
	}
	// The uploads finish their bytes: each gets a retryable 503.
	var wg sync.WaitGroup
	for _, u := range uploads {
		wg.Go(func() {
			half := len(u.photo) / 2
			resp, body, err := u.c.tryTus("PATCH", u.loc, u.photo[half:], "Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(half))
			if err != nil {
				t.Error(err)
				return
			}
			var e apiErr
			json.Unmarshal(body, &e)
			if resp.StatusCode != 503 || e.Code != "unavailable" || e.Details["received"] != true {
				t.Errorf("last chunk during the outage: %d %s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	// Record sync keeps working meanwhile.
	w := uploads[0].c
	w.seq++
	w.push(t, syncproto.Op{Device: w.device, Seq: w.seq, HLC: w.clock.Now(), Collection: "sites", Doc: "site-during-outage",
		Set: map[string]json.RawMessage{"grid": json.RawMessage(`"330399101201G01"`), "name": json.RawMessage(`"停电期间登记的场所"`),
			"kind": json.RawMessage(`"household"`)}})
	// A device retrying learns the photo is not stored yet.
	if resp, _ := uploads[0].c.tus(t, "HEAD", uploads[0].loc, nil); resp.StatusCode != 503 {
		t.Fatalf("HEAD during the outage: %d", resp.StatusCode)
	}
	var missing struct {
		Photos []struct {
			SHA256   string `json:"sha256"`
			Received bool   `json:"received"`
		} `json:"photos"`
	}
	station.getJSON(t, "GET", "/v1/photos/missing?scope=area", nil, &missing)
	if len(missing.Photos) != n {
		t.Fatalf("missing during the outage: %+v", missing.Photos)
	}
	for _, m := range missing.Photos {
		if !m.Received {
			t.Errorf("%s not marked received", m.SHA256)
		}
	}

	ms.Restart(t)

	// The devices retry (HEAD) until the server says the upload is done.
	deadline := time.Now().Add(60 * time.Second)
	for _, u := range uploads {
		for {
			resp, _, err := u.c.tryTus("HEAD", u.loc, nil)
			if err == nil && resp.StatusCode == 200 && resp.Header.Get("Upload-Offset") == strconv.Itoa(len(u.photo)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload %s not stored after MinIO came back: %v %v", u.loc, resp, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if status, checks := readyz(t, base); status != 200 {
		t.Fatalf("readyz after the outage: %d %v", status, checks)
	}
	station.getJSON(t, "GET", "/v1/photos/missing?scope=area", nil, &missing)
	if len(missing.Photos) != 0 {
		t.Fatalf("missing after the outage: %+v", missing.Photos)
	}
	if objs := bucketObjects(t, ms.Config()); len(objs) != n {
		t.Fatalf("bucket holds %d photos, want %d", len(objs), n)
	}
	for _, u := range uploads {
		if resp, got := station.download(t, sha(u.photo)); resp.StatusCode != 200 || !bytes.Equal(got, u.photo) {
			t.Fatalf("download %s: %d, %d of %d bytes", sha(u.photo), resp.StatusCode, len(got), len(u.photo))
		}
	}
}

// The same bytes uploaded twice through MinIO are one object.
func TestDuplicateUploadMinIO(t *testing.T) {
	srv, ms := startWithMinIO(t)
	photo := photoOf(t, 100<<10, 7)
	for i := range 2 {
		c := login(t, srv.URL(), "worker-1-1-1", fmt.Sprintf("phone-dup-%04d", i))
		if resp, body := c.upload(t, photo); resp.StatusCode != 204 {
			t.Fatalf("upload %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if objs := bucketObjects(t, ms.Config()); len(objs) != 1 || !objs[sha(photo)] {
		t.Fatalf("bucket holds %v, want the one photo", objs)
	}
}

// A PATCH that completes a photo streams into MinIO on its way, with the
// declared hash as the PUT's signed payload hash: MinIO itself refuses
// bytes with another hash, so a forged photo leaves the bucket empty and
// the device gets 422; the true photo is stored.
func TestStreamedUploadMinIO(t *testing.T) {
	srv, ms := startWithMinIO(t)
	c := login(t, srv.URL(), "worker-1-1-1", "phone-streamed-minio")
	photo := photoOf(t, 1<<20, 41)
	forged := bytes.Clone(photo)
	forged[len(forged)-100] ^= 1

	loc := c.create(t, photo, sha(photo))
	resp, body := c.patch(t, loc, 0, forged)
	var e apiErr
	json.Unmarshal(body, &e)
	if resp.StatusCode != 422 || e.Code != "hash_mismatch" {
		t.Fatalf("forged photo: %d %s", resp.StatusCode, body)
	}
	if objs := bucketObjects(t, ms.Config()); len(objs) != 0 {
		t.Fatalf("bucket holds %v after a forged photo, want nothing", objs)
	}

	loc = c.create(t, photo, sha(photo))
	if resp, body := c.patch(t, loc, 0, photo); resp.StatusCode != 204 {
		t.Fatalf("photo: %d %s", resp.StatusCode, body)
	}
	if objs := bucketObjects(t, ms.Config()); len(objs) != 1 || !objs[sha(photo)] {
		t.Fatalf("bucket holds %v, want the one photo", objs)
	}
}

// stallProxy stands between the server and MinIO. It forwards every
// connection, but holds each PUT of a photo once part of its body has gone
// through, until released: those Puts are then certainly in flight.
type stallProxy struct {
	ln      net.Listener
	target  string
	marker  []byte // the start of a photo PUT's request line
	stalled atomic.Int64
	release chan struct{}
	passing atomic.Bool // after release: no more stalls
}

// stallAfter is how many body bytes of a PUT pass before it is held.
const stallAfter = 256 << 10

func startStallProxy(t *testing.T, target, bucket string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, marker: []byte("PUT /" + bucket + "/sha256/"), release: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		p.open()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

// open lets held connections go on and stops holding new ones.
func (p *stallProxy) open() {
	if p.passing.CompareAndSwap(false, true) {
		close(p.release)
	}
}

func (p *stallProxy) forward(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		io.Copy(client, server)
		client.Close()
	}()
	buf := make([]byte, 32<<10)
	var tail []byte
	after := int64(-1) // body bytes seen after a PUT's request line
	held := false
	for {
		n, err := client.Read(buf)
		chunk := buf[:n]
		if after < 0 && !p.passing.Load() {
			hay := append(tail, chunk...)
			if i := bytes.Index(hay, p.marker); i >= 0 {
				after = int64(len(hay) - i)
			}
			tail = append([]byte{}, hay[max(0, len(hay)-len(p.marker)):]...)
		} else if after >= 0 {
			after += int64(n)
		}
		if n > 0 {
			if _, werr := server.Write(chunk); werr != nil {
				return
			}
		}
		if after >= stallAfter && !held && !p.passing.Load() {
			held = true
			p.stalled.Add(1)
			<-p.release
		}
		if err != nil {
			return
		}
	}
}

// MinIO is killed (SIGKILL) while several devices' final PATCHes wait on
// Puts that are certainly in flight (held mid-body by a proxy). Every
// device gets a retryable 503 with its bytes kept; record sync goes on;
// after MinIO restarts the background loop stores everything without the
// devices: each referenced photo is in the bucket with bytes that hash to
// its name, nothing is missing, and nothing else is in the bucket.
func TestMinIOKilledDuringPuts(t *testing.T) {
	ms := miniotest.StartServer(t)
	cfg := ms.Config()
	proxy := startStallProxy(t, cfg.Endpoint, cfg.Bucket)
	viaProxy := cfg
	viaProxy.Endpoint = proxy.ln.Addr().String()
	srv := startOn(t, viaProxy)
	base := srv.URL()
	station := login(t, base, "station-1", "phone-kill-station")

	const devices = 4
	type inFlight struct {
		c     *client
		photo []byte
		loc   string
	}
	uploads := make([]*inFlight, devices)
	for i := range uploads {
		c := login(t, base, "worker-1-1-1", fmt.Sprintf("phone-kill-%04d", i))
		u := &inFlight{c: c, photo: photoOf(t, 2<<20, 200+i)}
		c.hazard(t, fmt.Sprintf("hz-kill-%d", i), sha(u.photo))
		u.loc = c.create(t, u.photo, sha(u.photo))
		if resp, body := c.patch(t, u.loc, 0, u.photo[:len(u.photo)/4]); resp.StatusCode != 204 {
			t.Fatalf("first quarter: %d %s", resp.StatusCode, body)
		}
		uploads[i] = u
	}

	// Every device sends the rest of its photo at once.
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answers := make(chan answer, devices)
	for _, u := range uploads {
		go func() {
			q := len(u.photo) / 4
			resp, body, err := u.c.tryTus("PATCH", u.loc, u.photo[q:], "Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(q))
			if err != nil {
				answers <- answer{err: err}
				return
			}
			answers <- answer{status: resp.StatusCode, body: body}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for proxy.stalled.Load() < devices {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d Puts reached MinIO", proxy.stalled.Load(), devices)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ms.Kill()
	proxy.open()

	for range devices {
		a := <-answers
		if a.err != nil {
			t.Fatalf("final PATCH: %v", a.err)
		}
		var e apiErr
		json.Unmarshal(a.body, &e)
		if a.status != 503 || e.Code != "unavailable" || e.Details["received"] != true {
			t.Errorf("final PATCH while MinIO was killed: %d %s", a.status, a.body)
		}
	}
	// Record sync goes on during the outage.
	w := uploads[0].c
	w.hazard(t, "hz-kill-during", sha(uploads[1].photo))

	ms.Restart(t)

	deadline = time.Now().Add(90 * time.Second)
	for {
		var missing struct {
			Photos []json.RawMessage `json:"photos"`
		}
		station.getJSON(t, "GET", "/v1/photos/missing?scope=area", nil, &missing)
		if len(missing.Photos) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still missing after MinIO came back: %s", missing.Photos)
		}
		time.Sleep(250 * time.Millisecond)
	}
	objects := bucketObjects(t, cfg)
	for _, u := range uploads {
		if !objects[sha(u.photo)] {
			t.Errorf("photo %s is not in the bucket", sha(u.photo))
		}
		resp, body := u.c.tus(t, "HEAD", u.loc, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(u.photo)) {
			t.Errorf("HEAD %s: %d %v %s", u.loc, resp.StatusCode, resp.Header, body)
		}
	}
	if len(objects) != devices {
		t.Fatalf("bucket holds %d photos, want %d", len(objects), devices)
	}
}
