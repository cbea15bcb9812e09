//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// TestLab_TwinEarthquake: the three Monaco sites are SIGKILLed at once
// under load (an earthquake), the Luxembourg twin stays. Every write
// acknowledged with durability=twin must be on the twin; the durability=cell
// writes it lacks must be accounted for by the lag the leader last reported
// (plus the writes acknowledged after that report).
// TestLab_TwinEarthquake SIGKILLs every site under load. With the WAN
// intact, what the leader had put on the wire still reaches the twin; when
// the earthquake also cuts the Monaco side of the WAN (blackholed just
// before the kills), the records in flight are lost and the cell writes
// missing on the twin must stay within the lag the leader last reported.
func TestLab_TwinEarthquake(t *testing.T) {
	t.Run("wan intact", func(t *testing.T) { earthquake(t, false) })
	t.Run("wan cut too", func(t *testing.T) { earthquake(t, true) })
}

func earthquake(t *testing.T, cutWAN bool) {
	l := upLabArgs(t, "--twin")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	twinNode, ok := l.Twin()
	if !ok {
		t.Fatal("lab up --twin made a lab without a twin")
	}
	twinC, err := l.Client(twinNode.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()

	twinLd := newLoader(t, l)
	twinLd.durability, twinLd.prefix = "twin", "t"
	cellLd := newLoader(t, l)
	cellLd.durability, cellLd.prefix = "cell", "c"
	stopTwin := twinLd.start(ctx, 6, 30000)
	stopCell := cellLd.start(ctx, 10, 60000)
	var stopOnce sync.Once
	stopLoad := func() { stopOnce.Do(func() { stopTwin(); stopCell() }) }
	defer stopLoad()
	sampler, stopSampler := startShipSampler(t, l, leader, 50*time.Millisecond)
	defer stopSampler()

	// Under load: writes of both kinds and a second of the leader's lag.
	waitAcked(t, twinLd, 300)
	waitAcked(t, cellLd, 2000)
	sampler.wait(t, 20, 30*time.Second)

	// The earthquake: the last lag sample, then every site SIGKILLed.
	stopSampler()
	last, samples := sampler.latest()
	sites := siteNames(l)
	if cutWAN {
		if so, se, code := runCLI(t, "lab", "fault", "--dir", l.Dir, "--wan", "--blackhole"); code != 0 {
			t.Fatalf("cut the WAN: exit %d: %s %s", code, so, se)
		}
	}
	killed := killAtOnce(t, l, sites)
	stopLoad()

	// The twin keeps what reached it; wait until nothing more arrives.
	ts := waitTwinQuiet(t, twinC, 500*time.Millisecond, 20*time.Second)
	if ts.Alarm != "" || ts.Refused != 0 || ts.FSMError != "" {
		t.Errorf("twin status: got alarm %q, refused %d, error %q, want none", ts.Alarm, ts.Refused, ts.FSMError)
	}
	if ts.WALLast < last.ship.AckedIndex {
		t.Errorf("twin WAL ends at %d, want >= %d (the index it had acknowledged to the leader)", ts.WALLast, last.ship.AckedIndex)
	}

	// (a) Every durability=twin write acknowledged is on the twin.
	twinAcked := twinLd.snapshot()
	missingTwin := 0
	for k, w := range twinAcked {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := twinC.Get(rctx, "e2e", k, true)
		cancel()
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("stale get %s on the twin: %v", k, err)
		}
		if string(v) != w.value {
			missingTwin++
			if missingTwin <= 5 {
				t.Errorf("durability=twin write %s (WAL %d, acknowledged %v before the kill): got %q on the twin, want %q",
					k, w.wal, killed.Sub(w.at).Round(time.Millisecond), v, w.value)
			}
		}
	}
	if missingTwin > 0 {
		t.Fatalf("got %d of %d acknowledged durability=twin writes missing on the twin, want 0", missingTwin, len(twinAcked))
	}

	// (b) The durability=cell writes missing on the twin.
	got := listContents(t, twinC, "c", true)
	cellAcked := cellLd.snapshot()
	missingCell, ackedAfter, missingAcked := 0, 0, 0
	for k, w := range cellAcked {
		after := !w.at.Before(last.sent)
		if after {
			ackedAfter++
		}
		if got[k] == w.value {
			continue
		}
		missingCell++
		if w.wal <= last.ship.AckedIndex {
			// The twin had acknowledged this index as durable.
			missingAcked++
			if missingAcked <= 5 {
				t.Errorf("durability=cell write %s at WAL %d is missing on the twin, which had acknowledged up to %d", k, w.wal, last.ship.AckedIndex)
			}
		}
	}
	checked := time.Since(killed)
	t.Logf("earthquake: %d samples of %s's lag; last %v before the kill: lag %d records, %.3fs, acked %d of %d (ack known %v)",
		samples, last.leader, killed.Sub(last.sent).Round(time.Millisecond), last.ship.LagRecords, last.ship.LagSeconds,
		last.ship.AckedIndex, last.ship.LastIndex, last.ship.AckKnown)
	t.Logf("earthquake: %d SIGKILLs; twin WAL at %d; durability=twin: %d acknowledged, 0 missing; durability=cell: %d acknowledged (%d after the last sample), %d missing on the twin; checked %v after the kill",
		len(sites), ts.WALLast, len(twinAcked), len(cellAcked), ackedAfter, missingCell, checked.Round(time.Millisecond))
	if bound := last.ship.LagRecords + uint64(ackedAfter); uint64(missingCell) > bound {
		t.Errorf("got %d durability=cell writes missing on the twin, want <= %d (last reported lag %d records + %d writes acknowledged after that report)",
			missingCell, bound, last.ship.LagRecords, ackedAfter)
	}
	if missingAcked > 0 {
		t.Errorf("got %d durability=cell writes missing on the twin below its acknowledged index %d, want 0", missingAcked, last.ship.AckedIndex)
	}
}

// TestLab_TwinCLI: durability=twin through the CLI, stale reads on the
// twin, writes refused by the twin, and the twin's row in status --json.
func TestLab_TwinCLI(t *testing.T) {
	l := upLabArgs(t, "--twin")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	follower := followerOf(l, leader)

	so, se, code := runCLI(t, "put", "--lab", l.Dir, "--node", follower, "--durability", "twin", "app", "greeting", "bonjour")
	if code != 0 || !strings.HasPrefix(so, "ok wal_index=") {
		t.Fatalf("put --durability twin through %s: got exit %d, stdout %q, stderr %q, want exit 0 and ok wal_index=...", follower, code, so, se)
	}
	// A durability=twin write is on the twin when put returns.
	so, se, code = runCLI(t, "get", "--lab", l.Dir, "--node", lab.TwinName, "--stale", "app", "greeting")
	if code != 0 || so != "bonjour" {
		t.Fatalf("get --stale on the twin: got %q (exit %d, %s), want bonjour", so, code, se)
	}
	so, se, code = runCLI(t, "get", "--lab", l.Dir, "--node", lab.TwinName, "app", "greeting")
	if code == 0 || so != "" || !strings.Contains(se, "--stale") {
		t.Errorf("linearizable get on the twin: got exit %d, stdout %q, stderr %q, want a failure pointing to --stale", code, so, se)
	}

	_, se, code = runCLI(t, "put", "--lab", l.Dir, "--node", lab.TwinName, "app", "greeting", "hallo")
	if code == 0 || !strings.Contains(se, "twin") || !strings.Contains(se, "read-only") {
		t.Errorf("put on the twin: got exit %d, stderr %q, want a failure saying the node is the read-only twin", code, se)
	}
	for _, n := range []string{lab.TwinName, leader} {
		so, se, code = runCLI(t, "get", "--lab", l.Dir, "--node", n, "--stale", "app", "greeting")
		if code != 0 || so != "bonjour" {
			t.Errorf("get --stale on %s after the refused put: got %q (exit %d, %s), want bonjour", n, so, code, se)
		}
	}

	rows := waitTwinConverged(t, l, 30*time.Second)
	tw := rowOf(rows, func(r statusRow) bool { return r.Name == lab.TwinName })
	switch {
	case tw == nil:
		t.Fatalf("status --json: no row for %s:\n%s", lab.TwinName, describeRows(rows))
	case tw.Role != string(pki.RoleTwin) || tw.Region != lab.TwinRegion || tw.RaftState != "" || tw.Twin == nil:
		t.Errorf("status --json twin row: got role %q region %q raft %q twin section %v, want twin, %s, no Raft state, a twin section",
			tw.Role, tw.Region, tw.RaftState, tw.Twin != nil, lab.TwinRegion)
	case tw.Twin.Sender != leader || !tw.Twin.Connected || tw.Twin.Alarm != "" || tw.Twin.Refused != 0:
		t.Errorf("status --json twin section: got sender %q connected %v alarm %q refused %d, want sender %s, connected, no alarm",
			tw.Twin.Sender, tw.Twin.Connected, tw.Twin.Alarm, tw.Twin.Refused, leader)
	}
}

// TestLab_TwinLinkCut: with every site<->twin link blackholed, a
// durability=twin write fails saying the twin did not confirm it (cell
// writes go on); once healed, the twin catches up, that write included.
func TestLab_TwinLinkCut(t *testing.T) {
	l := upLabArgs(t, "--twin")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := l.WaitLeader(ctx, ""); err != nil {
		t.Fatal(err)
	}
	twinC, err := l.Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()
	ld := newLoader(t, l)
	stop := ld.start(ctx, 4, 300)
	waitAcked(t, ld, 200)
	stop()
	waitTwinConverged(t, l, 30*time.Second)

	if so, se, code := runCLI(t, "lab", "fault", "--dir", l.Dir, "--wan", "--blackhole"); code != 0 {
		t.Fatalf("lab fault --wan --blackhole: exit %d: %s%s", code, so, se)
	}
	start := time.Now()
	so, se, code := runCLI(t, "put", "--lab", l.Dir, "--durability", "twin", "app", "cut", "during-cut")
	took := time.Since(start)
	if code == 0 || !strings.Contains(se, "twin did not confirm") || !strings.Contains(se, "may still reach the twin") {
		t.Fatalf("put --durability twin with the WAN cut: got exit %d, stdout %q, stderr %q, want a failure saying the twin did not confirm (and the write may still reach it)", code, so, se)
	}
	t.Logf("put --durability twin with the WAN cut failed after %v (exit %d): %s", took.Round(time.Millisecond), code, strings.TrimSpace(se))
	if so, se, code := runCLI(t, "put", "--lab", l.Dir, "--durability", "cell", "app", "cell-cut", "committed"); code != 0 {
		t.Fatalf("put --durability cell with the WAN cut: got exit %d (%s%s), want 0: the cell does not need the twin", code, so, se)
	}
	rows := status(t, l)
	ld0 := rowOf(rows, func(r statusRow) bool { return r.RaftState == "Leader" })
	tw := rowOf(rows, func(r statusRow) bool { return r.Name == lab.TwinName })
	if ld0 == nil || tw == nil || ld0.Ship == nil {
		t.Fatalf("status --json with the WAN cut: want a leader row with a ship section and a twin row:\n%s", describeRows(rows))
	}
	if ld0.Ship.LagRecords < 2 || tw.WALLast >= ld0.WALLast {
		t.Errorf("status with the WAN cut: got leader lag %d records, twin WAL %d, leader WAL %d, want lag >= 2 and the twin behind",
			ld0.Ship.LagRecords, tw.WALLast, ld0.WALLast)
	}

	// Heal: the WAN links get back the faults lab up gave them.
	healed := healWAN(t, l)
	rows = waitTwinConverged(t, l, 60*time.Second)
	t.Logf("twin converged %v after the heal", time.Since(healed).Round(time.Millisecond))
	if tw := rowOf(rows, func(r statusRow) bool { return r.Name == lab.TwinName }); tw.Twin == nil || tw.Twin.Alarm != "" || tw.Twin.Refused != 0 {
		t.Errorf("twin after the heal: got %+v, want a twin section with no alarm and nothing refused", tw.Twin)
	}
	for k, want := range map[string]string{"cut": "during-cut", "cell-cut": "committed"} {
		so, se, code := runCLI(t, "get", "--lab", l.Dir, "--node", lab.TwinName, "--stale", "app", k)
		if code != 0 || so != want {
			t.Errorf("get --stale app/%s on the twin after the heal: got %q (exit %d, %s), want %q", k, so, code, se, want)
		}
	}
	got := listContents(t, twinC, "k", true)
	lost := 0
	for k, w := range ld.snapshot() {
		if got[k] != w.value {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("got %d of %d writes from before the cut missing on the twin after the heal, want 0", lost, ld.ackedCount())
	}
}

// snapshot copies the loader's acknowledged writes.
func (ld *loader) snapshot() map[string]ackedWrite {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	out := make(map[string]ackedWrite, len(ld.acked))
	for k, w := range ld.acked {
		out[k] = w
	}
	return out
}

// shipSample is one reading of the cell leader's shipping to the twin.
type shipSample struct {
	sent   time.Time // when the status request was sent
	leader string
	ship   replicator.ShipStatus
}

// shipSampler polls the cell leader's ship section and keeps the last
// reading.
type shipSampler struct {
	mu   sync.Mutex
	last shipSample
	n    int
}

// startShipSampler polls the leader (first guess: leader) every interval;
// stop ends the polling and waits for it (it may be called more than once).
func startShipSampler(tb testing.TB, l *lab.Lab, leader string, every time.Duration) (*shipSampler, func()) {
	tb.Helper()
	clients := map[string]*api.Client{}
	var sites []string
	for _, n := range l.Nodes {
		if n.Role != string(pki.RoleSite) {
			continue
		}
		c, err := l.Client(n.Name)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(c.Close)
		clients[n.Name] = c
		sites = append(sites, n.Name)
	}
	s := &shipSampler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			// The presumed leader first, then the other sites.
			for _, name := range append([]string{leader}, sites...) {
				sent := time.Now()
				var st node.Status
				rctx, rcancel := context.WithTimeout(ctx, time.Second)
				err := clients[name].Status(rctx, &st)
				rcancel()
				if err != nil || st.Cell == nil || st.Cell.Ship == nil || !st.Cell.Ship.Active {
					continue
				}
				leader = name
				s.mu.Lock()
				s.last, s.n = shipSample{sent: sent, leader: name, ship: *st.Cell.Ship}, s.n+1
				s.mu.Unlock()
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s, func() { cancel(); <-done }
}

// latest returns the last sample and how many were taken.
func (s *shipSampler) latest() (shipSample, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.n
}

// wait waits until n samples were taken.
func (s *shipSampler) wait(tb testing.TB, n int, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, got := s.latest(); got >= n {
			return
		}
		if time.Now().After(deadline) {
			_, got := s.latest()
			tb.Fatalf("got %d samples of the leader's ship status in %v, want %d", got, timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTwinQuiet polls the twin's status until its WAL has not moved for
// quiet, and returns that status.
func waitTwinQuiet(tb testing.TB, c *api.Client, quiet, timeout time.Duration) replicator.TwinStatus {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var prev uint64
	var since time.Time
	for {
		var st node.Status
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Status(ctx, &st)
		cancel()
		if err != nil {
			tb.Fatalf("twin status: %v", err)
		}
		if st.Twin == nil {
			tb.Fatalf("twin status has no twin section: %+v", st)
		}
		now := time.Now()
		if since.IsZero() || st.Twin.WALLast != prev {
			prev, since = st.Twin.WALLast, now
		} else if now.Sub(since) >= quiet {
			return *st.Twin
		}
		if now.After(deadline) {
			tb.Fatalf("twin WAL still moving after %v (at %d)", timeout, prev)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listContents lists namespace e2e under prefix on a node: stale (the
// only kind of read the twin serves) or linearizable.
func listContents(tb testing.TB, c *api.Client, prefix string, stale bool) map[string]string {
	tb.Helper()
	const limit = 100000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.List(ctx, "e2e", prefix, limit, stale)
	if err != nil {
		tb.Fatalf("list (stale %v): %v", stale, err)
	}
	if len(res.Items) >= limit {
		tb.Fatalf("list: got %d keys, the limit: bound the load below it", len(res.Items))
	}
	got := make(map[string]string, len(res.Items))
	for _, kv := range res.Items {
		got[kv.Key] = string(kv.Value)
	}
	return got
}

// waitTwinConverged polls `status --json` until the twin's WAL tip equals
// the leader's and the leader saw it acknowledged, and returns those rows.
func waitTwinConverged(tb testing.TB, l *lab.Lab, timeout time.Duration) []statusRow {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows := status(tb, l)
		ld := rowOf(rows, func(r statusRow) bool { return r.RaftState == "Leader" })
		tw := rowOf(rows, func(r statusRow) bool { return r.Role == string(pki.RoleTwin) })
		if ld != nil && tw != nil && tw.Error == "" && ld.Ship != nil &&
			tw.WALLast == ld.WALLast && tw.WALHash == ld.WALHash && ld.Ship.AckedIndex == ld.WALLast {
			return rows
		}
		if time.Now().After(deadline) {
			tb.Fatalf("twin did not converge with the leader in %v:\n%s", timeout, describeRows(rows))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rowOf returns the first status row matching ok, or nil.
func rowOf(rows []statusRow, ok func(statusRow) bool) *statusRow {
	for i := range rows {
		if ok(rows[i]) {
			return &rows[i]
		}
	}
	return nil
}

// describeRows renders status rows with their ship and twin sections, one
// line each, for failure messages.
func describeRows(rows []statusRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s %s %s wal %d %.12s", r.Name, r.Role, r.RaftState, r.WALLast, r.WALHash)
		if r.Error != "" {
			fmt.Fprintf(&b, " error %q", r.Error)
		}
		if s := r.Ship; s != nil {
			fmt.Fprintf(&b, " ship{active %v connected %v acked %d sent %d last %d lag %d %.3fs err %q}",
				s.Active, s.Connected, s.AckedIndex, s.SentIndex, s.LastIndex, s.LagRecords, s.LagSeconds, s.LastError)
		}
		if t := r.Twin; t != nil {
			fmt.Fprintf(&b, " twin{sender %q connected %v primary last %d refused %d alarm %q}",
				t.Sender, t.Connected, t.PrimaryLastIndex, t.Refused, t.Alarm)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestLab_TwinLeaderSIGKILL kills the shipping leader under load: the new
// leader resumes where the twin is durable, so the twin's chain stays
// gapless and equal to the cell's (same tip hash: every record before it
// matches), every acknowledged write reaches the twin, and no alarm is
// raised (a duplicate or a gap would be refused and alarmed).
func TestLab_TwinLeaderSIGKILL(t *testing.T) {
	l := upLabArgs(t, "--twin")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ld := newLoader(t, l)
	stop := ld.start(ctx, 16, 200000)
	defer stop()
	waitAcked(t, ld, 1000)
	if err := l.Kill(leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitLeader(ctx, leader); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, ld, ld.ackedCount()+1000)
	stop()
	rows := waitTwinConverged(t, l, 60*time.Second)
	tw := rowOf(rows, func(r statusRow) bool { return r.Role == string(pki.RoleTwin) })
	if tw.Twin.Alarm != "" || tw.Twin.Refused != 0 {
		t.Fatalf("twin alarm after the leader change: %q (%d refused)", tw.Twin.Alarm, tw.Twin.Refused)
	}
	twinC, err := l.Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()
	got := listContents(t, twinC, ld.prefix, true)
	missing := 0
	for k, w := range ld.snapshot() {
		if got[k] != w.value {
			missing++
		}
	}
	if missing != 0 {
		t.Fatalf("%d of %d acknowledged writes missing on the twin after the leader's SIGKILL", missing, ld.ackedCount())
	}
	t.Logf("leader %s SIGKILLed mid-stream; twin converged at WAL %d with all %d acknowledged writes", leader, tw.WALLast, ld.ackedCount())
}
