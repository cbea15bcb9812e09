package replicator

import (
	"errors"
	"testing"
	"time"
)

func testShipper(tb testing.TB) *shipper {
	tb.Helper()
	s := &shipper{cfg: DefaultShipConfig(), ackCh: make(chan struct{})}
	s.m = newShipMetrics(s, nil)
	return s
}

// TestShipper_OnAck: the twin answers heartbeats with an ack of its tip,
// which releases nothing; the shipper takes it when it names the index
// and hash already acknowledged, and calls anything else a divergence.
func TestShipper_OnAck(t *testing.T) {
	h := func(b byte) [32]byte { return [32]byte{b} }
	for _, tc := range []struct {
		name     string
		idx      uint64
		hash     [32]byte
		inflight bool
		wantErr  error
		want     uint64 // acked after
	}{
		{"heartbeat answer on an idle link", 10, h(10), false, nil, 10},
		{"heartbeat answer with batches in flight", 10, h(10), true, nil, 10},
		{"heartbeat answer with another hash", 10, h(9), false, ErrDiverged, 10},
		{"tip behind the acknowledged index", 9, h(9), false, ErrDiverged, 10},
		{"batch end releases it", 12, h(12), true, nil, 12},
		{"batch end with another hash", 12, h(1), true, ErrDiverged, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testShipper(t)
			s.acked, s.ackedHash = 10, h(10)
			if tc.inflight {
				s.inflight = []inflightBatch{{first: 11, last: 12, lastHash: h(12), bytes: 100, sentAt: time.Now()}}
				s.inflightB = 100
			}
			err := s.onAck(tc.idx, tc.hash)
			if got, want := err, tc.wantErr; !errors.Is(got, want) || (want == nil) != (got == nil) {
				t.Fatalf("onAck(%d): got %v, want %v", tc.idx, got, want)
			}
			if got, want := s.acked, tc.want; got != want {
				t.Fatalf("acked: got %d, want %d", got, want)
			}
		})
	}
}

// TestShipper_LinkUp: connected needs the session and a frame within the
// bound, unless the twin does not answer heartbeats.
func TestShipper_LinkUp(t *testing.T) {
	now := time.Now()
	bound := linkBound(DefaultShipConfig().Heartbeat)
	for _, tc := range []struct {
		name      string
		connected bool
		hbAcks    bool
		heardAgo  time.Duration
		want      bool
	}{
		{"heard just now", true, true, 0, true},
		{"silent past the bound", true, true, bound + time.Millisecond, false},
		{"session down", false, true, 0, false},
		{"twin without heartbeat answers", true, false, time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testShipper(t)
			s.connected, s.hbAcks, s.lastHeard = tc.connected, tc.hbAcks, now.Add(-tc.heardAgo)
			got, age := s.linkUp(now)
			if want := tc.want; got != want {
				t.Fatalf("linkUp: got %v, want %v", got, want)
			}
			if got, want := age, tc.heardAgo.Milliseconds(); got != want {
				t.Fatalf("age: got %d, want %d", got, want)
			}
		})
	}
}
