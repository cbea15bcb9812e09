package failover_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

func ctxT(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func regions(tb testing.TB, tweak func(*node.Config)) *cluster.Cluster {
	tb.Helper()
	return cluster.New(tb, cluster.Options{Twin: true, Witness: true, Tweak: tweak, Verbose: os.Getenv("JUMEAU_VERBOSE") != ""})
}

// put writes through n's cell (site or promoted twin).
func put(tb testing.TB, n *node.Node, k string, d replicator.Durability) error {
	tb.Helper()
	cell := n.Cell()
	if cell == nil {
		return errors.New("no cell on " + n.Status().Name)
	}
	_, err := cell.Put(ctxT(tb, 3*time.Second), "fo", k, []byte("value of "+k), d)
	return err
}

// waitPromoted polls until the twin takes a write, and returns when it
// first did.
func waitPromoted(tb testing.TB, c *cluster.Cluster, within time.Duration) time.Time {
	tb.Helper()
	deadline := time.Now().Add(within)
	for i := 0; time.Now().Before(deadline); i++ {
		if tw := c.Twin(); tw != nil && tw.Cell() != nil {
			if err := put(tb, tw, fmt.Sprintf("first-on-twin-%d", i), replicator.DurabilityCell); err == nil {
				return time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("the twin took no write within %s: %+v", within, c.Twin().Status().Failover)
	return time.Time{}
}

// TestFailover_Earthquake: every Monaco site stops; the twin becomes the
// writable primary in the next epoch, with every durability=twin write.
func TestFailover_Earthquake(t *testing.T) {
	c := regions(t, nil)
	leader := c.Node(c.WaitLeader(""))
	var acked []string
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("before-%d", i)
		if err := put(t, leader, k, replicator.DurabilityTwin); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, k)
	}
	cfg := failover.DefaultConfig()
	lost := time.Now()
	for _, s := range c.Sites() {
		c.Stop(s)
	}
	first := waitPromoted(t, c, cfg.DetectAfter+cfg.LeaseDuration+cfg.ClockSkewMargin+5*time.Second)
	rto := first.Sub(lost)
	t.Logf("earthquake: first write accepted on the twin %s after the loss of every site", rto.Round(time.Millisecond))
	tw := c.Twin()
	fs := tw.Status().Failover
	if fs.Epoch != 2 || fs.PrimaryRegion != "luxembourg" || fs.Promotion != "promoted" {
		t.Fatalf("twin failover status: %+v", fs)
	}
	for _, k := range acked {
		v, err := tw.Cell().Get(ctxT(t, 5*time.Second), "fo", k, replicator.Linearizable)
		if err != nil || string(v) != "value of "+k {
			t.Fatalf("durability=twin write %s lost by the failover: %q, %v", k, v, err)
		}
	}
	// The new primary's records carry the new epoch and extend the chain.
	last, _ := tw.WAL().Last()
	rec, err := tw.WAL().Get(last)
	if err != nil || rec.Epoch != 2 {
		t.Fatalf("last record on the new primary: %+v, %v", rec, err)
	}
	if err := tw.WAL().Verify(tw.WAL().First(), last); err != nil {
		t.Fatal(err)
	}
}

// TestFailover_WANCutNoPromotion: a DDoS cuts Monaco-Luxembourg only. The
// witness still hears Monaco: no promotion; the primary keeps writing
// (lease backed by the witness) while its lag grows; on heal the twin
// catches up.
func TestFailover_WANCutNoPromotion(t *testing.T) {
	c := regions(t, nil)
	leader := c.Node(c.WaitLeader(""))
	c.CutWAN()
	cfg := failover.DefaultConfig()
	deadline := time.Now().Add(cfg.DetectAfter + cfg.LeaseDuration + cfg.ClockSkewMargin + time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := put(t, leader, fmt.Sprintf("during-cut-%d", i), replicator.DurabilityCell); err != nil {
			t.Fatalf("primary refused a write during the WAN cut: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tw := c.Twin()
	if tw.Cell() != nil || tw.Status().Failover.Epoch != 1 {
		t.Fatalf("the twin was promoted during a WAN cut: %+v", tw.Status().Failover)
	}
	if ship := leader.Cell().Status().Ship; ship.LagSeconds < cfg.DetectAfter.Seconds() {
		t.Fatalf("lag during the cut: %+v", ship)
	}
	c.Heal()
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestFailover_WitnessDown: without the witness the primary keeps its
// lease through the twin, and nothing is promoted.
func TestFailover_WitnessDown(t *testing.T) {
	c := regions(t, nil)
	leader := c.Node(c.WaitLeader(""))
	c.Stop(c.WitnessName())
	cfg := failover.DefaultConfig()
	deadline := time.Now().Add(cfg.DetectAfter + cfg.LeaseDuration)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := put(t, leader, fmt.Sprintf("witness-down-%d", i), replicator.DurabilityTwin); err != nil {
			t.Fatalf("primary refused a write with the witness down: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tw := c.Twin(); tw.Cell() != nil {
		t.Fatal("the twin was promoted with the witness down")
	}
}

// TestFailover_IsolatedPrimaryFencesItself: Monaco loses both other
// regions. Its leader stops taking writes when the lease runs out, before
// the twin is promoted (no two writers at once); when the network heals,
// Monaco learns the new epoch and its sites demote themselves.
func TestFailover_IsolatedPrimaryFencesItself(t *testing.T) {
	c := regions(t, nil)
	leader := c.Node(c.WaitLeader(""))
	if err := put(t, leader, "before", replicator.DurabilityTwin); err != nil {
		t.Fatal(err)
	}
	c.IsolateRegion()
	var lastMonaco time.Time
	var fenceErr error
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		err := put(t, leader, fmt.Sprintf("isolated-%d", i), replicator.DurabilityCell)
		if err != nil {
			fenceErr = err
			break
		}
		lastMonaco = time.Now()
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(fenceErr, failover.ErrLeaseExpired) {
		t.Fatalf("isolated primary: got %v, want ErrLeaseExpired", fenceErr)
	}
	first := waitPromoted(t, c, 15*time.Second)
	if !lastMonaco.Before(first) {
		t.Fatalf("split brain: Monaco acknowledged a write at %s, after the twin's first at %s", lastMonaco, first)
	}
	t.Logf("Monaco's last write %s before the twin's first", first.Sub(lastMonaco).Round(time.Millisecond))
	c.Heal()
	// Monaco learns epoch 2 and demotes itself: every site restarts as a
	// read-only replica of the new primary and refuses writes.
	waitFor(t, 20*time.Second, "every Monaco site demoted to a replica", func() string {
		for _, s := range c.Sites() {
			n := c.Node(s)
			if n == nil || n.Mode() != "replica" || n.Status().Failover.Epoch != 2 {
				return s + " not a replica in epoch 2 yet"
			}
		}
		return ""
	})
	for _, s := range c.Sites() {
		if _, err := c.Node(s).Twin().Put(ctxT(t, time.Second), "fo", "after-heal", []byte("x"), replicator.DurabilityCell); !errors.Is(err, replicator.ErrReadOnly) {
			t.Fatalf("write on demoted %s: got %v, want ErrReadOnly", s, err)
		}
	}
}

// TestFailover_WithheldThenForced: the WAN is cut first (a DDoS), Monaco
// keeps writing with the witness's lease, then every site is lost. The
// twin cannot know what Monaco wrote during the cut: it withholds the
// automatic promotion with an alarm, and an operator's forced promotion
// then succeeds.
func TestFailover_WithheldThenForced(t *testing.T) {
	c := regions(t, func(cfg *node.Config) { cfg.Failover.MaxLossAge = time.Second })
	leader := c.Node(c.WaitLeader(""))
	c.CutWAN()
	cut := time.Now()
	for i := 0; time.Since(cut) < 3*time.Second; i++ {
		if err := put(t, leader, fmt.Sprintf("unshipped-%d", i), replicator.DurabilityCell); err != nil {
			t.Fatalf("primary refused a write during the WAN cut: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range c.Sites() {
		c.Stop(s)
	}
	tw := c.Twin()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !strings.HasPrefix(tw.Status().Failover.Promotion, "ALARM") {
		time.Sleep(50 * time.Millisecond)
	}
	fs := tw.Status().Failover
	if tw.Cell() != nil || !strings.HasPrefix(fs.Promotion, "ALARM") {
		t.Fatalf("twin after the loss: promoted %v, status %+v; want no promotion and an alarm", tw.Cell() != nil, fs)
	}
	t.Logf("withheld: %s", fs.Promotion)
	res, err := tw.Promote(ctxT(t, 10*time.Second), true)
	if err != nil || !res.Promoted || res.Epoch != 2 {
		t.Fatalf("forced promotion: %+v, %v", res, err)
	}
	waitPromoted(t, c, 5*time.Second)
}
