package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/monaco-sovereign/jumeau/node"
)

// Control of one node's process (`jumeau lab start|stop|kill|restart
// NODE`). A node is started with its configuration file as `lab up` starts
// it; its pid goes to lab.json. Commands that write lab.json (Up, Start,
// StartNode) hold DIR/lab.lock meanwhile, and first read the pids other
// commands recorded, so two commands run at once never lose a pid.

// ProcessState is whether a lab process runs.
type ProcessState string

// The states of a lab process.
const (
	// ProcessRunning: the recorded pid is the node's live process.
	ProcessRunning ProcessState = "running"
	// ProcessPaused: it lives but is stopped by SIGSTOP (Pause).
	ProcessPaused ProcessState = "paused"
	// ProcessStopped: no live process of the node (stopped, killed,
	// crashed or never started).
	ProcessStopped ProcessState = "stopped"
)

// DefaultStopGrace is how long StopNode waits for a node to exit on
// SIGTERM before it sends SIGKILL.
const DefaultStopGrace = 10 * time.Second

// killWait bounds the wait for a process to be gone after SIGKILL.
const killWait = 5 * time.Second

// lockWait bounds the wait for lab.lock when ctx has no earlier deadline.
const lockWait = 30 * time.Second

// StopResult says how StopNode ended a node.
type StopResult struct {
	PID int
	// Killed: the node did not exit within the grace period after
	// SIGTERM and was sent SIGKILL.
	Killed bool
}

// State returns whether the named node's process runs.
func (l *Lab) State(name string) (ProcessState, error) {
	n, err := l.Node(name)
	if err != nil {
		return "", err
	}
	return processState(n.PID, n.Config), nil
}

// LinksState returns whether the fault-link process runs.
func (l *Lab) LinksState() ProcessState { return processState(l.Links.PID, l.Links.Config) }

// StartNode starts the named node with its configuration, records its pid
// in lab.json and returns it. The error wraps ErrNodeRunning when the node
// already runs (paused counts as running). It does not wait for the node
// to serve: WaitServing does.
func (l *Lab) StartNode(ctx context.Context, name string) (int, error) {
	unlock, err := l.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if err := l.refreshPIDs(); err != nil {
		return 0, err
	}
	n, err := l.Node(name)
	if err != nil {
		return 0, err
	}
	if aliveWith(n.PID, n.Config) {
		return 0, fmt.Errorf("%w: %s (pid %d): `jumeau lab restart --dir %s %s` restarts it", ErrNodeRunning, name, n.PID, l.Dir, name)
	}
	if err := l.start(n); err != nil {
		return 0, err
	}
	return n.PID, l.save()
}

// StopNode ends the named node: SIGTERM (and SIGCONT, so a paused node
// sees it), then, if it is still there after grace, SIGKILL. It returns
// once the process is gone. The error wraps ErrNodeNotRunning when the
// node does not run.
func (l *Lab) StopNode(ctx context.Context, name string, grace time.Duration) (StopResult, error) {
	n, err := l.liveNode(name)
	if err != nil {
		return StopResult{}, err
	}
	res := StopResult{PID: n.PID}
	if err := syscall.Kill(n.PID, syscall.SIGTERM); err != nil {
		return res, fmt.Errorf("lab: SIGTERM %s (pid %d): %w", name, n.PID, err)
	}
	_ = syscall.Kill(n.PID, syscall.SIGCONT)
	gctx, cancel := context.WithTimeout(ctx, grace)
	gone := waitGone(gctx, n.PID, n.Config)
	cancel()
	if gone {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("lab: %s (pid %d) still running after SIGTERM: %w", name, n.PID, ctx.Err())
	}
	res.Killed = true
	return res, l.killAndWait(ctx, n)
}

// KillNode sends SIGKILL to the named node (a site lost at once) and
// returns once the process is gone, with its pid. The error wraps
// ErrNodeNotRunning when the node does not run.
func (l *Lab) KillNode(ctx context.Context, name string) (int, error) {
	n, err := l.liveNode(name)
	if err != nil {
		return 0, err
	}
	return n.PID, l.killAndWait(ctx, n)
}

// WaitServing waits until the named node's API answers a status request.
// The error wraps ErrNodeExited, with the last line of the node's log,
// when its process ends first, and ErrNotReady when ctx ends first.
func (l *Lab) WaitServing(ctx context.Context, name string) error {
	n, err := l.Node(name)
	if err != nil {
		return err
	}
	c, err := l.Client(name)
	if err != nil {
		return err
	}
	defer c.Close()
	var last error
	for {
		if !aliveWith(n.PID, n.Config) {
			return fmt.Errorf("%w: %s (pid %d) exited before serving; the end of its log %s: %s", ErrNodeExited, name, n.PID, n.Log, logTail(n.Log))
		}
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		var st node.Status
		last = c.Status(sctx, &st)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s (pid %d) runs but its API %s does not answer (%v): see its log %s", ErrNotReady, name, n.PID, n.API, last, n.Log)
		case <-time.After(pollEvery):
		}
	}
}

// liveNode returns the named node, with the pids of lab.json, if its
// process runs, else an error wrapping ErrNodeNotRunning.
func (l *Lab) liveNode(name string) (*Node, error) {
	if err := l.refreshPIDs(); err != nil {
		return nil, err
	}
	n, err := l.Node(name)
	if err != nil {
		return nil, err
	}
	if !aliveWith(n.PID, n.Config) {
		return nil, fmt.Errorf("%w: %s: `jumeau lab start --dir %s %s` starts it", ErrNodeNotRunning, name, l.Dir, name)
	}
	return n, nil
}

// killAndWait sends SIGKILL to n and waits (within killWait) until it is
// gone.
func (l *Lab) killAndWait(ctx context.Context, n *Node) error {
	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("lab: SIGKILL %s (pid %d): %w", n.Name, n.PID, err)
	}
	kctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	if !waitGone(kctx, n.PID, n.Config) {
		return fmt.Errorf("lab: %s (pid %d) still running after SIGKILL: %w", n.Name, n.PID, kctx.Err())
	}
	return nil
}

// waitGone polls until the process pid (with arg) is gone, and reports
// whether it is before ctx ends.
func waitGone(ctx context.Context, pid int, arg string) bool {
	for aliveWith(pid, arg) {
		select {
		case <-ctx.Done():
			return !aliveWith(pid, arg)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// lock takes DIR/lab.lock (flock), waiting while another command holds
// it, until ctx ends or lockWait passes. The descriptor is close-on-exec,
// so the processes started meanwhile do not inherit the lock.
func (l *Lab) lock(ctx context.Context) (unlock func(), err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lockWait)
		defer cancel()
	}
	path := filepath.Join(l.Dir, "lab.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lab: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("%w: %s is held by another `jumeau lab` command; wait for it to finish: %w", ErrBusy, path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// refreshPIDs reads the pids lab.json holds now (another command may have
// started a node since l was loaded).
func (l *Lab) refreshPIDs() error {
	cur, err := Load(l.Dir)
	if err != nil {
		return err
	}
	l.Links.PID = cur.Links.PID
	for i := range l.Nodes {
		for _, c := range cur.Nodes {
			if c.Name == l.Nodes[i].Name {
				l.Nodes[i].PID = c.PID
			}
		}
	}
	return nil
}

// logTail returns the last non-empty line of the log file (at most 400
// bytes of it), or why it cannot.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	defer f.Close()
	const tailBytes = 8 << 10
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	off := max(0, fi.Size()-tailBytes)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	last := strings.TrimSpace(string(lines[len(lines)-1]))
	if last == "" {
		return "(empty)"
	}
	if len(last) > 400 {
		last = last[:400] + "…"
	}
	return last
}
