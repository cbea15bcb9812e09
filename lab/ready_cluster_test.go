package lab_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
)

// TestLab_WaitPrimary asks real nodes (in-process, on the lab's plan and
// API addresses) for the primary: the Monaco cell leader in epoch 1, then,
// after a switchover to Luxembourg, the twin in epoch 2 (the sites are
// replicas with no cell leader at all).
func TestLab_WaitPrimary(t *testing.T) {
	c := cluster.New(t, cluster.Options{Twin: true, Witness: true})
	l := c.Lab
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	got, err := l.WaitPrimary(ctx)
	if err != nil {
		t.Fatalf("epoch 1: %v", err)
	}
	leader := c.WaitLeader("")
	if want := (lab.Primary{Name: leader, Epoch: 1, Region: lab.PrimaryRegion, Mode: lab.ModeCell}); got != want {
		t.Fatalf("epoch 1: got %+v, want %+v", got, want)
	}

	// A refused switchover changed nothing (writes resume on the
	// primary): on a loaded test machine the twin's status query can
	// time out, so try a few times.
	var res node.SwitchResult
	for try := 1; ; try++ {
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		res, err = c.Node(leader).Switchover(sctx, lab.TwinRegion)
		scancel()
		if err == nil {
			break
		}
		if try == 3 || !errors.Is(err, failover.ErrRefused) {
			t.Fatalf("switchover to %s (try %d): %v", lab.TwinRegion, try, err)
		}
		t.Logf("switchover to %s refused (try %d), trying again: %v", lab.TwinRegion, try, err)
	}
	got, err = l.WaitPrimary(ctx)
	if err != nil {
		t.Fatalf("after the switchover: %v", err)
	}
	if want := (lab.Primary{Name: lab.TwinName, Epoch: res.Epoch, Region: lab.TwinRegion, Mode: lab.ModePrimary}); got != want || res.Epoch != 2 {
		t.Fatalf("after the switchover (epoch %d): got %+v, want %+v in epoch 2", res.Epoch, got, want)
	}
}
