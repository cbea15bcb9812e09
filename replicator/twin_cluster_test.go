package replicator_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// load runs writers against the running sites until stop is closed or
// limit writes were acknowledged, and returns the acknowledged keys. Writes
// that fail (leader moving, site stopped) are retried on another site.
type load struct {
	c      *cluster.Cluster
	stop   chan struct{}
	wg     sync.WaitGroup
	acked  atomic.Int64
	mu     sync.Mutex
	keys   map[string]uint64 // key -> WAL index
	errors atomic.Int64
}

func startLoad(tb testing.TB, c *cluster.Cluster, writers int, limit int64, d replicator.Durability) *load {
	tb.Helper()
	l := &load{c: c, stop: make(chan struct{}), keys: map[string]uint64{}}
	deadline := time.Now().Add(60 * time.Second)
	for w := 0; w < writers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; time.Now().Before(deadline) && l.acked.Load() < limit; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				sites := c.Sites()
				n := c.Node(sites[(w+i)%len(sites)])
				if n == nil {
					continue
				}
				k := fmt.Sprintf("w%d-%06d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := n.Cell().Put(ctx, "load", k, []byte("value of "+k), d)
				cancel()
				if err != nil {
					l.errors.Add(1)
					continue
				}
				l.acked.Add(1)
				l.mu.Lock()
				l.keys[k] = res.WALIndex
				l.mu.Unlock()
			}
		}()
	}
	tb.Cleanup(l.halt)
	return l
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitAcked polls until n more writes were acknowledged.
func (l *load) waitAcked(tb testing.TB, n int64) {
	tb.Helper()
	want := l.acked.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for l.acked.Load() < want {
		if time.Now().After(deadline) {
			tb.Fatalf("load stalled: %d acked, want %d (%d errors)", l.acked.Load(), want, l.errors.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkTwinHas reads every acknowledged key on the twin (stale read).
func checkTwinHas(tb testing.TB, c *cluster.Cluster, keys map[string]uint64) {
	tb.Helper()
	tw := c.Twin().Twin()
	for k := range keys {
		v, err := tw.Get(ctxT(tb, 5*time.Second), "load", k, replicator.Stale)
		if err != nil || string(v) != "value of "+k {
			tb.Fatalf("twin: get %s: got %q, %v", k, v, err)
		}
	}
}

func twinCluster(tb testing.TB, loss float64, tweak func(*node.Config)) *cluster.Cluster {
	tb.Helper()
	return cluster.New(tb, cluster.Options{Twin: true, WANLoss: loss, Tweak: tweak})
}

// TestTwin_ConvergesOverLossyWAN: 12 ms RTT and 1% loss each way,
// sustained writes; the twin ends with the leader's WAL hash and state.
func TestTwin_ConvergesOverLossyWAN(t *testing.T) {
	c := twinCluster(t, 0.01, nil)
	l := startLoad(t, c, 8, 3000, replicator.DurabilityCell)
	l.wg.Wait()
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkTwinHas(t, c, l.keys)
	if st := c.Twin().Twin().Status(); st.Alarm != "" || st.Refused != 0 {
		t.Fatalf("twin raised an alarm: %+v", st)
	}
}

// TestTwin_LeaderKilledMidStream stops the leader while it ships under
// load; the next leader resumes where the twin is: the twin's chain stays
// dense and verified (no gap, no duplicate) and ends equal to the cell's.
func TestTwin_LeaderKilledMidStream(t *testing.T) {
	c := twinCluster(t, 0, nil)
	l := startLoad(t, c, 8, 1<<30, replicator.DurabilityCell)
	l.waitAcked(t, 500)
	leader := c.WaitLeader("")
	c.Stop(leader)
	c.WaitLeader(leader)
	l.waitAcked(t, 500)
	l.halt()
	c.Start(leader)
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkTwinHas(t, c, l.keys)
	if st := c.Twin().Twin().Status(); st.Alarm != "" {
		t.Fatalf("leader change raised an alarm on the twin: %s", st.Alarm)
	}
}

// TestTwin_BlackholeCatchUp cuts the WAN for 30 s under load, then heals
// it: the twin catches up.
func TestTwin_BlackholeCatchUp(t *testing.T) {
	c := twinCluster(t, 0, nil)
	l := startLoad(t, c, 2, 1<<30, replicator.DurabilityCell)
	l.waitAcked(t, 100)
	c.CutWAN()
	cut := time.Now()
	l.waitAcked(t, 200)
	leader := c.Node(c.WaitLeader(""))
	for time.Since(cut) < 30*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	st := leader.Cell().Status().Ship
	if st == nil || st.LagRecords == 0 || st.LagSeconds < 25 {
		t.Fatalf("lag during the cut: got %+v, want records > 0 and about 30 s", st)
	}
	c.Heal()
	l.waitAcked(t, 100)
	l.halt()
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkTwinHas(t, c, l.keys)
}

// TestTwin_WipedDiskRebuilds wipes the twin's data directory: with the
// leader's WAL complete it replays from index 1; once retention dropped
// the start of the WAL it gets a state snapshot, then the log.
func TestTwin_WipedDiskRebuilds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		retain   uint64
		snapshot bool
	}{
		{"replay from the first record", 0, false},
		{"state snapshot past retention", 1024, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := twinCluster(t, 0, func(cfg *node.Config) {
				cfg.WAL.RetainRecords = tc.retain
				cfg.WAL.RetainEvery = 20 * time.Millisecond
			})
			l := startLoad(t, c, 8, 3000, replicator.DurabilityCell)
			l.wg.Wait()
			if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			leader := c.Node(c.WaitLeader(""))
			if tc.snapshot {
				deadline := time.Now().Add(10 * time.Second)
				for leader.WAL().First() == 1 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if leader.WAL().First() == 1 {
					t.Fatal("retention did not run on the leader")
				}
			}
			tw := c.TwinName()
			dir := c.Lab.Nodes[len(c.Lab.Nodes)-1].DataDir
			if c.Lab.Nodes[len(c.Lab.Nodes)-1].Name != tw {
				t.Fatalf("last lab node is %s, want the twin", c.Lab.Nodes[len(c.Lab.Nodes)-1].Name)
			}
			c.Stop(tw)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			c.Start(tw)
			l2 := startLoad(t, c, 2, 200, replicator.DurabilityCell)
			l2.wg.Wait()
			if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			checkTwinHas(t, c, l.keys)
			checkTwinHas(t, c, l2.keys)
			st := c.Twin().Twin().Status()
			if got := st.SnapshotsRestored > 0; got != tc.snapshot {
				t.Fatalf("snapshot restored: got %v, want %v (%+v)", got, tc.snapshot, st)
			}
		})
	}
}

// TestCell_DurabilityTwin: a twin write is on the twin when it returns;
// with the WAN cut it fails with ErrTwinUnconfirmed after write_timeout,
// and stays committed in the cell. Frames are zstd-compressed here.
func TestCell_DurabilityTwin(t *testing.T) {
	c := twinCluster(t, 0, func(cfg *node.Config) {
		cfg.Twin.WriteTimeout = time.Second
		cfg.Twin.Compression = "zstd"
	})
	leader := c.WaitLeader("")
	for _, site := range c.Sites() {
		cell := c.Node(site).Cell()
		for i := 0; i < 20; i++ {
			k := fmt.Sprintf("%s-%d", site, i)
			res, err := cell.Put(ctxT(t, 10*time.Second), "load", k, []byte("value of "+k), replicator.DurabilityTwin)
			if err != nil {
				t.Fatalf("twin write via %s: %v", site, err)
			}
			if got, _ := c.Twin().WAL().Last(); got < res.WALIndex {
				t.Fatalf("twin write %s returned before the twin had it: twin at %d, write at %d", k, got, res.WALIndex)
			}
			checkTwinHas(t, c, map[string]uint64{k: res.WALIndex})
		}
	}
	c.CutWAN()
	start := time.Now()
	_, err := c.Node(leader).Cell().Put(ctxT(t, 10*time.Second), "load", "cut", []byte("value of cut"), replicator.DurabilityTwin)
	if !errors.Is(err, replicator.ErrTwinUnconfirmed) {
		t.Fatalf("twin write with the WAN cut: got %v, want ErrTwinUnconfirmed", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("twin write failed after %s, want about the 1s write_timeout", took)
	}
	v, err := c.Node(leader).Cell().Get(ctxT(t, 5*time.Second), "load", "cut", replicator.Linearizable)
	if err != nil || string(v) != "value of cut" {
		t.Fatalf("unconfirmed write is not committed in the cell: %q, %v", v, err)
	}
	// Once the twin has been unreachable for longer than write_timeout,
	// a twin write says so at once instead of waiting it out again (the
	// shipper notices the dead stream within its 2 s stall check).
	waitUnconfirmedFast := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		start := time.Now()
		_, err := c.Node(leader).Cell().Put(ctxT(t, 10*time.Second), "load", fmt.Sprintf("cut-%d", i), []byte("v"), replicator.DurabilityTwin)
		if !errors.Is(err, replicator.ErrTwinUnconfirmed) {
			t.Fatalf("twin write %d with the WAN cut: got %v, want ErrTwinUnconfirmed", i, err)
		}
		if time.Since(start) < 500*time.Millisecond { // write_timeout is 1 s here
			break
		}
		if time.Now().After(waitUnconfirmedFast) {
			t.Fatalf("twin writes still wait out write_timeout 15 s into the cut: %v", err)
		}
	}
	c.Heal()
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestCell_RPOGuardBlock: past sla.rpo the cell refuses writes, and takes
// them again once the twin caught up.
func TestCell_RPOGuardBlock(t *testing.T) {
	c := twinCluster(t, 0, func(cfg *node.Config) {
		cfg.SLA.RPO = time.Second
		cfg.SLA.RPOGuard = "block"
	})
	cell := c.Node(c.WaitLeader("")).Cell()
	put := func(k string) error {
		_, err := cell.Put(ctxT(t, 5*time.Second), "load", k, []byte("value of "+k), replicator.DurabilityCell)
		return err
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	c.CutWAN()
	if err := put("during"); err != nil {
		t.Fatalf("first write after the cut (lag 0): %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for i := 0; time.Now().Before(deadline); i++ {
		if err = put(fmt.Sprintf("cut-%d", i)); errors.Is(err, replicator.ErrRPOExceeded) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !errors.Is(err, replicator.ErrRPOExceeded) {
		t.Fatalf("writes past the RPO: got %v, want ErrRPOExceeded", err)
	}
	if st := cell.Status().Ship; st.LagSeconds <= 1 {
		t.Fatalf("blocked with lag %.2fs <= rpo 1s", st.LagSeconds)
	}
	c.Heal()
	deadline = time.Now().Add(30 * time.Second)
	for err = put("after"); err != nil && time.Now().Before(deadline); err = put("after") {
		if !errors.Is(err, replicator.ErrRPOExceeded) {
			t.Fatalf("write after heal: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("writes not accepted after heal: %v", err)
	}
}

// guardActions reads jumeau_rpo_guard_actions_total{action} from a node.
func guardActions(tb testing.TB, n *node.Node, action string) float64 {
	tb.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jumeau_rpo_guard_actions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "action" && lp.GetValue() == action {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestCell_RPOGuardThrottle: with the guard at throttle, writes are
// delayed (counted) once the lag passes half of sla.rpo, and still accepted
// past the budget.
func TestCell_RPOGuardThrottle(t *testing.T) {
	c := twinCluster(t, 0, func(cfg *node.Config) {
		cfg.SLA.RPO = time.Second
		cfg.SLA.RPOGuard = "throttle"
	})
	leader := c.Node(c.WaitLeader(""))
	put := func(k string) error {
		_, err := leader.Cell().Put(ctxT(t, 5*time.Second), "load", k, []byte("value of "+k), replicator.DurabilityCell)
		return err
	}
	for i := 0; i < 20; i++ {
		if err := put(fmt.Sprintf("healthy-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := guardActions(t, leader, "throttled"); got != 0 {
		t.Fatalf("throttled with a healthy twin: %v writes", got)
	}
	c.CutWAN()
	if err := put("first-after-cut"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for leader.Cell().Status().Ship.LagSeconds <= 1.2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		if err := put(fmt.Sprintf("past-budget-%d", i)); err != nil {
			t.Fatalf("throttle must not refuse writes: %v", err)
		}
	}
	if got := guardActions(t, leader, "throttled"); got < 3 {
		t.Fatalf("throttled writes past the budget: got %v, want >= 3", got)
	}
	c.Heal()
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}
