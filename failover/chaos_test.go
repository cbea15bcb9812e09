package failover_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/wal"
)

// The randomized fault test: a seeded schedule of partitions of every
// shape between the Monaco sites, the twin and the witness, and of node
// stops and restarts, under write load; then a checker over the recorded
// history. JUMEAU_CHAOS_SEEDS (default 2), JUMEAU_CHAOS_SEED (first seed,
// default 1) and JUMEAU_CHAOS_DURATION (per seed, default 10s) scale it
// (`make chaos` runs more).
func TestChaos(t *testing.T) {
	seeds := envInt(t, "JUMEAU_CHAOS_SEEDS", 2)
	first := envInt(t, "JUMEAU_CHAOS_SEED", 1)
	d, err := time.ParseDuration(envStr("JUMEAU_CHAOS_DURATION", "10s"))
	if err != nil || d <= 0 || d > 10*time.Minute {
		t.Fatalf("JUMEAU_CHAOS_DURATION: %q: use a duration up to 10m", os.Getenv("JUMEAU_CHAOS_DURATION"))
	}
	for s := first; s < first+seeds; s++ {
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { chaos(t, uint64(s), d) })
	}
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(tb testing.TB, k string, def int) int {
	tb.Helper()
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 10000 {
		tb.Fatalf("%s=%q: use an integer within 0..10000", k, v)
	}
	return n
}

type gatePass struct {
	node  string
	epoch uint64
	at    time.Time
}

type ackedWrite struct {
	key, node  string
	durability replicator.Durability
	sent, at   time.Time
}

type history struct {
	mu     sync.Mutex
	passes []gatePass
	acks   []ackedWrite
}

func (h *history) pass(node string, epoch uint64, at time.Time) {
	h.mu.Lock()
	h.passes = append(h.passes, gatePass{node, epoch, at})
	h.mu.Unlock()
}

func chaos(t *testing.T, seed uint64, d time.Duration) {
	var phase atomic.Value
	phase.Store("start")
	// A cleanup, not a defer: it stays armed while the cluster closes
	// (cleanups run last registered first).
	t.Cleanup(watchdog(t, seed, 3*d+150*time.Second, &phase))
	h := &history{}
	c := cluster.New(t, cluster.Options{Twin: true, Witness: true, WriteLog: h.pass})
	t.Cleanup(func() { phase.Store("close the cluster") })
	rng := rand.New(rand.NewPCG(seed, 0x6a756d656175))
	sites, twin, witness := c.Sites(), c.TwinName(), c.WitnessName()
	writable := append(slices.Clone(sites), twin)

	// Load: writers pick a random node (the twin refuses until promoted).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var attempts, failures atomic.Int64
	for w := 0; w < 6; w++ {
		wrng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(d + 5*time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := writable[wrng.IntN(len(writable))]
				n := c.Node(name)
				if n == nil || n.Cell() == nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				dur := replicator.DurabilityCell
				if wrng.IntN(3) == 0 {
					dur = replicator.DurabilityTwin
				}
				k := fmt.Sprintf("w%d-%05d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				sent := time.Now()
				_, err := n.Cell().Put(ctx, "chaos", k, []byte("value of "+k), dur)
				cancel()
				attempts.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				h.mu.Lock()
				h.acks = append(h.acks, ackedWrite{key: k, node: name, durability: dur, sent: sent, at: time.Now()})
				h.mu.Unlock()
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// Faults.
	phase.Store("faults")
	stopped := map[string]bool{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
		var what string
		switch rng.IntN(9) {
		case 0, 1:
			c.Heal()
			what = "heal"
		case 2:
			c.IsolateRegion()
			what = "isolate Monaco from the twin and the witness"
		case 3:
			c.CutWAN()
			what = "cut Monaco-Luxembourg"
		case 4:
			c.Isolate(witness)
			what = "isolate the witness"
		case 5:
			s := sites[rng.IntN(len(sites))]
			c.Isolate(s)
			what = "isolate " + s
		case 6:
			s := sites[rng.IntN(len(sites))]
			if !stopped[s] {
				c.Stop(s)
				stopped[s] = true
			}
			what = "stop " + s
		case 7:
			if !stopped[witness] && rng.IntN(2) == 0 {
				c.Stop(witness)
				stopped[witness] = true
				what = "stop the witness"
				break
			}
			fallthrough
		case 8:
			var down []string
			for n, s := range stopped {
				if s {
					down = append(down, n)
				}
			}
			slices.Sort(down)
			if len(down) > 0 {
				n := down[rng.IntN(len(down))]
				c.Start(n)
				stopped[n] = false
				what = "restart " + n
			}
		}
		if what != "" {
			t.Logf("seed %d +%s: %s", seed, time.Until(end).Round(10*time.Millisecond), what)
		}
	}

	// Settle: heal, restart everything, and wait for a writable primary.
	phase.Store("settle")
	c.Heal()
	for n, s := range stopped {
		if s {
			c.Start(n)
		}
	}
	primary := waitPrimary(t, c, writable, 30*time.Second)
	phase.Store("stop the load")
	close(stop)
	wg.Wait()
	phase.Store("check")
	t.Logf("seed %d: %d writes attempted, %d acknowledged, %d failed; primary at the end: %s", seed, attempts.Load(), len(h.acks), failures.Load(), primary)
	check(t, c, h, primary)
	if errs := c.RestartErrors(); len(errs) > 0 {
		t.Errorf("a node failed to restart in its new mode: %v", errs)
	}
}

// watchdog bounds one seed: a seed stuck for longer than within panics
// with the phase it was in and where this module's goroutines wait, in
// a few lines, so that a hang shows in the tail of a CI log (the timeout
// of go test dumps every goroutine instead, and only after 20 minutes).
// The returned function disarms it.
func watchdog(tb testing.TB, seed uint64, within time.Duration, phase *atomic.Value) func() {
	tb.Helper()
	t := time.AfterFunc(within, func() {
		// The whole dump goes to a file for a local run.
		buf := make([]byte, 64<<20)
		buf = buf[:runtime.Stack(buf, true)]
		dump := filepath.Join(os.TempDir(), fmt.Sprintf("jumeau-chaos-seed%d-%d.stacks", seed, os.Getpid()))
		if err := os.WriteFile(dump, buf, 0o644); err != nil {
			dump = err.Error()
		}
		panic(fmt.Sprintf("TestChaos seed %d made no progress for %s, in phase %q (every goroutine: %s); goroutines by place (test first):\n%s",
			seed, within, phase.Load(), dump, cluster.StackSummary(30)))
	})
	return func() { t.Stop() }
}

// waitPrimary returns the node that takes a write after the faults.
func waitPrimary(tb testing.TB, c *cluster.Cluster, names []string, within time.Duration) string {
	tb.Helper()
	deadline := time.Now().Add(within)
	for i := 0; time.Now().Before(deadline); i++ {
		for _, name := range names {
			n := c.Node(name)
			if n == nil || n.Cell() == nil || !n.Cell().IsLeader() {
				continue
			}
			if err := put(tb, n, fmt.Sprintf("settle-%d", i), replicator.DurabilityCell); err == nil {
				return name
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("no primary took a write after the faults healed")
	return ""
}

// check is the history checker:
//   - no split brain: every write let through in epoch e happened before
//     the witness started epoch e+1;
//   - no durability=twin write acknowledged is ever lost;
//   - durability=cell writes: all on the final primary when Monaco stayed
//     primary; after a promotion, those the twin lacks are still in
//     Monaco's copy (the forked tail), and are counted.
func check(t *testing.T, c *cluster.Cluster, h *history, primary string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	w := c.Node(c.WitnessName())
	st := w.Status().Failover
	if st.Epoch > 2 {
		t.Fatalf("epoch %d: this version promotes at most once", st.Epoch)
	}
	promoted := st.Epoch == 2
	var promotedAt time.Time
	if promoted {
		// The witness's epoch file records when it started epoch 2.
		promotedAt = st.Changed
		if promotedAt.IsZero() {
			t.Fatalf("epoch 2 without its start time: %+v", st)
		}
	}
	passes := map[uint64]int{}
	for _, p := range h.passes {
		passes[p.epoch]++
		if promoted && p.epoch == 1 && !p.at.Before(promotedAt) {
			t.Errorf("SPLIT BRAIN: %s let a write through in epoch 1 at %s, %s after epoch 2 began",
				p.node, p.at.Format(time.StampMicro), p.at.Sub(promotedAt))
		}
		if p.epoch == 2 && p.at.Before(promotedAt) {
			t.Errorf("%s wrote in epoch 2 before it began", p.node)
		}
	}
	var lostTwin, lostCell, forked int
	cell := settledReader(t, c, primary)
	for _, a := range h.acks {
		v, err := cell.Get(ctxT(t, 5*time.Second), "chaos", a.key, replicator.Stale)
		if err == nil && string(v) == "value of "+a.key {
			continue
		}
		if err != nil && !errors.Is(err, replicator.ErrNotFound) {
			t.Fatalf("read %s on the primary: %v", a.key, err)
		}
		switch {
		case a.durability == replicator.DurabilityTwin:
			lostTwin++
			t.Errorf("durability=twin write %s (acked by %s at %s) is not on the primary %s", a.key, a.node, a.at.Format(time.StampMicro), primary)
		case !promoted:
			lostCell++
			t.Errorf("durability=cell write %s (acked by %s) lost without any promotion", a.key, a.node)
		default:
			if !inMonaco(t, c, a.key) {
				lostCell++
				t.Errorf("durability=cell write %s (acked by %s) is neither on the new primary nor in Monaco (a cell, or a demoted site's forked tail)", a.key, a.node)
			} else {
				forked++
			}
		}
	}
	t.Logf("checked: %d gate passes (epoch 1: %d, epoch 2: %d), promoted: %v; %d acknowledged writes: %d twin-durable lost, %d cell lost, %d in Monaco's forked tail only",
		len(h.passes), passes[1], passes[2], promoted, len(h.acks), lostTwin, lostCell, forked)
}

// settledReader returns the primary's cell after a linearizable read on
// it: every write acknowledged before is then applied there, and the
// checker reads them locally (one read barrier for thousands of keys).
// It follows the leader: on two busy cores a healed cell may still
// change leader while the checker starts.
func settledReader(tb testing.TB, c *cluster.Cluster, primary string) *replicator.Cell {
	tb.Helper()
	names := []string{primary}
	if primary != c.TwinName() {
		names = c.Sites()
	}
	deadline := time.Now().Add(20 * time.Second)
	var err error = replicator.ErrNoLeader
	for time.Now().Before(deadline) {
		for _, name := range names {
			n := c.Node(name)
			if n == nil || n.Cell() == nil || !n.Cell().IsLeader() {
				continue
			}
			_, err = n.Cell().Get(ctxT(tb, 5*time.Second), "chaos", "no-such-key", replicator.Linearizable)
			if err == nil || errors.Is(err, replicator.ErrNotFound) {
				return n.Cell()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("no linearizable read on the primary %s within 20s: %v", primary, err)
	return nil
}

func inMonaco(tb testing.TB, c *cluster.Cluster, key string) bool {
	tb.Helper()
	for _, s := range c.Sites() {
		n := c.Node(s)
		if n != nil && n.Cell() != nil {
			v, err := n.Cell().Get(ctxT(tb, 5*time.Second), "chaos", key, replicator.Stale)
			if err == nil && string(v) == "value of "+key {
				return true
			}
		}
		// A site that learned of the promotion demoted itself: the
		// writes the twin never received are in its forked tail.
		ln, err := c.Lab.Node(s)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := os.Open(node.ForkedTailPath(ln.DataDir, 2))
		if err != nil {
			continue
		}
		_, recs, err := wal.ReadTail(f)
		f.Close()
		if err != nil {
			tb.Fatalf("%s's forked tail: %v", s, err)
		}
		for _, r := range recs {
			if r.Op == wal.OpPut && r.Namespace == "chaos" && r.Key == key {
				return true
			}
		}
	}
	return false
}
