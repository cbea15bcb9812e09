package replicator

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stuckFuture is a raft future that is never answered (hashicorp/raft
// can drop a request queued when it shuts down).
type stuckFuture struct{ answer chan error }

func (f stuckFuture) Error() error { return <-f.answer }

func TestCell_waitFuture(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		c := &Cell{ctx: context.Background()}
		f := stuckFuture{answer: make(chan error, 1)}
		want := errors.New("raft: not leader")
		f.answer <- want
		if got := c.waitFuture(context.Background(), f); got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c := &Cell{ctx: context.Background()}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		answer := make(chan error)
		defer close(answer) // lets waitFuture's goroutine end
		if got := c.waitFuture(ctx, stuckFuture{answer: answer}); !errors.Is(got, ErrTimeout) {
			t.Errorf("got %v, want %v", got, ErrTimeout)
		}
	})
	t.Run("cell closed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		c := &Cell{ctx: ctx}
		cancel()
		answer := make(chan error)
		defer close(answer)
		if got := c.waitFuture(context.Background(), stuckFuture{answer: answer}); !errors.Is(got, ErrClosed) {
			t.Errorf("got %v, want %v", got, ErrClosed)
		}
	})
}
