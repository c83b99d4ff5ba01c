package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server/app/apptest"
	"github.com/gridsync/gridsync/syncproto"
)

// TestKillDuringPushes kills the real server with SIGKILL while devices
// push, restarts it on the same data, and checks what "a push is
// acknowledged only after its transaction is durable" promises: every op a
// device saw accepted is in the log, under the server seq it was
// acknowledged with; re-pushing every op then accepts each exactly once;
// the database and the audit chain verify.
func TestKillDuringPushes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := startOn(t, data)
	base := "http://" + p.addr

	workers := []string{"worker-1-1-1", "worker-1-1-2", "worker-2-1-1", "village-1-1"}
	grids := []string{"330399101201G01", "330399101201G02", "330399102201G01", "330399101201G01"}
	devs := make([]*pushDevice, len(workers))
	for i, u := range workers {
		devs[i] = &pushDevice{id: fmt.Sprintf("kill-test-%02d", i), user: u, grid: grids[i], clock: syncproto.NewClock(time.Now, syncproto.HLC{}), acked: map[uint64]int64{}}
		devs[i].token = apptest.Login(t, base, u, devs[i].id)
	}

	// Push until the server dies under the devices.
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ops := d.next(40)
				resp, err := d.push(base, ops)
				if err != nil {
					return // the server is gone: these ops are unacknowledged
				}
				d.record(resp)
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	wg.Wait()
	acked := 0
	for _, d := range devs {
		acked += len(d.acked)
	}
	if acked == 0 {
		t.Fatal("no push was acknowledged before the kill: the test proves nothing")
	}

	p = startOn(t, data)
	base = "http://" + p.addr
	for _, d := range devs {
		d.token = apptest.Login(t, base, d.user, d.id)
		// Every op the device made, acknowledged or not, pushed again.
		for from := 0; from < len(d.made); from += 200 {
			batch := d.made[from:min(from+200, len(d.made))]
			resp, err := d.push(base, batch)
			if err != nil {
				t.Fatalf("%s: push after restart: %v", d.id, err)
			}
			for _, v := range resp.Verdicts {
				if v.Status != syncproto.StatusAccepted {
					t.Fatalf("%s: op %d after restart: %s %s", d.id, v.Seq, v.Code, v.Reason)
				}
				if want, ok := d.acked[v.Seq]; ok && v.ServerSeq != want {
					t.Fatalf("%s: op %d was acknowledged as server seq %d before the kill, now %d", d.id, v.Seq, want, v.ServerSeq)
				}
			}
			if from+len(batch) == len(d.made) && (resp.AckedSeq != uint64(len(d.made)) || len(resp.Missing) != 0) {
				t.Fatalf("%s: after re-pushing %d ops: acked_seq %d, missing %v", d.id, len(d.made), resp.AckedSeq, resp.Missing)
			}
		}
	}
	// Each op once in the log: a second replay changes nothing.
	for _, d := range devs {
		seen := map[int64]bool{}
		resp, err := d.push(base, d.made[:min(len(d.made), 200)])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range resp.Verdicts {
			if seen[v.ServerSeq] {
				t.Fatalf("%s: two ops share server seq %d", d.id, v.ServerSeq)
			}
			seen[v.ServerSeq] = true
		}
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t)

	out, err := exec.Command(bin, "check", "-data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ops verified") {
		t.Fatalf("check after kill and restart: %v\n%s", err, out)
	}
	t.Logf("%d ops acknowledged before SIGKILL; %s", acked, strings.TrimSpace(string(out)))
}

// pushDevice is a device that only pushes new sites of its grid.
type pushDevice struct {
	id, user, grid, token string
	clock                 *syncproto.Clock
	made                  []syncproto.Op
	acked                 map[uint64]int64 // seq → server seq, as acknowledged
}

func (d *pushDevice) next(n int) []syncproto.Op {
	ops := make([]syncproto.Op, n)
	for i := range ops {
		seq := uint64(len(d.made) + 1)
		ops[i] = syncproto.Op{Device: d.id, Seq: seq, HLC: d.clock.Now(), Collection: "sites", Doc: fmt.Sprintf("%s-%d", d.id, seq),
			Set: map[string]json.RawMessage{"grid": json.RawMessage(`"` + d.grid + `"`), "name": json.RawMessage(`"断电测试户"`), "kind": json.RawMessage(`"household"`)}}
		d.made = append(d.made, ops[i])
	}
	return ops
}

func (d *pushDevice) push(base string, ops []syncproto.Op) (*syncproto.PushResponse, error) {
	body, _ := json.Marshal(syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: d.id, DeviceTime: time.Now().UnixMilli(), Ops: ops})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/sync/push", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("push: %d %s", resp.StatusCode, b)
	}
	var pr syncproto.PushResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, err
	}
	if len(pr.Verdicts) != len(ops) {
		return nil, fmt.Errorf("push: %d verdicts for %d ops", len(pr.Verdicts), len(ops))
	}
	return &pr, nil
}

func (d *pushDevice) record(resp *syncproto.PushResponse) {
	for _, v := range resp.Verdicts {
		if v.Status == syncproto.StatusAccepted {
			d.acked[v.Seq] = v.ServerSeq
		}
	}
}
