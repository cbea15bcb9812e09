//go:build e2e

package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/wal"
)

// TestLab_Chaos is the randomized failover test over real processes: a
// lab of 3 sites, the twin and the witness, each node logging its
// write-gate passes (lab.Options.GateLog); a schedule drawn from the seed
// of partitions of every shape (site<->site, one way, WAN, witness, twin,
// one node, Monaco, random splits), SIGKILLs and restarts, SIGSTOPs and
// SIGCONTs, under a write load (durability cell and twin) spread over the
// sites and the twin; then everything heals and restarts, a primary must
// take a write, and the history package checks the record: no split brain
// (gate logs against the epochs the witness started), every acknowledged
// durability=twin write on the final primary, every durability=cell write
// too unless a promotion happened (then those the new primary lacks go to
// chaosForkedTail).
//
// JUMEAU_E2E_CHAOS_SEEDS (default 2), JUMEAU_E2E_CHAOS_SEED (first seed,
// default 1) and JUMEAU_E2E_CHAOS_DURATION (faults per seed, default 15s)
// scale it; `make chaos` runs more. A seed's schedule is logged, and the
// same seed draws the same schedule.
func TestLab_Chaos(t *testing.T) {
	seeds := chaosEnvInt(t, "JUMEAU_E2E_CHAOS_SEEDS", 2)
	first := chaosEnvInt(t, "JUMEAU_E2E_CHAOS_SEED", 1)
	d := 15 * time.Second
	if v := os.Getenv("JUMEAU_E2E_CHAOS_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < time.Second || d > 10*time.Minute {
			t.Fatalf("JUMEAU_E2E_CHAOS_DURATION=%q: use a duration from 1s to 10m", v)
		}
	}
	for s := first; s < first+seeds; s++ {
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) { labChaos(t, uint64(s), d) })
	}
}

func chaosEnvInt(tb testing.TB, k string, def int) int {
	tb.Helper()
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100000 {
		tb.Fatalf("%s=%q: use an integer within 0..100000", k, v)
	}
	return n
}

// Load and settling bounds.
const (
	chaosNS          = "chaos"
	chaosWorkers     = 6
	chaosMaxWrites   = 30000 // per seed, below listContents' limit
	chaosWriteFor    = 2 * time.Second
	chaosPace        = 5 * time.Millisecond // between two writes of a worker
	chaosSettleFor   = 60 * time.Second
	chaosSeedTimeout = 150 * time.Second
)

func labChaos(t *testing.T, seed uint64, d time.Duration) {
	t.Logf("reproduce: JUMEAU_E2E_CHAOS_SEED=%d JUMEAU_E2E_CHAOS_SEEDS=1 JUMEAU_E2E_CHAOS_DURATION=%v go test -tags e2e -count=1 -run '^TestLab_Chaos$' ./e2e/ -args -jumeau=BIN", seed, d)
	ctx, cancel := context.WithTimeout(context.Background(), chaosSeedTimeout)
	defer cancel()
	l := upChaosLab(t, ctx)
	sites := siteNames(l)
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFailoverRows(t, l, 20*time.Second, "the leader holds the lease in epoch 1", func(rows []failoverRow) string {
		return epochOne(rows, leader)
	})

	h := history.New()
	h.EpochBegan(history.Epoch{Epoch: 1, Writers: sites})
	stopEpochs := watchEpochs(t, l, h)
	defer stopEpochs()

	steps := chaosSchedule(l, seed, d)
	var plan strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&plan, "\n  %2d %s", i+1, s)
	}
	t.Logf("seed %d: schedule of %d steps over %v:%s", seed, len(steps), d, plan.String())

	ld := newChaosLoad(t, l, h, seed)
	stopLoad := ld.start(ctx)
	defer stopLoad()

	run := &chaosRun{t: t, l: l, h: h, down: map[string]time.Time{}, paused: map[string]time.Time{}}
	began := time.Now()
	for i, s := range steps {
		select {
		case <-ctx.Done():
			t.Fatalf("step %d: %v", i+1, ctx.Err())
		case <-time.After(time.Until(began.Add(s.at))):
		}
		run.apply(ctx, s)
		t.Logf("%s: step %2d applied (planned +%v): %s", h.Offset(time.Now()), i+1, s.at, s.what)
	}
	if rest := time.Until(began.Add(d)); rest > 0 {
		time.Sleep(rest)
	}

	// Settle: everything resumed, healed and restarted; a primary must
	// take a write.
	settling := time.Now()
	run.settle(ctx)
	primary := waitChaosPrimary(t, ctx, l, h, sites)
	t.Logf("%s: settled: %s took a write %v after the heal", h.Offset(time.Now()), primary, time.Since(settling).Round(time.Millisecond))
	stopLoad()
	stopEpochs()
	t.Logf("failover status at the end:\n%s", describeFailoverRows(failoverStatus(t, l)))
	// Every process restarted at the heal must still run: one that exited
	// by itself crashed (or refused to start).
	for _, n := range l.Nodes {
		if !chaosRunning(n.PID) {
			t.Errorf("%s (pid %d) is not running after the heal: it exited by itself (see its log tail below)", n.Name, n.PID)
		}
	}

	// The record: gate logs, the witness's epochs.
	for _, n := range l.Nodes {
		if n.GateLog == "" || n.Name == lab.WitnessName {
			continue
		}
		ps, err := history.ReadGateLog(n.GateLog, n.Name)
		if errors.Is(err, history.ErrTornLine) && run.killed[n.Name] > 0 {
			t.Logf("%s's gate log ends with a torn line (SIGKILLed %d times): %v", n.Name, run.killed[n.Name], err)
		} else if err != nil {
			t.Fatal(err)
		}
		h.AddPasses(ps)
	}
	recordEpoch(t, ctx, l, h, sites)
	t.Logf("seed %d: %s", seed, h.Summary())
	checkChaos(t, ctx, l, h, primary)
}

// upChaosLab starts the lab (3 sites, twin, witness, gate logs) and, at
// cleanup, continues paused processes, stops every process and shows the
// end of each log on failure.
func upChaosLab(t *testing.T, ctx context.Context) *lab.Lab {
	t.Helper()
	dir := t.TempDir()
	l, err := lab.Up(ctx, lab.Options{Dir: dir, Sites: 3, Binary: binary(t), Twin: true, Witness: true, GateLog: true})
	downLabAtCleanup(t, dir)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return l
}

// watchEpochs polls the witness for the epoch it holds every 100 ms and
// records each new one; stop ends it (it may be called more than once).
func watchEpochs(t *testing.T, l *lab.Lab, h *history.History) (stop func()) {
	t.Helper()
	c, err := l.Client(lab.WitnessName)
	if err != nil {
		t.Fatal(err)
	}
	sites := siteNames(l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		for ctx.Err() == nil {
			var st node.Status
			rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			if err := c.Status(rctx, &st); err == nil && st.Failover != nil {
				h.EpochBegan(epochOf(st.Failover, sites))
			}
			rcancel()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// recordEpoch records the epoch the witness holds now.
func recordEpoch(t *testing.T, ctx context.Context, l *lab.Lab, h *history.History, sites []string) {
	t.Helper()
	c, err := l.Client(lab.WitnessName)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var st node.Status
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Status(rctx, &st); err != nil || st.Failover == nil {
		t.Fatalf("witness status: %v (failover section %v)", err, st.Failover != nil)
	}
	h.EpochBegan(epochOf(st.Failover, sites))
}

// epochOf is the epoch a witness reports, with the nodes that may write
// in it: the promoted node, or the sites of the primary region.
func epochOf(fs *node.FailoverStatus, sites []string) history.Epoch {
	e := history.Epoch{Epoch: fs.Epoch, Began: fs.Changed}
	switch {
	case fs.PrimaryNode != "":
		e.Writers = []string{fs.PrimaryNode}
	case fs.PrimaryRegion == lab.PrimaryRegion:
		e.Writers = sites
	case fs.PrimaryRegion == lab.TwinRegion:
		e.Writers = []string{lab.TwinName}
	}
	return e
}

// chaosOp is what a step does.
type chaosOp int

const (
	opHeal chaosOp = iota
	opCut
	opKill
	opRestart
	opPause
	opResume
)

// chaosStep is one step of a schedule, at an offset from the start of
// the faults.
type chaosStep struct {
	at    time.Duration
	op    chaosOp
	what  string
	links []string // opCut: the links to blackhole
	add   bool     // opCut: on top of the partition in force
	nodes []string // opKill, opRestart, opPause, opResume
}

func (s chaosStep) String() string { return fmt.Sprintf("+%-8v %s", s.at, s.what) }

// chaosSchedule draws the faults of one seed over d. It depends only on
// the seed, d and the lab's topology (node and link names), never on
// what happens while it runs: the same seed replays the same schedule.
func chaosSchedule(l *lab.Lab, seed uint64, d time.Duration) []chaosStep {
	rng := rand.New(rand.NewPCG(seed, 0x6a756d6561752d65))
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	sites := siteNames(l)
	twin, witness := lab.TwinName, lab.WitnessName
	all := append(slices.Clone(sites), twin, witness)
	links := l.LinkNames()
	// Until when each node is down or paused, as scheduled so far.
	down, paused := map[string]time.Duration{}, map[string]time.Duration{}
	var steps []chaosStep
	// pick draws a node: a site with probability pSite, else the twin or
	// the witness, among those up (and not paused if notPaused) at at.
	pick := func(at time.Duration, pSite int, notPaused bool) string {
		var cands []string
		if rng.IntN(100) < pSite {
			cands = sites
		} else {
			cands = []string{twin, witness}
		}
		var ok []string
		for _, n := range cands {
			if down[n] <= at && (!notPaused || paused[n] <= at) {
				ok = append(ok, n)
			}
		}
		if len(ok) == 0 {
			return ""
		}
		return ok[rng.IntN(len(ok))]
	}
	at := ms(500, 1000)
	for at < d {
		hold := ms(300, 1500)
		switch r := rng.IntN(100); {
		case r < 12:
			steps = append(steps, chaosStep{at: at, op: opHeal, what: "heal every link"})
		case r < 57:
			s := chaosStep{at: at, op: opCut, add: rng.IntN(4) == 0}
			switch rng.IntN(10) {
			case 0:
				p := rng.Perm(len(sites))
				a, b := sites[p[0]], sites[p[1]]
				s.what, s.links = fmt.Sprintf("cut %s <-> %s", a, b), l.LinksAcross([]string{a}, []string{b})
			case 1:
				x := sites[rng.IntN(len(sites))]
				s.what, s.links = "isolate "+x, l.LinksOf(x)
			case 2:
				s.what, s.links = "cut the WAN (sites <-> "+twin+")", l.LinksAcross(sites, []string{twin})
			case 3:
				s.what, s.links = "isolate "+witness, l.LinksOf(witness)
			case 4:
				s.what, s.links = "isolate "+twin, l.LinksOf(twin)
			case 5:
				s.what, s.links = "isolate Monaco (sites | twin, witness)", l.LinksAcross(sites, []string{twin, witness})
			case 6:
				s.what, s.links = "cut "+twin+" <-> "+witness, l.LinksAcross([]string{twin}, []string{witness})
			case 7:
				// Both sides non-empty: a mask within 1..2^n-2.
				var a, b []string
				mask := 1 + rng.IntN(1<<len(all)-2)
				for i, n := range all {
					if mask&(1<<i) != 0 {
						a = append(a, n)
					} else {
						b = append(b, n)
					}
				}
				s.what, s.links = fmt.Sprintf("split [%s] | [%s]", strings.Join(a, " "), strings.Join(b, " ")), l.LinksAcross(a, b)
			case 8:
				x := links[rng.IntN(len(links))]
				s.what, s.links = "one way: cut "+x+" only", []string{x}
			case 9:
				p := rng.Perm(len(sites))
				a, b := sites[p[0]], sites[p[1]]
				s.what, s.links = fmt.Sprintf("isolate %s and %s together", a, b), l.LinksOf(a, b)
			}
			if s.add {
				s.what += " (on top of the partition in force)"
			} else {
				s.what += " (replacing the partition in force)"
			}
			steps = append(steps, s)
			if rng.IntN(100) < 40 {
				hold = ms(3000, 6000) // long enough for a promotion
			}
		case r < 72:
			x := pick(at, 70, false)
			if x == "" {
				break
			}
			off := ms(500, 5000)
			steps = append(steps,
				chaosStep{at: at, op: opKill, what: "SIGKILL " + x, nodes: []string{x}},
				chaosStep{at: at + off, op: opRestart, what: "restart " + x, nodes: []string{x}})
			dropResumes(&steps, at, x)
			down[x], paused[x] = at+off, 0 // a killed process is no longer paused
		case r < 88:
			x := pick(at, 60, true)
			if x == "" {
				break
			}
			off := ms(200, 4000) // some longer than the lease (2s)
			steps = append(steps,
				chaosStep{at: at, op: opPause, what: fmt.Sprintf("SIGSTOP %s (for %v)", x, off), nodes: []string{x}},
				chaosStep{at: at + off, op: opResume, what: "SIGCONT " + x, nodes: []string{x}})
			paused[x] = at + off
		default:
			// Earthquake: every site that is up, at once.
			var xs []string
			for _, x := range sites {
				if down[x] <= at {
					xs = append(xs, x)
				}
			}
			if len(xs) == 0 {
				break
			}
			off := ms(3000, 8000)
			steps = append(steps,
				chaosStep{at: at, op: opKill, what: "earthquake: SIGKILL " + strings.Join(xs, ", "), nodes: xs},
				chaosStep{at: at + off, op: opRestart, what: "restart " + strings.Join(xs, ", "), nodes: xs})
			for _, x := range xs {
				dropResumes(&steps, at, x)
				down[x], paused[x] = at+off, 0
			}
			hold = ms(3000, 5000)
		}
		at += hold
	}
	// Restarts and resumes due after the end happen when settling.
	steps = slices.DeleteFunc(steps, func(s chaosStep) bool { return s.at >= d })
	slices.SortStableFunc(steps, func(a, b chaosStep) int { return cmp.Compare(a.at, b.at) })
	return steps
}

// dropResumes removes the SIGCONT of x due after at: x is killed at at,
// and the restarted process must not be continued early if it is paused
// again.
func dropResumes(steps *[]chaosStep, at time.Duration, x string) {
	*steps = slices.DeleteFunc(*steps, func(s chaosStep) bool { return s.op == opResume && s.at > at && slices.Contains(s.nodes, x) })
}

// chaosRun applies a schedule to the lab and records each fault in the
// history when it ends.
type chaosRun struct {
	t      *testing.T
	l      *lab.Lab
	h      *history.History
	down   map[string]time.Time // since when
	paused map[string]time.Time
	killed map[string]int
	cut    string // the partition in force ("" = none)
	cutAt  time.Time
}

func (r *chaosRun) apply(ctx context.Context, s chaosStep) {
	t := r.t
	t.Helper()
	now := time.Now()
	switch s.op {
	case opHeal, opCut:
		if !s.add {
			if err := r.l.HealAll(ctx); err != nil {
				t.Fatal(err)
			}
			r.endCut(now)
		}
		if s.op == opCut {
			if err := r.l.Blackhole(ctx, s.links...); err != nil {
				t.Fatal(err)
			}
			if r.cut == "" {
				r.cut, r.cutAt = s.what, now
			} else {
				r.cut += "; " + s.what
			}
		}
	case opKill:
		for _, x := range s.nodes {
			if err := r.l.Kill(x, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, x := range s.nodes {
			if err := r.l.WaitExit(wctx, x); err != nil {
				t.Fatal(err)
			}
			if at, ok := r.paused[x]; ok {
				r.h.Fault(history.Fault{At: at, Until: now, What: "SIGSTOP " + x, Nodes: []string{x}})
				delete(r.paused, x)
			}
			r.down[x] = now
			if r.killed == nil {
				r.killed = map[string]int{}
			}
			r.killed[x]++
		}
	case opRestart:
		for _, x := range s.nodes {
			r.restart(x, now)
		}
	case opPause:
		for _, x := range s.nodes {
			if err := r.l.Pause(x); err != nil {
				t.Fatal(err)
			}
			r.paused[x] = now
		}
	case opResume:
		for _, x := range s.nodes {
			r.resume(x, now)
		}
	}
}

func (r *chaosRun) endCut(now time.Time) {
	if r.cut != "" {
		r.h.Fault(history.Fault{At: r.cutAt, Until: now, What: r.cut})
		r.cut = ""
	}
}

func (r *chaosRun) restart(x string, now time.Time) {
	r.t.Helper()
	at, ok := r.down[x]
	if !ok {
		return
	}
	if err := r.l.Start(x); err != nil {
		r.t.Fatal(err)
	}
	r.h.Fault(history.Fault{At: at, Until: now, What: "SIGKILL " + x, Nodes: []string{x}})
	delete(r.down, x)
}

func (r *chaosRun) resume(x string, now time.Time) {
	r.t.Helper()
	at, ok := r.paused[x]
	if !ok {
		return
	}
	if err := r.l.Resume(x); err != nil {
		r.t.Fatal(err)
	}
	r.h.Fault(history.Fault{At: at, Until: now, What: "SIGSTOP " + x, Nodes: []string{x}})
	delete(r.paused, x)
}

// settle continues every paused node, heals every link and restarts every
// killed node.
func (r *chaosRun) settle(ctx context.Context) {
	r.t.Helper()
	now := time.Now()
	for _, x := range slices.Sorted(maps.Keys(r.paused)) {
		r.resume(x, now)
	}
	if err := r.l.HealAll(ctx); err != nil {
		r.t.Fatal(err)
	}
	r.endCut(now)
	for _, x := range slices.Sorted(maps.Keys(r.down)) {
		r.restart(x, now)
	}
}

// waitChaosPrimary returns the node that takes a write after the heal:
// the node the witness made primary, else the cell's leader. The write
// joins the history.
func waitChaosPrimary(t *testing.T, ctx context.Context, l *lab.Lab, h *history.History, sites []string) string {
	t.Helper()
	clients := map[string]*api.Client{}
	for _, n := range l.Nodes {
		c, err := l.Client(n.Name)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[n.Name] = c
	}
	deadline := time.Now().Add(chaosSettleFor)
	var last string
	for i := 0; time.Now().Before(deadline); i++ {
		var cands []string
		var wst node.Status
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		err := clients[lab.WitnessName].Status(sctx, &wst)
		cancel()
		switch {
		case err != nil || wst.Failover == nil:
			last = fmt.Sprintf("witness status: %v", err)
		case wst.Failover.PrimaryNode != "":
			cands = []string{wst.Failover.PrimaryNode}
		default:
			for _, s := range sites {
				var st node.Status
				sctx, cancel := context.WithTimeout(ctx, time.Second)
				err := clients[s].Status(sctx, &st)
				cancel()
				if err == nil && st.Cell != nil && st.Cell.RaftState == "Leader" {
					cands = append(cands, s)
				}
			}
			if len(cands) == 0 {
				last = "no site is the cell's leader"
			}
		}
		for _, x := range cands {
			key := fmt.Sprintf("settle-%03d", i)
			v := chaosValue(key, 64)
			sent := time.Now()
			wctx, cancel := context.WithTimeout(ctx, chaosWriteFor)
			_, err := clients[x].Put(wctx, chaosNS, key, v, "cell")
			cancel()
			w := history.Write{Key: key, Size: len(v), Node: x, Durability: replicator.DurabilityCell, Sent: sent, Done: time.Now(), Acked: err == nil}
			if err != nil {
				w.Err = history.Classify(err, key)
				last = fmt.Sprintf("write on %s: %v", x, err)
			}
			h.Record(w)
			if err == nil {
				return x
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for a primary: %v (last: %s)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no primary took a write within %v of the heal (last: %s):\n%s", chaosSettleFor, last, describeFailoverRows(failoverStatus(t, l)))
	return ""
}

// chaosLoad writes unique keys to the sites and the twin, a third at
// durability=twin, and records every attempt in the history.
type chaosLoad struct {
	h       *history.History
	seed    uint64
	targets []string
	clients map[string]*api.Client
	n       atomic.Int64
}

func newChaosLoad(t *testing.T, l *lab.Lab, h *history.History, seed uint64) *chaosLoad {
	t.Helper()
	ld := &chaosLoad{h: h, seed: seed, clients: map[string]*api.Client{}}
	for _, n := range l.Nodes {
		if n.Name == lab.WitnessName {
			continue
		}
		c, err := l.Client(n.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		ld.clients[n.Name] = c
		ld.targets = append(ld.targets, n.Name)
	}
	return ld
}

// start runs the workers until stop (which waits for them; it may be
// called more than once) or chaosMaxWrites attempts.
func (ld *chaosLoad) start(ctx context.Context) (stop func()) {
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < chaosWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ld.worker(lctx, w)
		}()
	}
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

func (ld *chaosLoad) worker(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(ld.seed, uint64(1000+w)))
	for i := 0; ctx.Err() == nil && ld.n.Add(1) <= chaosMaxWrites; i++ {
		x := ld.targets[rng.IntN(len(ld.targets))]
		d := replicator.DurabilityCell
		if rng.IntN(3) == 0 {
			d = replicator.DurabilityTwin
		}
		key := fmt.Sprintf("w%d-%06d", w, i)
		v := chaosValue(key, 64+rng.IntN(961))
		sent := time.Now()
		wctx, cancel := context.WithTimeout(ctx, chaosWriteFor)
		_, err := ld.clients[x].Put(wctx, chaosNS, key, v, d.String())
		cancel()
		wr := history.Write{Key: key, Size: len(v), Node: x, Durability: d, Sent: sent, Done: time.Now(), Acked: err == nil}
		if err != nil {
			wr.Err = history.Classify(err, key)
			if ctx.Err() != nil {
				wr.Err = "stopped by the test"
			}
		}
		ld.h.Record(wr)
		pause := chaosPace
		if err != nil {
			pause = 4 * chaosPace // refusals come at once: do not spin
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// chaosValue is the value written under key: the key, then filler, size
// bytes in all.
func chaosValue(key string, size int) []byte {
	v := []byte(key + "|")
	for len(v) < size {
		v = append(v, byte('a'+len(v)%26))
	}
	return v[:max(size, len(key)+1)]
}

// checkChaos checks the history against the final primary's contents.
func checkChaos(t *testing.T, ctx context.Context, l *lab.Lab, h *history.History, primary string) {
	t.Helper()
	vs := h.SplitBrain()
	for i, v := range vs {
		if i == 20 {
			t.Errorf("... and %d more split-brain violations", len(vs)-20)
			break
		}
		t.Errorf("%s", v)
	}

	epochs := h.Epochs()
	final := epochs[len(epochs)-1]
	promoted := final.Epoch > 1
	c, err := l.Client(primary)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := chaosList(t, ctx, c, false)
	size := map[string]int{}
	for _, w := range h.Writes() {
		if w.Acked {
			size[w.Key] = w.Size
		}
	}
	// Present: the key holds exactly the value written.
	losses, err := h.Lost(func(key string) (bool, error) {
		v, ok := got[key]
		return ok && v == string(chaosValue(key, size[key])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	report := func(what string, ws []history.Write) {
		for i, w := range ws {
			if i == 20 {
				t.Errorf("... and %d more", len(ws)-20)
				break
			}
			t.Errorf("%s (%s)", losses.Violation(w), what)
		}
	}
	report("durability=twin, never allowed", losses.Lost[replicator.DurabilityTwin])
	var forked []history.Write
	if !promoted {
		report("durability=cell without a promotion", losses.Lost[replicator.DurabilityCell])
	} else {
		var onNew []history.Write
		for _, w := range losses.Lost[replicator.DurabilityCell] {
			if slices.Contains(final.Writers, w.Node) && !w.Done.Before(final.Began) {
				onNew = append(onNew, w)
			} else {
				forked = append(forked, w)
			}
		}
		report(fmt.Sprintf("durability=cell acknowledged by the primary of epoch %d", final.Epoch), onNew)
		chaosForkedTail(t, ctx, l, h, final.Epoch, forked)
	}
	t.Logf("checked: %d split-brain violations; epochs %s; final primary %s (promoted: %v); %s; %d durability=cell writes of the old primary only in its forked tail",
		len(vs), describeEpochs(h, epochs), primary, promoted, losses, len(forked))
}

func describeEpochs(h *history.History, es []history.Epoch) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%d (began %s, writers [%s])", e.Epoch, h.Offset(e.Began), strings.Join(e.Writers, " ")))
	}
	return strings.Join(parts, ", ")
}

// chaosList reads namespace chaos on a node.
func chaosList(t *testing.T, ctx context.Context, c *api.Client, stale bool) map[string]string {
	t.Helper()
	const limit = 100000
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := c.List(lctx, chaosNS, "", limit, stale)
	if err != nil {
		t.Fatalf("list %s (stale %v): %v", chaosNS, stale, err)
	}
	if len(res.Items) >= limit {
		t.Fatalf("list: got %d keys, the limit: bound the load below it", len(res.Items))
	}
	got := make(map[string]string, len(res.Items))
	for _, kv := range res.Items {
		got[kv.Key] = string(kv.Value)
	}
	return got
}

// chaosForkedTail checks Monaco's forked-tail export: after a promotion,
// every durability=cell write the old primary acknowledged that the new
// primary lacks must be in the forked tail a returning Monaco site
// exports (node.ForkedTailPath), or still in a site's own store if it has
// not demoted yet. A write in none of them is lost: every site restarts
// at the end with its data, so a Monaco quorum survived.
func chaosForkedTail(t *testing.T, ctx context.Context, l *lab.Lab, h *history.History, epoch uint64, missing []history.Write) {
	t.Helper()
	if len(missing) == 0 {
		t.Logf("forked tail: every durability=cell write the old primary acknowledged is on the new primary")
		return
	}
	sites := siteNames(l)
	// The sites demote (and export) once they learn the new epoch: give
	// them a few seconds.
	deadline := time.Now().Add(10 * time.Second)
	var tails []string
	for {
		tails = tails[:0]
		for _, s := range sites {
			n, err := l.Node(s)
			if err != nil {
				t.Fatal(err)
			}
			if p := node.ForkedTailPath(n.DataDir, epoch); chaosExists(p) {
				tails = append(tails, p)
			}
		}
		if len(tails) == len(sites) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	inTail := map[string]bool{}
	for _, p := range tails {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		hdr, recs, err := wal.ReadTail(f)
		f.Close()
		if err != nil {
			t.Errorf("forked tail %s: %v", p, err)
			continue
		}
		for _, r := range recs {
			if r.Namespace == chaosNS && r.Op == wal.OpPut {
				inTail[r.Key] = true
			}
		}
		t.Logf("forked tail of %s: %d records (WAL %d..%d, fork at %d)", hdr.Node, len(recs), hdr.First, hdr.Last, hdr.ForkIndex)
	}
	onSite := map[string]bool{}
	for _, s := range sites {
		c, err := l.Client(s)
		if err != nil {
			t.Fatal(err)
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := c.List(lctx, chaosNS, "", 100000, true)
		cancel()
		c.Close()
		if err != nil {
			t.Logf("forked tail: stale list on %s: %v", s, err)
			continue
		}
		for _, kv := range res.Items {
			if string(kv.Value) == string(chaosValue(kv.Key, len(kv.Value))) {
				onSite[kv.Key] = true
			}
		}
	}
	var tailed, stored int
	var nowhere []string
	for _, w := range missing {
		switch {
		case inTail[w.Key]:
			tailed++
		case onSite[w.Key]:
			stored++
		default:
			nowhere = append(nowhere, fmt.Sprintf("%s (acknowledged by %s at %s)", w.Key, w.Node, h.Offset(w.Done)))
		}
	}
	t.Logf("forked tail: %d durability=cell writes acknowledged by the old primary are missing on the new one: %d in a forked-tail file (%d of %d sites exported one), %d still in a site's store",
		len(missing), tailed, len(tails), len(sites), stored)
	if len(nowhere) > 0 {
		t.Errorf("LOST: %d durability=cell writes acknowledged by Monaco are neither on the new primary nor in any forked tail or site store (first: %s)",
			len(nowhere), strings.Join(nowhere[:min(len(nowhere), 5)], "; "))
	}
}

// chaosRunning reports whether pid is a live process (not a zombie).
func chaosRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func chaosExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
