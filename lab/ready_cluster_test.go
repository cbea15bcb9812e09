package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/lab"
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

	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	res, err := c.Node(leader).Switchover(sctx, lab.TwinRegion)
	scancel()
	if err != nil {
		t.Fatalf("switchover to %s: %v", lab.TwinRegion, err)
	}
	got, err = l.WaitPrimary(ctx)
	if err != nil {
		t.Fatalf("after the switchover: %v", err)
	}
	if want := (lab.Primary{Name: lab.TwinName, Epoch: res.Epoch, Region: lab.TwinRegion, Mode: lab.ModePrimary}); got != want || res.Epoch != 2 {
		t.Fatalf("after the switchover (epoch %d): got %+v, want %+v in epoch 2", res.Epoch, got, want)
	}
}
