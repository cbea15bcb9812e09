package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/pki"
)

// countFSM records applied commands.
type countFSM struct {
	mu   sync.Mutex
	logs []string
}

func (f *countFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, string(l.Data))
	return len(f.logs)
}

func (f *countFSM) applied() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.logs...)
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (f *countFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (nopSnapshot) Release()                             {}

func TestStreamLayer_raftCluster(t *testing.T) {
	p := newTestPKI(t)
	names := []string{"site-a", "site-b", "site-c"}
	var servers []raft.Server
	for _, n := range names {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n), Address: raft.ServerAddress(n)})
	}
	rafts := make([]*raft.Raft, len(names))
	fsms := make([]*countFSM, len(names))
	for i, n := range names {
		e := p.endpoint(t, "site/monaco/"+n)
		layer := e.StreamLayer(KindRaft)
		if got, want := layer.Addr().String(), n; got != want {
			t.Fatalf("layer Addr: got %q, want %q", got, want)
		}
		trans := raft.NewNetworkTransport(layer, 3, 2*time.Second, io.Discard)
		if got, want := trans.LocalAddr(), raft.ServerAddress(n); got != want {
			t.Fatalf("LocalAddr: got %q, want %q", got, want)
		}
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(n)
		conf.HeartbeatTimeout = 300 * time.Millisecond
		conf.ElectionTimeout = 300 * time.Millisecond
		conf.LeaderLeaseTimeout = 150 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		conf.LogOutput = io.Discard
		fsms[i] = &countFSM{}
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(conf, fsms[i], store, store, raft.NewInmemSnapshotStore(), trans)
		if err != nil {
			t.Fatalf("NewRaft %s: %v", n, err)
		}
		rafts[i] = r
		t.Cleanup(func() {
			if err := r.Shutdown().Error(); err != nil {
				t.Errorf("Shutdown %s: %v", n, err)
			}
			trans.Close()
		})
	}
	if err := rafts[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatalf("BootstrapCluster: %v", err)
	}

	var leader *raft.Raft
	waitFor(t, "a leader", func() bool {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
				return true
			}
		}
		return false
	})
	const cmds = 5
	for i := range cmds {
		f := leader.Apply([]byte(fmt.Sprintf("put k%d", i)), testDeadline)
		if err := f.Error(); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
	}
	for i, f := range fsms {
		waitFor(t, fmt.Sprintf("%s to apply", names[i]), func() bool { return len(f.applied()) == cmds })
		if got, want := f.applied()[cmds-1], fmt.Sprintf("put k%d", cmds-1); got != want {
			t.Fatalf("%s last command: got %q, want %q", names[i], got, want)
		}
	}
}

func TestStreamLayer_Close(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	b := p.endpoint(t, "site/monaco/site-b")
	la, lb := a.StreamLayer(KindRaft), b.StreamLayer(KindRaft)

	t.Run("dial-accept", func(t *testing.T) {
		c, err := la.Dial("site-b", testDeadline)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("rpc")); err != nil {
			t.Fatal(err)
		}
		acc, err := lb.Accept()
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		defer acc.Close()
		if got, want := acc.(interface{ Peer() pki.Identity }).Peer().Name, "site-a"; got != want {
			t.Fatalf("peer: got %q, want %q", got, want)
		}
	})
	t.Run("close", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := lb.Accept()
			done <- err
		}()
		if err := lb.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := <-done, ErrClosed; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if _, err := lb.Accept(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Accept after Close: got %v, want %v", err, ErrClosed)
		}
		// The endpoint itself stays open.
		if _, err := b.Accept(canceled(), KindRaft); !errors.Is(err, context.Canceled) {
			t.Fatalf("endpoint Accept: got %v, want %v", err, context.Canceled)
		}
	})
	t.Run("dial-error-is-nil-conn", func(t *testing.T) {
		c, err := la.Dial("nobody", time.Second)
		if err == nil {
			t.Fatal("got nil error dialing an unknown peer")
		}
		if c != nil {
			t.Fatalf("got non-nil conn %#v with an error", c)
		}
	})
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestRaftLayer_Wait: Wait reports a handler still holding an accepted
// stream, Close ends the streams' reads, and Wait returns once the
// handlers closed them (what a cell waits for before its store closes).
func TestRaftLayer_Wait(t *testing.T) {
	p := newTestPKI(t)
	a := p.endpoint(t, "site/monaco/site-a")
	b := p.endpoint(t, "site/monaco/site-b")
	la, lb := a.StreamLayer(KindRaft), b.StreamLayer(KindRaft)
	c, err := la.Dial("site-b", testDeadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("rpc")); err != nil {
		t.Fatal(err)
	}
	acc, err := lb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := lb.Wait(50 * time.Millisecond); got {
		t.Fatal("Wait: got true while a handler holds its stream, want false")
	}
	read := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		for {
			if _, err := acc.Read(buf); err != nil {
				read <- err
				return
			}
		}
	}()
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-read: // the handler's read ends
	case <-time.After(testDeadline):
		t.Fatal("a read on an accepted stream went on after the layer closed")
	}
	if got := lb.Wait(50 * time.Millisecond); got {
		t.Fatal("Wait: got true before the handler closed its stream, want false")
	}
	_ = acc.Close()
	if got := lb.Wait(testDeadline); !got {
		t.Fatal("Wait: got false after the handler closed its stream, want true")
	}
}
