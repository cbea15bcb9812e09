package replicator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A write on a replica (the twin, or a demoted site) says it is a replica
// and names the primary it follows, not only "the twin".
func TestTwin_Put(t *testing.T) {
	r := newTwinRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := r.twin.Put(ctx, "ns", "k", []byte("v"), DurabilityCell)
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("got %v, want ErrReadOnly", err)
	}
	want := "replica of primary region " + r.twin.cfg.PrimaryRegion
	if got := err.Error(); !strings.Contains(got, want) || strings.Contains(got, "is the twin") {
		t.Fatalf("got %q, want it to say %q and not call the node the twin", got, want)
	}
}
