package replicator

import (
	"context"
	"fmt"
	"time"
)

// bestShip returns the ship target with the least lag (nil without one).
func (c *Cell) bestShip() *shipper {
	if len(c.ships) <= 1 {
		if len(c.ships) == 0 {
			return nil
		}
		return c.ships[0]
	}
	best, bestLag := c.ships[0], c.ships[0].lag()
	for _, s := range c.ships[1:] {
		if l := s.lag(); l.records < bestLag.records {
			best, bestLag = s, l
		}
	}
	return best
}

// waitAnyShipped waits until one ship target acknowledged idx (a
// durability=twin write: one copy outside the writing region).
func (c *Cell) waitAnyShipped(ctx context.Context, idx uint64) error {
	if len(c.ships) == 1 {
		return c.ships[0].waitTwin(ctx, idx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(c.ships))
	for _, s := range c.ships {
		go func() { errs <- s.waitTwin(ctx, idx) }()
	}
	var first error
	for range c.ships {
		err := <-errs
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// Drain stops this leader taking writes (planned switchover): new writes
// fail with ErrSwitching, and Drain returns once the writes already
// admitted have finished, with the WAL tip they leave. Undrain reopens.
func (c *Cell) Drain(ctx context.Context) (uint64, [32]byte, error) {
	c.draining.Store(true)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for c.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return 0, [32]byte{}, fmt.Errorf("replicator: drain: %d writes still in flight: %w", c.inflight.Load(), ctx.Err())
		case <-t.C:
		}
	}
	if !c.IsLeader() {
		return 0, [32]byte{}, fmt.Errorf("replicator: drain: %w", ErrNotLeader)
	}
	// Every admitted write returned, so its entry is applied (or failed):
	// the WAL tip is final for this leader.
	if err := c.waitFuture(ctx, c.raft.Barrier(5*time.Second)); err != nil {
		return 0, [32]byte{}, fmt.Errorf("replicator: drain: barrier: %w", err)
	}
	idx, h := c.deps.WAL.Last()
	return idx, h, nil
}

// Undrain lets writes in again after a switchover that did not happen.
func (c *Cell) Undrain() { c.draining.Store(false) }

// Draining reports whether the cell refuses writes for a switchover.
func (c *Cell) Draining() bool { return c.draining.Load() }

// WaitShipped waits until the ship targets hold WAL index idx (zero lag:
// the switchover's precondition): every target connected now, and at
// least a majority of them (a site of the other region that is down
// stays behind; it must be reseeded when it returns).
func (c *Cell) WaitShipped(ctx context.Context, idx uint64) error {
	if len(c.ships) == 0 {
		return fmt.Errorf("replicator: wait shipped: %w", ErrNoTwin)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		acked, waiting := 0, ""
		for _, s := range c.ships {
			s.mu.Lock()
			ok := s.ackKnown && s.acked >= idx && s.active
			connected, at := s.connected, s.acked
			s.mu.Unlock()
			switch {
			case ok:
				acked++
			case connected && waiting == "":
				waiting = fmt.Sprintf("%s acknowledged WAL index %d of %d", s.cfg.Twin, at, idx)
			}
		}
		if waiting == "" && acked > len(c.ships)/2 {
			return nil
		}
		if waiting == "" {
			waiting = fmt.Sprintf("%d of %d targets hold WAL index %d, a majority must", acked, len(c.ships), idx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replicator: %s: %w", waiting, ctx.Err())
		case <-t.C:
		}
	}
}
