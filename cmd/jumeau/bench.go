package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
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
	// RateTarget is the --rate asked for (writes/s over all clients, 0:
	// unlimited); RateAchieved is the rate made (ops / seconds).
	RateTarget   float64 `json:"rate_target"`
	RateAchieved float64 `json:"rate_achieved"`
	// Durability is the durability level of every write.
	Durability string `json:"durability"`
	FirstErr   string `json:"first_error,omitempty"`
	// The twin's fields are present only with --lab on a lab with a twin
	// whose leader reported a ship section: lag percentiles of the
	// leader's ship.lag_seconds sampled every 50ms during the run, and
	// the growth of the twin's twin.received_bytes over the run.
	TwinLagP50ms   *float64 `json:"twin_lag_p50_ms,omitempty"`
	TwinLagP99ms   *float64 `json:"twin_lag_p99_ms,omitempty"`
	TwinLagSamples int      `json:"twin_lag_samples,omitempty"`
	TwinMBPerSec   *float64 `json:"twin_mb_per_sec,omitempty"`
}

func newBenchCmd() *cobra.Command {
	var cf clientFlags
	var clients, ops, size int
	var maxTime time.Duration
	var rate float64
	var asJSON bool
	var ns, to, dur string
	cmd := &cobra.Command{
		Use:   "bench --lab DIR --clients C --ops N --size BYTES",
		Short: "Write N values of SIZE bytes with C concurrent clients through the API and report throughput and latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clients < 1 || ops < 1 || size < 0 || size > api.MaxValueSize {
				return fmt.Errorf("bench: need --clients >= 1, --ops >= 1 and 0 <= --size <= %d", api.MaxValueSize)
			}
			if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
				return fmt.Errorf("bench: --rate %v: use writes per second over all clients (0: as fast as the clients go)", rate)
			}
			if _, err := replicator.ParseDurability(dur); err != nil {
				return fmt.Errorf("bench: --durability: %w", err)
			}
			c, target, err := benchClient(cmd.Context(), &cf, to, clients)
			if err != nil {
				return err
			}
			defer c.Close()
			var tw *twinWatch
			if cf.labDir != "" {
				if tw, err = watchTwin(cmd.Context(), cf.labDir); err != nil {
					return err
				}
			}
			res := runBench(cmd.Context(), c, ns, dur, clients, ops, size, maxTime, rate)
			res.Target, res.Durability = target, dur
			if tw != nil {
				tw.finish(cmd.Context(), &res)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "%d writes of %d B (durability %s) by %d clients to %s in %.2fs: %.0f ops/s, %.2f MB/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors\n",
				res.Ops, size, dur, clients, target, res.Seconds, res.OpsPerSec, res.MBPerSec, res.P50ms, res.P90ms, res.P99ms, res.Maxms, res.Errors)
			if rate > 0 {
				fmt.Fprintf(out, "rate: %.0f writes/s asked, %.0f made\n", res.RateTarget, res.RateAchieved)
			}
			if res.TwinLagP50ms != nil {
				fmt.Fprintf(out, "twin lag (leader's ship status every %v, %d samples): p50 %.2f ms, p99 %.2f ms", shipSampleEvery, res.TwinLagSamples, *res.TwinLagP50ms, *res.TwinLagP99ms)
				if res.TwinMBPerSec != nil {
					fmt.Fprintf(out, "; twin received %.2f MB/s", *res.TwinMBPerSec)
				}
				fmt.Fprintln(out)
			}
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
	cmd.Flags().Float64Var(&rate, "rate", 0, "target writes per second over all clients, paced on one shared schedule (0: unlimited, each client writes as fast as it can); a client late on the schedule writes at once")
	cmd.Flags().StringVar(&ns, "namespace", "bench", "namespace to write to")
	cmd.Flags().StringVar(&to, "to", "leader", "with --lab: leader (write to the cell leader) or a node name")
	cmd.Flags().StringVar(&dur, "durability", "cell", durabilityHelp)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with --lab on a lab with a twin: twin_lag_p50_ms, twin_lag_p99_ms, twin_mb_per_sec)")
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

func runBench(ctx context.Context, c *api.Client, ns, durability string, clients, ops, size int, maxTime time.Duration, rate float64) benchResult {
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
				if !waitTurn(ctx, start, i, rate) {
					return
				}
				t0 := time.Now()
				_, err := c.Put(ctx, ns, fmt.Sprintf("k%09d", i), value, durability)
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
		return float64(all[rank(len(all), p)].Microseconds()) / 1000
	}
	r := benchResult{
		Ops: int64(len(all)), Errors: errs.Load(), Seconds: el,
		OpsPerSec: float64(len(all)) / el, MBPerSec: float64(len(all)) * float64(size) / el / 1e6,
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), Maxms: pct(1.0), Clients: clients, Size: size,
		RateTarget: rate, RateAchieved: float64(len(all)) / el,
	}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstErr = v
	}
	return r
}

// dueAt is when write i (from 1) is due on a schedule of rate writes/s
// from start.
func dueAt(start time.Time, i int64, rate float64) time.Time {
	return start.Add(time.Duration(float64(i-1) / rate * float64(time.Second)))
}

// waitTurn waits until write i is due (rate > 0); it reports false if ctx
// ended first. With rate 0 it returns at once.
func waitTurn(ctx context.Context, start time.Time, i int64, rate float64) bool {
	if rate <= 0 {
		return true
	}
	d := time.Until(dueAt(start, i, rate))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// rank is the index of the p-th quantile (0..1) in n sorted samples.
func rank(n int, p float64) int {
	return int(p * float64(n-1))
}

// shipSampleEvery is how often bench samples the leader's ship status.
const shipSampleEvery = 50 * time.Millisecond

// twinWatch measures the shipping to a lab's twin during a bench run: it
// samples the cell leader's ship.lag_seconds every shipSampleEvery and
// reads the twin's twin.received_bytes before and after.
type twinWatch struct {
	lab       *lab.Lab
	twin      string
	received0 uint64
	known0    bool
	stop      context.CancelFunc
	lags      chan []float64
}

// watchTwin starts watching the twin of the lab in dir; it returns nil
// (and no error) when the lab has no twin.
func watchTwin(ctx context.Context, dir string) (*twinWatch, error) {
	l, err := lab.Load(dir)
	if err != nil {
		return nil, err
	}
	twin, ok := l.Twin()
	if !ok {
		return nil, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	leader, err := l.WaitLeader(wctx, "")
	cancel()
	if err != nil {
		return nil, err
	}
	w := &twinWatch{lab: l, twin: twin.Name, lags: make(chan []float64, 1)}
	w.received0, w.known0 = w.received(ctx)
	sctx, stop := context.WithCancel(ctx)
	w.stop = stop
	go func() { w.lags <- w.sample(sctx, leader) }()
	return w, nil
}

// status fetches one node's status document, bounded by a short timeout.
func (w *twinWatch) status(ctx context.Context, clients map[string]*api.Client, name string) (statusDoc, error) {
	c := clients[name]
	if c == nil {
		var err error
		if c, err = w.lab.Client(name); err != nil {
			return statusDoc{}, err
		}
		clients[name] = c
	}
	var st statusDoc
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := c.Status(sctx, &st)
	return st, err
}

// received reads the twin's twin.received_bytes.
func (w *twinWatch) received(ctx context.Context) (uint64, bool) {
	clients := map[string]*api.Client{}
	defer closeClients(clients)
	st, err := w.status(ctx, clients, w.twin)
	if err != nil || st.Twin == nil {
		return 0, false
	}
	return st.Twin.ReceivedBytes, true
}

// sample collects the leader's ship lag in milliseconds until ctx ends,
// following the leadership if it moves.
func (w *twinWatch) sample(ctx context.Context, leader string) []float64 {
	clients := map[string]*api.Client{}
	defer closeClients(clients)
	var lags []float64
	t := time.NewTicker(shipSampleEvery)
	defer t.Stop()
	for {
		st, err := w.status(ctx, clients, leader)
		switch {
		case err != nil || st.Cell == nil:
		case st.Cell.Ship != nil && st.Cell.Ship.Active:
			lags = append(lags, st.Cell.Ship.LagSeconds*1000)
		case st.Cell.Leader != "" && st.Cell.Leader != leader:
			if _, err := w.lab.Node(st.Cell.Leader); err == nil {
				leader = st.Cell.Leader
			}
		}
		select {
		case <-ctx.Done():
			return lags
		case <-t.C:
		}
	}
}

// finish stops the sampling and adds the twin's figures to res.
func (w *twinWatch) finish(ctx context.Context, res *benchResult) {
	w.stop()
	lags := <-w.lags
	received1, known1 := w.received(ctx)
	twinFigures(res, lags, w.received0, received1, w.known0 && known1)
}

// twinFigures sets res's twin fields from the lag samples (ms) and the
// twin's received bytes before and after the run. Without lag samples
// (no ship section: no twin configured) it leaves them all out.
func twinFigures(res *benchResult, lags []float64, before, after uint64, bytesKnown bool) {
	if len(lags) == 0 {
		return
	}
	slices.Sort(lags)
	p50, p99 := lags[rank(len(lags), 0.50)], lags[rank(len(lags), 0.99)]
	res.TwinLagP50ms, res.TwinLagP99ms, res.TwinLagSamples = &p50, &p99, len(lags)
	// A twin restarted during the run counts from zero again: no figure.
	if bytesKnown && after >= before && res.Seconds > 0 {
		mbps := float64(after-before) / res.Seconds / 1e6
		res.TwinMBPerSec = &mbps
	}
}

func closeClients(clients map[string]*api.Client) {
	for _, c := range clients {
		c.Close()
	}
}
