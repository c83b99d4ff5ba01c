package web

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// opWriter turns the dashboard's actions into operations of the sync
// protocol and pushes them through SyncService.Push, from the session's
// device (a browser is a device). The device's counter is the one the
// server persists (devices.last_seq): each push numbers its ops from
// last_seq+1 under its device's lock, so two tabs of one browser never
// reuse a counter. The clock is a hybrid logical clock on the server,
// seeded from the server's persisted clock and advanced past every stamp
// the user saw, so a station decision wins over the values it was made on.
type opWriter struct {
	sync  server.SyncService
	dash  server.DashboardService
	now   func() time.Time
	once  sync.Once
	clock *syncproto.Clock
	// locks are striped by device id: a fixed number of mutexes, however
	// many browsers ever logged in; two devices sharing a stripe only wait
	// for each other's push.
	locks [deviceLockStripes]sync.Mutex
}

// deviceLockStripes bounds the device locks.
const deviceLockStripes = 64

func newOpWriter(s server.SyncService, d server.DashboardService, now func() time.Time) *opWriter {
	return &opWriter{sync: s, dash: d, now: now}
}

// deviceLock returns the lock of a device: always the same one for an id.
func (w *opWriter) deviceLock(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &w.locks[h.Sum32()%deviceLockStripes]
}

func (w *opWriter) initClock(ctx context.Context) {
	w.once.Do(func() {
		last, _ := w.dash.ServerClock(ctx) // zero on error: the physical clock still moves it forward
		w.clock = syncproto.NewClock(w.now, last)
	})
}

// draft is an operation before it gets its device, counter and stamp.
type draft struct {
	Collection, Doc string
	Set             map[string]any
	Base            map[string]syncproto.Stamp
	Flow            map[string]syncproto.FlowStep
	// Seen are stamps of values the user acted on: the op is stamped after
	// them.
	Seen []syncproto.HLC
}

// build completes d into an op (seq and HLC filled by push).
func (d *draft) build() (syncproto.Op, error) {
	op := syncproto.Op{Collection: d.Collection, Doc: d.Doc, Base: d.Base, Flow: d.Flow}
	if len(d.Set) > 0 {
		op.Set = map[string]json.RawMessage{}
		for k, v := range d.Set {
			b, err := json.Marshal(v)
			if err != nil {
				return op, fmt.Errorf("encode %s: %w", k, err)
			}
			op.Set[k] = b
		}
	}
	return op, nil
}

// push sends drafts as one or more pushes from the caller's device and
// returns one verdict per draft, in order. A whole-request error (device
// revoked, shutting down) is returned as error.
func (w *opWriter) push(ctx context.Context, drafts []draft) ([]syncproto.Verdict, error) {
	p := server.PrincipalFrom(ctx)
	if p == nil {
		return nil, server.Errorf(server.EUNAUTHORIZED, "not logged in")
	}
	w.initClock(ctx)
	ops := make([]syncproto.Op, 0, len(drafts))
	for i := range drafts {
		op, err := drafts[i].build()
		if err != nil {
			return nil, err
		}
		for _, h := range drafts[i].Seen {
			w.clock.Update(h) // a stamp beyond the drift bound is not followed; the server clamped it anyway
		}
		ops = append(ops, op)
	}
	lock := w.deviceLock(p.DeviceID)
	lock.Lock()
	defer lock.Unlock()
	last, err := w.dash.DeviceLastSeq(ctx, p.DeviceID)
	if err != nil {
		return nil, err
	}
	verdicts := make([]syncproto.Verdict, 0, len(ops))
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), syncproto.MaxOpsPerPush)]
		ops = ops[len(chunk):]
		for i := range chunk {
			last++
			chunk[i].Device, chunk[i].Seq, chunk[i].HLC = p.DeviceID, last, w.clock.Now()
		}
		resp, err := w.sync.Push(ctx, &syncproto.PushRequest{Protocol: syncproto.ProtocolVersion, Device: p.DeviceID,
			DeviceTime: w.now().UnixMilli(), Outbox: syncproto.OutboxReport{AppVersion: "web"}, Ops: chunk})
		if err != nil {
			return nil, err
		}
		w.clock.Update(resp.ServerHLC)
		verdicts = append(verdicts, resp.Verdicts...)
	}
	return verdicts, nil
}

// pushOne pushes one draft and returns its verdict.
func (w *opWriter) pushOne(ctx context.Context, d draft) (syncproto.Verdict, error) {
	v, err := w.push(ctx, []draft{d})
	if err != nil {
		return syncproto.Verdict{}, err
	}
	if len(v) != 1 {
		return syncproto.Verdict{}, fmt.Errorf("push: %d verdicts for 1 op", len(v))
	}
	return v[0], nil
}

// verdictFlash turns a verdict into the message shown to the user.
func verdictFlash(what string, v syncproto.Verdict) *flash {
	if v.Status == syncproto.StatusAccepted {
		return &flash{Kind: "ok", Text: fmt.Sprintf("%s：已接受（服务器序号 %d），网格员手机下次同步即可看到。", what, v.ServerSeq)}
	}
	return &flash{Kind: "error", Text: fmt.Sprintf("%s：被拒绝 —— %s（%s：%s）", what, codeLabel(v.Code), v.Code, v.Reason)}
}

// stampsOf lists every stamp in a document state: the op built on it is
// stamped after all of them.
func stampsOf(s syncproto.DocState) []syncproto.HLC {
	var out []syncproto.HLC
	for _, r := range s.Fields {
		out = append(out, r.Stamp.HLC)
	}
	for _, f := range s.Flows {
		out = append(out, f.Stamp.HLC)
	}
	return out
}

// bases returns the Base of each field an op sets: the stamp of the value
// the user saw, so the server can tell an informed overwrite from a
// concurrent one.
func bases(s syncproto.DocState, fields ...string) map[string]syncproto.Stamp {
	out := map[string]syncproto.Stamp{}
	for _, f := range fields {
		if r, ok := s.Fields[f]; ok {
			out[f] = r.Stamp
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
