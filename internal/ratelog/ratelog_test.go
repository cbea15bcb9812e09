package ratelog

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLimiter_Allow(t *testing.T) {
	l := New(10 * time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		key      string
		at       time.Duration
		ok       bool
		wantHeld uint64
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", time.Second, true, 0}, // keys are independent
		{"a", 2 * time.Second, false, 0},
		{"a", 10 * time.Second, true, 2}, // the two held back
		{"a", 11 * time.Second, false, 0},
		{"a", 30 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, held := l.Allow(s.key, t0.Add(s.at))
		if ok != s.ok || held != s.wantHeld {
			t.Fatalf("step %d (%s at %v): got %v, %d, want %v, %d", i, s.key, s.at, ok, held, s.ok, s.wantHeld)
		}
	}
}

func TestLimiter_Allow_boundedKeys(t *testing.T) {
	var l Limiter // zero value, Every 0: every line goes through
	for i := range 3 * maxKeys {
		if ok, _ := l.Allow(strconv.Itoa(i), time.Unix(0, 0)); !ok {
			t.Fatalf("key %d held back by a zero interval", i)
		}
	}
	if got := len(l.keys); got > maxKeys {
		t.Fatalf("got %d keys remembered, want at most %d", got, maxKeys)
	}
}

// TestLimiter_Allow_flood is the flood of Pebble compaction errors seen on
// a full disk: 1,239 in 20 s cost two lines.
func TestLimiter_Allow_flood(t *testing.T) {
	l := New(10 * time.Second)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 1239 {
		at := t0.Add(time.Duration(i) * 20 * time.Second / 1239)
		if ok, held := l.Allow("compaction", at); ok {
			lines = append(lines, fmt.Sprintf("%s held %d", at.Sub(t0).Round(time.Second), held))
		}
	}
	if got, want := strings.Join(lines, ", "), "0s held 0, 10s held 619"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
