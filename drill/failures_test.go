package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
)

// refusedDialT returns the error of a dial to a port of 127.0.0.1 that
// nothing listens on.
func refusedDialT(tb testing.TB) error {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		tb.Fatalf("dial %s: connected, want refused", addr)
	}
	return err
}

func TestCauseOf(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	for _, c := range []struct {
		name string
		err  error
		want FailureCause
	}{
		{"no leader", fmt.Errorf("%w: election in progress (HTTP 503)", api.ErrUnavailable), CauseNoLeader},
		{"read-only twin", fmt.Errorf("%w: lux-1 (HTTP 409)", api.ErrReadOnly), CauseReadOnly},
		{"fenced", fmt.Errorf("%w: epoch 3", api.ErrFenced), CauseFenced},
		{"server timeout", fmt.Errorf("%w (HTTP 504)", api.ErrTimeout), CauseServerTimeout},
		{"client timeout", fmt.Errorf("api: PUT /v1/kv/a/b: %w", ctx.Err()), CauseClientTimeout},
		{"connection refused", fmt.Errorf("api: PUT: %w", refusedDialT(t)), CauseConnRefused},
		{"other", errors.New("disk on fire"), CauseOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := causeOf(c.err); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestFailureTally_Report(t *testing.T) {
	var f failureTally
	if got := f.report(); len(got) != 0 {
		t.Fatalf("empty tally: got %+v, want none", got)
	}
	refused := refusedDialT(t)
	for range 3 {
		f.add(refused)
	}
	f.add(fmt.Errorf("%w: lux-1", api.ErrReadOnly))
	f.add(fmt.Errorf("%w: election", api.ErrUnavailable))
	f.add(errors.New(strings.Repeat("é", maxExampleLen)))
	got := f.report()
	want := []struct {
		cause FailureCause
		count int64
	}{{CauseConnRefused, 3}, {CauseNoLeader, 1}, {CauseOther, 1}, {CauseReadOnly, 1}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].Cause != string(w.cause) || got[i].Count != w.count || got[i].Example == "" {
			t.Errorf("[%d]: got %+v, want cause %s count %d with an example", i, got[i], w.cause, w.count)
		}
	}
	if ex := got[2].Example; len(ex) > maxExampleLen+len("…") || !strings.HasSuffix(ex, "é…") {
		t.Errorf("long example: got %d bytes %q, want it cut at a character boundary within %d bytes", len(ex), ex, maxExampleLen)
	}
}
