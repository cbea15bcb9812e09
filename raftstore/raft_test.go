package raftstore

import (
	"encoding/binary"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// counterFSM sums the uint64 commands applied to it.
type counterFSM struct {
	mu      sync.Mutex
	sum     uint64
	applied int
}

func (f *counterFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sum += binary.BigEndian.Uint64(l.Data)
	f.applied++
	return nil
}

func (f *counterFSM) state() (uint64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sum, f.applied
}

func (f *counterFSM) Snapshot() (raft.FSMSnapshot, error) {
	sum, _ := f.state()
	return counterSnapshot(sum), nil
}

func (f *counterFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.mu.Lock()
	f.sum = binary.BigEndian.Uint64(b[:])
	f.mu.Unlock()
	return nil
}

type counterSnapshot uint64

func (s counterSnapshot) Persist(sink raft.SnapshotSink) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s))
	if _, err := sink.Write(b[:]); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (counterSnapshot) Release() {}

// startRaft runs a single-voter Raft node on s and waits until it leads.
func startRaft(tb testing.TB, s *Store, snaps raft.SnapshotStore, bootstrap bool) (*raft.Raft, *counterFSM) {
	tb.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = "n1"
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.TrailingLogs = 10
	conf.SnapshotThreshold = 1 << 30 // snapshots only when the test asks
	conf.Logger = hclog.NewNullLogger()
	_, trans := raft.NewInmemTransport("n1")
	if bootstrap {
		cfg := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: trans.LocalAddr()}}}
		if err := raft.BootstrapCluster(conf, s, s, snaps, trans, cfg); err != nil {
			tb.Fatalf("BootstrapCluster: %v", err)
		}
	}
	fsm := &counterFSM{}
	r, err := raft.NewRaft(conf, fsm, s, s, snaps, trans)
	if err != nil {
		tb.Fatalf("NewRaft: %v", err)
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for r.State() != raft.Leader {
		select {
		case <-r.LeaderCh():
		case <-deadline.C:
			_ = r.Shutdown().Error()
			tb.Fatalf("no leader after 10s (state %v)", r.State())
		}
	}
	return r, fsm
}

func apply(tb testing.TB, r *raft.Raft, from, to uint64) {
	tb.Helper()
	for i := from; i <= to; i++ {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], i)
		if err := r.Apply(b[:], 5*time.Second).Error(); err != nil {
			tb.Fatalf("Apply %d: %v", i, err)
		}
	}
}

// TestStore_Raft runs hashicorp/raft itself on the store: bootstrap,
// commits, a snapshot that compacts the log (DeleteRange from Raft's
// snapshot goroutine), a restart on the reopened database that replays
// the log after the snapshot, and more commits.
func TestStore_Raft(t *testing.T) {
	db, dir := openDB(t)
	s := newStore(t, db)
	snaps := raft.NewInmemSnapshotStore()

	r, fsm := startRaft(t, s, snaps, true)
	apply(t, r, 1, 40)
	if err := r.Snapshot().Error(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	apply(t, r, 41, 50)
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first <= 1 || last < 50 {
		t.Fatalf("after snapshot: FirstIndex %d, LastIndex %d; want compaction and every entry", first, last)
	}
	term, err := s.GetUint64([]byte("CurrentTerm"))
	if err != nil || term == 0 {
		t.Fatalf("CurrentTerm = %d, %v", term, err)
	}
	if sum, _ := fsm.state(); sum != 50*51/2 {
		t.Fatalf("sum before restart = %d, want %d", sum, 50*51/2)
	}
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	if err := closeDB(db); err != nil {
		t.Fatal(err)
	}

	s2 := newStore(t, openDBAt(t, dir, nil))
	wantBounds(t, s2, first, last)
	has, err := raft.HasExistingState(s2, s2, snaps)
	if err != nil || !has {
		t.Fatalf("HasExistingState after restart = %v, %v", has, err)
	}
	r2, fsm2 := startRaft(t, s2, snaps, false)
	defer func() { _ = r2.Shutdown().Error() }()
	apply(t, r2, 51, 55)
	if err := r2.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if sum, _ := fsm2.state(); sum != 55*56/2 {
		t.Fatalf("sum after restart = %d, want %d (snapshot + replayed log + new entries)", sum, 55*56/2)
	}
	if got, _ := s2.GetUint64([]byte("CurrentTerm")); got <= term {
		t.Fatalf("CurrentTerm after re-election = %d, want > %d", got, term)
	}
}
