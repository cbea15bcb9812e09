package diskspace

import (
	"sync"
	"time"
)

// LogLimiter lets at most one log line through per interval and counts
// those it holds back, so that a flood of the same error (compactions
// failing over and over on a full disk) costs one line per interval,
// which says how many were held back. Safe for concurrent use.
type LogLimiter struct {
	every time.Duration

	mu   sync.Mutex
	last time.Time
	held uint64
}

// NewLogLimiter returns a limiter of one line per every.
func NewLogLimiter(every time.Duration) *LogLimiter { return &LogLimiter{every: every} }

// Allow reports whether a line may be logged at now and, if so, how many
// were held back since the previous one allowed.
func (l *LogLimiter) Allow(now time.Time) (ok bool, held uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.held++
		return false, 0
	}
	held, l.held, l.last = l.held, 0, now
	return true, held
}
