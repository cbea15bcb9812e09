package replicator

import (
	"context"
	"fmt"
	"time"

	"github.com/monaco-sovereign/jumeau/transport"
)

// ForwardOp is a request of the forwarding protocol ProbeForward can send.
type ForwardOp uint8

// The requests a site forwards to its leader.
const (
	ForwardPut  ForwardOp = ForwardOp(fwdPut)
	ForwardGet  ForwardOp = ForwardOp(fwdGet)
	ForwardList ForwardOp = ForwardOp(fwdList)
)

// String names the request: "put", "get", "list".
func (o ForwardOp) String() string {
	switch o {
	case ForwardPut:
		return "put"
	case ForwardGet:
		return "get"
	case ForwardList:
		return "list"
	}
	return fmt.Sprintf("op %d", uint8(o))
}

// ForwardRequest is one request ProbeForward sends: for ForwardPut a write
// of Value at Namespace/Key (cell durability), for ForwardGet a read of
// Namespace/Key, for ForwardList up to Limit values of Namespace under
// Prefix.
type ForwardRequest struct {
	Op        ForwardOp
	Namespace string
	Key       string
	Value     []byte
	Prefix    string
	Limit     int
	// Timeout bounds the whole exchange (0: 5s); the peer is told the
	// time left, as a forwarding follower does.
	Timeout time.Duration
}

// ForwardAnswer is what the peer answered on the Forward stream.
type ForwardAnswer struct {
	// Err is the peer's error (it wraps ErrNotLeader, ErrNotFound, ...),
	// nil when the peer served the request.
	Err error
	// KVs are the values the peer sent back (get, list).
	KVs []KV
	// WALIndex is the WAL index of a write the peer committed.
	WALIndex uint64
}

// ProbeForward speaks the forwarding protocol as a site of the cell does
// when it forwards a client's request to its leader: on ep it opens a
// Forward stream to peer, sends req and reads the one answer. It exists so
// that an attacker (the drills) sends exactly the frames the cell decodes,
// which stay unexported: a copy of the format elsewhere could drift, and a
// request the cell cannot decode would then look like a refusal.
//
// A returned error means the peer gave no answer: the stream or the
// connection was refused (transport.ErrRefused, or the QUIC error of a
// refused handshake, which errors.As finds), or it timed out. An answer,
// even an error answer such as ErrNotLeader, means the peer served the
// stream.
func ProbeForward(ctx context.Context, ep *transport.Endpoint, peer string, req ForwardRequest) (ForwardAnswer, error) {
	switch req.Op {
	case ForwardPut, ForwardGet, ForwardList:
	default:
		return ForwardAnswer{}, fmt.Errorf("replicator: probe forward %s: %w: unknown %s", peer, ErrBadRequest, req.Op)
	}
	if req.Timeout <= 0 {
		req.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	s, err := ep.Open(ctx, peer, transport.KindForward)
	if err != nil {
		return ForwardAnswer{}, fmt.Errorf("replicator: probe forward %s to %s: %w", req.Op, peer, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	_ = s.SetDeadline(deadline)
	enc := transport.NewEncoder(s)
	enc.SetMaxFrame(maxForwardFrame)
	fc := &fwdConn{s: s, enc: enc, dec: transport.NewDecoder(s, maxForwardFrame)}
	resp, err := fc.roundTrip(&fwdRequest{
		Op: uint8(req.Op), NS: req.Namespace, Key: req.Key, Value: req.Value, Prefix: req.Prefix, Limit: req.Limit,
		Timeout: int64(time.Until(deadline)), Durability: uint8(DurabilityCell),
	})
	if err != nil {
		return ForwardAnswer{}, fmt.Errorf("replicator: probe forward %s to %s: no answer: %w", req.Op, peer, err)
	}
	return ForwardAnswer{Err: errOf(peer, resp), KVs: resp.KVs, WALIndex: resp.WALIndex}, nil
}
