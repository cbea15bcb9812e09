package replicator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// Regression (found in review): a follower that crashed after hashicorp/raft persisted an installed
// snapshot (sink.Close) but before FSM.Restore committed: simulated by
// copying the leader's snapshot into the stopped follower's snapshot dir.
func TestCell_RestartWithStoredButUnappliedSnapshot(t *testing.T) {
	c := cluster.New(t, cluster.Options{Tweak: func(cfg *node.Config) {
		cfg.Raft.SnapshotThreshold = 1 << 30
		cfg.Raft.SnapshotInterval = time.Hour
	}})
	leader := c.WaitLeader("")
	f := follower(c, leader)
	putN(t, c, leader, "before", 5)
	if err := c.WaitConverged(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.Stop(f)
	during := putN(t, c, leader, "during", 20)
	if err := c.Node(leader).Cell().Snapshot(); err != nil {
		t.Fatal(err)
	}
	ln, _ := c.Lab.Node(leader)
	fn, _ := c.Lab.Node(f)
	src := filepath.Join(ln.DataDir, "snapshots", "snapshots")
	dst := filepath.Join(fn.DataDir, "snapshots")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	c.Start(f)
	putN(t, c, c.WaitLeader(""), "after", 3)
	if err := c.WaitConverged(ctxT(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	for k := range during {
		if _, err := c.Node(f).Cell().Get(ctxT(t, time.Second), "test", k, replicator.Stale); err != nil {
			t.Errorf("follower lost %s: %v", k, err)
			break
		}
	}
}

// Regression (found in review): a write acknowledged by the old leader, then a linearizable read on the
// new leader before the new leader has committed an entry of its term.
func TestCell_LinearizableReadAfterElection(t *testing.T) {
	c := cluster.New(t, cluster.Options{Tweak: func(cfg *node.Config) {
		cfg.Raft.CommitTimeout = 3 * time.Second // followers learn the commit index late
		cfg.Raft.MaxAppendEntries = 1            // a lagging site catches up slowly
	}})
	a := c.WaitLeader("")
	var b, cc string
	for _, n := range c.Names() {
		if n == a {
			continue
		}
		if b == "" {
			b = n
		} else {
			cc = n
		}
	}
	c.Stop(cc)
	want := putN(t, c, a, "during", 300)
	c.Stop(a) // the last put was acknowledged; b has it but not its commit
	c.SetLinks(faultlink.Params{Delay: 5 * time.Millisecond})
	c.Start(cc)
	bc := c.Node(b).Cell()
	deadline := time.Now().Add(15 * time.Second)
	for !bc.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // poll with a deadline
	}
	if !bc.IsLeader() {
		t.Fatal("b did not become leader")
	}
	t.Logf("b leader: commit=%d applied=%d last=%d", bc.Raft().CommitIndex(), bc.FSM().Applied(), bc.Raft().LastIndex())
	k := "during-0299"
	// cc catches up one entry per round trip before b can commit an entry
	// of its term: generous deadline for a loaded machine.
	got, err := bc.Get(ctxT(t, 30*time.Second), "test", k, replicator.Linearizable)
	if err != nil || string(got) != string(want[k]) {
		t.Errorf("linearizable read of acknowledged %s on new leader: got %q, %v", k, got, err)
	}
}
