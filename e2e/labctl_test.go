//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/lab"
)

// labCtlTimeout bounds one `jumeau lab ...` command of these tests: far
// above lab up's own 30 s wait for the primary, so a hung command fails
// the test instead of stalling it.
const labCtlTimeout = 90 * time.Second

// runLabCLI runs the jumeau binary with args, killed after labCtlTimeout,
// and returns its standard output, standard error, exit code and how long
// it ran.
func runLabCLI(tb testing.TB, args ...string) (stdout, stderr string, code int, took time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labCtlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(tb), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	if ctx.Err() != nil {
		tb.Fatalf("jumeau %s: still running after %v (killed)\n%s%s", strings.Join(args, " "), labCtlTimeout, so.String(), se.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("jumeau %v: %v", args, err)
	}
	return so.String(), se.String(), code, took
}

// labCLIOK runs a `jumeau lab` command that must succeed, and returns its
// standard output.
func labCLIOK(tb testing.TB, args ...string) string {
	tb.Helper()
	so, se, code, _ := runLabCLI(tb, args...)
	if code != 0 {
		tb.Fatalf("jumeau %s: exit %d, want 0\n%s%s", strings.Join(args, " "), code, so, se)
	}
	return so
}

// labStatusDoc mirrors `jumeau lab status --json`.
type labStatusDoc struct {
	Nodes []struct {
		Name    string `json:"name"`
		Process string `json:"process"`
		PID     int    `json:"pid"`
		Mode    string `json:"mode"`
		Epoch   uint64 `json:"epoch"`
	} `json:"nodes"`
	Primary *lab.Primary `json:"primary"`
}

// labProcess returns the process state and pid `jumeau lab status --json`
// shows for node name.
func labProcess(tb testing.TB, dir, name string) (string, int) {
	tb.Helper()
	var doc labStatusDoc
	if err := json.Unmarshal([]byte(labCLIOK(tb, "lab", "status", "--dir", dir, "--json")), &doc); err != nil {
		tb.Fatalf("lab status --json: %v", err)
	}
	for _, n := range doc.Nodes {
		if n.Name == name {
			return n.Process, n.PID
		}
	}
	tb.Fatalf("lab status --json: no node %s", name)
	return "", 0
}

// wantRefused runs a `jumeau lab` command that must fail with exit code
// code and say what in its standard error.
func wantRefused(tb testing.TB, code int, what string, args ...string) {
	tb.Helper()
	so, se, got, _ := runLabCLI(tb, args...)
	if got != code || !strings.Contains(se, what) {
		tb.Errorf("jumeau %s: got exit %d, stderr %q; want exit %d saying %q\n%s", strings.Join(args, " "), got, se, code, what, so)
	}
}

// TestLabCtl_KillStart: `lab kill` ends the cell leader at once, the cell
// takes writes without it, `lab start` brings it back with its
// configuration, and it serves again with what was written while it was
// down. Then `lab restart` and `lab stop` + `lab up` (which starts only
// what does not run) do the same for other sites.
func TestLabCtl_KillStart(t *testing.T) {
	l := upLab(t)
	dir := l.Dir
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	victim, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, oldPID := labProcess(t, dir, victim)

	if so := labCLIOK(t, "lab", "kill", "--dir", dir, victim); !strings.Contains(so, victim+" killed") {
		t.Errorf("lab kill %s: got %q, want it to say %q", victim, so, victim+" killed")
	}
	if got, _ := labProcess(t, dir, victim); got != string(lab.ProcessStopped) {
		t.Fatalf("lab status after lab kill %s: got %s, want %s", victim, got, lab.ProcessStopped)
	}
	wantRefused(t, 1, "not running", "lab", "kill", "--dir", dir, victim)
	wantRefused(t, 1, "not running", "lab", "stop", "--dir", dir, victim)
	wantRefused(t, 2, "site-a, site-b, site-c", "lab", "start", "--dir", dir, "site-z")
	wantRefused(t, 2, "one node name", "lab", "start", "--dir", dir)

	// The cell goes on without it.
	survivor, err := l.WaitLeader(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := l.Client(survivor)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Put(ctx, "e2e", "while-down", []byte("written while "+victim+" was down"), "cell"); err != nil {
		t.Fatalf("put on %s with %s killed: %v", survivor, victim, err)
	}

	so := labCLIOK(t, "lab", "start", "--dir", dir, victim)
	if !strings.Contains(so, victim+" started") {
		t.Errorf("lab start %s: got %q, want it to say %q", victim, so, victim+" started")
	}
	state, newPID := labProcess(t, dir, victim)
	if state != string(lab.ProcessRunning) || newPID == oldPID || newPID == 0 {
		t.Errorf("lab status after lab start %s: got %s pid %d, want %s with a new pid (was %d)", victim, state, newPID, lab.ProcessRunning, oldPID)
	}
	wantRefused(t, 1, "already running", "lab", "start", "--dir", dir, victim)
	l = reloadLab(t, dir)
	waitStatusConverged(t, l)
	wantValue(t, l, victim, "while-down", "written while "+victim+" was down")

	// restart: a new process, serving again.
	other := followerOf(l, victim)
	_, before := labProcess(t, dir, other)
	labCLIOK(t, "lab", "restart", "--dir", dir, other)
	if state, after := labProcess(t, dir, other); state != string(lab.ProcessRunning) || after == before {
		t.Errorf("lab status after lab restart %s: got %s pid %d, want %s with a new pid (was %d)", other, state, after, lab.ProcessRunning, before)
	}

	// stop, then lab up on the lab that runs without it: it starts that
	// node alone and leaves the others' processes as they were.
	labCLIOK(t, "lab", "stop", "--dir", dir, other)
	pids := map[string]int{}
	for _, n := range reloadLab(t, dir).Nodes {
		if n.Name != other {
			_, pids[n.Name] = labProcess(t, dir, n.Name)
		}
	}
	so = labCLIOK(t, "lab", "up", "--dir", dir)
	if !strings.Contains(so, "primary ") {
		t.Errorf("lab up: got %q, want it to name the primary", so)
	}
	for name, pid := range pids {
		if state, got := labProcess(t, dir, name); state != string(lab.ProcessRunning) || got != pid {
			t.Errorf("%s after lab up: got %s pid %d, want %s pid %d (left alone)", name, state, got, lab.ProcessRunning, pid)
		}
	}
	if state, _ := labProcess(t, dir, other); state != string(lab.ProcessRunning) {
		t.Errorf("%s after lab up: got %s, want %s", other, state, lab.ProcessRunning)
	}
	l = reloadLab(t, dir)
	waitStatusConverged(t, l)
	wantValue(t, l, other, "while-down", "written while "+victim+" was down")
}

// TestLabCtl_UpAfterPromotion: every Monaco site is SIGKILLed and the twin
// promotes itself (epoch 2). `lab down` then `lab up` must come back with
// the twin as the primary: its sites restart from stores of epoch 1,
// learn epoch 2 from the witness and become replicas; no Monaco cell
// leader is ever elected, and lab up must not wait for one.
func TestLabCtl_UpAfterPromotion(t *testing.T) {
	l := upLabArgs(t, "--twin", "--witness")
	dir := l.Dir
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFailoverRows(t, l, 15*time.Second, "the leader holds the lease in epoch 1", func(rows []failoverRow) string {
		return epochOne(rows, leader)
	})
	lc, err := l.Client(leader)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if _, err := lc.Put(ctx, "e2e", "before", []byte("shipped before the earthquake"), "twin"); err != nil {
		t.Fatal(err)
	}

	killed := killAtOnce(t, l, siteNames(l))
	twinC, err := l.Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC.Close()
	fc := failoverTimings(t, l)
	first, _ := waitTwinWritable(t, twinC, killed.Add(fc.DetectAfter+fc.Lease+30*time.Second))

	labCLIOK(t, "lab", "down", "--dir", dir)
	so, se, code, took := runLabCLI(t, "lab", "up", "--dir", dir)
	if code != 0 {
		t.Fatalf("lab up after the promotion: exit %d after %v, want 0\n%s%s", code, took.Round(time.Millisecond), so, se)
	}
	t.Logf("lab up after the promotion: ready in %v", took.Round(time.Millisecond))
	if want := "primary " + lab.TwinName + " (promoted twin, epoch 2"; !strings.Contains(so, want) {
		t.Errorf("lab up: got %q, want it to say %q", so, want)
	}

	rows := waitFailoverRows(t, l, 30*time.Second, "the twin primary of epoch 2, the sites its replicas", func(rows []failoverRow) string {
		for _, r := range rows {
			switch {
			case r.Failover == nil:
				return fmt.Sprintf("%s: no failover section (%s)", r.Name, r.Error)
			case r.Failover.Epoch != 2:
				return fmt.Sprintf("%s: epoch %d", r.Name, r.Failover.Epoch)
			case r.Role == "site" && r.Failover.Mode != string(lab.ModeReplica):
				return fmt.Sprintf("%s: mode %s", r.Name, r.Failover.Mode)
			}
		}
		return ""
	})
	tw := failoverRowOf(rows, lab.TwinName)
	if tw == nil || tw.Failover.Mode != string(lab.ModePrimary) || tw.Failover.PrimaryNode != lab.TwinName || tw.Failover.PrimaryRegion != lab.TwinRegion {
		t.Fatalf("failover status after lab up: want %s primary of epoch 2 in %s:\n%s", lab.TwinName, lab.TwinRegion, describeFailoverRows(rows))
	}
	twinC2, err := reloadLab(t, dir).Client(lab.TwinName)
	if err != nil {
		t.Fatal(err)
	}
	defer twinC2.Close()
	waitTwinWritable(t, twinC2, time.Now().Add(10*time.Second))
	wantValue(t, l, lab.TwinName, "before", "shipped before the earthquake")
	wantValue(t, l, lab.TwinName, first.key, first.value)
}

// reloadLab reads lab.json again (the lab commands changed pids).
func reloadLab(tb testing.TB, dir string) *lab.Lab {
	tb.Helper()
	l, err := lab.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// wantValue checks that node name serves ns e2e key k with value want
// from its own store (a stale read: no forwarding to a leader).
func wantValue(tb testing.TB, l *lab.Lab, name, k, want string) {
	tb.Helper()
	c, err := l.Client(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.Get(ctx, "e2e", k, true)
	if err != nil {
		tb.Fatalf("get e2e/%s on %s: %v", k, name, err)
	}
	if string(got) != want {
		tb.Errorf("e2e/%s on %s: got %q, want %q", k, name, got, want)
	}
}
