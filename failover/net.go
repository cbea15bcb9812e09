package failover

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
)

// Net carries lease, promotion and status requests over the node's QUIC
// endpoint: one Lease stream per request, one frame each way.
type Net struct {
	EP *transport.Endpoint
}

var _ Asker = Net{}

func (n Net) ask(ctx context.Context, peer string, reqType uint8, req any, replyType uint8, reply any) error {
	st, err := n.EP.Open(ctx, peer, transport.KindLease)
	if err != nil {
		return err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(d)
	}
	enc := transport.NewEncoder(st)
	enc.SetMaxFrame(maxLeaseFrame)
	if err := enc.Encode(reqType, req); err != nil {
		return fmt.Errorf("send to %s: %w", peer, err)
	}
	fr, err := transport.NewDecoder(st, maxLeaseFrame).Decode()
	if err != nil {
		return fmt.Errorf("reply from %s: %w", peer, err)
	}
	if fr.Type != replyType {
		return fmt.Errorf("reply from %s: frame type %d, want %d", peer, fr.Type, replyType)
	}
	return fr.Unmarshal(reply)
}

// AskLease asks peer to back the lease.
func (n Net) AskLease(ctx context.Context, peer string, req LeaseRequest) (Reply, error) {
	var r Reply
	err := n.ask(ctx, peer, frameLeaseReq, &req, frameLeaseReply, &r)
	return r, err
}

// AskPromote asks the witness for a promotion.
func (n Net) AskPromote(ctx context.Context, peer string, req PromoteRequest) (Reply, error) {
	var r Reply
	err := n.ask(ctx, peer, framePromoteReq, &req, framePromoteReply, &r)
	return r, err
}

// AskSwitch asks the witness for a planned switchover.
func (n Net) AskSwitch(ctx context.Context, peer string, req SwitchRequest) (Reply, error) {
	var r Reply
	err := n.ask(ctx, peer, frameSwitchReq, &req, frameSwitchReply, &r)
	return r, err
}

// AskStatus asks peer for its lease view.
func (n Net) AskStatus(ctx context.Context, peer string) (StatusReply, error) {
	var r StatusReply
	err := n.ask(ctx, peer, frameStatusReq, &struct{}{}, frameStatusReply, &r)
	return r, err
}

// Serve answers Lease streams with g until ctx ends.
func Serve(ctx context.Context, ep *transport.Endpoint, g *Grantor, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for {
		st, err := ep.Accept(ctx, transport.KindLease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Warn("accept lease stream", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		go serveOne(st, ep.Identity(), g, logger)
	}
}

func serveOne(st *transport.Stream, self pki.Identity, g *Grantor, logger *slog.Logger) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	fr, err := transport.NewDecoder(st, maxLeaseFrame).Decode()
	if err != nil {
		return
	}
	enc := transport.NewEncoder(st)
	enc.SetMaxFrame(maxLeaseFrame)
	peer := st.Peer()
	switch fr.Type {
	case frameLeaseReq:
		var req LeaseRequest
		if err := fr.Unmarshal(&req); err != nil {
			logger.Warn("bad lease request", "peer", peer.String(), "err", err)
			return
		}
		_ = enc.Encode(frameLeaseReply, g.Lease(peer, req))
	case framePromoteReq:
		var req PromoteRequest
		if err := fr.Unmarshal(&req); err != nil {
			logger.Warn("bad promotion request", "peer", peer.String(), "err", err)
			return
		}
		_ = enc.Encode(framePromoteReply, g.Promote(peer, req))
	case frameSwitchReq:
		var req SwitchRequest
		if err := fr.Unmarshal(&req); err != nil {
			logger.Warn("bad switchover request", "peer", peer.String(), "err", err)
			return
		}
		_ = enc.Encode(frameSwitchReply, g.Switch(peer, req))
	case frameStatusReq:
		rep := g.Status()
		rep.Node, rep.Region = self.Name, self.Region
		_ = enc.Encode(frameStatusReply, rep)
	default:
		logger.Warn("unexpected lease frame", "peer", peer.String(), "type", fr.Type)
	}
}
