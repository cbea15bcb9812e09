package replicator_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// BenchmarkCell_Put measures the commit path without HTTP: 64 concurrent
// writers of 1 KiB values on the leader of a 3-site cell (sealing, group
// commit, Raft over QUIC, Pebble fsync on every site). "direct" is the
// baseline without fault-link relays; the "links" cases go through them,
// with an added one-way delay.
func BenchmarkCell_Put(b *testing.B) {
	for _, tc := range []struct {
		name   string
		direct bool
		delay  time.Duration
	}{{"direct", true, 0}, {"links/delay=0", false, 0}, {"links/delay=1ms", false, time.Millisecond}} {
		b.Run(tc.name, func(b *testing.B) {
			c := cluster.New(b, cluster.Options{Direct: tc.direct})
			if tc.delay > 0 {
				c.SetLinks(faultlink.Params{Delay: tc.delay})
			}
			cell := c.Node(c.WaitLeader("")).Cell()
			value := make([]byte, 1024)
			var seq atomic.Int64
			b.SetBytes(int64(len(value)))
			// RunParallel starts SetParallelism x GOMAXPROCS goroutines: 64 writers on 2 cores.
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := cell.Put(ctx, "bench", fmt.Sprintf("k%d", seq.Add(1)), value, replicator.DurabilityCell)
					cancel()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
