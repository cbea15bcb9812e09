package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

func builtin(tb testing.TB, name string) *scenarios.Scenario {
	tb.Helper()
	s, err := scenarios.Builtin(name)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestScaled(t *testing.T) {
	t.Run("halves the timeline, not the expectations", func(t *testing.T) {
		s := builtin(t, "earthquake-total")
		got, err := Scaled(s, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if got.Duration != s.Duration/2 || got.Faults[0].At != s.Faults[0].At/2 || got.Load.Stop != s.Load.Stop/2 {
			t.Errorf("got duration %v, fault at %v, load stop %v; want %v, %v, %v",
				got.Duration, got.Faults[0].At, got.Load.Stop, s.Duration/2, s.Faults[0].At/2, s.Load.Stop/2)
		}
		if len(got.Expect) != len(s.Expect) || got.Expect[1].String() != s.Expect[1].String() {
			t.Errorf("got expectations %v, want %v unchanged", got.Expect, s.Expect)
		}
		if s.Faults[0].At != 6*time.Second {
			t.Errorf("the original changed: fault at %v, want 6s", s.Faults[0].At)
		}
	})
	t.Run("keeps offsets inside the duration", func(t *testing.T) {
		s := builtin(t, "earthquake-aftershocks")
		got, err := Scaled(s, 0.001)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range got.Faults {
			if st.At < 0 || st.At >= got.Duration {
				t.Errorf("got a step at %v in a drill of %v", st.At, got.Duration)
			}
		}
		if got.Load.Stop <= got.Load.Start || got.Load.Stop > got.Duration {
			t.Errorf("got load %v..%v in a drill of %v", got.Load.Start, got.Load.Stop, got.Duration)
		}
	})
	for _, f := range []float64{0, -1, 101} {
		t.Run(fmt.Sprintf("refuses %g", f), func(t *testing.T) {
			if _, err := Scaled(builtin(t, "earthquake-total"), f); !errors.Is(err, ErrOptions) {
				t.Errorf("Scaled(%g): got %v, want ErrOptions", f, err)
			}
		})
	}
}

func TestRun_BadOptions(t *testing.T) {
	s := builtin(t, "earthquake-one-site")
	for name, o := range map[string]Options{
		"no scenario": {Dir: t.TempDir(), Binary: "jumeau"},
		"no dir":      {Scenario: s, Binary: "jumeau"},
		"bad scale":   {Scenario: s, Dir: t.TempDir(), Binary: "jumeau", Scale: -2},
		"no binary":   {Scenario: s, Dir: t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Run(context.Background(), o); !errors.Is(err, ErrOptions) {
				t.Errorf("got %v, want ErrOptions", err)
			}
		})
	}
}

func TestValueOf(t *testing.T) {
	a, b := valueOf("k-00000001", 512), valueOf("k-00000002", 512)
	if len(a) != 512 || !bytes.HasPrefix(a, []byte("k-00000001|")) {
		t.Errorf("got %d bytes starting %q, want 512 starting with the key", len(a), a[:12])
	}
	if bytes.Equal(a[11:], b[11:]) {
		t.Error("got the same filler for two keys, want values that differ")
	}
	if !bytes.Equal(a, valueOf("k-00000001", 512)) {
		t.Error("got another value for the same key, want it deterministic")
	}
	if got := valueOf("k-00000001", 3); string(got) != "k-00000001|" {
		t.Errorf("small size: got %q, want the key and '|'", got)
	}
}

func TestDurabilityOf(t *testing.T) {
	for _, twin := range []float64{0, 0.2, 0.5, 1} {
		n := 0
		const total = 20000
		for seq := int64(1); seq <= total; seq++ {
			if durabilityOf(scenarios.Mix{Cell: 1 - twin, Twin: twin}, seq) == replicator.DurabilityTwin {
				n++
			}
		}
		got := float64(n) / total
		if got < twin-0.02 || got > twin+0.02 {
			t.Errorf("twin share %g: got %g of the writes at durability=twin", twin, got)
		}
	}
}

func w(key string, d replicator.Durability, sent, done time.Duration, acked bool) history.Write {
	t0 := time.Unix(1000, 0)
	return history.Write{Key: key, Size: 10, Durability: d, Sent: t0.Add(sent), Done: t0.Add(done), Acked: acked}
}

func TestRPOWindow(t *testing.T) {
	if got := rpoWindow(nil); got != 0 {
		t.Errorf("no loss: got %v, want 0", got)
	}
	ws := []history.Write{w("a", 0, 0, 3*time.Second, true), w("b", 0, 0, time.Second, true), w("c", 0, 0, 2*time.Second, true)}
	if got := rpoWindow(ws); got != 2*time.Second {
		t.Errorf("got %v, want 2s (first to last acknowledgement)", got)
	}
	if got := lostBytes(ws); got != 30 {
		t.Errorf("got %d bytes, want 30", got)
	}
}

func TestRecoveryTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ws := []history.Write{
		w("before", 0, 500*time.Millisecond, 600*time.Millisecond, true),
		w("refused", 0, 1100*time.Millisecond, 1100*time.Millisecond, false),
		w("first", 0, 2*time.Second, 3500*time.Millisecond, true),
		w("second", 0, 10*time.Second, 10500*time.Millisecond, true),
	}
	ds := []disruption{{at: t0.Add(time.Second), what: "kill leader"}, {at: t0.Add(9 * time.Second), what: "pause leader"}}
	rto, per, missing := recoveryTimes(ds, ws)
	if rto != 2500*time.Millisecond || missing != "" || len(per) != 2 {
		t.Errorf("got rto %v, per %v, missing %q; want 2.5s (the longest), two recoveries", rto, per, missing)
	}
	_, _, missing = recoveryTimes([]disruption{{at: t0.Add(11 * time.Second), what: "kill all"}}, ws)
	if !strings.Contains(missing, "kill all") {
		t.Errorf("no write after the fault: got missing %q, want it named", missing)
	}
}

func TestExcludeRansomware(t *testing.T) {
	t0 := time.Unix(1000, 0)
	keys := map[string]written{"a": {ns: "civil"}, "b": {ns: "civil"}, "c": {ns: "health"}, "d": {ns: "civil"}, "e": {ns: "civil"}}
	lost := []history.Write{
		w("a", 0, 0, time.Second, true), w("b", 0, 0, time.Second, true), w("c", 0, 0, time.Second, true),
		w("d", 0, 0, time.Second, true), w("e", 0, 0, 5*time.Second, true),
	}
	runs := []attackRun{{
		step: scenarios.Event{Step: scenarios.Step{Action: scenarios.Ransomware, Ransomware: &scenarios.RansomwareAttack{Namespace: "civil", Keys: 2}}},
		end:  t0.Add(2 * time.Second),
	}}
	got, n := excludeRansomware(lost, keys, runs)
	var names []string
	for _, x := range got {
		names = append(names, x.Key)
	}
	if n != 2 || strings.Join(names, ",") != "c,d,e" {
		t.Errorf("got %d excluded, %v still lost; want 2 excluded (its count), c (other namespace), d (over the count), e (after the attack) lost", n, names)
	}
}

func TestBatchDigits(t *testing.T) {
	for _, c := range []struct{ size, want int }{{64, 3}, {512, 3}, {8 << 10, 2}, {1 << 20, 0}} {
		if got := batchDigits(c.size); got != c.want {
			t.Errorf("batchDigits(%d): got %d, want %d", c.size, got, c.want)
		}
	}
}

func TestOutcome_Value(t *testing.T) {
	s := builtin(t, "earthquake-total")
	o := &outcome{
		rto:        3 * time.Second,
		lost:       []history.Write{w("a", replicator.DurabilityCell, 0, time.Second, true), w("b", replicator.DurabilityCell, 0, 4*time.Second, true)},
		promotions: 1,
		integrity:  scenarios.Verified,
	}
	got := map[string]bool{}
	for _, e := range s.Expect {
		m, _, why := o.value(e)
		if why != "" {
			t.Fatalf("%s: not measured: %s", e, why)
		}
		ok, err := e.Check(m)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		got[e.Label()] = ok
	}
	want := map[string]bool{"rpo": true, "rto": true, "acked_writes_lost.twin": true, "split_brain": true, "promotions": true, "integrity": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got passed %v, want %v", k, got[k], v)
		}
	}
	o.lost = append(o.lost, w("c", replicator.DurabilityTwin, 0, 9*time.Second, true))
	for _, e := range s.Expect {
		if e.Label() == "rpo" || e.Label() == "acked_writes_lost.twin" {
			m, _, _ := o.value(e)
			if ok, _ := e.Check(m); ok {
				t.Errorf("%s with a lost twin write spanning 8s: got passed, want failed", e)
			}
		}
	}
	o.rtoErr = "no write was acknowledged after the fault"
	if _, _, why := o.value(s.Expect[1]); why == "" {
		t.Errorf("rto without a recovery: got measured, want why not")
	}
}

func TestLeaderOf(t *testing.T) {
	st := func(state string, term uint64, mode string) *node.Status {
		return &node.Status{Cell: &replicator.Status{RaftState: state, Term: term}, Failover: &node.FailoverStatus{Mode: mode}}
	}
	sites := []string{"site-a", "site-b", "site-c"}
	sts := map[string]*node.Status{"site-a": st("Follower", 3, "cell"), "site-b": st("Leader", 3, "cell"), "site-c": st("Leader", 2, "cell")}
	if got, term := leaderOf(sts, sites); got != "site-b" || term != 3 {
		t.Errorf("got %s term %d, want site-b term 3 (the newest term)", got, term)
	}
	sts = map[string]*node.Status{"site-a": st("Leader", 4, "replica")}
	if got, _ := leaderOf(sts, sites); got != "" {
		t.Errorf("a replica: got leader %q, want none", got)
	}
}

func TestEpochOf(t *testing.T) {
	sites := []string{"site-a", "site-b"}
	if got := epochOf(&node.FailoverStatus{Epoch: 1, PrimaryRegion: lab.PrimaryRegion}, sites); strings.Join(got.Writers, ",") != "site-a,site-b" {
		t.Errorf("monaco epoch: got writers %v, want the sites", got.Writers)
	}
	if got := epochOf(&node.FailoverStatus{Epoch: 2, PrimaryRegion: lab.TwinRegion, PrimaryNode: lab.TwinName}, sites); strings.Join(got.Writers, ",") != lab.TwinName {
		t.Errorf("promoted twin: got writers %v, want %s", got.Writers, lab.TwinName)
	}
}

func TestPosOf(t *testing.T) {
	got := posOf(&node.Status{Cell: &replicator.Status{WALLast: 7, WALHash: "ab", Ship: &replicator.ShipStatus{Diverged: "at 5"}}})
	if got.index != 7 || !strings.Contains(got.err, "diverged") {
		t.Errorf("got %+v, want index 7 and the divergence", got)
	}
	got = posOf(&node.Status{Twin: &replicator.TwinStatus{WALLast: 9, WALHash: "cd"}})
	if got.index != 9 || got.hash != "cd" || got.err != "" {
		t.Errorf("twin: got %+v, want index 9 hash cd", got)
	}
	if got := posOf(&node.Status{}); got.err == "" {
		t.Error("no WAL: got no error, want one")
	}
}

func TestProgress_Lines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	p.linef("one %d", 1)
	p.status("rate 1")
	p.status("rate 2") // within statusEvery: not printed
	p.done()
	if got, want := b.String(), "one 1\nrate 1\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var nilP *progress
	nilP.linef("nothing") // no writer: no panic
}
