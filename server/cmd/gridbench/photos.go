package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gridsync/gridsync/internal/miniotest"
	"github.com/gridsync/gridsync/server/app"
	"github.com/gridsync/gridsync/server/minio"
	"github.com/gridsync/gridsync/server/thumb"
)

// photoBenchNotes explains the figures; updated by hand when the analysis
// changes.
const photoBenchNotes = `The server forwards each photo to MinIO while it arrives (docs/PROTOCOL-photos.md, section 2): the bytes pass through
once, held in memory on their way, and are not written to the server's disk. Its PUT is signed with the photo's SHA-256,
which MinIO checks, so neither the server nor minio-go hashes the photo. minio-go's default PutObject over plain HTTP signs
every chunk of the body with a SHA-256 of its own, which costs its client one hash of the photo: that is why the server's PUT
made directly is faster than PutObject. What the server adds per photo: two HTTP requests from a client in the same process
(POST, PATCH), the bearer token checked on each (Ed25519, two SQLite reads), the type sniffed, EXIF parsed, and two SQLite
commits with synchronous=FULL (the creation; then the photo and the upload, together). A CPU profile of the server phase showed
what this replaced: the store-and-forward path wrote each photo to DATA/uploads and removed it (a quarter of the process's
CPU), hashed it, and minio-go hashed it again to sign it (a fifth); fresh memory for each held photo cost page faults (a fifth;
the buffers are now reused); thumbnails were made between a device's uploads (now only after a second without one). Client,
server and MinIO share 2 cores; MinIO's own CPU is the largest share of every phase and scatters from run to run, so only the
medians mean much.`

// Flags of the photo scenario (-photos), which runs on its own: it needs a
// MinIO server (GRIDSYNC_MINIO_BIN, as `make bench` sets it) and writes its
// own report, docs/BENCHMARKS-photos.md.
var (
	photosMode     = flag.Bool("photos", false, "measure photo uploads through the server against direct minio-go PutObject into the same MinIO (started from GRIDSYNC_MINIO_BIN), write -photos-out and exit")
	photosOut      = flag.String("photos-out", "docs/BENCHMARKS-photos.md", "report file of -photos")
	photoDevices   = flag.Int("photo-devices", 8, "concurrent devices of -photos")
	photoPerDevice = flag.Int("photo-per-device", 4, "photos each device uploads per run of -photos")
	photoSize      = flag.Int("photo-size", 2<<20, "approximate photo size in bytes of -photos")
	photoRuns      = flag.Int("photo-runs", 7, "runs of -photos; the report quotes medians")
)

// runPhotos starts MinIO and the real server using it as its blob store,
// runs photoBench several times and writes the report.
func runPhotos() error {
	if *quick {
		*photoDevices, *photoPerDevice, *photoRuns = 4, 2, 1
	}
	dir, err := os.MkdirTemp("", "gridbench-photos-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ms, err := miniotest.Launch(filepath.Join(dir, "minio"))
	if err != nil {
		return err
	}
	defer ms.Stop()
	mc := ms.Config()
	m := app.NewMain()
	m.Stdout = io.Discard
	if err := m.ParseFlags([]string{"serve", "-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "srv"), "-demo", "-log-level", "error",
		"-blob", "minio", "-minio-endpoint", mc.Endpoint, "-minio-bucket", mc.Bucket, "-minio-access-key", mc.AccessKey,
		"-minio-secret-key", mc.SecretKey}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		m.Close()
	}()
	for m.Addr() == "" {
		select {
		case err := <-done:
			return fmt.Errorf("server: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	base := "http://" + m.Addr()

	// A warm-up run (not reported): MinIO's first writes and the
	// server's first connections are slower than the rest.
	settle := func() error { return waitThumbnails(filepath.Join(dir, "srv", "gridsync.db")) }
	if _, err := photoBench(base, mc, *photoDevices, 1, *photoSize, -1, settle); err != nil {
		return err
	}
	var results []photoResult
	for run := range *photoRuns {
		res, err := photoBench(base, mc, *photoDevices, *photoPerDevice, *photoSize, run, settle)
		if err != nil {
			return err
		}
		fmt.Printf("photos run %d: server %.1f MB/s, direct %.1f MB/s (ratio %.2f), direct with the server's PUT %.1f MB/s (ratio %.2f)\n",
			run+1, res.ServerMBps, res.DirectMBps, res.Ratio, res.SignedMBps, res.SignedRatio)
		results = append(results, res)
	}
	tc, err := thumbCost(*photoSize, 9)
	if err != nil {
		return err
	}
	return writePhotoReport(*photosOut, results, tc)
}

// waitThumbnails waits until the server has made every pending thumbnail.
func waitThumbnails(dbPath string) error {
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM photos WHERE thumb = 0`).Scan(&n); err != nil {
			return fmt.Errorf("pending thumbnails: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d thumbnails still pending", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// thumbCost is the CPU time of one thumbnail of a bench photo (thumb.Make,
// single-threaded), the median of n.
func thumbCost(photoSize, n int) (time.Duration, error) {
	photos, err := benchPhotos(n, photoSize)
	if err != nil {
		return 0, err
	}
	var ds []float64
	for _, p := range photos {
		start := time.Now()
		if _, err := thumb.Make(bytes.NewReader(p), 1); err != nil {
			return 0, err
		}
		ds = append(ds, float64(time.Since(start)))
	}
	return time.Duration(median(ds)), nil
}

// writePhotoReport writes the medians of the runs and each run's figures.
func writePhotoReport(path string, results []photoResult, thumbTime time.Duration) error {
	var server, direct, signed, ratio, signedRatio []float64
	var runs []string
	for _, r := range results {
		server, direct, signed = append(server, r.ServerMBps), append(direct, r.DirectMBps), append(signed, r.SignedMBps)
		ratio, signedRatio = append(ratio, r.Ratio), append(signedRatio, r.SignedRatio)
		runs = append(runs, fmt.Sprintf("| %.1f | %.1f | %.1f | %.2f | %.2f |", r.ServerMBps, r.DirectMBps, r.SignedMBps, r.Ratio, r.SignedRatio))
	}
	r := results[0]
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks: photo uploads\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`go run ./server/cmd/gridbench -photos`) on %s: %s/%s, %d cores, %s. "+
		"The real server (package app) uses a real MinIO (`GRIDSYNC_MINIO_BIN`, one drive, on the same machine) as its blob store; "+
		"client, server and MinIO share the machine over loopback.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&b, "## Photo uploads\n\n")
	fmt.Fprintf(&b, "Each run: %d devices (grid workers of the demo county) concurrently upload %d distinct JPEGs of %d bytes each with tus "+
		"as a stock tus client does (POST, then the whole photo in one PATCH; the reply comes once the photo is verified, stored in MinIO "+
		"and recorded). The same %d photos also go straight into the same bucket, %d at a time, in two ways: minio-go `PutObject` "+
		"with its defaults (the issue's baseline), and minio-go's `Core.PutObject` signed with the photo's SHA-256, which is the "+
		"PUT the server makes. Each run starts with another of the three phases. The photos' hashes are computed before "+
		"any phase (a device hashes a photo when it is attached). Throughput is photo bytes per second of wall time. One warm-up "+
		"run is not reported.\n\n",
		r.Devices, r.Photos, r.PhotoBytes, r.Photos, r.Devices)
	fmt.Fprintf(&b, "| path | MB/s (median of %d runs) |\n|---|---|\n", len(results))
	fmt.Fprintf(&b, "| through the server (tus, verified, stored, recorded) | %.1f |\n", median(server))
	fmt.Fprintf(&b, "| direct minio-go `PutObject` | %.1f |\n", median(direct))
	fmt.Fprintf(&b, "| direct, the server's PUT (signed with the photo's SHA-256) | %.1f |\n\n", median(signed))
	fmt.Fprintf(&b, "Ratio server / direct `PutObject`: **%.2f** (median of the per-run ratios). Target: ≥ 0.8.\n\n", median(ratio))
	fmt.Fprintf(&b, "Ratio server / the same PUT made directly: **%.2f**: what the server itself costs.\n\n", median(signedRatio))
	fmt.Fprintf(&b, "| run: server MB/s | direct | direct, server's PUT | ratio | ratio to the same PUT |\n|---|---|---|---|---|\n%s\n\n",
		strings.Join(runs, "\n"))
	fmt.Fprintf(&b, "%s\n\n", photoBenchNotes)
	fmt.Fprintf(&b, "Thumbnails are not in the figure: the server makes them once no upload has been written for a second, and each run "+
		"waits for them before the next phase. One thumbnail of a bench photo costs **%v** of CPU (median of 9, `thumb.Make`), more "+
		"than the server's whole upload path for that photo.\n",
		thumbTime.Round(time.Millisecond))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", path)
	return nil
}

// photoResult is what photoBench measures, in one run.
type photoResult struct {
	Photos     int     // photos sent each way
	PhotoBytes int     // size of each photo
	Devices    int     // concurrent devices (and concurrent direct PUTs)
	ServerMBps float64 // through the server: tus POST + PATCH, hash verified, stored in MinIO, recorded
	DirectMBps float64 // minio-go PutObject straight into the same MinIO
	Ratio      float64 // ServerMBps / DirectMBps
	// SignedMBps: straight into the same MinIO with the PUT the server
	// makes (signed with the photo's SHA-256, which MinIO checks).
	SignedMBps  float64
	SignedRatio float64 // ServerMBps / SignedMBps
}

// photoBench measures photo upload throughput through the server at base,
// which must use the MinIO at mc as its blob store: devices concurrent
// devices (grid workers of the demo county) each upload perDevice distinct
// JPEGs of about photoSize bytes with tus (POST, then one PATCH). The same
// photos also go straight into mc's bucket, at the same concurrency, under
// other keys: with minio-go PutObject, and with the PUT the server makes.
// All figures come from the same run on the same MinIO; the ratio to the
// server's own PUT is what the server adds (HTTP, authentication, SQLite).
// A negative run is a warm-up: the phases are not rotated.
func photoBench(base string, mc minio.Config, devices, perDevice, photoSize, run int, settle func() error) (photoResult, error) {
	res := photoResult{Photos: devices * perDevice, Devices: devices}
	photos, err := benchPhotos(res.Photos, photoSize)
	if err != nil {
		return res, err
	}
	res.PhotoBytes = len(photos[0])
	total := float64(res.Photos * res.PhotoBytes)
	// A device hashes a photo when it is attached, long before it is
	// uploaded: no path is timed with it.
	sums := make([]string, len(photos))
	for i, p := range photos {
		sums[i] = hashHex(p)
	}

	devs := make([]*device, devices)
	for i := range devs {
		if devs[i], err = photoLogin(base, photoWorkers[i%len(photoWorkers)], fmt.Sprintf("bench-photo-%02d-%04d", run, i)); err != nil {
			return res, err
		}
	}
	client, err := miniogo.New(mc.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(mc.AccessKey, mc.SecretKey, ""),
		Secure: mc.UseTLS, Region: mc.Region})
	if err != nil {
		return res, err
	}
	throughServer := func() error {
		start := time.Now()
		err := fanOut(devices, func(d int) error {
			for k := range perDevice {
				if err := devs[d].tusUpload(photos[d*perDevice+k], sums[d*perDevice+k]); err != nil {
					return err
				}
			}
			return nil
		})
		res.ServerMBps = total / time.Since(start).Seconds() / 1e6
		if err != nil {
			return err
		}
		// The server makes thumbnails once no upload is being written;
		// that work must not run during the direct phase.
		return settle()
	}
	// put times the photos going straight into the bucket under prefix.
	put := func(mbps *float64, prefix string, put func(p []byte, sum, key string) error) func() error {
		return func() error {
			start := time.Now()
			err := fanOut(devices, func(d int) error {
				for k := range perDevice {
					i := d*perDevice + k
					if err := put(photos[i], sums[i], prefix+sums[i]); err != nil {
						return fmt.Errorf("%sput: %w", prefix, err)
					}
				}
				return nil
			})
			*mbps = total / time.Since(start).Seconds() / 1e6
			return err
		}
	}
	direct := put(&res.DirectMBps, "bench-direct/", func(p []byte, _, key string) error {
		_, err := client.PutObject(context.Background(), mc.Bucket, key, bytes.NewReader(p), int64(len(p)),
			miniogo.PutObjectOptions{ContentType: "image/jpeg"})
		return err
	})
	// The server's PUT (server/minio): the photo's SHA-256 is the signed
	// payload hash, so minio-go does not hash the body and MinIO checks it.
	signed := put(&res.SignedMBps, "bench-signed/", func(p []byte, sum, key string) error {
		_, err := miniogo.Core{Client: client}.PutObject(context.Background(), mc.Bucket, key, bytes.NewReader(p), int64(len(p)), "", sum,
			miniogo.PutObjectOptions{ContentType: "image/jpeg", DisableContentSha256: true})
		return err
	})
	// Each run starts with another phase, so a drift of the machine's
	// load over a run does not favour one path.
	phases := []func() error{throughServer, direct, signed}
	if run >= 0 {
		k := run % len(phases)
		phases = append(phases[k:], phases[:k]...)
	}
	for _, phase := range phases {
		// Each phase starts without garbage of the one before (the
		// photos were just encoded) for the collector to chase while it
		// is timed.
		runtime.GC()
		if err := phase(); err != nil {
			return res, err
		}
	}
	res.Ratio = res.ServerMBps / res.DirectMBps
	res.SignedRatio = res.ServerMBps / res.SignedMBps
	return res, nil
}

// fanOut runs f(0..n-1) concurrently and returns the first error.
func fanOut(n int, f func(int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := f(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// benchPhotos encodes one noisy JPEG of about size bytes (noise does not
// compress, like the detail of a real photo) and makes n distinct photos
// of it with a comment segment after SOI.
func benchPhotos(n, size int) ([][]byte, error) {
	px := size * 100 / 68 // about 0.68 bytes per pixel at quality 80
	w := 4 * px / 3
	for w*w*3/4 > px {
		w = w * 9 / 10
	}
	img := image.NewRGBA(image.Rect(0, 0, w, px/w))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = uint8(x)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	base := buf.Bytes()
	out := make([][]byte, n)
	for i := range out {
		com := fmt.Appendf(nil, "gridbench photo %d %d", i, time.Now().UnixNano())
		seg := binary.BigEndian.AppendUint16([]byte{0xFF, 0xFE}, uint16(len(com)+2))
		p := append(append(append([]byte{}, base[:2]...), seg...), com...)
		out[i] = append(p, base[2:]...)
	}
	return out, nil
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// photoWorkers are the demo county's grid workers that upload.
var photoWorkers = []string{"worker-1-1-1", "worker-1-1-2", "worker-1-1-3", "worker-1-2-1", "worker-1-2-2", "worker-1-3-1", "worker-1-3-2", "worker-2-1-1"}

// photoLogin logs a device in like login does, but returns the error: the
// photo scenario also runs inside a test.
func photoLogin(base, user, deviceID string) (*device, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": "demo-password", "device_id": deviceID})
	resp, err := httpClient.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.AccessToken == "" {
		return nil, fmt.Errorf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return &device{base: base, id: deviceID, token: s.AccessToken, client: httpClient}, nil
}

// tusUpload sends one photo as a stock tus client does: POST, then PATCH
// to the Location (absolute, or resolved against the endpoint).
func (d *device) tusUpload(photo []byte, sum string) error {
	req, _ := http.NewRequest("POST", d.base+"/v1/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(photo)))
	req.Header.Set("Upload-Metadata", "sha256 "+base64.StdEncoding.EncodeToString([]byte(sum)))
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("tus POST: %d", resp.StatusCode)
	}
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("tus Location: %w", err)
	}
	req, _ = http.NewRequest("PATCH", loc.String(), bytes.NewReader(photo))
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	resp, err = d.client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("tus PATCH: %d %s", resp.StatusCode, body)
	}
	return nil
}
