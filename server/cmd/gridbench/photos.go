package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gridsync/gridsync/server/minio"
)

// photoResult is what photoBench measures, in one run.
type photoResult struct {
	Photos     int     // photos sent each way
	PhotoBytes int     // size of each photo
	Devices    int     // concurrent devices (and concurrent direct PUTs)
	ServerMBps float64 // through the server: tus POST + PATCH, hash verified, stored in MinIO, recorded
	DirectMBps float64 // minio-go PutObject straight into the same MinIO
	Ratio      float64 // ServerMBps / DirectMBps
}

// photoBench measures photo upload throughput through the server at base,
// which must use the MinIO at mc as its blob store: devices concurrent
// devices (grid workers of the demo county) each upload perDevice distinct
// JPEGs of about photoSize bytes with tus (POST, then one PATCH). Then the
// same photos go straight into mc's bucket with minio-go PutObject, at the
// same concurrency, under other keys. Both figures come from the same run
// on the same MinIO, so their ratio is the server's overhead (HTTP, fsync
// of the partial file, SHA-256 of the whole photo, SQLite, then the same
// PUT).
func photoBench(base string, mc minio.Config, devices, perDevice, photoSize int) (photoResult, error) {
	res := photoResult{Photos: devices * perDevice, Devices: devices}
	photos, err := benchPhotos(res.Photos, photoSize)
	if err != nil {
		return res, err
	}
	res.PhotoBytes = len(photos[0])
	total := float64(res.Photos * res.PhotoBytes)

	devs := make([]*device, devices)
	for i := range devs {
		devs[i] = login(base, workerOf(grids[i%len(grids)]), fmt.Sprintf("bench-photo-%04d", i))
	}
	start := time.Now()
	if err := fanOut(devices, func(d int) error {
		for k := range perDevice {
			if err := tusUpload(devs[d], photos[d*perDevice+k]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return res, err
	}
	res.ServerMBps = total / time.Since(start).Seconds() / 1e6

	client, err := miniogo.New(mc.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(mc.AccessKey, mc.SecretKey, ""),
		Secure: mc.UseTLS, Region: mc.Region})
	if err != nil {
		return res, err
	}
	start = time.Now()
	if err := fanOut(devices, func(d int) error {
		for k := range perDevice {
			p := photos[d*perDevice+k]
			if _, err := client.PutObject(context.Background(), mc.Bucket, "bench-direct/"+hashHex(p), bytes.NewReader(p), int64(len(p)),
				miniogo.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
				return fmt.Errorf("direct put: %w", err)
			}
		}
		return nil
	}); err != nil {
		return res, err
	}
	res.DirectMBps = total / time.Since(start).Seconds() / 1e6
	res.Ratio = res.ServerMBps / res.DirectMBps
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

// tusUpload sends one photo as a stock tus client does: POST, then PATCH.
func tusUpload(d *device, photo []byte) error {
	req, _ := http.NewRequest("POST", d.base+"/v1/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(photo)))
	req.Header.Set("Upload-Metadata", "sha256 "+base64.StdEncoding.EncodeToString([]byte(hashHex(photo))))
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("tus POST: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("PATCH", d.base+resp.Header.Get("Location"), bytes.NewReader(photo))
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
