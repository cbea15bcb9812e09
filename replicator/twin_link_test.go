package replicator_test

import (
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// linkState is what the leader and the twin say of the WAN link.
type linkState struct {
	ship *replicator.ShipStatus
	twin replicator.TwinStatus
}

func readLink(tb testing.TB, c *cluster.Cluster) linkState {
	tb.Helper()
	leader := c.Node(c.WaitLeader(""))
	return linkState{ship: leader.Cell().Status().Ship, twin: c.Twin().Twin().Status()}
}

// waitLink polls until both ends report connected == want, or fails
// after d.
func waitLink(tb testing.TB, c *cluster.Cluster, want bool, d time.Duration) linkState {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		st := readLink(tb, c)
		if st.ship != nil && st.ship.Connected == want && st.twin.Connected == want {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("link connected: got ship %+v, twin %+v after %s, want %v at both ends", st.ship, st.twin, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShipStatus_Connected blackholes the WAN under an idle ship stream:
// both ends must stop calling the link connected within their bound
// (max(3 x heartbeat, 1 s)), while the QUIC session is still up (the
// shipper has recorded no session error), and call it connected again
// once the link heals. An idle but healthy link stays connected: the
// twin answers heartbeats.
func TestShipStatus_Connected(t *testing.T) {
	c := twinCluster(t, 0, nil)
	l := startLoad(t, c, 2, 20, replicator.DurabilityCell)
	l.wg.Wait()
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitLink(t, c, true, 10*time.Second)

	t.Run("idle link stays connected", func(t *testing.T) {
		// Several bounds of silence but for heartbeats and their answers.
		for i := 0; i < 30; i++ {
			st := readLink(t, c)
			if got, want := st.ship != nil && st.ship.Connected, true; got != want {
				t.Fatalf("ship connected on an idle healthy link: got %v, want %v (%+v)", got, want, st.ship)
			}
			if got, want := st.twin.Connected, true; got != want {
				t.Fatalf("twin connected on an idle healthy link: got %v, want %v (%+v)", got, want, st.twin)
			}
			if got := st.ship.LastHeardMs; got < 0 || got > 1000 {
				t.Fatalf("ship last_heard_ms on an idle healthy link: got %d, want 0..1000", got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("blackholed link is not connected", func(t *testing.T) {
		c.CutWAN()
		// QUIC gives an idle session up only after its idle timeout
		// (tens of seconds); the status must not wait for that.
		st := waitLink(t, c, false, 5*time.Second)
		if got, want := st.ship.LastError, ""; got != want {
			t.Fatalf("ship session ended before the status said disconnected: last error %q, want %q", got, want)
		}
		if got := st.ship.LastHeardMs; got < 1000 {
			t.Fatalf("ship last_heard_ms when disconnected: got %d, want >= 1000", got)
		}
		if got := st.twin.LastHeardMs; got < 1000 {
			t.Fatalf("twin last_heard_ms when disconnected: got %d, want >= 1000", got)
		}
		c.Heal()
		waitLink(t, c, true, 30*time.Second)
	})
}
