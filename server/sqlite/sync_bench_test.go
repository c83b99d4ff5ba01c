package sqlite_test

import (
	"fmt"
	"testing"

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
