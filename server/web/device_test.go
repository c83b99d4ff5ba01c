package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// testDevice is a phone talking raw HTTP with the syncproto types.
type testDevice struct {
	tb     testing.TB
	url    string
	id     string
	token  string
	seq    uint64
	cursor string
	outbox syncproto.OutboxReport
	// skew is how far the phone's clock is off (its DeviceTime and op
	// stamps), like a village phone that was never set right.
	skew time.Duration
}

func loginDevice(tb testing.TB, url, username, deviceID string) *testDevice {
	tb.Helper()
	d := &testDevice{tb: tb, url: url, id: deviceID}
	var sess struct {
		AccessToken string `json:"access_token"`
	}
	d.call("POST", "/v1/auth/login", map[string]string{"username": username, "password": "demo-password", "device_id": deviceID}, &sess)
	d.token = sess.AccessToken
	return d
}

func (d *testDevice) call(method, path string, in, out any) {
	d.tb.Helper()
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, d.url+path, &body)
	req.Header.Set("Content-Type", "application/json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e map[string]any
		json.NewDecoder(resp.Body).Decode(&e)
		d.tb.Fatalf("%s %s: status %d %v", method, path, resp.StatusCode, e)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		d.tb.Fatal(err)
	}
}

// op is an operation as the test writes it; push fills device, seq, HLC.
type op struct {
	Collection, Doc string
	Set             map[string]any
	Base            map[string]syncproto.Stamp
	Add             []string // photos of the finding (hazards.photos)
	Evidence        []string // photos of the rectification (hazards.evidence)
	Flow            string
	Round           uint32
	At              time.Time // device time; zero = now on the phone's clock
}

// push sends ops and fails the test unless all are accepted; it returns
// the stamps of the ops.
func (d *testDevice) push(ops ...op) []syncproto.Stamp {
	d.tb.Helper()
	stamps, verdicts := d.pushVerdicts(ops...)
	for i, v := range verdicts {
		if v.Status != syncproto.StatusAccepted {
			d.tb.Fatalf("op %d (%s/%s) rejected: %s %s", i, ops[i].Collection, ops[i].Doc, v.Code, v.Reason)
		}
	}
	return stamps
}

// pushVerdicts sends ops and returns their stamps and verdicts.
func (d *testDevice) pushVerdicts(ops ...op) ([]syncproto.Stamp, []syncproto.Verdict) {
	d.tb.Helper()
	req := syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: d.id, DeviceTime: time.Now().Add(d.skew).UnixMilli(), Outbox: d.outbox}
	var stamps []syncproto.Stamp
	for i, o := range ops {
		d.seq++
		at := o.At
		if at.IsZero() {
			at = time.Now().Add(d.skew)
		}
		sop := syncproto.Op{Device: d.id, Seq: d.seq, HLC: syncproto.HLC{Wall: at.UnixMilli(), Logical: uint16(i)},
			Collection: o.Collection, Doc: o.Doc, Base: o.Base}
		if len(o.Set) > 0 {
			sop.Set = map[string]json.RawMessage{}
			for k, v := range o.Set {
				b, _ := json.Marshal(v)
				sop.Set[k] = b
			}
		}
		if len(o.Add) > 0 || len(o.Evidence) > 0 {
			sop.Add = map[string][]string{}
		}
		if len(o.Add) > 0 {
			sop.Add["photos"] = o.Add
		}
		if len(o.Evidence) > 0 {
			sop.Add["evidence"] = o.Evidence
		}
		if o.Flow != "" {
			sop.Flow = map[string]syncproto.FlowStep{"status": {To: o.Flow, Round: max(o.Round, 1)}}
		}
		stamps = append(stamps, sop.Stamp())
		req.Ops = append(req.Ops, sop)
	}
	var resp syncproto.PushResponse
	d.call("POST", "/v1/sync/push", req, &resp)
	return stamps, resp.Verdicts
}

// pullAll pulls every change since the device's cursor and returns them.
func (d *testDevice) pullAll() []syncproto.Change {
	d.tb.Helper()
	var all []syncproto.Change
	for {
		var resp syncproto.PullResponse
		d.call("GET", "/v1/sync/pull?cursor="+d.cursor, nil, &resp)
		all = append(all, resp.Changes...)
		d.cursor = resp.Cursor
		if !resp.HasMore {
			return all
		}
	}
}

// newHazard is the op a grid worker's phone makes when a check fails.
func newHazard(id, site, title, severity string, photos ...string) op {
	return op{Collection: "hazards", Doc: id, Set: map[string]any{"site": site, "title": title, "severity": severity,
		"description": "入户检查发现：" + title + "。已当场告知户主，要求限期整改。"}, Add: photos, Flow: syncproto.StageReported}
}

// testPhoto makes a small PNG, different for each seed, and its sha256
// content address.
func testPhoto(seed int, label string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			c := color.RGBA{uint8(60 + seed*40), uint8(x * 255 / 320), uint8(y * 255 / 240), 255}
			if (x/40+y/40)%2 == 0 {
				c.R /= 2
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	_ = label
	return b.Bytes()
}

func siteID(n int) string { return fmt.Sprintf("0192f000-0000-7000-8000-%012x", n) }

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }
