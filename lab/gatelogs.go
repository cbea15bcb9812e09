package lab

import (
	"fmt"
	"path/filepath"
)

// EnableGateLogs gives every node of a lab made without Options.GateLog a
// gate log (nodes/NAME/gate.log, as Prepare names it) and saves lab.json.
// It takes effect the next time the nodes start: call it on a lab whose
// processes are down, then Up. Nodes that already have one keep it.
func (l *Lab) EnableGateLogs() error {
	if alive := l.alive(); len(alive) > 0 {
		return fmt.Errorf("%w: enable gate logs in %s: stop the lab first (`jumeau lab down --dir %s`)", ErrRunning, l.Dir, l.Dir)
	}
	for i := range l.Nodes {
		if l.Nodes[i].GateLog == "" {
			l.Nodes[i].GateLog = filepath.Join(filepath.Dir(l.Nodes[i].Config), "gate.log")
		}
	}
	return l.save()
}

// Running returns the lab's live processes ("site-a pid 123"), empty
// when the lab is down.
func (l *Lab) Running() []string { return l.alive() }

// Alive reports whether the named node's process runs (paused counts as
// running).
func (l *Lab) Alive(name string) bool {
	n, err := l.Node(name)
	if err != nil {
		return false
	}
	return aliveWith(n.PID, n.Config)
}
