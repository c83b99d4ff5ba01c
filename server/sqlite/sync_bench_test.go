package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/gridsync/gridsync/server/sqlite"
	"github.com/gridsync/gridsync/syncproto"
)

// BenchmarkPush measures the apply path without HTTP: 100-op pushes from
// one device, each in its own group.
func BenchmarkPush(b *testing.B) {
	e := mustSyncEnv(b)
	ctx := e.as(b, "worker-1-1-1", "bench-push-0001")
	d := newDevice("bench-push-0001")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ops := make([]syncproto.Op, 100)
		for k := range ops {
			ops[k] = d.op("sites", fmt.Sprintf("b-%d-%d", i, k), site(grid111, "压测"))
		}
		mustPush(b, e.sync, ctx, d.push(ops...))
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPushConcurrent measures the apply path without HTTP with 32
// devices pushing 100-op pushes at once, so that group commit shares each
// transaction (and fsync) among many pushes, as on a busy server.
func BenchmarkPushConcurrent(b *testing.B) {
	e := mustSyncEnv(b)
	const devices = 32
	ctxs := make([]context.Context, devices)
	devs := make([]*device, devices)
	for i := range devices {
		id := fmt.Sprintf("bench-conc-%04d", i)
		ctxs[i], devs[i] = e.as(b, "worker-1-1-1", id), newDevice(id)
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + devices - 1) / devices
	for i := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := devs[i]
			for n := range per {
				ops := make([]syncproto.Op, 100)
				for k := range ops {
					ops[k] = d.op("sites", fmt.Sprintf("%s-%d-%d", d.id, n, k), site(grid111, "压测"))
				}
				mustPush(b, e.sync, ctxs[i], d.push(ops...))
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*devices*100)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPull measures pulls without HTTP but with the JSON encoding the
// HTTP layer does: a station pulls 20,000 changes in pages of 2,000.
func BenchmarkPull(b *testing.B) {
	e := mustSyncEnv(b)
	d := newDevice("bench-pull-0001")
	ctx := e.as(b, "worker-1-1-1", d.id)
	for i := range 200 {
		ops := make([]syncproto.Op, 100)
		for k := range ops {
			ops[k] = d.op("sites", fmt.Sprintf("p-%d-%d", i, k), site(grid111, "压测"))
		}
		mustPush(b, e.sync, ctx, d.push(ops...))
	}
	station := e.as(b, "station-1", "bench-pull-station")
	b.ResetTimer()
	n := 0
	for range b.N {
		cursor := ""
		for {
			resp, err := e.sync.PullPage(station, cursor, sqlite.MaxPullLimit)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(resp); err != nil {
				b.Fatal(err)
			}
			n += len(resp.Changes)
			cursor = resp.Cursor
			if !resp.HasMore {
				break
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}
