package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
)

// benchResult is what `jumeau bench --json` prints.
type benchResult struct {
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P90ms     float64 `json:"p90_ms"`
	P99ms     float64 `json:"p99_ms"`
	Maxms     float64 `json:"max_ms"`
	Clients   int     `json:"clients"`
	Size      int     `json:"size"`
	Target    string  `json:"target"`
	FirstErr  string  `json:"first_error,omitempty"`
}

func newBenchCmd() *cobra.Command {
	var cf clientFlags
	var clients, ops, size int
	var maxTime time.Duration
	var asJSON bool
	var ns, to string
	cmd := &cobra.Command{
		Use:   "bench --lab DIR --clients C --ops N --size BYTES",
		Short: "Write N values of SIZE bytes with C concurrent clients through the API and report throughput and latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clients < 1 || ops < 1 || size < 0 || size > api.MaxValueSize {
				return fmt.Errorf("bench: need --clients >= 1, --ops >= 1 and 0 <= --size <= %d", api.MaxValueSize)
			}
			c, target, err := benchClient(cmd.Context(), &cf, to, clients)
			if err != nil {
				return err
			}
			defer c.Close()
			res := runBench(cmd.Context(), c, ns, clients, ops, size, maxTime)
			res.Target = target
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "%d writes of %d B by %d clients to %s in %.2fs: %.0f ops/s, %.2f MB/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors\n",
				res.Ops, size, clients, target, res.Seconds, res.OpsPerSec, res.MBPerSec, res.P50ms, res.P90ms, res.P99ms, res.Maxms, res.Errors)
			if res.FirstErr != "" {
				fmt.Fprintln(out, "first error:", res.FirstErr)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVar(&clients, "clients", 64, "concurrent clients")
	cmd.Flags().IntVar(&ops, "ops", 20000, "total writes")
	cmd.Flags().IntVar(&size, "size", 1024, "value size in bytes")
	cmd.Flags().DurationVar(&maxTime, "max-time", 2*time.Minute, "stop after this long even if fewer writes were made")
	cmd.Flags().StringVar(&ns, "namespace", "bench", "namespace to write to")
	cmd.Flags().StringVar(&to, "to", "leader", "with --lab: leader (write to the cell leader) or a node name")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func benchClient(ctx context.Context, cf *clientFlags, to string, conns int) (*api.Client, string, error) {
	if cf.labDir == "" {
		c, err := cf.one()
		if err != nil {
			return nil, "", err
		}
		return c, cf.endpoints[0], nil
	}
	l, err := lab.Load(cf.labDir)
	if err != nil {
		return nil, "", err
	}
	name := to
	if cf.node != "" {
		name = cf.node
	}
	if name == "leader" {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if name, err = l.WaitLeader(wctx, ""); err != nil {
			return nil, "", err
		}
	}
	n, err := l.Node(name)
	if err != nil {
		return nil, "", err
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: l.ClientCreds.CA, Cert: l.ClientCreds.Cert, Key: l.ClientCreds.Key})
	if err != nil {
		return nil, "", err
	}
	c, err := api.NewClient(n.API, mat, api.ClientOptions{MaxConns: conns})
	return c, name, err
}

func runBench(ctx context.Context, c *api.Client, ns string, clients, ops, size int, maxTime time.Duration) benchResult {
	ctx, cancel := context.WithTimeout(ctx, maxTime)
	defer cancel()
	value := make([]byte, size)
	_, _ = rand.Read(value)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(ops) {
					return
				}
				t0 := time.Now()
				_, err := c.Put(ctx, ns, fmt.Sprintf("k%09d", i), value, "")
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
						return
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p * float64(len(all)-1))
		return float64(all[i].Microseconds()) / 1000
	}
	r := benchResult{
		Ops: int64(len(all)), Errors: errs.Load(), Seconds: el,
		OpsPerSec: float64(len(all)) / el, MBPerSec: float64(len(all)) * float64(size) / el / 1e6,
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), Maxms: pct(1.0), Clients: clients, Size: size,
	}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstErr = v
	}
	return r
}
