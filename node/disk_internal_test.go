package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/diskspace/disktest"
)

// lines records log lines.
type lines struct {
	mu  sync.Mutex
	got []slog.Record
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r.Clone())
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func (l *lines) errors() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.got {
		if r.Level >= slog.LevelError {
			out = append(out, r)
		}
	}
	return out
}

// errorsTotal reads jumeau_pebble_errors_total.
func errorsTotal(tb testing.TB, reg prometheus.Gatherer) float64 {
	tb.Helper()
	v, ok := disktest.Metric(tb, reg, "jumeau_pebble_errors_total")
	if !ok {
		tb.Fatal("jumeau_pebble_errors_total is missing")
	}
	return v
}

// waitErrors waits until Pebble has reported more than n errors.
func waitErrors(tb testing.TB, reg prometheus.Gatherer, n float64) float64 {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := errorsTotal(tb, reg)
		if v > n {
			return v
		}
		if time.Now().After(deadline) {
			tb.Fatalf("got %v Pebble errors after 20 s, want more than %v", v, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPebbleLog_Errorf fills the disk under a real Pebble: its flush
// fails and is retried thousands of times a second, each a background
// error. The log gets one line per 10 s, which says how many it held
// back; the metric counts them all.
func TestPebbleLog_Errorf(t *testing.T) {
	dir := disktest.Tmpfs(t, "4m")
	rec := &lines{}
	reg := prometheus.NewRegistry()
	pl := newPebbleLog(slog.New(rec), reg)
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pl.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	if got := errorsTotal(t, reg); got != 0 {
		t.Fatalf("got %v errors at start, want 0", got)
	}
	// Without a WAL, a full disk fails the flush (retried in the
	// background) rather than the commit (fatal: the process would exit).
	db, err := pebble.Open(filepath.Join(dir, "db"), &pebble.Options{Logger: pl, EventListener: pl.events(), DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	filler := disktest.Fill(t, dir, 4096)
	v := make([]byte, 4096)
	for i := range 500 { // 2 MiB, in one memtable (4 MiB)
		if err := db.Set(fmt.Appendf(nil, "k%06d", i), v, pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	flushed, err := db.AsyncFlush()
	if err != nil {
		t.Fatal(err)
	}
	n := waitErrors(t, reg, 1000)
	if got, want := len(rec.errors()), 1; got != want {
		t.Fatalf("%v errors within one interval: got %d log lines, want %d", n, got, want)
	}
	mu.Lock()
	now = now.Add(pebbleErrorLogEvery)
	mu.Unlock()
	waitErrors(t, reg, n+1)
	got := rec.errors()
	if len(got) != 2 {
		t.Fatalf("after one interval: got %d log lines, want 2", len(got))
	}
	var held uint64
	got[1].Attrs(func(a slog.Attr) bool {
		if a.Key == "held_back" {
			held = a.Value.Uint64()
		}
		return true
	})
	if held < uint64(n)-1 {
		t.Fatalf("second line: got held_back %d, want at least %v", held, n-1)
	}

	// Room again: the retried flush succeeds.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case <-flushed:
	case <-time.After(20 * time.Second):
		t.Fatal("flush not done 20 s after the room was freed")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
