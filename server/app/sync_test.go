package app_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func sitePush(device string, n int) []byte {
	now := time.Now().UnixMilli()
	req := syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: device, DeviceTime: now}
	for i := 1; i <= n; i++ {
		req.Ops = append(req.Ops, syncproto.Op{Device: device, Seq: uint64(i), HLC: syncproto.HLC{Wall: now, Logical: uint16(i)},
			Collection: "sites", Doc: fmt.Sprintf("site-%04d", i), Set: map[string]json.RawMessage{
				"grid": json.RawMessage(`"330399101201G01"`), "name": json.RawMessage(`"张家"`), "kind": json.RawMessage(`"household"`)}})
	}
	b, _ := json.Marshal(req)
	return b
}

// rawPost posts body with optional Content-Encoding and asks for gzip.
func rawPost(t *testing.T, url, token string, body []byte, encoding string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept-Encoding", "gzip")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	// A Transport that does not transparently decompress, so the test sees
	// what went over the wire.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(zr)
	}
	return resp, b
}

func TestSyncHTTP(t *testing.T) {
	base := apptest.Start(t).URL()
	tok := apptest.Login(t, base, "worker-1-1-1", "phone-worker-111")

	t.Run("GzipPushAndPull", func(t *testing.T) {
		body := sitePush("phone-worker-111", 40)
		resp, out := rawPost(t, base+"/v1/sync/push", tok, gzipped(t, body), "gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("got %d, encoding %q: %s", resp.StatusCode, resp.Header.Get("Content-Encoding"), out)
		}
		var pr syncproto.PushResponse
		json.Unmarshal(out, &pr)
		if len(pr.Verdicts) != 40 || pr.Verdicts[39].Status != syncproto.StatusAccepted || pr.LastSeq != 40 {
			t.Fatalf("got %+v", pr)
		}
		// The grid's demo sites and the 40 new ones, in pages of 25.
		var pull syncproto.PullResponse
		mine, pages := 0, 0
		for cursor := ""; ; cursor = pull.Cursor {
			if r := call(t, "GET", base+"/v1/sync/pull?limit=25&cursor="+cursor, tok, nil, &pull); r.StatusCode != 200 || len(pull.Changes) > 25 {
				t.Fatalf("got %d with %d changes", r.StatusCode, len(pull.Changes))
			}
			pages++
			for _, ch := range pull.Changes {
				if strings.HasPrefix(ch.Op.Doc, "site-0") {
					mine++
				}
			}
			if !pull.HasMore {
				break
			}
		}
		if mine != 40 || pages < 2 {
			t.Fatalf("pulled %d of the 40 pushed sites in %d pages", mine, pages)
		}
	})
	t.Run("ErrBadGzip", func(t *testing.T) {
		resp, out := rawPost(t, base+"/v1/sync/push", tok, []byte("not gzip at all"), "gzip")
		if resp.StatusCode != 400 || !strings.Contains(string(out), `"code":"invalid"`) {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
	})
	t.Run("ErrZipBomb", func(t *testing.T) {
		// 5 MiB of zeros compresses to a few KiB: refused after
		// decompression passes the push limit.
		bomb := gzipped(t, bytes.Repeat([]byte{' '}, syncproto.MaxPushBytes+1<<20))
		resp, out := rawPost(t, base+"/v1/sync/push", tok, bomb, "gzip")
		if resp.StatusCode != 413 || !strings.Contains(string(out), `"code":"too_large"`) {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
	})
	t.Run("ErrTooManyOps", func(t *testing.T) {
		resp, out := rawPost(t, base+"/v1/sync/push", tok, sitePush("phone-worker-111", syncproto.MaxOpsPerPush+1), "")
		if resp.StatusCode != 413 || !strings.Contains(string(out), `"sync_code":"too_large"`) {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
	})
	t.Run("ErrUnknownMember", func(t *testing.T) {
		resp, out := rawPost(t, base+"/v1/sync/push", tok, []byte(`{"protocol":1,"device":"phone-worker-111","ops":[],"surprise":1}`), "")
		if resp.StatusCode != 400 || !strings.Contains(string(out), `"sync_code":"invalid_op"`) {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
	})
	t.Run("ErrOldProtocol", func(t *testing.T) {
		resp, out := rawPost(t, base+"/v1/sync/push", tok, []byte(`{"protocol":0,"device":"phone-worker-111","ops":[]}`), "")
		if resp.StatusCode != 400 || !strings.Contains(string(out), `"sync_code":"unsupported_protocol"`) {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
	})
	t.Run("ErrOtherDevicesPush", func(t *testing.T) {
		resp, out := rawPost(t, base+"/v1/sync/push", tok, sitePush("phone-someone-else", 1), "")
		if resp.StatusCode != 403 {
			t.Fatalf("got %d %s", resp.StatusCode, out)
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		resp, _ := rawPost(t, base+"/v1/sync/push", "", sitePush("phone-worker-111", 1), "")
		if resp.StatusCode != 401 {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("ErrBadLimit", func(t *testing.T) {
		var e apiError
		resp := call(t, "GET", base+"/v1/sync/pull?limit=-3", tok, nil, &e)
		wantError(t, resp, e, 400, "invalid")
	})
	t.Run("Snapshot", func(t *testing.T) {
		tok2 := apptest.Login(t, base, "station-1", "phone-station-1")
		var snap syncproto.SnapshotResponse
		total := 0
		page := ""
		for {
			call(t, "GET", base+"/v1/sync/snapshot?limit=16&page="+page, tok2, nil, &snap)
			for _, d := range snap.Docs {
				if strings.HasPrefix(d.ID, "site-0") {
					total++
				}
			}
			if !snap.HasMore {
				break
			}
			page = snap.Next
		}
		if total != 40 || snap.Cursor == "" {
			t.Fatalf("snapshot: %d docs, cursor %q", total, snap.Cursor)
		}
	})
}
