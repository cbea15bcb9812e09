package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// refusedEvidence is the evidence of a rogue peer the cell refused: 4
// attempts on two targets, each refused and counted, nothing moved.
func refusedEvidence() rogueEvidence {
	snap := cellSnapshot{leader: "site-a", term: 3, epochs: map[string]uint64{"site-a": 1, "site-b": 1, "lux-1": 1}}
	return rogueEvidence{
		before: snap, after: snap,
		attempts: []rogueAttempt{
			{identity: "site/monaco/site-z", target: "site-a", try: rogueRaft, dials: 1, outcome: outcomeRefused, term: 1003},
			{identity: "site/monaco/site-z", target: "site-a", try: rogueList, dials: 1, outcome: outcomeRefused},
			{identity: "site/monaco/site-z", target: "site-b", try: roguePut, dials: 2, outcome: outcomeRefused, key: "rogue-1"},
			{identity: "site/luxembourg/rogue", target: "site-b", try: rogueGet, dials: 1, outcome: outcomeRefused},
		},
		targets:       []string{"site-a", "site-b"},
		refusedBefore: map[string]float64{"site-a": 5, "site-b": 0},
		refusedAfter:  map[string]float64{"site-a": 7, "site-b": 3},
		metricErr:     map[string]string{},
		written:       []writeCheck{{key: "rogue-1", node: "site-a"}},
	}
}

// failedChecks returns the names of the checks that did not pass.
func failedChecks(cs []AttackCheck) []string {
	var out []string
	for _, c := range cs {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestRogueEvidence_Checks(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		cs := refusedEvidence().checks()
		if got := failedChecks(cs); len(got) != 0 {
			t.Fatalf("got failed %v, want none:\n%+v", got, cs)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		if want := []string{checkAttempts, checkCounted, checkLeader, checkEpochs, checkValues, checkWrites}; !slices.Equal(names, want) {
			t.Fatalf("got checks %v, want %v", names, want)
		}
		if got, want := cs[1].Measured, "site-a 5 -> 7 (+2 for 2 connections); site-b 0 -> 3 (+3 for 3 connections)"; got != want {
			t.Errorf("refusals_counted measured: got %q, want %q", got, want)
		}
	})
	cases := []struct {
		name   string
		change func(e *rogueEvidence)
		want   []string
	}{
		{"no attempt at all", func(e *rogueEvidence) { e.attempts = nil; e.written = nil }, []string{checkAttempts, checkCounted, checkWrites}},
		{"a Raft RPC answered", func(e *rogueEvidence) {
			e.attempts[0].outcome, e.attempts[0].how = outcomeAnswered, "answered: term 1003, success true"
		}, []string{checkAttempts}},
		{"an attempt unconfirmed", func(e *rogueEvidence) { e.attempts[3].outcome = outcomeUnconfirmed }, []string{checkAttempts}},
		{"a refusal not counted", func(e *rogueEvidence) { e.refusedAfter["site-b"] = 2 }, []string{checkCounted}},
		{"a metric not read", func(e *rogueEvidence) { e.metricErr["site-a"] = "connection refused" }, []string{checkCounted}},
		{"connections unknown", func(e *rogueEvidence) { e.attempts[1].dials = -1 }, []string{checkCounted}},
		{"the term moved", func(e *rogueEvidence) { e.after.term = 1004 }, []string{checkLeader}},
		{"another leader", func(e *rogueEvidence) { e.after.leader = "site-b" }, []string{checkLeader}},
		{"no leader after", func(e *rogueEvidence) { e.after.leader, e.after.term = "", 0 }, []string{checkLeader}},
		{"no leader before", func(e *rogueEvidence) { e.before.leader, e.before.term = "", 0 }, []string{checkLeader}},
		{"an epoch moved", func(e *rogueEvidence) {
			e.after.epochs = map[string]uint64{"site-a": 1, "site-b": 1, "lux-1": 2}
		}, []string{checkEpochs}},
		{"a node silent after", func(e *rogueEvidence) { e.after.epochs = map[string]uint64{"site-a": 1, "site-b": 1} }, []string{checkEpochs}},
		{"values received", func(e *rogueEvidence) {
			e.attempts[1].outcome, e.attempts[1].values, e.attempts[1].bytes = outcomeAnswered, 20, 10240
		}, []string{checkAttempts, checkValues}},
		{"the write stored", func(e *rogueEvidence) { e.written[0].present = true }, []string{checkWrites}},
		{"the write acknowledged", func(e *rogueEvidence) {
			e.attempts[2].outcome, e.attempts[2].committed = outcomeAnswered, true
		}, []string{checkAttempts, checkWrites}},
		{"the write not readable back", func(e *rogueEvidence) { e.written[0].err = "HTTP 503" }, []string{checkWrites}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := refusedEvidence()
			tc.change(&e)
			cs := e.checks()
			if got := failedChecks(cs); !slices.Equal(got, tc.want) {
				t.Fatalf("got failed %v, want %v:\n%+v", got, tc.want, cs)
			}
			res := e.result(newAttacker(&Env{}, "test"))
			if res.Detected {
				t.Fatalf("got detected with failed checks %v", tc.want)
			}
		})
	}
}

func TestParseCounter(t *testing.T) {
	const text = `# HELP jumeau_transport_peers_refused_total Peers refused.
jumeau_transport_peers_refused_total{kind="connection",node="site-a",reason="not_member"} 7
jumeau_transport_peers_refused_total{kind="connection",node="site-a",reason="revoked"} 100
jumeau_transport_peers_refused_total{kind="raft",node="site-a",reason="not_member"} 1000
`
	for _, tc := range []struct {
		name string
		in   string
		want float64
		err  bool
	}{
		{"the series", text, 7, false},
		{"absent", "jumeau_other 1\n", 0, true},
		{"no value", `jumeau_transport_peers_refused_total{kind="connection",reason="not_member"}` + "\n", 0, true},
		{"bad value", `jumeau_transport_peers_refused_total{kind="connection",reason="not_member"} x` + "\n", 0, true},
		{"no closing brace", `jumeau_transport_peers_refused_total{kind="connection",reason="not_member" 3` + "\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCounter(strings.NewReader(tc.in), metricPeersRefused, refusedConnLabels...)
			if (err != nil) != tc.err {
				t.Fatalf("error: got %v, want error %v", err, tc.err)
			}
			if err != nil && !errors.Is(err, ErrAttackFailed) {
				t.Fatalf("got %v, want it to wrap ErrAttackFailed", err)
			}
			if got != tc.want {
				t.Fatalf("got %g, want %g", got, tc.want)
			}
		})
	}
}

// rogueStep is a short rogue-peer step against the leader and a follower.
func rogueStep(ns string) scenarios.Step {
	return scenarios.Step{Action: scenarios.RoguePeer, RoguePeer: &scenarios.RoguePeerAttack{
		Identities: scenarios.DefaultRogueIdentities, Raft: scenarios.SelectLeader,
		Forward: []scenarios.Selector{scenarios.SelectLeader, scenarios.SelectFollower}, Namespace: ns,
		For: time.Second, Every: 150 * time.Millisecond,
	}}
}

// checkOf returns the check named name.
func checkOf(tb testing.TB, res AttackResult, name string) AttackCheck {
	tb.Helper()
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	tb.Fatalf("no check %s in %+v", name, res.Checks)
	return AttackCheck{}
}

// TestRoguePeer_Refused runs the attack against a cell of 3 sites, the
// twin and the witness under load: every connection is refused and
// counted, and every check passes.
func TestRoguePeer_Refused(t *testing.T) {
	c, env, _ := attackEnv(t)
	leader := c.WaitLeader("")
	stopLoad, acked := backgroundLoad(t, c, leader)
	defer stopLoad()
	waitAcked(t, acked, 10)
	res, err := runAttack(t, env, rogueStep("load"))
	if err != nil {
		t.Fatal(err)
	}
	if got := failedChecks(res.Checks); len(got) != 0 || !res.Detected {
		t.Fatalf("got detected %v, failed checks %v; want detected, none failed:\n%s", res.Detected, got, strings.Join(res.Findings, "\n"))
	}
	// 2 identities x 2 targets x (list, get, put), and 7 Raft RPCs each
	// (1s every 150ms).
	if got, want := res.Refusals, 2*2*3+2*7; got != want {
		t.Errorf("refusals: got %d, want %d", got, want)
	}
	if c := checkOf(t, res, checkLeader); !strings.HasPrefix(c.Measured, leader+" term ") {
		t.Errorf("leader_unchanged: got %q, want %s before and after", c.Measured, leader)
	}
	wantFinding(t, res, "rogue peer site/monaco/site-z -> "+leader+": 7 Raft AppendEntries", "refused in the mutual-TLS handshake",
		leader+" counted the refusals: jumeau_transport_peers_refused_total")
}

// TestRoguePeer_Accepted runs the attack against a cell whose sites
// admit site/monaco/site-z as a voter (cell.sites names it), as every
// site admitted any certificate of the CA before the transport checked
// membership: the checks see the leader deposed, values read and the
// write stored, and fail.
func TestRoguePeer_Accepted(t *testing.T) {
	// site-z's address: nobody listens there.
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := udp.LocalAddr().String()
	udp.Close()
	c := cluster.New(t, cluster.Options{Tweak: func(cfg *node.Config) {
		cfg.Cell.Sites = append(cfg.Cell.Sites, "site-z")
		cfg.Peers = append(cfg.Peers, node.Peer{Name: "site-z", Addr: addr, Role: "site", Region: "monaco"})
	}})
	env := &Env{Lab: c.Lab, Rec: history.New(), Start: time.Now()}
	leader := c.WaitLeader("")
	cl := c.Client(leader)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cl.Put(ctx, "registry", fmt.Sprintf("person-%d", i), []byte("a record the rogue peer must not read"), "cell")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := runAttack(t, env, rogueStep("registry"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Detected {
		t.Fatalf("got detected, want not:\n%s", strings.Join(res.Findings, "\n"))
	}
	failed := failedChecks(res.Checks)
	for _, name := range []string{checkAttempts, checkCounted, checkLeader, checkValues, checkWrites} {
		if !slices.Contains(failed, name) {
			t.Errorf("check %s passed, want it failed: %+v", name, checkOf(t, res, name))
		}
	}
	wantFinding(t, res, "NOT REFUSED: rogue peer site/monaco/site-z -> "+leader)
}

// waitAcked waits until the load acknowledged n writes.
func waitAcked(tb testing.TB, acked func() int64, n int64) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for acked() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("the load acknowledged %d writes in 20s, want %d", acked(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An attack's checks reach the report, named after their step, and a
// failed one fails it.
func TestAddAttackChecks(t *testing.T) {
	start := time.Now()
	rep := report.New("t", start)
	rep.ScenarioSHA256, rep.Operator = ScenarioSHA256([]byte("t")), &report.Operator{Identity: "sre", Source: report.OperatorOSUser}
	rep.AddCheck("acked_writes_lost", "== 0", "0", true)
	addAttackChecks(rep, []attackRun{
		{step: scenarios.Event{Path: "attacks[1]", Step: scenarios.Step{Action: scenarios.RoguePeer}}, began: start.Add(2 * time.Second),
			res: AttackResult{Checks: []AttackCheck{{Name: checkLeader, Expected: "== site-a term 2", Measured: "site-a term 2 -> site-b term 1003", Passed: false}}}},
		{step: scenarios.Event{Path: "attacks[0]", Step: scenarios.Step{Action: scenarios.StolenCert}}, began: start.Add(time.Second)},
		{step: scenarios.Event{Path: "attacks[2]", Step: scenarios.Step{Action: scenarios.RoguePeer}}, began: start.Add(time.Second),
			res: AttackResult{Checks: []AttackCheck{{Name: checkValues, Expected: "== 0", Measured: "0 values (0 B)", Passed: true}}}},
	})
	var got []string
	for _, c := range rep.Checks {
		got = append(got, fmt.Sprintf("%s %v", c.Name, c.Passed))
	}
	want := []string{"acked_writes_lost true", "attacks[2].rogue-peer.values_received true", "attacks[1].rogue-peer.leader_unchanged false"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := rep.Finish(start.Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if rep.Passed {
		t.Fatal("got passed, want failed: an attack check failed")
	}
}
