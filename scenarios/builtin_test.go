package scenarios

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestBuiltins(t *testing.T) {
	want := []string{
		"cyberattack-forged-records", "cyberattack-link-ddos", "cyberattack-ransomware", "cyberattack-rogue-peer", "cyberattack-stolen-cert",
		"earthquake-aftershocks", "earthquake-one-site", "earthquake-total", "earthquake-two-sites",
	}
	if got := Builtins(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBuiltin(t *testing.T) {
	for _, name := range Builtins() {
		t.Run(name, func(t *testing.T) {
			s, err := Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name {
				t.Errorf("name: got %q, want the file's name %q", s.Name, name)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			// Short enough for the e2e suite to run all of them.
			if s.Duration < 10*time.Second || s.Duration > 25*time.Second {
				t.Errorf("duration: got %v, want 10s to 25s", s.Duration)
			}
			src, err := BuiltinSource(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"# " + name + "\n", "\n# Simulates: ", "\n# Proves: "} {
				if !bytes.Contains(src, []byte(want)) {
					t.Errorf("header: want the comment to contain %q", want)
				}
			}
			if !bytes.HasPrefix(src, []byte("# "+name+"\n")) {
				t.Errorf("header: want the file to start with # %s", name)
			}
			roundTripT(t, s)
		})
	}
}

// expectT returns the expectation labelled label.
func expectT(tb testing.TB, s *Scenario, label string) Expectation {
	tb.Helper()
	for _, e := range s.Expect {
		if e.Label() == label {
			return e
		}
	}
	tb.Fatalf("%s: no expectation %s in %v", s.Name, label, s.Expect)
	return Expectation{}
}

// actionsT counts the steps of each action.
func actionsT(s *Scenario) map[Action]int {
	n := map[Action]int{}
	for _, e := range s.Timeline() {
		n[e.Action]++
	}
	return n
}

// The built-ins simulate what their names say and check what the issue
// asks of them.
func TestBuiltin_Contents(t *testing.T) {
	load := func(tb testing.TB, name string) *Scenario {
		tb.Helper()
		s, err := Builtin(name)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	check := func(tb testing.TB, s *Scenario, label, want string) {
		tb.Helper()
		if got := expectT(tb, s, label).Expected(); got != want {
			tb.Errorf("%s %s: got %s, want %s", s.Name, label, got, want)
		}
	}
	t.Run("earthquake-total", func(t *testing.T) {
		s := load(t, "earthquake-total")
		if len(s.Faults) != 1 || s.Faults[0].Action != Kill || !slices.Equal(s.Faults[0].Nodes, []Selector{SelectAllSites}) {
			t.Errorf("got %v, want every site killed at once", s.Faults)
		}
		check(t, s, "rto", "<= 10s")
		check(t, s, "acked_writes_lost.twin", "== 0")
		check(t, s, "split_brain", "== 0")
	})
	t.Run("earthquake-one-site", func(t *testing.T) {
		s := load(t, "earthquake-one-site")
		if n := actionsT(s); n[Kill] != 1 || len(s.Faults) != 1 || !slices.Equal(s.Faults[0].Nodes, []Selector{SelectLeader}) {
			t.Errorf("got %v, want the leader killed", s.Faults)
		}
		check(t, s, "acked_writes_lost", "== 0")
	})
	t.Run("earthquake-two-sites", func(t *testing.T) {
		s := load(t, "earthquake-two-sites")
		if len(s.Faults) != 1 || !slices.Equal(s.Faults[0].Nodes, []Selector{SelectSites(2)}) {
			t.Errorf("got %v, want two sites killed at once", s.Faults)
		}
		check(t, s, "acked_writes_lost.twin", "== 0")
	})
	t.Run("earthquake-aftershocks", func(t *testing.T) {
		s := load(t, "earthquake-aftershocks")
		if n := actionsT(s); n[Kill] < 2 || n[Restart] < 2 {
			t.Errorf("got %v, want sites killed and restarted repeatedly", n)
		}
		check(t, s, "acked_writes_lost", "== 0")
	})
	t.Run("cyberattack-link-ddos", func(t *testing.T) {
		s := load(t, "cyberattack-link-ddos")
		var degraded, cut, healed bool
		for _, st := range s.Faults {
			if st.Link == nil || st.Link.Links != LinkWAN {
				t.Errorf("%v: want WAN link steps only", st)
				continue
			}
			degraded = degraded || (st.Link.Delay > 0 && st.Link.Loss > 0 && !cut)
			cut = cut || (st.Link.Blackhole && degraded)
			healed = healed || (st.Link.Heal && cut)
		}
		if !degraded || !cut || !healed {
			t.Errorf("got %v, want the WAN degraded (latency and loss), then blackholed, then healed", s.Faults)
		}
		check(t, s, "split_brain", "== 0")
		check(t, s, "promotions", "== 0")
		check(t, s, "acked_writes_lost", "== 0")
	})
	t.Run("cyberattack-ransomware", func(t *testing.T) {
		s := load(t, "cyberattack-ransomware")
		if len(s.Attacks) != 1 || s.Attacks[0].Ransomware == nil || s.Attacks[0].Ransomware.Delete <= 0 || s.Attacks[0].Ransomware.Delete >= 1 {
			t.Errorf("got %v, want one ransomware attack overwriting and deleting", s.Attacks)
		}
		check(t, s, "integrity", "== verified")
	})
	t.Run("cyberattack-forged-records", func(t *testing.T) {
		s := load(t, "cyberattack-forged-records")
		if n := actionsT(s); n[ForgedRecords] == 0 {
			t.Errorf("got %v, want forged records", n)
		}
		check(t, s, "tamper_detected", "== true")
	})
	t.Run("cyberattack-stolen-cert", func(t *testing.T) {
		s := load(t, "cyberattack-stolen-cert")
		kinds := map[CertKind]bool{}
		for _, st := range s.Attacks {
			if st.StolenCert != nil {
				kinds[st.StolenCert.Kind] = true
			}
		}
		if !kinds[CertRevoked] || !kinds[CertForeign] {
			t.Errorf("got %v, want a revoked and a foreign certificate", kinds)
		}
		check(t, s, "tamper_detected", "== true")
	})
	t.Run("cyberattack-rogue-peer", func(t *testing.T) {
		s := load(t, "cyberattack-rogue-peer")
		if len(s.Attacks) != 1 || s.Attacks[0].RoguePeer == nil {
			t.Fatalf("got %v, want one rogue-peer attack", s.Attacks)
		}
		r := s.Attacks[0].RoguePeer
		want := []PeerIdentity{"site/monaco/site-z", "site/luxembourg/rogue"}
		if !slices.Equal(r.Identities, want) || r.Raft != SelectLeader || !slices.Equal(r.Forward, []Selector{SelectLeader, SelectFollower}) {
			t.Errorf("got %+v, want %v flooding the leader's Raft and forwarding to the leader and a follower", r, want)
		}
		if r.Every != 150*time.Millisecond || r.RPCs() < 10 {
			t.Errorf("got a flood every %v, %d RPCs; want every 150ms, at least 10", r.Every, r.RPCs())
		}
		if len(s.Faults) != 0 {
			t.Errorf("got faults %v, want none: a leader change must come from the attack only", s.Faults)
		}
		check(t, s, "tamper_detected", "== true")
		check(t, s, "promotions", "== 0")
		check(t, s, "acked_writes_lost", "== 0")
		check(t, s, "split_brain", "== 0")
		check(t, s, "integrity", "== verified")
	})
}

func TestBuiltin_Unknown(t *testing.T) {
	for _, name := range []string{"earthquake", "", "../scenarios", "builtin/earthquake-total"} {
		if _, err := Builtin(name); !errors.Is(err, ErrUnknownBuiltin) {
			t.Errorf("%q: got %v, want ErrUnknownBuiltin", name, err)
		}
		if _, err := BuiltinSource(name); !errors.Is(err, ErrUnknownBuiltin) {
			t.Errorf("source %q: got %v, want ErrUnknownBuiltin", name, err)
		}
	}
}
