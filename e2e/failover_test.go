//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
)

// TestLab_FailoverEarthquake: every Monaco site is SIGKILLed at once under
// load. The twin must take its first write within detect_after + lease +
// 2 s of the kill (the RTO of a total primary loss), in epoch 2 with
// Luxembourg as the primary region, holding every durability=twin write.
func TestLab_FailoverEarthquake(t *testing.T) {
	l := upLabArgs(t, "--twin", "--witness")
	fc := failoverTimings(t, l)
	bound := fc.DetectAfter + fc.Lease + 2*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFailoverRows(t, l, 15*time.Second, "the leader holds the lease in epoch 1", func(rows []failoverRow) string {
		return epochOne(rows, leader)
	})
	twinC, err := l.Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()
	if _, err := twinC.Put(ctx, "e2e", "before-promotion", []byte("refused"), "cell"); !errors.Is(err, api.ErrReadOnly) {
		t.Fatalf("put on the twin before the earthquake: got %v, want ErrReadOnly", err)
	}

	twinLd := newLoader(t, l)
	twinLd.durability, twinLd.prefix = "twin", "t"
	cellLd := newLoader(t, l)
	cellLd.durability, cellLd.prefix = "cell", "c"
	stopTwin := twinLd.start(ctx, 4, 20000)
	stopCell := cellLd.start(ctx, 8, 40000)
	var stopOnce sync.Once
	stopLoad := func() { stopOnce.Do(func() { stopTwin(); stopCell() }) }
	defer stopLoad()
	waitAcked(t, twinLd, 300)
	waitAcked(t, cellLd, 1500)

	sites := siteNames(l)
	killed := killAtOnce(t, l, sites)
	// The sites are gone: their writes can only fail from here on.
	stopLoad()
	first, refused := waitTwinWritable(t, twinC, killed.Add(bound+10*time.Second))
	rto := first.at.Sub(killed)
	t.Logf("earthquake RTO: first write accepted on %s %v after SIGKILL of %s (bound detect_after %v + lease %v + 2s = %v; %d writes refused before it: %s)",
		lab.TwinName, rto.Round(time.Millisecond), strings.Join(sites, ", "), fc.DetectAfter, fc.Lease, bound, len(refused.all), refused.summary())
	if rto > bound {
		t.Errorf("got RTO %v from the kill to the first write accepted by the twin, want <= %v", rto.Round(time.Millisecond), bound)
	}

	// failover status: the twin is the primary of epoch 2, and the
	// witness, which holds the epoch, agrees.
	rows := waitFailoverRows(t, l, 10*time.Second, "the twin holds the lease in epoch 2", func(rows []failoverRow) string {
		tw := failoverRowOf(rows, lab.TwinName)
		if tw == nil || tw.Failover == nil || !tw.Failover.LeaseValid {
			return "the promoted twin holds no valid lease"
		}
		return ""
	})
	tw, wit := failoverRowOf(rows, lab.TwinName), failoverRowOf(rows, lab.WitnessName)
	switch {
	case tw == nil || tw.Failover == nil:
		t.Fatalf("failover status --json: no failover section for %s:\n%s", lab.TwinName, describeFailoverRows(rows))
	case tw.Failover.Epoch != 2 || tw.Failover.PrimaryRegion != lab.TwinRegion || tw.Failover.PrimaryNode != lab.TwinName ||
		tw.Failover.Promotion != "promoted" || tw.Failover.Fenced:
		t.Errorf("failover status --json %s: got epoch %d primary %s/%s promotion %q fenced %v, want epoch 2 primary %s/%s promoted, not fenced",
			lab.TwinName, tw.Failover.Epoch, tw.Failover.PrimaryRegion, tw.Failover.PrimaryNode, tw.Failover.Promotion, tw.Failover.Fenced,
			lab.TwinRegion, lab.TwinName)
	}
	if wit == nil || wit.Failover == nil || wit.Failover.Epoch != 2 || wit.Failover.PrimaryRegion != lab.TwinRegion {
		t.Errorf("failover status --json %s: got %+v, want epoch 2 with primary region %s:\n%s", lab.WitnessName, wit, lab.TwinRegion, describeFailoverRows(rows))
	}
	for _, s := range sites {
		if r := failoverRowOf(rows, s); r == nil || r.Error == "" {
			t.Errorf("failover status --json %s: got %+v, want an unreachable row (SIGKILLed)", s, r)
		}
	}

	// Every durability=twin write acknowledged before the kill, and the
	// first write the new primary took, are there (linearizable reads: the
	// promoted twin is a one-site cell).
	got := listContents(t, twinC, "", false)
	missing := 0
	for k, w := range twinLd.snapshot() {
		if got[k] != w.value {
			missing++
			if missing <= 5 {
				t.Errorf("durability=twin write %s (WAL %d, acknowledged %v before the kill): got %q on the promoted twin, want %q",
					k, w.wal, killed.Sub(w.at).Round(time.Millisecond), got[k], w.value)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("got %d of %d acknowledged durability=twin writes missing on the promoted twin, want 0", missing, twinLd.ackedCount())
	}
	if got[first.key] != first.value {
		t.Errorf("the promoted twin's first write %s: got %q, want %q", first.key, got[first.key], first.value)
	}
	missingCell := 0
	for k, w := range cellLd.snapshot() {
		if got[k] != w.value {
			missingCell++
		}
	}
	t.Logf("promoted twin: all %d durability=twin writes present; %d of %d durability=cell writes missing (unshipped at the kill)",
		twinLd.ackedCount(), missingCell, cellLd.ackedCount())
}

// TestLab_FailoverWANCut: a DDoS cuts every Monaco<->Luxembourg link but
// the witness still hears Monaco. For detect_after + lease + 2 s the
// primary keeps its lease through the witness and takes every write, the
// twin is not promoted, and the leader's lag grows; once healed, the twin
// catches up with every write.
func TestLab_FailoverWANCut(t *testing.T) {
	l := upLabArgs(t, "--twin", "--witness")
	fc := failoverTimings(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFailoverRows(t, l, 15*time.Second, "the leader holds the lease in epoch 1", func(rows []failoverRow) string {
		return epochOne(rows, leader)
	})
	ld := newLoader(t, l)
	ld.durability, ld.prefix = "cell", "w"
	stop := ld.start(ctx, 2, 200)
	waitAcked(t, ld, 100)
	stop()
	waitTwinConverged(t, l, 30*time.Second)

	if so, se, code := runCLI(t, "lab", "fault", "--dir", l.Dir, "--wan", "--blackhole"); code != 0 {
		t.Fatalf("lab fault --wan --blackhole: exit %d: %s%s", code, so, se)
	}
	cut := time.Now()
	hold := fc.DetectAfter + fc.Lease + 2*time.Second
	before := ld.ackedCount()
	hctx, hcancel := context.WithDeadline(ctx, cut.Add(hold))
	ld.run(hctx, 4, math.MaxInt64)
	hcancel()
	if ld.errs.Load() != 0 {
		ld.mu.Lock()
		last := ld.lastErr
		ld.mu.Unlock()
		t.Fatalf("got %d writes refused during the WAN cut (last: %v), want 0: the witness keeps the primary's lease", ld.errs.Load(), last)
	}
	var lastAck time.Time
	during := 0
	for _, w := range ld.snapshot() {
		if w.at.After(cut) {
			during++
			if w.at.After(lastAck) {
				lastAck = w.at
			}
		}
	}
	if during == 0 || lastAck.Sub(cut) < fc.DetectAfter+fc.Lease {
		t.Fatalf("got %d writes acknowledged during the cut, the last %v after it, want writes past detect_after + lease (%v)",
			during, lastAck.Sub(cut).Round(time.Millisecond), fc.DetectAfter+fc.Lease)
	}
	t.Logf("WAN cut: %d writes acknowledged in %v (the last %v after the cut), none refused", ld.ackedCount()-before, hold,
		lastAck.Sub(cut).Round(time.Millisecond))

	srows := status(t, l)
	lr := rowOf(srows, func(r statusRow) bool { return r.RaftState == "Leader" })
	if lr == nil || lr.Ship == nil {
		t.Fatalf("status --json with the WAN cut: want a leader row with a ship section:\n%s", describeRows(srows))
	}
	if lr.Ship.LagSeconds <= fc.DetectAfter.Seconds() {
		t.Errorf("leader %s's lag with the WAN cut for %v: got %.3fs (%d records), want > %.0fs",
			lr.Name, time.Since(cut).Round(time.Millisecond), lr.Ship.LagSeconds, lr.Ship.LagRecords, fc.DetectAfter.Seconds())
	}
	rows := failoverStatus(t, l)
	for _, r := range rows {
		if r.Error != "" || r.Failover == nil {
			t.Errorf("failover status --json %s: got error %q, failover section %v, want a failover section", r.Name, r.Error, r.Failover != nil)
			continue
		}
		if r.Failover.Epoch != 1 || r.Failover.PrimaryRegion != lab.PrimaryRegion || r.Failover.Promotion == "promoted" || r.Failover.Fenced {
			t.Errorf("failover status --json %s with the WAN cut: got epoch %d primary %s promotion %q fenced %v, want epoch 1, primary %s, not promoted, not fenced",
				r.Name, r.Failover.Epoch, r.Failover.PrimaryRegion, r.Failover.Promotion, r.Failover.Fenced, lab.PrimaryRegion)
		}
	}
	if r := failoverRowOf(rows, lr.Name); r == nil || r.Failover == nil || !r.Failover.LeaseValid {
		t.Errorf("failover status --json: leader %s holds no valid lease with the WAN cut:\n%s", lr.Name, describeFailoverRows(rows))
	}
	if tw := failoverRowOf(rows, lab.TwinName); tw != nil && tw.Failover != nil {
		t.Logf("WAN cut: leader %s lag %.3fs (%d records); twin heard the primary %d ms ago, promotion %q",
			lr.Name, lr.Ship.LagSeconds, lr.Ship.LagRecords, tw.Failover.HeardAgoMS, tw.Failover.Promotion)
	}

	healed := healWAN(t, l)
	waitTwinConverged(t, l, 60*time.Second)
	t.Logf("twin converged %v after the heal", time.Since(healed).Round(time.Millisecond))
	twinC, err := l.Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()
	got := listContents(t, twinC, ld.prefix, true)
	lost := 0
	for k, w := range ld.snapshot() {
		if got[k] != w.value {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("got %d of %d acknowledged writes missing on the twin after the heal, want 0", lost, ld.ackedCount())
	}
	rows = failoverStatus(t, l)
	for _, r := range rows {
		if r.Failover == nil || r.Failover.Epoch != 1 {
			t.Errorf("failover status --json %s after the heal: got %+v, want epoch 1", r.Name, r.Failover)
		}
	}
}

// TestLab_SiteLossRTO: the cell leader is SIGKILLed under light load, 20
// times; each time the cell must accept a write again (through a
// surviving site), and the killed site restarts and catches up before the
// next round. A round fails past 10 s (probeCell's deadline). Reports the
// RTO's p50, p99 (nearest rank: over 20 runs, the maximum) and max; no
// acknowledged write may be lost.
func TestLab_SiteLossRTO(t *testing.T) {
	const (
		rounds   = 20
		budget   = 4 * time.Minute
		perRound = 10 * time.Second
	)
	l := upLabArgs(t, "--twin", "--witness")
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	clients := map[string]*api.Client{}
	for _, name := range siteNames(l) {
		clients[name] = probeClient(t, l, name)
	}
	ld := newLoader(t, l)
	ld.durability, ld.prefix = "cell", "s"
	var rtos []time.Duration
	for round := 1; round <= rounds; round++ {
		if ctx.Err() != nil {
			t.Fatalf("got %d of %d rounds done in %v, want all within the budget", round-1, rounds, budget)
		}
		leader, err := l.WaitLeader(ctx, "")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		stop := ld.start(ctx, 2, math.MaxInt64)
		waitAcked(t, ld, ld.ackedCount()+50)
		killed := time.Now()
		if err := l.Kill(leader, syscall.SIGKILL); err != nil {
			stop()
			t.Fatal(err)
		}
		var (
			names     []string
			survivors []*api.Client
		)
		for _, name := range siteNames(l) {
			if name != leader {
				names = append(names, name)
				survivors = append(survivors, clients[name])
			}
		}
		at, firsts, err := probeCell(ctx, ld, survivors, fmt.Sprintf("p%02d-", round), killed.Add(perRound))
		for i := range firsts {
			firsts[i] = names[i] + ": " + firsts[i]
		}
		stop()
		if err != nil {
			t.Fatalf("round %d: no write accepted within %v of SIGKILL of leader %s: %v", round, perRound, leader, err)
		}
		rto := at.Sub(killed)
		rtos = append(rtos, rto)
		if err := l.WaitExit(ctx, leader); err != nil {
			t.Fatal(err)
		}
		if err := l.Start(leader); err != nil {
			t.Fatal(err)
		}
		waitStatusConverged(t, l)
		t.Logf("round %d: leader %s SIGKILLed, write accepted again after %v; restarted and converged %v after the kill; first write per survivor: %s",
			round, leader, rto.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), strings.Join(firsts, "; "))
	}
	took := time.Since(began)
	if took > budget {
		t.Fatalf("got %d rounds in %v, want within %v", rounds, took, budget)
	}
	sorted := slices.Clone(rtos)
	slices.Sort(sorted)
	p50, p99, worst := percentile(sorted, 0.50), percentile(sorted, 0.99), sorted[len(sorted)-1]
	t.Logf("single-site loss RTO over %d runs: p50 %d ms, p99 %d ms, max %d ms", len(sorted), p50.Milliseconds(), p99.Milliseconds(), worst.Milliseconds())
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ld.verify(t, leader)
	twinC, err := l.Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()
	got := listContents(t, twinC, "", true)
	missing := 0
	for k, w := range ld.snapshot() {
		if got[k] != w.value {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("got %d of %d acknowledged writes missing on the twin after %d leader losses, want 0", missing, ld.ackedCount(), rounds)
	}
}

// percentile returns the nearest-rank q-quantile of sorted (not empty).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// probeCell measures when the cell takes writes again: through every
// client, it starts a write every 20 ms without waiting for the earlier
// ones (a write forwarded to a dead leader hangs until its deadline, its
// outcome unknown: waiting for it would measure the client's timeout),
// until one is acknowledged or deadline passes. It returns when the first
// was acknowledged, and how each client's first attempt ended; every
// acknowledged probe joins ld's acknowledged writes.
func probeCell(ctx context.Context, ld *loader, clients []*api.Client, prefix string, deadline time.Time) (time.Time, []string, error) {
	const (
		every       = 20 * time.Millisecond
		attemptFor  = 2 * time.Second
		maxInFlight = int(attemptFor/every) + 10 // per client: below probeConns
	)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var (
		mu      sync.Mutex
		first   time.Time
		firsts  = make([]string, len(clients))
		lastErr error
		wg      sync.WaitGroup
	)
	for ci, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots := make(chan struct{}, maxInFlight)
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-pctx.Done():
					return
				case slots <- struct{}{}:
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slots }()
					k := fmt.Sprintf("%s%d-%04d", prefix, ci, i)
					v := fmt.Sprintf("probe-%d", time.Now().UnixNano())
					sent := time.Now()
					rctx, rcancel := context.WithTimeout(pctx, attemptFor)
					res, err := c.Put(rctx, "e2e", k, []byte(v), "cell")
					rcancel()
					at := time.Now()
					mu.Lock()
					defer mu.Unlock()
					if i == 0 {
						how := "acknowledged"
						switch {
						case errors.Is(err, context.Canceled):
							how = "still pending when another was acknowledged"
						case err != nil:
							how = err.Error()
						}
						firsts[ci] = fmt.Sprintf("%v, %s", at.Sub(sent).Round(time.Millisecond), how)
					}
					if err != nil {
						if pctx.Err() == nil {
							lastErr = err
						}
						return
					}
					ld.mu.Lock()
					ld.acked[k] = ackedWrite{value: v, at: at, wal: res.WALIndex}
					ld.mu.Unlock()
					if first.IsZero() || at.Before(first) {
						first = at
					}
					cancel()
				}()
				select {
				case <-pctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	if first.IsZero() {
		return time.Time{}, firsts, fmt.Errorf("last error: %v", lastErr)
	}
	return first, firsts, nil
}

// probeConns bounds the connections of a probe client: probeCell keeps
// many writes in flight at once.
const probeConns = 256

// probeClient is an API client for node name with the lab's client
// credentials and room for probeCell's writes in flight.
func probeClient(tb testing.TB, l *lab.Lab, name string) *api.Client {
	tb.Helper()
	n, err := l.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: l.ClientCreds.CA, Cert: l.ClientCreds.Cert, Key: l.ClientCreds.Key})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := api.NewClient(n.API, mat, api.ClientOptions{MaxConns: probeConns})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// failoverRow mirrors one element of `jumeau failover status --json`.
type failoverRow struct {
	Name      string               `json:"name"`
	Role      string               `json:"role"`
	Region    string               `json:"region"`
	RaftState string               `json:"raft_state"`
	Error     string               `json:"error"`
	Failover  *node.FailoverStatus `json:"failover"`
	TwinLag   *struct {
		Records uint64  `json:"records"`
		Seconds float64 `json:"seconds"`
	} `json:"twin_lag"`
}

// failoverStatus runs `jumeau failover status --lab DIR --json`.
func failoverStatus(tb testing.TB, l *lab.Lab) []failoverRow {
	tb.Helper()
	so, se, code := runCLI(tb, "failover", "status", "--lab", l.Dir, "--json")
	if code != 0 && code != 1 { // 1: a node did not answer; its row says so
		tb.Fatalf("failover status --json: exit %d: %s", code, se)
	}
	var rows []failoverRow
	if err := json.Unmarshal([]byte(so), &rows); err != nil {
		tb.Fatalf("failover status --json: %v\n%s", err, so)
	}
	return rows
}

// waitFailoverRows polls `failover status --json` until check returns ""
// (else why the rows are not there yet), and returns those rows.
func waitFailoverRows(tb testing.TB, l *lab.Lab, timeout time.Duration, what string, check func([]failoverRow) string) []failoverRow {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows := failoverStatus(tb, l)
		why := check(rows)
		if why == "" {
			return rows
		}
		if time.Now().After(deadline) {
			tb.Fatalf("failover status: want %s within %v, got: %s\n%s", what, timeout, why, describeFailoverRows(rows))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// epochOne reports why rows are not a healthy epoch 1: every node
// answering with epoch 1 and Monaco primary, leader holding a valid lease,
// the twin waiting.
func epochOne(rows []failoverRow, leader string) string {
	for _, r := range rows {
		switch {
		case r.Error != "" || r.Failover == nil:
			return fmt.Sprintf("%s: no failover section (%s)", r.Name, r.Error)
		case r.Failover.Epoch != 1 || r.Failover.PrimaryRegion != lab.PrimaryRegion:
			return fmt.Sprintf("%s: epoch %d primary %s", r.Name, r.Failover.Epoch, r.Failover.PrimaryRegion)
		case r.Name == leader && !r.Failover.LeaseValid:
			return fmt.Sprintf("leader %s: no valid lease", r.Name)
		case r.Name == lab.TwinName && r.Failover.Promotion != "waiting":
			return fmt.Sprintf("%s: promotion %q", r.Name, r.Failover.Promotion)
		}
	}
	return ""
}

// failoverRowOf returns the row of node name, or nil.
func failoverRowOf(rows []failoverRow, name string) *failoverRow {
	for i := range rows {
		if rows[i].Name == name {
			return &rows[i]
		}
	}
	return nil
}

// describeFailoverRows renders failover rows one per line for failure
// messages.
func describeFailoverRows(rows []failoverRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s %s %s %s", r.Name, r.Role, r.Region, r.RaftState)
		if r.Error != "" {
			fmt.Fprintf(&b, " error %q", r.Error)
		}
		if f := r.Failover; f != nil {
			fmt.Fprintf(&b, " epoch %d primary %s/%s lease_valid %v (%d ms) fenced %v heard %d ms ago lease_left %d ms promotion %q",
				f.Epoch, f.PrimaryRegion, f.PrimaryNode, f.LeaseValid, f.LeaseExpiresInMS, f.Fenced, f.HeardAgoMS, f.LeaseLeftMS, f.Promotion)
		}
		if l := r.TwinLag; l != nil {
			fmt.Fprintf(&b, " twin_lag %d rec %.3fs", l.Records, l.Seconds)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// failoverTimings reads the failover.* keys of the twin's configuration
// (every region uses the same timings).
func failoverTimings(tb testing.TB, l *lab.Lab) node.FailoverConfig {
	tb.Helper()
	tw, ok := l.Twin()
	if !ok {
		tb.Fatal("the lab has no twin: start it with --twin")
	}
	cfg, err := node.LoadConfig(tw.Config, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Failover
}

// siteNames returns the names of the lab's sites.
func siteNames(l *lab.Lab) []string {
	var sites []string
	for _, n := range l.Nodes {
		if n.Role == string(pki.RoleSite) {
			sites = append(sites, n.Name)
		}
	}
	return sites
}

// killAtOnce SIGKILLs every named node as close together as it can, waits
// until they are gone, and returns when the first signal was sent.
func killAtOnce(tb testing.TB, l *lab.Lab, names []string) time.Time {
	tb.Helper()
	gate := make(chan struct{})
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			errs <- l.Kill(name, syscall.SIGKILL)
		}()
	}
	killed := time.Now()
	close(gate)
	wg.Wait()
	spread := time.Since(killed)
	close(errs)
	for err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	if spread > 20*time.Millisecond {
		tb.Errorf("got the %d SIGKILLs spread over %v, want within 20ms", len(names), spread)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range names {
		if err := l.WaitExit(ctx, name); err != nil {
			tb.Fatal(err)
		}
	}
	return killed
}

// twinWrite is a write the twin accepted.
type twinWrite struct {
	key, value string
	at         time.Time
}

// refusals are the errors of the writes tried on the twin before it took
// one.
type refusals struct{ all []error }

// summary counts the refusals by kind.
func (r refusals) summary() string {
	counts := map[string]int{}
	var kinds []string
	for _, err := range r.all {
		k := "other: " + err.Error()
		for _, s := range []error{api.ErrReadOnly, api.ErrLeaseExpired, api.ErrUnavailable, api.ErrFenced, api.ErrTimeout, context.DeadlineExceeded} {
			if errors.Is(err, s) {
				k = s.Error()
				break
			}
		}
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d × %q", counts[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// waitTwinWritable writes to the twin (durability cell) every 20 ms until
// one write is accepted, and returns it with the refusals before it.
func waitTwinWritable(tb testing.TB, c *api.Client, deadline time.Time) (twinWrite, refusals) {
	tb.Helper()
	var ref refusals
	for i := 0; ; i++ {
		k, v := fmt.Sprintf("first-on-twin-%04d", i), fmt.Sprintf("v-%d", time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Put(ctx, "e2e", k, []byte(v), "cell")
		cancel()
		if err == nil {
			return twinWrite{key: k, value: v, at: time.Now()}, ref
		}
		ref.all = append(ref.all, err)
		if time.Now().After(deadline) {
			tb.Fatalf("the twin took no write by the deadline; refusals: %s; last: %v", ref.summary(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// healWAN gives every site<->twin link back the faults lab up gave it
// (the WAN delay), and returns when it did.
func healWAN(tb testing.TB, l *lab.Lab) time.Time {
	tb.Helper()
	var wan *lab.LinkSpec
	for i, s := range l.Links.Links {
		if s.From == lab.TwinName || s.To == lab.TwinName {
			if s.From != lab.WitnessName && s.To != lab.WitnessName {
				wan = &l.Links.Links[i]
				break
			}
		}
	}
	if wan == nil {
		tb.Fatalf("lab.json has no site<->twin link among %d links", len(l.Links.Links))
	}
	healed := time.Now()
	if so, se, code := runCLI(tb, "lab", "fault", "--dir", l.Dir, "--wan", "--delay", wan.Params.Delay.String()); code != 0 {
		tb.Fatalf("lab fault --wan --delay %v: exit %d: %s%s", wan.Params.Delay, code, so, se)
	}
	return healed
}
