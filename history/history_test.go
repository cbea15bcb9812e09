package history_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/replicator"
)

var sites = []string{"site-a", "site-b", "site-c"}

// failoverHistory is a clean history of one promotion: the sites write in
// epoch 1 until t0+4s, the witness starts epoch 2 (lux-1) at t0+7s, lux-1
// writes from t0+7.5s.
func failoverHistory(tb testing.TB) (*history.History, time.Time) {
	tb.Helper()
	h := history.New()
	t0 := h.Start()
	h.EpochBegan(history.Epoch{Epoch: 1, Writers: sites})
	h.EpochBegan(history.Epoch{Epoch: 2, Began: t0.Add(7 * time.Second), Writers: []string{"lux-1"}})
	for i := 0; i < 40; i++ {
		h.Pass(sites[i%3], 1, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	for i := 0; i < 10; i++ {
		h.Pass("lux-1", 2, t0.Add(7500*time.Millisecond+time.Duration(i)*100*time.Millisecond))
	}
	return h, t0
}

func kinds(vs []history.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

func TestHistory_SplitBrain(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		h, _ := failoverHistory(t)
		if vs := h.SplitBrain(); len(vs) != 0 {
			t.Fatalf("got violations on a clean history:\n%s", history.Report(vs, 10))
		}
	})
	t.Run("old-epoch-after-new-began", func(t *testing.T) {
		h, t0 := failoverHistory(t)
		// A paused leader resumes and lets writes through in epoch 1
		// after the witness started epoch 2.
		h.Fault(history.Fault{At: t0.Add(3 * time.Second), Until: t0.Add(8 * time.Second), What: "SIGSTOP site-b", Nodes: []string{"site-b"}})
		h.Fault(history.Fault{At: t0.Add(3 * time.Second), Until: t0.Add(8 * time.Second), What: "SIGSTOP site-c", Nodes: []string{"site-c"}})
		h.Pass("site-b", 1, t0.Add(8*time.Second))
		h.Pass("site-b", 1, t0.Add(8100*time.Millisecond))
		h.Pass("site-b", 1, t0.Add(7*time.Second)) // exactly at the start: a violation too
		vs := h.SplitBrain()
		if got, want := kinds(vs), []string{history.KindSplitBrain}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v:\n%s", got, want, history.Report(vs, 10))
		}
		v := vs[0]
		if v.Node != "site-b" || v.Epoch != 1 || !v.At.Equal(t0.Add(7*time.Second)) {
			t.Errorf("got %+v, want site-b epoch 1 first at +7s", v)
		}
		for _, want := range []string{"3 write(s)", "epoch 2 began at +7s", "SIGSTOP site-b", "+8.1s"} {
			if !strings.Contains(v.Detail, want) {
				t.Errorf("got detail %q, want it to contain %q", v.Detail, want)
			}
		}
		if strings.Contains(v.Detail, "SIGSTOP site-c") {
			t.Errorf("got detail %q, want no fault of another node", v.Detail)
		}
	})
	t.Run("old-epoch-after-newer-pass", func(t *testing.T) {
		// No start time from the witness: a pass of epoch 2 is the
		// evidence that it had begun.
		h := history.New()
		t0 := h.Start()
		h.EpochBegan(history.Epoch{Epoch: 1, Writers: sites})
		h.EpochBegan(history.Epoch{Epoch: 2, Writers: []string{"lux-1"}})
		h.Pass("site-a", 1, t0.Add(time.Second))
		h.Pass("lux-1", 2, t0.Add(2*time.Second))
		h.Pass("site-a", 1, t0.Add(3*time.Second))
		vs := h.SplitBrain()
		if len(vs) != 1 || vs[0].Kind != history.KindSplitBrain || !strings.Contains(vs[0].Detail, "lux-1 let a write through in epoch 2 at +2s") {
			t.Fatalf("got %v, want one split-brain after lux-1's pass:\n%s", kinds(vs), history.Report(vs, 10))
		}
	})
	t.Run("skipped-epoch", func(t *testing.T) {
		// Epoch 2 was never seen: the start of epoch 3 bounds epoch 1.
		h := history.New()
		t0 := h.Start()
		h.EpochBegan(history.Epoch{Epoch: 1})
		h.EpochBegan(history.Epoch{Epoch: 3, Began: t0.Add(5 * time.Second)})
		h.Pass("site-a", 1, t0.Add(4*time.Second))
		h.Pass("site-a", 1, t0.Add(6*time.Second))
		vs := h.SplitBrain()
		if len(vs) != 1 || vs[0].Kind != history.KindSplitBrain || vs[0].Epoch != 1 {
			t.Fatalf("got %v, want one split-brain in epoch 1:\n%s", kinds(vs), history.Report(vs, 10))
		}
	})
	t.Run("early-pass", func(t *testing.T) {
		h, t0 := failoverHistory(t)
		h.Pass("lux-1", 2, t0.Add(6*time.Second))
		vs := h.SplitBrain()
		// The sites' epoch-1 passes ended at +3.9s: no overlap.
		if got, want := kinds(vs), []string{history.KindEarlyPass}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v:\n%s", got, want, history.Report(vs, 10))
		}
	})
	t.Run("early-pass-is-evidence", func(t *testing.T) {
		// lux-1 wrote in epoch 2 before the witness's start: the sites'
		// epoch-1 passes after that overlap with it.
		h, t0 := failoverHistory(t)
		h.Pass("lux-1", 2, t0.Add(2950*time.Millisecond))
		vs := h.SplitBrain()
		got := kinds(vs)
		if len(got) != 4 || got[0] != history.KindEarlyPass {
			t.Fatalf("got %v, want the early pass then the three sites' split-brain:\n%s", got, history.Report(vs, 10))
		}
	})
	t.Run("foreign-writer", func(t *testing.T) {
		h, t0 := failoverHistory(t)
		h.Pass("site-a", 2, t0.Add(8*time.Second))
		vs := h.SplitBrain()
		if len(vs) != 1 || vs[0].Kind != history.KindForeignWriter || vs[0].Node != "site-a" || !strings.Contains(vs[0].Detail, "[lux-1]") {
			t.Fatalf("got %v, want one foreign-writer site-a:\n%s", kinds(vs), history.Report(vs, 10))
		}
	})
	t.Run("unknown-epoch", func(t *testing.T) {
		h, t0 := failoverHistory(t)
		h.Pass("lux-1", 3, t0.Add(9*time.Second))
		h.Pass("lux-1", 2, t0.Add(10*time.Second))
		vs := h.SplitBrain()
		// lux-1's epoch-2 pass after its epoch-3 one is split-brain too.
		got := kinds(vs)
		if len(got) != 2 || got[0] != history.KindUnknownEpoch || got[1] != history.KindSplitBrain {
			t.Fatalf("got %v, want unknown-epoch then split-brain:\n%s", got, history.Report(vs, 10))
		}
	})
	t.Run("epoch-conflict", func(t *testing.T) {
		h, t0 := failoverHistory(t)
		h.EpochBegan(history.Epoch{Epoch: 2, Began: t0.Add(7 * time.Second), Writers: []string{"lux-1"}}) // the same again
		h.EpochBegan(history.Epoch{Epoch: 1, Began: t0.Add(-time.Hour), Writers: sites})                  // start learned
		if vs := h.SplitBrain(); len(vs) != 0 {
			t.Fatalf("got %v after reporting the same epochs again, want none:\n%s", kinds(vs), history.Report(vs, 10))
		}
		h.EpochBegan(history.Epoch{Epoch: 2, Began: t0.Add(12 * time.Second), Writers: []string{"lux-1"}})
		vs := h.SplitBrain()
		if len(vs) != 1 || vs[0].Kind != history.KindEpochConflict || !strings.Contains(vs[0].Detail, "+12s") {
			t.Fatalf("got %v, want one epoch-conflict:\n%s", kinds(vs), history.Report(vs, 10))
		}
	})
	t.Run("no-epochs", func(t *testing.T) {
		// Without any reported epoch only the order of passes is checked.
		h := history.New()
		t0 := h.Start()
		h.Pass("site-a", 1, t0)
		h.Pass("site-a", 1, t0.Add(time.Second))
		if vs := h.SplitBrain(); len(vs) != 0 {
			t.Fatalf("got %v, want none:\n%s", kinds(vs), history.Report(vs, 10))
		}
	})
}

func TestHistory_Pass_concurrent(t *testing.T) {
	h := history.New()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				h.Pass(fmt.Sprintf("n%d", g), 1, time.Now())
				h.Record(history.Write{Key: fmt.Sprintf("%d-%d", g, i), Acked: true})
			}
		}()
	}
	wg.Wait()
	if got, want := len(h.Passes()), 1600; got != want {
		t.Errorf("got %d passes, want %d", got, want)
	}
	if got, want := len(h.Writes()), 1600; got != want {
		t.Errorf("got %d writes, want %d", got, want)
	}
	ps := h.Passes()
	for i := 1; i < len(ps); i++ {
		if ps[i].At.Before(ps[i-1].At) {
			t.Fatalf("Passes not sorted by time at %d", i)
		}
	}
}

// writesHistory: 3 cell and 2 twin writes acknowledged, one of each not.
func writesHistory() *history.History {
	h := history.New()
	t0 := h.Start()
	add := func(key string, d replicator.Durability, acked bool) {
		w := history.Write{Key: key, Size: 100, Node: "site-a", Durability: d, Sent: t0, Done: t0.Add(time.Millisecond), Acked: acked}
		if !acked {
			w.Err = "api: timed out (a write may still be committed)"
		}
		h.Record(w)
	}
	add("c1", replicator.DurabilityCell, true)
	add("c2", replicator.DurabilityCell, true)
	add("c3", replicator.DurabilityCell, true)
	add("c4", replicator.DurabilityCell, false)
	add("t1", replicator.DurabilityTwin, true)
	add("t2", replicator.DurabilityTwin, true)
	add("t3", replicator.DurabilityTwin, false)
	return h
}

func TestHistory_Lost(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		h := writesHistory()
		var asked []string
		l, err := h.Lost(func(k string) (bool, error) { asked = append(asked, k); return true, nil })
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(asked, ","), "c1,c2,c3,t1,t2"; got != want {
			t.Errorf("got keys checked %s, want only the acknowledged %s", got, want)
		}
		if l.Checked[replicator.DurabilityCell] != 3 || l.Checked[replicator.DurabilityTwin] != 2 {
			t.Errorf("got checked %v, want cell 3, twin 2", l.Checked)
		}
		if vs := l.Violations(replicator.DurabilityCell, replicator.DurabilityTwin); len(vs) != 0 {
			t.Errorf("got %d violations, want 0", len(vs))
		}
	})
	t.Run("twin-lost", func(t *testing.T) {
		h := writesHistory()
		l, err := h.Lost(func(k string) (bool, error) { return k != "t2" && k != "c3", nil })
		if err != nil {
			t.Fatal(err)
		}
		if l.Count(replicator.DurabilityTwin) != 1 || l.Count(replicator.DurabilityCell) != 1 || l.Bytes(replicator.DurabilityTwin) != 100 {
			t.Fatalf("got %s, want one twin (100 bytes) and one cell write missing", l)
		}
		vs := l.Violations(replicator.DurabilityTwin)
		if len(vs) != 1 || vs[0].Kind != history.KindLost || !strings.Contains(vs[0].Detail, "durability=twin write t2 (100 bytes) acknowledged by site-a") {
			t.Fatalf("got %v, want t2 lost", vs)
		}
		if !strings.Contains(l.String(), "durability=twin: 2 acknowledged, 1 missing (100 bytes)") {
			t.Errorf("got %q, want the twin counts", l.String())
		}
	})
	t.Run("presence-error", func(t *testing.T) {
		h := writesHistory()
		boom := errors.New("node unreachable")
		_, err := h.Lost(func(string) (bool, error) { return false, boom })
		if !errors.Is(err, history.ErrPresence) || !errors.Is(err, boom) {
			t.Fatalf("got %v, want ErrPresence wrapping the cause", err)
		}
	})
}

func TestHistory_Summary(t *testing.T) {
	h := writesHistory()
	h.Pass("site-a", 1, time.Now())
	h.Pass("lux-1", 2, time.Now())
	s := h.Summary()
	for _, want := range []string{"7 writes: 5 acknowledged (cell 3, twin 2), 2 not", `2 × "api: timed out`, "epoch 1: site-a 1", "epoch 2: lux-1 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("got %q, want it to contain %q", s, want)
		}
	}
}
