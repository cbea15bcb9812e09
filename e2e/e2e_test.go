//go:build e2e

// Package e2e drives real jumeau processes: `make e2e` builds bin/jumeau
// and runs these tests against it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

var jumeauBin = flag.String("jumeau", "", "path of the jumeau binary under test")

func binary(tb testing.TB) string {
	tb.Helper()
	if *jumeauBin == "" {
		tb.Fatal("run with -args -jumeau=/path/to/jumeau (make e2e does)")
	}
	return *jumeauBin
}

// upLab starts a 3-site lab with the CLI and stops it at cleanup.
func upLab(tb testing.TB) *lab.Lab {
	tb.Helper()
	return upLabArgs(tb)
}

// upLabArgs is upLab with extra `lab up` arguments (e.g. "--twin").
func upLabArgs(tb testing.TB, extra ...string) *lab.Lab {
	tb.Helper()
	dir := tb.TempDir()
	args := append([]string{"lab", "up", "--dir", dir, "--sites", "3"}, extra...)
	out, err := exec.Command(binary(tb), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("lab up: %v\n%s", err, out)
	}
	l, err := lab.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	downLabAtCleanup(tb, dir)
	return l
}

// downLabAtCleanup stops the lab in dir when tb ends, continuing first
// any process a test left SIGSTOPped, and on failure logs the end of
// every node's log.
func downLabAtCleanup(tb testing.TB, dir string) {
	tb.Helper()
	tb.Cleanup(func() {
		cur, err := lab.Load(dir)
		if err != nil {
			return
		}
		for _, n := range cur.Nodes {
			_ = cur.Resume(n.Name)
		}
		_ = cur.Down(5 * time.Second)
		if tb.Failed() {
			for _, n := range cur.Nodes {
				b, _ := os.ReadFile(n.Log)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				tb.Logf("--- %s log tail ---\n%s", n.Name, b)
			}
		}
	})
}

// runCLI runs the jumeau binary with args and returns its standard
// output, standard error and exit code.
func runCLI(tb testing.TB, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	cmd := exec.Command(binary(tb), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("jumeau %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

// loader writes unique keys to the lab's sites, moving to the next site on
// error, and remembers which writes were acknowledged, when, and at which
// WAL index.
type loader struct {
	l *lab.Lab
	// durability of every write ("" = cell); set before start.
	durability string
	// prefix of the keys (default "k"); set before start.
	prefix  string
	clients []*api.Client
	mu      sync.Mutex
	acked   map[string]ackedWrite
	lastErr error
	errs    atomic.Int64
	seq     atomic.Int64
}

// ackedWrite is one write the cell acknowledged to the loader.
type ackedWrite struct {
	value string
	at    time.Time // when the loader got the acknowledgement
	wal   uint64    // its WAL index
}

func newLoader(tb testing.TB, l *lab.Lab) *loader {
	tb.Helper()
	ld := &loader{l: l, prefix: "k", acked: map[string]ackedWrite{}}
	for _, n := range l.Nodes {
		if n.Role != string(pki.RoleSite) {
			continue // the twin refuses writes
		}
		c, err := l.Client(n.Name)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(c.Close)
		ld.clients = append(ld.clients, c)
	}
	return ld
}

// run writes with w workers until ctx ends or max writes were attempted.
func (ld *loader) run(ctx context.Context, w int, max int64) {
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			target := i % len(ld.clients)
			for ctx.Err() == nil {
				n := ld.seq.Add(1)
				if n > max {
					return
				}
				k, v := fmt.Sprintf("%s%07d", ld.prefix, n), fmt.Sprintf("v%d-%d", n, time.Now().UnixNano())
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				res, err := ld.clients[target].Put(rctx, "e2e", k, []byte(v), ld.durability)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						// Stopped mid-write: neither acknowledged nor
						// refused by the cell.
						return
					}
					ld.errs.Add(1)
					ld.mu.Lock()
					ld.lastErr = err
					ld.mu.Unlock()
					target = (target + 1) % len(ld.clients)
					// Back off a little: a dead site refuses at once, and
					// a tight retry loop would starve the lab's processes
					// on a small machine.
					select {
					case <-ctx.Done():
						return
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				at := time.Now()
				ld.mu.Lock()
				ld.acked[k] = ackedWrite{value: v, at: at, wal: res.WALIndex}
				ld.mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
}

// start runs the loader in the background; the returned func stops it
// and waits until every worker is done.
func (ld *loader) start(ctx context.Context, w int, max int64) (stop func()) {
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ld.run(lctx, w, max); close(done) }()
	return func() { cancel(); <-done }
}

func (ld *loader) ackedCount() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.acked)
}

// verify reads every acknowledged write back through node name.
func (ld *loader) verify(tb testing.TB, name string) {
	tb.Helper()
	c, err := ld.l.Client(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.List(ctx, "e2e", "", 100000, false)
	if err != nil {
		tb.Fatalf("list on %s: %v", name, err)
	}
	got := map[string]string{}
	for _, kv := range res.Items {
		got[kv.Key] = string(kv.Value)
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	lost := 0
	for k, w := range ld.acked {
		if got[k] != w.value {
			lost++
			if lost <= 5 {
				tb.Errorf("acknowledged write %s=%s: got %q on %s", k, w.value, got[k], name)
			}
		}
	}
	if lost > 0 {
		tb.Fatalf("got %d of %d acknowledged writes lost, want 0", lost, len(ld.acked))
	}
	tb.Logf("all %d acknowledged writes present on %s (%d keys stored)", len(ld.acked), name, len(got))
}

func waitAcked(tb testing.TB, ld *loader, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ld.ackedCount() < n {
		if time.Now().After(deadline) {
			ld.mu.Lock()
			last := ld.lastErr
			ld.mu.Unlock()
			tb.Fatalf("only %d writes acknowledged in 30s (errors %d, last %v)", ld.ackedCount(), ld.errs.Load(), last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLab_SIGKILLLeader(t *testing.T) {
	l := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ld := newLoader(t, l)
	stop := ld.start(ctx, 16, 200000)
	waitAcked(t, ld, 500)

	killed := time.Now()
	if err := l.Kill(leader, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	newLeader, err := l.WaitLeader(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	elected := time.Since(killed)
	t.Logf("leader %s SIGKILLed; %s elected after %v", leader, newLeader, elected)
	if elected > 2*time.Second {
		t.Errorf("got new leader after %v, want within 2s", elected)
	}
	base := ld.ackedCount()
	waitAcked(t, ld, base+500)
	stop()
	ld.verify(t, newLeader)

	// The killed site restarts from its data directory and catches up.
	if err := l.Start(leader); err != nil {
		t.Fatal(err)
	}
	waitStatusConverged(t, l)
	ld.verify(t, leader)
}

func TestLab_SIGKILLFollowerUnderLoad(t *testing.T) {
	l := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	victim := followerOf(l, leader)
	ld := newLoader(t, l)
	stop := ld.start(ctx, 16, 200000)
	waitAcked(t, ld, 300)
	if err := l.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	base := ld.ackedCount()
	waitAcked(t, ld, base+500)
	stop()
	ld.verify(t, leader)
	if err := l.Start(victim); err != nil {
		t.Fatal(err)
	}
	waitStatusConverged(t, l)
	ld.verify(t, victim)
}

// statusRow mirrors `jumeau status --json`.
type statusRow struct {
	Name         string                 `json:"name"`
	Role         string                 `json:"role"`
	Region       string                 `json:"region"`
	RaftState    string                 `json:"raft_state"`
	Leader       string                 `json:"leader"`
	Term         uint64                 `json:"term"`
	CommitIndex  uint64                 `json:"commit_index"`
	AppliedIndex uint64                 `json:"applied_index"`
	WALLast      uint64                 `json:"wal_last_index"`
	WALHash      string                 `json:"wal_last_hash"`
	Error        string                 `json:"error"`
	Ship         *replicator.ShipStatus `json:"ship"`
	Twin         *replicator.TwinStatus `json:"twin"`
}

func status(tb testing.TB, l *lab.Lab) []statusRow {
	tb.Helper()
	// Exit 1: a node did not answer; its row says so.
	out, se, code := runCLI(tb, "status", "--lab", l.Dir, "--json")
	if code != 0 && code != 1 {
		tb.Fatalf("status: exit %d: %s", code, se)
	}
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		tb.Fatalf("status --json: %v\n%s", err, out)
	}
	return rows
}

// waitStatusConverged polls `status --json` until every node answers and
// every node holding data (the sites, the twin; not the witness) has the
// same WAL tip.
func waitStatusConverged(tb testing.TB, l *lab.Lab) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := status(tb, l)
		ok := len(rows) == len(l.Nodes)
		var ref *statusRow
		for i, r := range rows {
			if r.Error != "" {
				ok = false
				continue
			}
			if r.Role == string(pki.RoleWitness) {
				continue // stores no data: no WAL to compare
			}
			if ref == nil {
				ref = &rows[i]
			}
			if r.WALLast != ref.WALLast || r.WALHash != ref.WALHash {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nodes did not converge in 30s: %+v", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCLI(t *testing.T) {
	l := upLab(t)
	run := func(args ...string) (string, string, int) { return runCLI(t, args...) }
	if _, se, code := run("put", "--lab", l.Dir, "--node", "site-b", "app", "greeting", "bonjour"); code != 0 {
		t.Fatalf("put: exit %d: %s", code, se)
	}
	if so, se, code := run("get", "--lab", l.Dir, "app", "greeting"); code != 0 || so != "bonjour" {
		t.Fatalf("get: got %q (exit %d, %s), want bonjour alone", so, code, se)
	}
	so, se, code := run("get", "--lab", l.Dir, "app", "missing")
	if code != 1 || so != "" || se == "" {
		t.Fatalf("get missing: got exit %d stdout %q stderr %q, want exit 1, empty stdout, a message", code, so, se)
	}
	if _, se, code := run("get", "--endpoint", "127.0.0.1:1", "app", "x"); code == 0 || se == "" {
		t.Fatalf("get without credentials: got exit %d, stderr %q, want a failure naming the fix", code, se)
	}
	rows := status(t, l)
	if len(rows) != 3 {
		t.Fatalf("status: got %d rows, want 3", len(rows))
	}
	leaders := 0
	for _, r := range rows {
		if r.Name == "" || r.Role != "site" || r.Leader == "" || r.Term == 0 || r.CommitIndex == 0 {
			t.Errorf("status row incomplete: %+v", r)
		}
		if r.RaftState == "Leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("status: got %d leaders, want 1", leaders)
	}
	// A bad config names the key and the fix.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("node:\n  name: x\n  colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, se, code := run("serve", "--config", bad); code == 0 || !bytes.Contains([]byte(se), []byte("colour")) {
		t.Fatalf("serve with unknown key: got exit %d, stderr %q, want an error naming node.colour", code, se)
	}
}

// reload re-reads lab.json (pids change when nodes restart).
func reload(tb testing.TB, dir string) (*lab.Lab, error) {
	tb.Helper()
	l, err := lab.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return l, nil
}

// followerOf returns the first lab node that is not leader.
func followerOf(l *lab.Lab, leader string) string {
	for _, n := range l.Nodes {
		if n.Name != leader {
			return n.Name
		}
	}
	return ""
}
