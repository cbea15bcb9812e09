package replicator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Group commit. Every fsync of the Raft log (on the leader, then on each
// follower) costs the same whether an entry holds one write or a hundred,
// and hashicorp/raft sends what the leader has at each step: with one
// write per entry and many concurrent clients, rounds carried about ten
// writes each (measured). The proposer packs the writes waiting on the
// leader into one Raft entry, and keeps a few entries in
// flight (Config.MaxInFlightEntries), so that writes pile up while the pipeline is busy and go out
// together when a slot frees. A lone write still goes out at once.
const (
	proposeMaxOps   = 512
	proposeMaxBytes = 1 << 20
	proposeQueue    = 8192
)

type proposal struct {
	cmd  *command
	done chan proposeResult // buffered: the proposer never blocks on it
}

type proposeResult struct {
	res Result
	err error
}

type proposer struct {
	c     *Cell
	queue chan *proposal
	slots chan struct{}
}

func newProposer(c *Cell) *proposer {
	return &proposer{c: c, queue: make(chan *proposal, proposeQueue), slots: make(chan struct{}, c.cfg.MaxInFlightEntries)}
}

// propose queues cmd for the next Raft entry and waits for its commit.
func (p *proposer) propose(ctx context.Context, cmd *command) (Result, error) {
	cmd.Time = time.Now().UnixNano()
	pr := &proposal{cmd: cmd, done: make(chan proposeResult, 1)}
	select {
	case p.queue <- pr:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("propose %s %s/%s: %w", cmd.Op, cmd.Namespace, cmd.Key, ErrTimeout)
	case <-p.c.ctx.Done():
		return Result{}, ErrClosed
	}
	select {
	case r := <-pr.done:
		return r.res, r.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("propose %s %s/%s: %w", cmd.Op, cmd.Namespace, cmd.Key, ErrTimeout)
	case <-p.c.ctx.Done():
		return Result{}, ErrClosed
	}
}

// run is the proposer loop: take a slot, then everything queued (up to the
// limits), and hand it to Raft as one entry.
func (p *proposer) run() {
	defer p.c.wg.Done()
	var batch []*proposal
	for {
		select {
		case p.slots <- struct{}{}:
		case <-p.c.ctx.Done():
			return
		}
		var first *proposal
		select {
		case first = <-p.queue:
		case <-p.c.ctx.Done():
			return
		}
		batch = append(batch[:0], first)
		size := len(first.cmd.Payload)
	drain:
		for len(batch) < proposeMaxOps && size < proposeMaxBytes {
			select {
			case pr := <-p.queue:
				batch = append(batch, pr)
				size += len(pr.cmd.Payload)
			default:
				break drain
			}
		}
		cmds := make([]*command, len(batch))
		for i, pr := range batch {
			cmds[i] = pr.cmd
		}
		f := p.c.raft.Apply(marshalBatch(cmds), p.c.cfg.ApplyTimeout)
		p.c.metrics.batchOps.Observe(float64(len(batch)))
		go p.complete(f, append([]*proposal(nil), batch...))
	}
}

// complete waits for one entry's commit and answers its writers.
func (p *proposer) complete(f raft.ApplyFuture, batch []*proposal) {
	defer func() { <-p.slots }()
	// The writers stop waiting when the cell closes (propose); so does
	// this, since raft may never answer a queued entry after Shutdown.
	err := p.c.waitFuture(context.Background(), f)
	var r ApplyResult
	if err == nil {
		var ok bool
		if r, ok = f.Response().(ApplyResult); !ok {
			err = fmt.Errorf("unexpected FSM response %T", f.Response())
		} else if r.Err != nil {
			err = r.Err
		} else if len(r.Ops) != len(batch) {
			err = fmt.Errorf("FSM returned %d results for %d commands", len(r.Ops), len(batch))
		}
	}
	err = mapRaftErr(err)
	for i, pr := range batch {
		if err != nil {
			pr.done <- proposeResult{err: fmt.Errorf("apply %s %s/%s: %w", pr.cmd.Op, pr.cmd.Namespace, pr.cmd.Key, err)}
			continue
		}
		pr.done <- proposeResult{res: Result{RaftIndex: r.RaftIndex, WALIndex: r.Ops[i].WALIndex, Hash: r.Ops[i].Hash}}
	}
}

// mapRaftErr turns hashicorp/raft's errors into the package's.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// The entry was never appended: safe to retry elsewhere.
		return fmt.Errorf("%w (%v)", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		// The entry is in the log and the next leader may still commit
		// it: the outcome is unknown, so it must not be retried blindly.
		return fmt.Errorf("%w: leadership lost before the commit was confirmed (%v)", ErrTimeout, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w (%v)", ErrTimeout, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return err
}
