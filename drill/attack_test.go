package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// attackEnv starts an in-process cell of 3 sites, the twin and the
// witness, and the Env the attacks get.
func attackEnv(tb testing.TB) (*cluster.Cluster, *Env, *[]string) {
	tb.Helper()
	// Raft timings for a loaded test machine under -race: a 300 ms
	// heartbeat there lets elections happen by themselves, which the
	// attacks' "leader unchanged" checks rightly count as a FAIL.
	c := cluster.New(tb, cluster.Options{Twin: true, Witness: true, Tweak: func(cfg *node.Config) {
		cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	}})
	var events []string
	env := &Env{Lab: c.Lab, Rec: history.New(), Start: time.Now(), Events: func(kind, text string) {
		events = append(events, kind+": "+text)
	}}
	return c, env, &events
}

func runAttack(tb testing.TB, env *Env, step scenarios.Step) (AttackResult, error) {
	tb.Helper()
	f := attacks[step.Action]
	if f == nil {
		tb.Fatalf("no executor registered for %s", step.Action)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := f(ctx, env, step)
	for _, line := range res.Findings {
		tb.Logf("%s: %s", step.Action, line)
	}
	return res, err
}

func findingWith(res AttackResult, sub string) string {
	for _, f := range res.Findings {
		if strings.Contains(f, sub) {
			return f
		}
	}
	return ""
}

func wantFinding(tb testing.TB, res AttackResult, subs ...string) {
	tb.Helper()
	for _, s := range subs {
		if findingWith(res, s) == "" {
			tb.Fatalf("no finding mentions %q:\n%s", s, strings.Join(res.Findings, "\n"))
		}
	}
}

// TestAttacks runs every attack against one cell (starting one costs
// seconds on a small machine).
func TestAttacks(t *testing.T) {
	c, env, _ := attackEnv(t)
	ctx := context.Background()
	leader := c.WaitLeader("")
	// A genuine load ships to the twin all along: the probes take the
	// twin's stream from a live leader, as in a drill.
	stopLoad, loadAcked := backgroundLoad(t, c, leader)
	defer stopLoad()

	t.Run("forged records are refused with an alarm and nothing stored", func(t *testing.T) {
		for _, kind := range []scenarios.ForgeKind{scenarios.ForgeAltered, scenarios.ForgeRehashed, scenarios.ForgeStaleEpoch} {
			res, err := runAttack(t, env, scenarios.Step{Action: scenarios.ForgedRecords,
				ForgedRecords: &scenarios.ForgedRecordsAttack{From: scenarios.SelectLeader, Records: 3, Kind: kind}})
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if !res.Detected || res.Refusals != 1 {
				t.Fatalf("%s: got detected %v, refusals %d, want true, 1:\n%s", kind, res.Detected, res.Refusals, strings.Join(res.Findings, "\n"))
			}
			wantFinding(t, res, "lux-1 refused", "raised its alarm", "nothing of the forgery was stored")
		}
		// The twin must hold exactly the leader's WAL: a forged record it
		// had accepted would make it diverge.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := c.Client(leader).Put(wctx, "after", "k", []byte("v"), "twin"); err != nil {
			t.Fatalf("durability=twin write after the attack: %v", err)
		}
		if err := c.WaitTwinConverged(wctx); err != nil {
			t.Fatalf("the twin no longer matches the leader after the forgeries: %v", err)
		}
	})

	t.Run("replayed frames are refused", func(t *testing.T) {
		res, err := runAttack(t, env, scenarios.Step{Action: scenarios.Replay,
			Replay: &scenarios.ReplayAttack{Frames: 3, Target: scenarios.SelectTwin}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Detected || res.Refusals != 3 {
			t.Fatalf("got detected %v, refusals %d, want true, 3:\n%s", res.Detected, res.Refusals, strings.Join(res.Findings, "\n"))
		}
		wantFinding(t, res, "lux-1 refused a replayed frame", "(3 times)", "gap")
	})

	t.Run("the genuine load went on", func(t *testing.T) {
		before := loadAcked()
		deadline := time.Now().Add(20 * time.Second)
		for loadAcked() < before+5 {
			if time.Now().After(deadline) {
				t.Fatalf("the load acknowledged %d writes in 20s after the probes, want 5", loadAcked()-before)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("replay to a site is not supported", func(t *testing.T) {
		_, err := runAttack(t, env, scenarios.Step{Action: scenarios.Replay,
			Replay: &scenarios.ReplayAttack{Frames: 1, Target: scenarios.SelectLeader}})
		if !errors.Is(err, ErrAttackStep) {
			t.Fatalf("got %v, want ErrAttackStep", err)
		}
	})

	for _, tc := range []struct {
		kind   scenarios.CertKind
		target scenarios.Selector
	}{
		{scenarios.CertForeign, scenarios.SelectLeader},
		{scenarios.CertForeign, scenarios.SelectTwin},
		{scenarios.CertRevoked, scenarios.SelectLeader},
		{scenarios.CertRevoked, scenarios.SelectTwin},
	} {
		t.Run(fmt.Sprintf("stolen %s certificate against %s", tc.kind, tc.target), func(t *testing.T) {
			res, err := runAttack(t, env, scenarios.Step{Action: scenarios.StolenCert,
				StolenCert: &scenarios.StolenCertAttack{Kind: tc.kind, Tries: []scenarios.Try{scenarios.TryJoin, scenarios.TryWrite}, Target: tc.target}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Detected || res.Refusals != 2 {
				t.Fatalf("got detected %v, refusals %d, want true, 2:\n%s", res.Detected, res.Refusals, strings.Join(res.Findings, "\n"))
			}
			wantFinding(t, res, "QUIC join refused by", "API write refused", "HTTP 401", "nothing stored")
			if tc.kind == scenarios.CertRevoked {
				wantFinding(t, res, "revoked")
			}
		})
	}

	t.Run("ransomware", func(t *testing.T) {
		cl := c.Client(leader)
		var lastClean uint64
		for i := range 40 {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := cl.Put(wctx, "civil-registry", fmt.Sprintf("person-%03d", i), []byte("genuine record"), "cell")
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			lastClean = r.WALIndex
		}
		res, err := runAttack(t, env, scenarios.Step{Action: scenarios.Ransomware,
			Ransomware: &scenarios.RansomwareAttack{Namespace: "civil-registry", Keys: 20, Delete: 0.5}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Detected {
			t.Fatal("ransomware with valid credentials reported as detected: jumeau cannot tell it from genuine writes")
		}
		// The load runs on: the last clean index is at or after the last
		// genuine write of this test, and just before the first attack
		// write.
		var clean uint64
		if _, err := fmt.Sscanf(findingWith(res, "last clean WAL index: "), "last clean WAL index: %d ", &clean); err != nil {
			t.Fatalf("last clean index: %v\n%s", err, strings.Join(res.Findings, "\n"))
		}
		if clean < lastClean {
			t.Fatalf("last clean index %d is before the last genuine write %d", clean, lastClean)
		}
		wantFinding(t, res,
			"overwrote 10 and deleted 10 keys of civil-registry",
			fmt.Sprintf("WAL indexes %d..", clean+1),
			"does not detect misuse of valid credentials",
			"not implemented",
			"holds the same destruction: 20 of 20")
		var attacked int
		for _, w := range env.Rec.Writes() {
			if IsAttackWrite(w) && w.Acked {
				attacked++
			}
		}
		if got, want := attacked, 20; got != want {
			t.Fatalf("attack writes recorded: got %d, want %d", got, want)
		}
	})

	t.Run("ransomware on an empty namespace", func(t *testing.T) {
		_, err := runAttack(t, env, scenarios.Step{Action: scenarios.Ransomware,
			Ransomware: &scenarios.RansomwareAttack{Namespace: "nothing-here", Keys: 5, Delete: 0.5}})
		if !errors.Is(err, ErrAttackStep) {
			t.Fatalf("got %v, want ErrAttackStep", err)
		}
	})
}

// backgroundLoad writes to the leader (durability twin every other
// write) until stopped; it returns the stop function and the count of
// acknowledged writes.
func backgroundLoad(tb testing.TB, c *cluster.Cluster, leader string) (stop func(), acked func() int64) {
	tb.Helper()
	cl := c.Client(leader)
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil && i < 100_000; i++ {
			d := "cell"
			if i%2 == 1 {
				d = "twin"
			}
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := cl.Put(wctx, "load", fmt.Sprintf("w-%06d", i), []byte("genuine"), d); err == nil {
				n.Add(1)
			}
			wcancel()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }, n.Load
}

func TestParseHandshakeFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want float64
		err  bool
	}{
		{"one node", "# HELP x\njumeau_transport_handshake_failures_total{direction=\"in\",node=\"site-a\"} 3\njumeau_transport_handshake_failures_total{direction=\"out\",node=\"site-a\"} 9\n", 3, false},
		{"absent", "jumeau_other 1\n", 0, true},
		{"no value", "jumeau_transport_handshake_failures_total{direction=\"in\"}\n", 0, true},
		{"bad value", "jumeau_transport_handshake_failures_total{direction=\"in\"} x\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHandshakeFailures(strings.NewReader(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("error: got %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got %g, want %g", got, tc.want)
			}
		})
	}
}

func FuzzParseHandshakeFailures(f *testing.F) {
	f.Add("jumeau_transport_handshake_failures_total{direction=\"in\",node=\"a\"} 3\n")
	f.Add("jumeau_transport_handshake_failures_total{direction=\"in\"}")
	f.Add("jumeau_transport_handshake_failures_total{direction=\"in\"} 1e400")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		v, err := parseHandshakeFailures(strings.NewReader(in))
		if err != nil && !errors.Is(err, ErrAttackFailed) {
			t.Fatalf("error does not wrap ErrAttackFailed: %v", err)
		}
		if err != nil && v != 0 {
			t.Fatalf("value %g with an error", v)
		}
	})
}

// TestAttacker_Unconfirmed checks that a try that fails for another
// reason than a refusal (nothing listens) is not reported as refused.
func TestAttacker_Unconfirmed(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.InitCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-b"}, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mat, err := attackerMaterial(certPEM, keyPEM, filepath.Join(dir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	// Addresses nobody listens on: bound, then released.
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := &lab.Node{Name: "site-a", Role: string(pki.RoleSite), QUIC: udp.LocalAddr().String(), API: tcp.Addr().String()}
	udp.Close()
	tcp.Close()
	a := newAttacker(&Env{Lab: &lab.Lab{}}, "test")
	defer a.close()
	ctx := context.Background()
	t.Run("join", func(t *testing.T) {
		refused, finding := a.tryJoin(ctx, mat, target, scenarios.CertForeign)
		if refused || !strings.Contains(finding, "not confirmed") {
			t.Fatalf("got refused %v, %q; want not confirmed", refused, finding)
		}
	})
	t.Run("write", func(t *testing.T) {
		refused, finding := a.tryWrite(ctx, mat, target, scenarios.CertForeign)
		if refused || !strings.Contains(finding, "not confirmed") {
			t.Fatalf("got refused %v, %q; want not confirmed", refused, finding)
		}
	})
}
