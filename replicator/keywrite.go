package replicator

import (
	"sync"
	"time"
)

// keyWriteLogEvery is the least time between two log lines about failed
// keyring file writes on the apply path (the keyring counts every one).
const keyWriteLogEvery = 30 * time.Second

// keyWriteLog rate-limits the FSM's log lines about keyring file writes
// that failed after a namespace key was committed.
type keyWriteLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// keyWriteFailed reports a namespace key committed and installed in
// memory whose keyring file write failed: the site goes on applying.
func (f *FSM) keyWriteFailed(ns string, err error) {
	l := &f.keyLog
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < keyWriteLogEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	f.logger.Warn("namespace key committed and installed in memory, but the keyring file could not be written: "+
		"this site keeps serving the namespace (the key is in the replicated state); the next keyring write or start writes the file again",
		"namespace", ns, "err", err, "suppressed_since_last", suppressed)
}
