package replicator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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

	maxForwardFrame = 17 << 20
	fwdIdlePerPeer  = 128
)

type fwdRequest struct {
	Op       uint8  `codec:"o"`
	NS       string `codec:"n"`
	Key      string `codec:"k"`
	Value    []byte `codec:"v"`
	Prefix   string `codec:"p"`
	Limit    int    `codec:"l"`
	Deadline int64  `codec:"d"` // unix ns; 0 = leader's default
}

type fwdResponse struct {
	Code      uint8  `codec:"c"`
	Msg       string `codec:"m"`
	RaftIndex uint64 `codec:"r"`
	WALIndex  uint64 `codec:"w"`
	KVs       []KV   `codec:"kv"`
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
	case errors.Is(err, ErrTimeout):
		return codeTimeout
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
	default:
		return fmt.Errorf("leader %s: %s", leader, r.Msg)
	}
	return fmt.Errorf("leader %s: %s: %w", leader, r.Msg, base)
}

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

// forwarder keeps a pool of idle forwarding streams per leader.
type forwarder struct {
	c    *Cell
	mu   sync.Mutex
	idle map[string][]*fwdConn
}

func newForwarder(c *Cell) *forwarder {
	return &forwarder{c: c, idle: map[string][]*fwdConn{}}
}

func (f *forwarder) get(ctx context.Context, leader string) (*fwdConn, error) {
	f.mu.Lock()
	if l := f.idle[leader]; len(l) > 0 {
		fc := l[len(l)-1]
		f.idle[leader] = l[:len(l)-1]
		f.mu.Unlock()
		return fc, nil
	}
	f.mu.Unlock()
	s, err := f.c.deps.Endpoint.Open(ctx, leader, transport.KindForward)
	if err != nil {
		return nil, err
	}
	return &fwdConn{s: s, enc: transport.NewEncoder(s), dec: transport.NewDecoder(s, maxForwardFrame)}, nil
}

func (f *forwarder) put(leader string, fc *fwdConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idle == nil || len(f.idle[leader]) >= fwdIdlePerPeer {
		fc.s.Close()
		return
	}
	f.idle[leader] = append(f.idle[leader], fc)
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.idle {
		for _, fc := range l {
			fc.s.Close()
		}
	}
	f.idle = nil
}

func (f *forwarder) do(ctx context.Context, leader string, req *fwdRequest) (*fwdResponse, error) {
	if d, ok := ctx.Deadline(); ok {
		req.Deadline = d.UnixNano()
	}
	// A pooled stream may have died with its connection (leader restart):
	// retry once on a fresh stream.
	for attempt := 0; ; attempt++ {
		fc, err := f.get(ctx, leader)
		if err != nil {
			return nil, fmt.Errorf("forward to leader %s: %w: %v", leader, ErrNoLeader, err)
		}
		if d, ok := ctx.Deadline(); ok {
			_ = fc.s.SetDeadline(d)
		} else {
			_ = fc.s.SetDeadline(time.Now().Add(f.c.cfg.ApplyTimeout + time.Second))
		}
		resp, err := fc.roundTrip(req)
		if err != nil {
			fc.s.Close()
			if attempt == 0 && ctx.Err() == nil && !errors.Is(err, transport.ErrRefused) {
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("forward to leader %s: %w", leader, ErrTimeout)
			}
			return nil, fmt.Errorf("forward to leader %s: %w: %v", leader, ErrNoLeader, err)
		}
		_ = fc.s.SetDeadline(time.Time{})
		f.put(leader, fc)
		f.c.metrics.forwarded.Inc()
		return resp, nil
	}
}

func (f *forwarder) write(ctx context.Context, leader string, op wal.Op, ns, key string, value []byte) (Result, error) {
	req := &fwdRequest{Op: fwdPut, NS: ns, Key: key, Value: value}
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

func (f *forwarder) read(ctx context.Context, leader, ns, key, prefix string, limit int) ([]KV, error) {
	req := &fwdRequest{Op: fwdList, NS: ns, Prefix: prefix, Limit: limit}
	if key != "" {
		req = &fwdRequest{Op: fwdGet, NS: ns, Key: key}
	}
	resp, err := f.do(ctx, leader, req)
	if err != nil {
		return nil, err
	}
	if err := errOf(leader, resp); err != nil {
		if key != "" && errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("get %s/%s: %w", ns, key, ErrNotFound)
		}
		return nil, err
	}
	if key != "" && len(resp.KVs) != 1 {
		return nil, fmt.Errorf("forward get %s/%s: leader %s returned %d values", ns, key, leader, len(resp.KVs))
	}
	return resp.KVs, nil
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
			return
		}
	}
}

func (c *Cell) serveForwardRequest(req *fwdRequest) *fwdResponse {
	ctx := c.ctx
	if req.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, req.Deadline))
		defer cancel()
	}
	if !c.IsLeader() {
		return &fwdResponse{Code: codeNotLeader, Msg: "not the leader"}
	}
	var (
		res Result
		kvs []KV
		err error
	)
	switch req.Op {
	case fwdPut:
		if err = ValidateNamespace(req.NS); err == nil {
			if err = ValidateKey(req.Key); err == nil {
				res, err = c.leaderWrite(ctx, wal.OpPut, req.NS, req.Key, req.Value)
			}
		}
	case fwdDel:
		if err = ValidateNamespace(req.NS); err == nil {
			if err = ValidateKey(req.Key); err == nil {
				res, err = c.leaderWrite(ctx, wal.OpDelete, req.NS, req.Key, nil)
			}
		}
	case fwdGet:
		var v []byte
		v, err = c.Get(ctx, req.NS, req.Key, Linearizable)
		if err == nil {
			kvs = []KV{{Key: req.Key, Value: v}}
		}
	case fwdList:
		kvs, err = c.List(ctx, req.NS, req.Prefix, req.Limit, Linearizable)
	default:
		err = fmt.Errorf("%w: unknown forward op %d", ErrBadRequest, req.Op)
	}
	if err != nil {
		return &fwdResponse{Code: codeOf(err), Msg: err.Error()}
	}
	return &fwdResponse{RaftIndex: res.RaftIndex, WALIndex: res.WALIndex, KVs: kvs}
}
