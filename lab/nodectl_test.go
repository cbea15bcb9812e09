package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The process tests run this test binary as the lab's "jumeau" binary
// (through a symlink of that name, so the lab recognises its processes):
// with fakeEnv set, TestMain acts as the process instead of running tests.
// `lab links` runs the real fault links; `serve` is a node that does
// nothing but answer signals, as fakeEnv says.
const fakeEnv = "JUMEAU_LAB_TEST_PROCESS"

// The behaviours of a fake node (values of fakeEnv).
const (
	// fakeServe exits 0 on SIGTERM.
	fakeServe = "serve"
	// fakeStubborn ignores SIGTERM (only SIGKILL ends it).
	fakeStubborn = "stubborn"
	// fakeRefuse writes fakeRefusal to its log and exits 1 at once.
	fakeRefuse = "refuse"
)

// fakeRefusal is the last log line of a fakeRefuse node.
const fakeRefusal = "jumeau: node: this site's store belongs to an older cell (fake)"

// fakeLifetime bounds every fake process: none outlives a test run.
const fakeLifetime = 2 * time.Minute

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakeProcess(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeProcess is a lab process run by the process tests.
func fakeProcess(mode string, args []string) int {
	if len(args) >= 6 && args[0] == "lab" && args[1] == "links" {
		ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer cancel()
		ctx, cancel = context.WithTimeout(ctx, fakeLifetime)
		defer cancel()
		if err := ServeLinks(ctx, args[3], args[5], slog.New(slog.DiscardHandler)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	switch mode {
	case fakeRefuse:
		fmt.Fprintln(os.Stderr, fakeRefusal)
		return 1
	case fakeStubborn:
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(fakeLifetime)
		return 3
	default:
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		select {
		case <-term:
			return 0
		case <-time.After(fakeLifetime):
			return 3
		}
	}
}

// fakeLabT prepares and saves a lab whose binary is this test binary
// (named jumeau), in mode fakeServe; every process it starts is killed at
// cleanup.
func fakeLabT(tb testing.TB, opts Options) *Lab {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), "jumeau")
	if err := os.Symlink(exe, bin); err != nil {
		tb.Fatal(err)
	}
	opts.Dir, opts.Binary = tb.TempDir(), bin
	l, err := Prepare(opts)
	if err != nil {
		tb.Fatalf("prepare: %v", err)
	}
	if err := l.save(); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv(fakeEnv, fakeServe)
	tb.Cleanup(func() {
		if cur, err := Load(l.Dir); err == nil {
			stopProcs(append(procsOf(cur), procsOf(l)...), 0)
		}
	})
	return l
}

// procsOf lists the lab's processes as l records them.
func procsOf(l *Lab) []proc {
	ps := []proc{{l.Links.PID, l.Links.Config}}
	for _, n := range l.Nodes {
		ps = append(ps, proc{n.PID, n.Config})
	}
	return ps
}

// stateT returns the named node's process state.
func stateT(tb testing.TB, l *Lab, name string) ProcessState {
	tb.Helper()
	ps, err := l.State(name)
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

func ctxT(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func TestLab_StartNode(t *testing.T) {
	l := fakeLabT(t, Options{Sites: 3})
	t.Run("stopped", func(t *testing.T) {
		pid, err := l.StartNode(ctxT(t, 10*time.Second), "site-a")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := stateT(t, l, "site-a"), ProcessRunning; got != want {
			t.Fatalf("state: got %s, want %s", got, want)
		}
		cur, err := Load(l.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := cur.Node("site-a"); n.PID != pid {
			t.Errorf("lab.json pid of site-a: got %d, want %d", n.PID, pid)
		}
	})
	t.Run("running", func(t *testing.T) {
		_, err := l.StartNode(ctxT(t, 10*time.Second), "site-a")
		if !errors.Is(err, ErrNodeRunning) {
			t.Fatalf("got %v, want ErrNodeRunning", err)
		}
	})
	t.Run("paused counts as running", func(t *testing.T) {
		if err := l.Pause("site-a"); err != nil {
			t.Fatal(err)
		}
		waitStateT(t, l, "site-a", ProcessPaused)
		_, err := l.StartNode(ctxT(t, 10*time.Second), "site-a")
		if !errors.Is(err, ErrNodeRunning) {
			t.Fatalf("got %v, want ErrNodeRunning", err)
		}
		if err := l.Resume("site-a"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := l.StartNode(ctxT(t, 10*time.Second), "site-z")
		if !errors.Is(err, ErrUnknownNode) || !strings.Contains(err.Error(), "site-a, site-b, site-c") {
			t.Fatalf("got %v, want ErrUnknownNode listing site-a, site-b, site-c", err)
		}
	})
	t.Run("stale copy keeps other pids", func(t *testing.T) {
		// Two commands that loaded lab.json before either started its
		// node: the second must not write the first one's pid away.
		stale, err := Load(l.Dir)
		if err != nil {
			t.Fatal(err)
		}
		other, err := Load(l.Dir)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := other.StartNode(ctxT(t, 10*time.Second), "site-b")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := stale.StartNode(ctxT(t, 10*time.Second), "site-c")
		if err != nil {
			t.Fatal(err)
		}
		cur, err := Load(l.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]int{"site-b": pb, "site-c": pc} {
			if n, _ := cur.Node(name); n.PID != want {
				t.Errorf("lab.json pid of %s: got %d, want %d", name, n.PID, want)
			}
		}
	})
}

// waitStateT polls (within 10 s) until the node's process is in state
// want.
func waitStateT(tb testing.TB, l *Lab, name string, want ProcessState) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := stateT(tb, l, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: got state %s, want %s", name, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLab_StopNode(t *testing.T) {
	cases := []struct {
		name       string
		mode       string
		pause      bool
		wantKilled bool
	}{
		{"exits on SIGTERM", fakeServe, false, false},
		{"paused", fakeServe, true, false},
		{"ignores SIGTERM", fakeStubborn, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := fakeLabT(t, Options{Sites: 1})
			t.Setenv(fakeEnv, tc.mode)
			pid, err := l.StartNode(ctxT(t, 10*time.Second), "site-a")
			if err != nil {
				t.Fatal(err)
			}
			if tc.pause {
				if err := l.Pause("site-a"); err != nil {
					t.Fatal(err)
				}
				waitStateT(t, l, "site-a", ProcessPaused)
			}
			if tc.mode == fakeStubborn {
				// SIGTERM must reach the process after it ignores it.
				waitIgnoresTermT(t, pid)
			}
			// A grace far above a fake's exit time on SIGTERM, far below
			// fakeLifetime.
			got, err := l.StopNode(ctxT(t, 30*time.Second), "site-a", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if want := (StopResult{PID: pid, Killed: tc.wantKilled}); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if got, want := stateT(t, l, "site-a"), ProcessStopped; got != want {
				t.Errorf("state: got %s, want %s", got, want)
			}
			if _, err := l.StopNode(ctxT(t, 10*time.Second), "site-a", time.Second); !errors.Is(err, ErrNodeNotRunning) {
				t.Errorf("stop again: got %v, want ErrNodeNotRunning", err)
			}
		})
	}
}

// waitIgnoresTermT polls (within 10 s) until process pid ignores SIGTERM
// (bit 15 of SigIgn in /proc/PID/status).
func waitIgnoresTermT(tb testing.TB, pid int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var mask uint64
			if _, err := fmt.Sscanf(line, "SigIgn:\t%x", &mask); err == nil && mask&(1<<(syscall.SIGTERM-1)) != 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pid %d does not ignore SIGTERM within 10s", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLab_KillNode(t *testing.T) {
	l := fakeLabT(t, Options{Sites: 1})
	t.Setenv(fakeEnv, fakeStubborn)
	pid, err := l.StartNode(ctxT(t, 10*time.Second), "site-a")
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.KillNode(ctxT(t, 10*time.Second), "site-a")
	if err != nil {
		t.Fatal(err)
	}
	if got != pid {
		t.Errorf("pid: got %d, want %d", got, pid)
	}
	if got, want := stateT(t, l, "site-a"), ProcessStopped; got != want {
		t.Errorf("state: got %s, want %s", got, want)
	}
	if _, err := l.KillNode(ctxT(t, 10*time.Second), "site-a"); !errors.Is(err, ErrNodeNotRunning) {
		t.Errorf("kill again: got %v, want ErrNodeNotRunning", err)
	}
	if _, err := l.KillNode(ctxT(t, 10*time.Second), "lux-1"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("kill lux-1 in a lab without twin: got %v, want ErrUnknownNode", err)
	}
	// Killed, it starts again.
	t.Setenv(fakeEnv, fakeServe)
	if _, err := l.StartNode(ctxT(t, 10*time.Second), "site-a"); err != nil {
		t.Fatalf("start after kill: %v", err)
	}
	if got, want := stateT(t, l, "site-a"), ProcessRunning; got != want {
		t.Errorf("state after start: got %s, want %s", got, want)
	}
}

func TestLab_WaitServing(t *testing.T) {
	l := fakeLabT(t, Options{Sites: 1})
	t.Setenv(fakeEnv, fakeRefuse)
	if _, err := l.StartNode(ctxT(t, 10*time.Second), "site-a"); err != nil {
		t.Fatal(err)
	}
	err := l.WaitServing(ctxT(t, 30*time.Second), "site-a")
	if !errors.Is(err, ErrNodeExited) || !strings.Contains(err.Error(), fakeRefusal) {
		t.Fatalf("got %v, want ErrNodeExited with the last log line %q", err, fakeRefusal)
	}
}

// TestUp_StartsWhatIsNotRunning: lab up on a lab with one node running
// (the others killed) starts the others and leaves the running one alone.
// The fake nodes never serve, so the wait for a primary then runs out.
func TestUp_StartsWhatIsNotRunning(t *testing.T) {
	l := fakeLabT(t, Options{Sites: 3})
	pid, err := l.StartNode(ctxT(t, 10*time.Second), "site-b")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Up(ctxT(t, 60*time.Second), Options{Dir: l.Dir, Binary: l.Binary, ReadyTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("got %v, want ErrNotReady (every node started, none serving)", err)
	}
	if got == nil {
		t.Fatal("got no lab, want the lab Up started")
	}
	for _, n := range got.Nodes {
		if ps := stateT(t, got, n.Name); ps != ProcessRunning {
			t.Errorf("%s: got %s, want %s", n.Name, ps, ProcessRunning)
		}
	}
	if n, _ := got.Node("site-b"); n.PID != pid {
		t.Errorf("site-b pid: got %d, want %d (left running)", n.PID, pid)
	}
	if got, want := got.LinksState(), ProcessRunning; got != want {
		t.Errorf("links: got %s, want %s", got, want)
	}
}
