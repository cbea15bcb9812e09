package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// TestNode_SandboxDrill: the live drill promotes a clone of the twin in
// isolation while the primary keeps writing and the twin keeps receiving;
// nothing of the clone reaches the twin's store, its keyring, its epoch
// or the sites.
func TestNode_SandboxDrill(t *testing.T) {
	c := cluster.New(t, cluster.Options{Twin: true, Witness: true})
	leader := c.Node(c.WaitLeader(""))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		if _, err := leader.Cell().Put(ctx, "app", fmt.Sprintf("k%d", i), []byte("v"), replicator.DurabilityTwin); err != nil {
			t.Fatal(err)
		}
	}
	// Writes go on during the drill.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var during atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load() && i < 5000; i++ {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if _, err := leader.Cell().Put(wctx, "app", fmt.Sprintf("during-%d", i), []byte("v"), replicator.DurabilityCell); err == nil {
				during.Add(1)
			}
			cancel()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	twin := c.Twin()
	ln, err := c.Lab.Node(c.TwinName())
	if err != nil {
		t.Fatal(err)
	}
	krBefore, _ := os.ReadFile(filepath.Join(filepath.Dir(ln.Config), "keyring.json"))
	res, err := twin.SandboxDrill(ctx)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("SandboxDrill: %v", err)
	}
	t.Logf("live drill: %+v (%d writes acknowledged meanwhile)", res, during.Load())
	switch {
	case !res.ChainVerified || res.VerifiedTo != res.CheckpointIndex || res.CheckpointIndex < 51:
		t.Errorf("clone integrity: got verified %v up to %d, checkpoint %d; want the chain verified to a checkpoint holding the 50 twin writes", res.ChainVerified, res.VerifiedTo, res.CheckpointIndex)
	case res.ProbeIndex <= res.CheckpointIndex || !res.ProbeReadBack:
		t.Errorf("clone promotion: probe at WAL %d (checkpoint %d), read back %v; want a write after the checkpoint, read back", res.ProbeIndex, res.CheckpointIndex, res.ProbeReadBack)
	case res.StateKeys < 50:
		t.Errorf("clone state: %d keys, want at least the 50 written", res.StateKeys)
	}
	// Replication never stopped: the twin converges on the cell's tip.
	if err := c.WaitTwinConverged(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing of the clone leaked: not in the twin's state, not in its
	// keyring file, not on the sites; the epoch did not move; the sandbox
	// directory is gone.
	if _, err := twin.Twin().Get(ctx, "jumeau-sandbox", "probe", replicator.Stale); !errors.Is(err, replicator.ErrNotFound) {
		t.Errorf("the clone's probe reached the twin's own store: %v", err)
	}
	if _, err := leader.Cell().Get(ctx, "jumeau-sandbox", "probe", replicator.Linearizable); !errors.Is(err, replicator.ErrNotFound) {
		t.Errorf("the clone's probe reached the cell: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(filepath.Dir(ln.Config), "keyring.json")); !bytes.Equal(after, krBefore) {
		t.Error("the live drill changed the twin's keyring file")
	}
	if st := c.Node(c.WitnessName()).Status().Failover; st.Epoch != 1 {
		t.Errorf("the live drill moved the region epoch: %+v", st)
	}
	if m, _ := filepath.Glob(filepath.Join(ln.DataDir, "sandbox-*")); len(m) != 0 {
		t.Errorf("sandbox directories left behind: %v", m)
	}
	// Only the twin runs it.
	if _, err := leader.SandboxDrill(ctx); !errors.Is(err, failover.ErrRefused) {
		t.Errorf("live drill on a site: got %v, want ErrRefused", err)
	}
}
