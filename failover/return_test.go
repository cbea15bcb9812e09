package failover_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/wal"
)

// waitFor polls cond until it returns "" or within passes; it fails the
// test with cond's last answer.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() string) {
	tb.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s: not within %s: %s", what, within, last)
}

// hasValue reports whether n's state holds "value of k" for fo/k.
func hasValue(tb testing.TB, n *node.Node, k string) bool {
	tb.Helper()
	var v []byte
	var err error
	if cell := n.Cell(); cell != nil {
		v, err = cell.Get(ctxT(tb, 5*time.Second), "fo", k, replicator.Linearizable)
	} else {
		v, err = n.Twin().Get(ctxT(tb, 5*time.Second), "fo", k, replicator.Stale)
	}
	return err == nil && string(v) == "value of "+k
}

// TestFailover_ReturnOfMonaco: the WAN is cut, Monaco acknowledges writes
// the twin never gets, then every site is lost and the twin is promoted.
// When Monaco comes back its sites demote themselves, export exactly the
// records the twin missed (the forked tail), and resync as replicas of
// the new primary; a switchover then hands the primary role back to
// Monaco without losing a write.
func TestFailover_ReturnOfMonaco(t *testing.T) {
	c := regions(t, nil)
	leader := c.Node(c.WaitLeader(""))
	var before, forked, onLux []string
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("before-%d", i)
		if err := put(t, leader, k, replicator.DurabilityTwin); err != nil {
			t.Fatal(err)
		}
		before = append(before, k)
	}
	// Writes acknowledged by the cell while the WAN is cut never reach
	// the twin: they will be Monaco's forked tail.
	c.CutWAN()
	for i := 0; i < 15; i++ {
		k := fmt.Sprintf("forked-%d", i)
		if err := put(t, leader, k, replicator.DurabilityCell); err != nil {
			t.Fatal(err)
		}
		forked = append(forked, k)
	}
	sites := c.Sites()
	for _, s := range sites {
		c.Stop(s)
	}
	c.Heal()
	cfg := failover.DefaultConfig()
	waitPromoted(t, c, cfg.DetectAfter+cfg.LeaseDuration+cfg.ClockSkewMargin+5*time.Second)
	lux := c.Twin()
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("lux-%d", i)
		if err := put(t, lux, k, replicator.DurabilityCell); err != nil {
			t.Fatal(err)
		}
		onLux = append(onLux, k)
	}
	st := lux.Status().Failover
	if st.Epoch != 2 || st.StartIndex == 0 {
		t.Fatalf("promoted twin: %+v, want epoch 2 with its start index", st)
	}
	for _, k := range forked {
		if hasValue(t, lux, k) {
			t.Fatalf("forked write %s reached the twin: the WAN cut did not hold", k)
		}
	}

	// Monaco comes back: its sites learn epoch 2, demote, export, resync.
	for _, s := range sites {
		c.Start(s)
	}
	luxLast := func() uint64 { l, _ := lux.WAL().Last(); return l }
	waitFor(t, 60*time.Second, "every site a caught-up replica of lux-1", func() string {
		for _, s := range sites {
			n := c.Node(s)
			switch {
			case n == nil:
				return s + " is down (restart errors: " + fmt.Sprint(c.RestartErrors()) + ")"
			case n.Mode() != "replica":
				return s + " is in mode " + n.Mode()
			}
			if last, _ := n.WAL().Last(); last != luxLast() {
				return fmt.Sprintf("%s at WAL %d, lux-1 at %d", s, last, luxLast())
			}
		}
		return ""
	})
	want, _, err := replicator.StateDigest(lux.DB())
	if err != nil {
		t.Fatal(err)
	}
	var tailKeys []string
	for _, s := range sites {
		n := c.Node(s)
		if got, _, err := replicator.StateDigest(n.DB()); err != nil || got != want {
			t.Errorf("%s's state digest differs from the new primary's (%v)", s, err)
		}
		ln, err := c.Lab.Node(s)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(node.ForkedTailPath(ln.DataDir, 2))
		if err != nil {
			t.Fatalf("%s exported no forked tail: %v", s, err)
		}
		hdr, recs, err := wal.ReadTail(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s's forked tail: %v", s, err)
		}
		if hdr.ForkIndex != st.StartIndex || (len(recs) > 0 && !hdr.ForkMatch) {
			t.Errorf("%s's tail header %+v: want fork index %d with a matching chain", s, hdr, st.StartIndex)
		}
		for _, r := range recs {
			if r.Op == wal.OpPut && !slices.Contains(forked, r.Key) {
				t.Errorf("%s's forked tail holds %s/%s (index %d): not a write the twin missed", s, r.Namespace, r.Key, r.Index)
			}
			if r.Op == wal.OpPut && !slices.Contains(tailKeys, r.Key) {
				tailKeys = append(tailKeys, r.Key)
			}
		}
		t.Logf("%s: forked tail of %d records (index %d..%d)", s, len(recs), hdr.First, hdr.Last)
	}
	for _, k := range forked {
		if !slices.Contains(tailKeys, k) {
			t.Errorf("acknowledged write %s is neither on the new primary nor in any forked tail", k)
		}
	}

	// The replicas back the new primary's lease: with the witness down it
	// keeps taking writes past a lease duration.
	c.Stop(c.WitnessName())
	until := time.Now().Add(cfg.LeaseDuration + cfg.ClockSkewMargin + time.Second)
	for i := 0; time.Now().Before(until); i++ {
		k := fmt.Sprintf("lux-witness-down-%d", i)
		if err := put(t, lux, k, replicator.DurabilityCell); err != nil {
			t.Fatalf("the promoted twin refused a write with the witness down (its lease rests on the Monaco replicas too): %v", err)
		}
		onLux = append(onLux, k)
		time.Sleep(100 * time.Millisecond)
	}
	c.Start(c.WitnessName())

	// Failback: lux-1 hands the primary role to Monaco.
	var res node.SwitchResult
	waitFor(t, 15*time.Second, "the switchover to monaco", func() string {
		// The replicas must hold lux-1's tip first (the new writes).
		if res, err = lux.Switchover(ctxT(t, 5*time.Second), "monaco"); err != nil {
			return err.Error()
		}
		return ""
	})
	t.Logf("switchover: %+v", res)
	var newLeader *node.Node
	waitFor(t, 30*time.Second, "a Monaco leader taking writes", func() string {
		for _, s := range sites {
			n := c.Node(s)
			if n == nil || n.Cell() == nil || !n.Cell().IsLeader() {
				continue
			}
			if err := put(t, n, "after-switchback", replicator.DurabilityTwin); err != nil {
				return err.Error()
			}
			newLeader = n
			return ""
		}
		return "no Monaco leader yet"
	})
	for _, k := range slices.Concat(before, onLux) {
		if !hasValue(t, newLeader, k) {
			t.Errorf("acknowledged write %s lost by the switchover", k)
		}
	}
	waitFor(t, 20*time.Second, "lux-1 a receiver again, converged", func() string {
		tw := c.Twin()
		if tw == nil || tw.Mode() != "twin" {
			return "lux-1 not a receiver yet"
		}
		l1, _ := tw.WAL().Last()
		l2, _ := newLeader.WAL().Last()
		if l1 != l2 {
			return fmt.Sprintf("lux-1 at %d, monaco at %d", l1, l2)
		}
		return ""
	})
	if fs := c.Node(c.WitnessName()).Status().Failover; fs.Epoch != 3 || fs.PrimaryRegion != "monaco" {
		t.Fatalf("witness after the switchback: %+v, want epoch 3 with monaco primary", fs)
	}
	if errs := c.RestartErrors(); len(errs) > 0 {
		t.Fatalf("automatic restarts failed: %v", errs)
	}
}

// TestFailover_StaleSiteRefusesOldCell: site-c is down through a whole
// promotion and failback. The failback goes ahead with the majority of
// Monaco (site-a, site-b); when site-c comes back it learns the epoch at
// start, sees that its store predates the re-formed cell, moves it aside
// and refuses to start (its old Raft log must never win an election in
// the new cell), while the cell keeps its writes.
func TestFailover_StaleSiteRefusesOldCell(t *testing.T) {
	c := regions(t, nil)
	leader := c.Node(c.WaitLeader(""))
	for i := 0; i < 10; i++ {
		if err := put(t, leader, fmt.Sprintf("before-%d", i), replicator.DurabilityTwin); err != nil {
			t.Fatal(err)
		}
	}
	sites := c.Sites()
	stale := sites[2]
	c.Stop(stale)
	for i := 0; i < 10; i++ { // site-c misses these
		if err := put(t, c.Node(c.WaitLeader(stale)), fmt.Sprintf("without-c-%d", i), replicator.DurabilityTwin); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sites[:2] {
		c.Stop(s)
	}
	cfg := failover.DefaultConfig()
	waitPromoted(t, c, cfg.DetectAfter+cfg.LeaseDuration+cfg.ClockSkewMargin+5*time.Second)
	lux := c.Twin()
	if err := put(t, lux, "on-lux", replicator.DurabilityCell); err != nil {
		t.Fatal(err)
	}
	for _, s := range sites[:2] {
		c.Start(s)
	}
	waitFor(t, 30*time.Second, "site-a and site-b caught-up replicas", func() string {
		want, _ := lux.WAL().Last()
		for _, s := range sites[:2] {
			n := c.Node(s)
			if n == nil || n.Mode() != "replica" {
				return s + " not a replica yet"
			}
			if got, _ := n.WAL().Last(); got != want {
				return fmt.Sprintf("%s at %d, lux-1 at %d", s, got, want)
			}
		}
		return ""
	})
	// Failback with two of the three sites: a majority holds the tip.
	waitFor(t, 15*time.Second, "the switchover to monaco", func() string {
		if _, err := lux.Switchover(ctxT(t, 5*time.Second), "monaco"); err != nil {
			return err.Error()
		}
		return ""
	})
	var cellLeader *node.Node
	waitFor(t, 30*time.Second, "a Monaco leader taking writes", func() string {
		for _, s := range sites[:2] {
			if n := c.Node(s); n != nil && n.Cell() != nil && n.Cell().IsLeader() {
				if err := put(t, n, "after-failback", replicator.DurabilityCell); err != nil {
					return err.Error()
				}
				cellLeader = n
				return ""
			}
		}
		return "no leader among site-a, site-b"
	})
	// site-c returns: it must refuse to join with its old store.
	err := c.TryStart(stale)
	if !errors.Is(err, node.ErrStaleSite) {
		t.Fatalf("start of the stale %s: got %v, want ErrStaleSite", stale, err)
	}
	t.Logf("%s refused: %v", stale, err)
	ln, _ := c.Lab.Node(stale)
	if m, _ := filepath.Glob(filepath.Join(ln.DataDir, "pebble.fork-e*")); len(m) == 0 {
		t.Errorf("%s's old store was not kept aside", stale)
	}
	for _, k := range []string{"before-0", "without-c-9", "on-lux", "after-failback"} {
		if !hasValue(t, cellLeader, k) {
			t.Errorf("acknowledged write %s missing on the re-formed cell", k)
		}
	}
}
