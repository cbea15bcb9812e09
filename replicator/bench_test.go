package replicator_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// BenchmarkCell_Put measures the commit path without HTTP: 64 concurrent
// writers of 1 KiB values on the leader of a 3-site cell (sealing, Raft
// over QUIC through fault links, Pebble fsync on every site). The "delay"
// cases add a one-way delay to every site-to-site link.
func BenchmarkCell_Put(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprintf("delay=%v", delay), func(b *testing.B) {
			c := cluster.New(b, cluster.Options{})
			if delay > 0 {
				c.SetLinks(faultlink.Params{Delay: delay})
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
					_, err := cell.Put(ctx, "bench", fmt.Sprintf("k%d", seq.Add(1)), value)
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
