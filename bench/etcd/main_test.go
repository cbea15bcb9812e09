package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	lats := [][]time.Duration{{3 * time.Millisecond, 1 * time.Millisecond}, {2 * time.Millisecond}, {4 * time.Millisecond}}
	got := summarize(lats, 2*time.Second, 1000)
	want := benchResult{Ops: 4, Seconds: 2, OpsPerSec: 2, MBPerSec: 0.002, P50ms: 2, P90ms: 3, P99ms: 3, Maxms: 4, Size: 1000}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got, want := summarize(nil, time.Second, 1), (benchResult{Seconds: 1, Size: 1}); got != want {
		t.Errorf("summarize(nil) = %+v, want %+v", got, want)
	}
}

func TestRunBench(t *testing.T) {
	t.Run("unique keys", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]int{}
		put := func(_ context.Context, _ int, key string, value []byte) error {
			if len(value) != 16 {
				return errors.New("bad size")
			}
			mu.Lock()
			seen[key]++
			mu.Unlock()
			return nil
		}
		got := runBench(context.Background(), put, "p/", 8, 100, 16, time.Minute)
		if got.Ops != 100 || got.Errors != 0 || got.Clients != 8 || got.Size != 16 {
			t.Errorf("result = %+v, want 100 ops, 0 errors, 8 clients, size 16", got)
		}
		if len(seen) != 100 {
			t.Errorf("distinct keys = %d, want 100", len(seen))
		}
		for k, n := range seen {
			if n != 1 || !strings.HasPrefix(k, "p/k") {
				t.Errorf("key %q written %d times, want once with prefix p/k", k, n)
			}
		}
	})
	t.Run("errors counted", func(t *testing.T) {
		errBoom := errors.New("boom")
		put := func(_ context.Context, w int, _ string, _ []byte) error {
			if w == 0 {
				return errBoom
			}
			return nil
		}
		got := runBench(context.Background(), put, "", 1, 5, 0, time.Minute)
		if got.Ops != 0 || got.Errors != 5 || got.FirstErr != "boom" {
			t.Errorf("result = %+v, want 0 ops, 5 errors, first error boom", got)
		}
	})
	t.Run("bounded in time", func(t *testing.T) {
		put := func(ctx context.Context, _ int, _ string, _ []byte) error {
			<-ctx.Done()
			return ctx.Err()
		}
		got := runBench(context.Background(), put, "", 4, 1000, 1, 10*time.Millisecond)
		if got.Ops != 0 || got.Errors != 0 {
			t.Errorf("result = %+v, want 0 ops and 0 errors after the deadline", got)
		}
	})
}

func TestRun_BadFlags(t *testing.T) {
	for _, args := range [][]string{{"--clients", "0"}, {"--ops", "0"}, {"--cert", "x"}, {"extra"}} {
		var out strings.Builder
		if err := run(context.Background(), args, &out); err == nil {
			t.Errorf("run(%q) = nil error, want one", args)
		}
	}
}
