package transport

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var (
	_ raft.StreamLayer = (*RaftLayer)(nil)
	_ net.Addr         = NodeAddr("")
)

// NodeAddr is a node name used as a net.Addr: Raft server addresses are node
// names, which the transport resolves at dial time.
type NodeAddr string

// Network returns "jumeau".
func (a NodeAddr) Network() string { return "jumeau" }

// String returns the node name.
func (a NodeAddr) String() string { return string(a) }

// RaftLayer adapts an Endpoint to raft.StreamLayer for one kind.
type RaftLayer struct {
	e      *Endpoint
	kind   Kind
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	// served counts the accepted streams whose handler has not closed
	// them yet (raft's NetworkTransport closes a stream when its handler
	// returns): Wait waits for them.
	served sync.WaitGroup
	mu     sync.Mutex
	open   map[*servedStream]struct{} // accepted and not closed
}

// StreamLayer returns a raft.StreamLayer over streams of the given kind
// (normally KindRaft), for raft.NewNetworkTransport. Raft server addresses
// must be node names: Dial(address) opens a stream to the peer named
// address, Accept takes the kind's accepted streams, and Addr's String is
// this node's name. Closing the layer makes Accept and Dial fail but leaves
// the Endpoint open.
func (e *Endpoint) StreamLayer(kind Kind) *RaftLayer {
	ctx, cancel := context.WithCancel(e.ctx)
	return &RaftLayer{e: e, kind: kind, ctx: ctx, cancel: cancel, open: make(map[*servedStream]struct{})}
}

// Accept waits for the next stream of the layer's kind.
func (l *RaftLayer) Accept() (net.Conn, error) {
	s, err := l.e.Accept(l.ctx, l.kind)
	if err != nil {
		if l.ctx.Err() != nil {
			return nil, fmt.Errorf("accept %s: %w", l.kind, ErrClosed)
		}
		return nil, err
	}
	ss := &servedStream{Stream: s, l: l}
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		_ = s.Close()
		return nil, fmt.Errorf("accept %s: %w", l.kind, ErrClosed)
	}
	l.served.Add(1)
	l.open[ss] = struct{}{}
	l.mu.Unlock()
	return ss, nil
}

// Close stops the layer: pending and future Accepts return ErrClosed, and
// the accepted streams are closed, so that raft's handlers waiting for
// their next RPC return (Wait).
func (l *RaftLayer) Close() error {
	l.mu.Lock()
	l.cancel()
	open := make([]*servedStream, 0, len(l.open))
	for s := range l.open {
		open = append(open, s)
	}
	l.mu.Unlock()
	for _, s := range open {
		// The stream only: its handler's own Close, when it returns,
		// is what Wait waits for.
		_ = s.Stream.Close()
	}
	return nil
}

// Wait waits, for at most timeout, until every stream Accept returned has
// been closed, that is until raft's handlers of incoming RPCs have all
// returned: an RPC decoded just before raft shut down may still be writing
// the term or the log to storage, which must stay open until then. It
// reports whether they all returned in time.
func (l *RaftLayer) Wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		l.served.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// servedStream is an accepted stream that tells its layer when it is
// closed.
type servedStream struct {
	*Stream
	l    *RaftLayer
	once sync.Once
}

func (s *servedStream) Close() error {
	err := s.Stream.Close()
	s.once.Do(func() {
		s.l.mu.Lock()
		delete(s.l.open, s)
		s.l.mu.Unlock()
		s.l.served.Done()
	})
	return err
}

// Addr returns this node's name as a NodeAddr.
func (l *RaftLayer) Addr() net.Addr { return NodeAddr(l.e.id.Name) }

// Dial opens a stream to the node named address within timeout (0: no
// timeout beyond the handshake's).
func (l *RaftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := l.ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(l.ctx, timeout)
	}
	defer cancel()
	s, err := l.e.Open(ctx, string(address), l.kind)
	if err != nil {
		return nil, err
	}
	return s, nil
}
