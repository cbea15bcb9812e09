package transport

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

var (
	_ raft.StreamLayer = (*streamLayer)(nil)
	_ net.Addr         = NodeAddr("")
)

// NodeAddr is a node name used as a net.Addr: Raft server addresses are node
// names, which the transport resolves at dial time.
type NodeAddr string

// Network returns "jumeau".
func (a NodeAddr) Network() string { return "jumeau" }

// String returns the node name.
func (a NodeAddr) String() string { return string(a) }

// streamLayer adapts an Endpoint to raft.StreamLayer for one kind.
type streamLayer struct {
	e      *Endpoint
	kind   Kind
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
}

// StreamLayer returns a raft.StreamLayer over streams of the given kind
// (normally KindRaft), for raft.NewNetworkTransport. Raft server addresses
// must be node names: Dial(address) opens a stream to the peer named
// address, Accept takes the kind's accepted streams, and Addr's String is
// this node's name. Closing the layer makes Accept and Dial fail but leaves
// the Endpoint open.
func (e *Endpoint) StreamLayer(kind Kind) raft.StreamLayer {
	ctx, cancel := context.WithCancel(e.ctx)
	return &streamLayer{e: e, kind: kind, ctx: ctx, cancel: cancel}
}

// Accept waits for the next stream of the layer's kind.
func (l *streamLayer) Accept() (net.Conn, error) {
	s, err := l.e.Accept(l.ctx, l.kind)
	if err != nil {
		if l.ctx.Err() != nil {
			return nil, fmt.Errorf("accept %s: %w", l.kind, ErrClosed)
		}
		return nil, err
	}
	return s, nil
}

// Close stops the layer: pending and future Accepts return ErrClosed.
func (l *streamLayer) Close() error {
	l.cancel()
	return nil
}

// Addr returns this node's name as a NodeAddr.
func (l *streamLayer) Addr() net.Addr { return NodeAddr(l.e.id.Name) }

// Dial opens a stream to the node named address within timeout (0: no
// timeout beyond the handshake's).
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
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
