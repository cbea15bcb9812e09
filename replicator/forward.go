package replicator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Forwarding protocol (KindForward streams, see doc.go): a follower sends
// one fwdRequest frame and reads one fwdResponse frame, then may reuse the
// stream for the next request.
const (
	frameFwdRequest  uint8 = 1
	frameFwdResponse uint8 = 2

	fwdPut  uint8 = 1
	fwdDel  uint8 = 2
	fwdGet  uint8 = 3
	fwdList uint8 = 4

	codeOK         uint8 = 0
	codeNotLeader  uint8 = 1
	codeNoLeader   uint8 = 2
	codeNotFound   uint8 = 3
	codeBadRequest uint8 = 4
	codeTimeout    uint8 = 5
	codeInternal   uint8 = 6
	// Codes of region replication.
	codeTwinUnconfirmed uint8 = 7
	codeRPOExceeded     uint8 = 8
	codeNoTwin          uint8 = 9
	// Codes of the primary lease (the write gate).
	codeLeaseExpired uint8 = 10
	codeFenced       uint8 = 11
	// The leader's disk is below its refuse threshold.
	codeNoSpace uint8 = 12
	// Codes of reads.
	codeReadTimeout uint8 = 13
	codeBusy        uint8 = 14

	maxForwardFrame = 17 << 20
)

type fwdRequest struct {
	Op     uint8  `codec:"o"`
	NS     string `codec:"n"`
	Key    string `codec:"k"`
	Value  []byte `codec:"v"`
	Prefix string `codec:"p"`
	Limit  int    `codec:"l"`
	// After and MaxBytes are a list page's continuation and byte budget
	// (ListQuery).
	After    string `codec:"a"`
	MaxBytes int    `codec:"b"`
	Timeout  int64  `codec:"t"` // ns left for the request; 0 = the leader's default
	// Durability of a write (0 cell, 1 twin).
	Durability uint8 `codec:"d"`
}

type fwdResponse struct {
	Code      uint8  `codec:"c"`
	Msg       string `codec:"m"`
	RaftIndex uint64 `codec:"r"`
	WALIndex  uint64 `codec:"w"`
	KVs       []KV   `codec:"kv"`
	// Next is a list page's ListPage.Next.
	Next string `codec:"x"`
}

func codeOf(err error) uint8 {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, ErrNotLeader):
		return codeNotLeader
	case errors.Is(err, ErrNoLeader):
		return codeNoLeader
	case errors.Is(err, ErrNotFound):
		return codeNotFound
	case errors.Is(err, ErrBadRequest):
		return codeBadRequest
	case errors.Is(err, ErrReadTimeout):
		return codeReadTimeout
	case errors.Is(err, ErrBusy):
		return codeBusy
	case errors.Is(err, ErrTimeout):
		return codeTimeout
	case errors.Is(err, failover.ErrFenced):
		return codeFenced
	case errors.Is(err, failover.ErrLeaseExpired):
		return codeLeaseExpired
	case errors.Is(err, ErrTwinUnconfirmed):
		return codeTwinUnconfirmed
	case errors.Is(err, ErrRPOExceeded):
		return codeRPOExceeded
	case errors.Is(err, ErrNoTwin):
		return codeNoTwin
	case errors.Is(err, diskspace.ErrNoSpace):
		return codeNoSpace
	}
	return codeInternal
}

func errOf(leader string, r *fwdResponse) error {
	var base error
	switch r.Code {
	case codeOK:
		return nil
	case codeNotLeader:
		base = ErrNotLeader
	case codeNoLeader:
		base = ErrNoLeader
	case codeNotFound:
		base = ErrNotFound
	case codeBadRequest:
		base = ErrBadRequest
	case codeTimeout:
		base = ErrTimeout
	case codeReadTimeout:
		base = ErrReadTimeout
	case codeBusy:
		base = ErrBusy
	case codeTwinUnconfirmed:
		base = ErrTwinUnconfirmed
	case codeRPOExceeded:
		base = ErrRPOExceeded
	case codeNoTwin:
		base = ErrNoTwin
	case codeLeaseExpired:
		base = failover.ErrLeaseExpired
	case codeFenced:
		base = failover.ErrFenced
	case codeNoSpace:
		base = diskspace.ErrNoSpace
	default:
		return fmt.Errorf("leader %s: %s", leader, r.Msg)
	}
	return fmt.Errorf("leader %s: %w", leader, &remoteError{msg: r.Msg, base: base})
}

// remoteError is an error the leader reported: its message (which already
// ends with the sentinel's text), matching the sentinel with errors.Is.
type remoteError struct {
	msg  string
	base error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.base }

// fwdConn is one forwarding stream with its codec.
type fwdConn struct {
	s   *transport.Stream
	enc *transport.Encoder
	dec *transport.Decoder
}

func (f *fwdConn) roundTrip(req *fwdRequest) (*fwdResponse, error) {
	if err := f.enc.Encode(frameFwdRequest, req); err != nil {
		return nil, err
	}
	fr, err := f.dec.Decode()
	if err != nil {
		return nil, err
	}
	if fr.Type != frameFwdResponse {
		return nil, fmt.Errorf("forward: unexpected frame type %d", fr.Type)
	}
	var resp fwdResponse
	if err := fr.Unmarshal(&resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// forwarder sends requests to the leader, one QUIC stream per request
// (opening one costs no round trip). A request is retried only when its
// stream could not be opened, i.e. nothing was sent; once sent, a failed
// write's outcome is unknown and is reported as such (ErrTimeout), while a
// failed read changed nothing and says so (ErrReadTimeout, ErrNoLeader).
type forwarder struct {
	c *Cell
}

func newForwarder(c *Cell) *forwarder { return &forwarder{c: c} }

func (f *forwarder) do(ctx context.Context, leader string, req *fwdRequest) (*fwdResponse, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(f.c.cfg.ApplyTimeout)
	}
	// A duration, not a time: the leader's clock may differ from ours.
	req.Timeout = int64(time.Until(deadline))
	// Stop waiting when the cell elects another leader: the one we asked
	// is gone or deposed, and would otherwise hold the caller until the
	// deadline. The watch covers opening the stream too: to a leader that
	// was SIGKILLed, Open dials (or waits for stream credit the dead peer
	// never grants) until the handshake timeout, and a write sent through
	// a follower right after the leader died waited that long (2 s in the
	// drills, the client's timeout) although a new leader was elected
	// within 0.5 s.
	var moved atomic.Value
	var stream atomic.Pointer[transport.Stream]
	openCtx, cancelOpen := context.WithCancel(ctx)
	defer cancelOpen()
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-openCtx.Done():
				return
			case <-t.C:
			}
			if l := f.c.Leader(); l != "" && l != leader {
				moved.Store(l)
				cancelOpen()
				if s := stream.Load(); s != nil {
					s.Close()
				}
				return
			}
		}
	}()
	s, err := f.c.deps.Endpoint.Open(openCtx, leader, transport.KindForward)
	if err == nil {
		stream.Store(s)
	}
	if l, ok := moved.Load().(string); ok {
		if s != nil {
			s.Close() // the watch may have missed it
		}
		// Nothing was sent: the write loop retries on the new leader.
		return nil, fmt.Errorf("forward to leader %s: the cell elected %s while the stream was opening: %w", leader, l, ErrNoLeader)
	}
	if err != nil {
		if isRead(req.Op) && ctx.Err() != nil {
			return nil, fmt.Errorf("forward %s to leader %s: no stream to it before the deadline (%v): %w", opName(req.Op), leader, err, ErrReadTimeout)
		}
		return nil, fmt.Errorf("forward to leader %s: %w: %v", leader, ErrNoLeader, err)
	}
	defer s.Close()
	_ = s.SetDeadline(deadline.Add(500 * time.Millisecond))
	enc := transport.NewEncoder(s)
	enc.SetMaxFrame(maxForwardFrame)
	fc := &fwdConn{s: s, enc: enc, dec: transport.NewDecoder(s, maxForwardFrame)}
	resp, err := fc.roundTrip(req)
	if err != nil {
		if isRead(req.Op) {
			l, _ := moved.Load().(string)
			return nil, readFailed(ctx, leader, l, req.Op, err)
		}
		if l, ok := moved.Load().(string); ok {
			return nil, fmt.Errorf("forward to leader %s: the cell elected %s before it answered; the outcome is unknown: %w", leader, l, ErrTimeout)
		}
		return nil, fmt.Errorf("forward to leader %s: no answer, the outcome is unknown: %w: %v", leader, ErrTimeout, err)
	}
	f.c.metrics.forwarded.Inc()
	return resp, nil
}

func (f *forwarder) write(ctx context.Context, leader string, op wal.Op, ns, key string, value []byte, d Durability) (Result, error) {
	req := &fwdRequest{Op: fwdPut, NS: ns, Key: key, Value: value, Durability: uint8(d)}
	if op == wal.OpDelete {
		req.Op = fwdDel
	}
	resp, err := f.do(ctx, leader, req)
	if err != nil {
		return Result{}, err
	}
	if err := errOf(leader, resp); err != nil {
		return Result{}, err
	}
	return Result{RaftIndex: resp.RaftIndex, WALIndex: resp.WALIndex}, nil
}

// get reads ns/key on the leader.
func (f *forwarder) get(ctx context.Context, leader, ns, key string) ([]byte, error) {
	resp, err := f.do(ctx, leader, &fwdRequest{Op: fwdGet, NS: ns, Key: key})
	if err != nil {
		return nil, err
	}
	if err := errOf(leader, resp); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("get %s/%s: %w", ns, key, ErrNotFound)
		}
		return nil, err
	}
	if len(resp.KVs) != 1 {
		return nil, fmt.Errorf("forward get %s/%s: leader %s returned %d values", ns, key, leader, len(resp.KVs))
	}
	return resp.KVs[0].Value, nil
}

// list asks the leader for the page q (normalized) selects, then emits it.
// The page arrives in one frame: its byte budget keeps it under the frame
// limit. A page that does not follow q (an older leader that ignores After
// or the byte budget) is refused rather than emitted.
func (f *forwarder) list(ctx context.Context, leader, ns string, q ListQuery, emit func(KV) error) (ListPage, error) {
	req := &fwdRequest{Op: fwdList, NS: ns, Prefix: q.Prefix, After: q.After, Limit: q.Limit, MaxBytes: q.MaxBytes}
	resp, err := f.do(ctx, leader, req)
	if err != nil {
		return ListPage{}, err
	}
	if err := errOf(leader, resp); err != nil {
		return ListPage{}, err
	}
	if err := checkPage(q, resp); err != nil {
		return ListPage{}, fmt.Errorf("forward list %s to leader %s: %w", ns, leader, err)
	}
	var page ListPage
	for _, kv := range resp.KVs {
		if err := emit(kv); err != nil {
			return page, err
		}
		page.Keys++
		page.Bytes += ItemSize(kv.Key, len(kv.Value))
	}
	page.Next = resp.Next
	return page, nil
}

// errBadPage explains a leader's page that does not follow the query.
var errBadPage = errors.New("the leader's page does not follow the query (is every site on the same version?)")

// checkPage checks that the leader's page follows q: at most q.Limit keys,
// in increasing order, after q.After, starting with q.Prefix, and a Next
// that is its last key.
func checkPage(q ListQuery, resp *fwdResponse) error {
	if len(resp.KVs) > q.Limit {
		return fmt.Errorf("%w: %d keys, limit %d", errBadPage, len(resp.KVs), q.Limit)
	}
	prev := q.After
	for i, kv := range resp.KVs {
		if !strings.HasPrefix(kv.Key, q.Prefix) || ((i > 0 || q.After != "") && kv.Key <= prev) {
			return fmt.Errorf("%w: key %q after %q (prefix %q)", errBadPage, kv.Key, prev, q.Prefix)
		}
		prev = kv.Key
	}
	if resp.Next != "" && (len(resp.KVs) == 0 || resp.Next != prev) {
		return fmt.Errorf("%w: next %q is not the page's last key", errBadPage, resp.Next)
	}
	return nil
}

// isRead reports whether a forwarded op only reads.
func isRead(op uint8) bool { return op == fwdGet || op == fwdList }

// opName names a forwarded op in messages.
func opName(op uint8) string {
	switch op {
	case fwdPut:
		return "put"
	case fwdDel:
		return "delete"
	case fwdGet:
		return "get"
	case fwdList:
		return "list"
	}
	return fmt.Sprintf("op %d", op)
}

// readFailed is the error of a forwarded read whose answer never came:
// a read changed nothing, so it is never an unknown outcome. moved names
// the leader the cell elected meanwhile ("" if none).
func readFailed(ctx context.Context, leader, moved string, op uint8, err error) error {
	what := opName(op)
	var ne net.Error
	switch {
	case moved != "":
		return fmt.Errorf("forward %s to leader %s: the cell elected %s before it answered (a read changes nothing: retry it): %w", what, leader, moved, ErrNoLeader)
	case ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("forward %s to leader %s: no answer before the deadline: %w", what, leader, ErrReadTimeout)
	}
	return fmt.Errorf("forward %s to leader %s: no answer (%v); a read changes nothing: retry it: %w", what, leader, err, ErrNoLeader)
}

// serveForward accepts forwarding streams from the other sites.
func (c *Cell) serveForward() {
	defer c.wg.Done()
	for {
		s, err := c.deps.Endpoint.Accept(c.ctx, transport.KindForward)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.logger.Warn("accept forward stream", "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		c.wg.Add(1)
		go c.handleForward(s)
	}
}

func (c *Cell) handleForward(s *transport.Stream) {
	defer c.wg.Done()
	defer s.Close()
	enc := transport.NewEncoder(s)
	enc.SetMaxFrame(maxForwardFrame)
	dec := transport.NewDecoder(s, maxForwardFrame)
	stop := context.AfterFunc(c.ctx, func() { s.Close() })
	defer stop()
	for {
		fr, err := dec.Decode()
		if err != nil {
			return
		}
		var req fwdRequest
		if fr.Type != frameFwdRequest {
			c.logger.Warn("forward: unexpected frame", "type", fr.Type, "peer", s.Peer().String())
			return
		}
		if err := fr.Unmarshal(&req); err != nil {
			c.logger.Warn("forward: bad request frame", "peer", s.Peer().String(), "err", err)
			return
		}
		resp := c.serveForwardRequest(&req)
		if err := enc.Encode(frameFwdResponse, resp); err != nil {
			// Too large or unencodable: answer with the reason rather
			// than leave the follower guessing.
			msg := fmt.Sprintf("response not sent: %v (narrow the request, e.g. a smaller list limit)", err)
			if err := enc.Encode(frameFwdResponse, &fwdResponse{Code: codeBadRequest, Msg: msg}); err != nil {
				return
			}
		}
	}
}

func (c *Cell) serveForwardRequest(req *fwdRequest) *fwdResponse {
	ctx := c.ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.Timeout))
		defer cancel()
	}
	if !c.IsLeader() {
		return &fwdResponse{Code: codeNotLeader, Msg: "not the leader"}
	}
	var (
		res  Result
		kvs  []KV
		next string
		err  error
	)
	switch req.Op {
	case fwdPut:
		if err = ValidateNamespace(req.NS); err == nil {
			if err = ValidateKey(req.Key); err == nil {
				res, err = c.leaderWrite(ctx, wal.OpPut, req.NS, req.Key, req.Value, Durability(req.Durability))
			}
		}
	case fwdDel:
		if err = ValidateNamespace(req.NS); err == nil {
			if err = ValidateKey(req.Key); err == nil {
				res, err = c.leaderWrite(ctx, wal.OpDelete, req.NS, req.Key, nil, Durability(req.Durability))
			}
		}
	case fwdGet:
		var v []byte
		v, err = c.Get(ctx, req.NS, req.Key, Linearizable)
		if err == nil {
			kvs = []KV{{Key: req.Key, Value: v}}
		}
	case fwdList:
		q := ListQuery{Prefix: req.Prefix, After: req.After, Limit: req.Limit, MaxBytes: req.MaxBytes}
		var page ListPage
		page, err = c.list(ctx, req.NS, q, Linearizable, true, func(kv KV) error {
			kvs = append(kvs, kv)
			return nil
		})
		c.lists.observe(page, err)
		next = page.Next
	default:
		err = fmt.Errorf("%w: unknown forward op %d", ErrBadRequest, req.Op)
	}
	if err != nil {
		return &fwdResponse{Code: codeOf(err), Msg: err.Error()}
	}
	return &fwdResponse{RaftIndex: res.RaftIndex, WALIndex: res.WALIndex, KVs: kvs, Next: next}
}
