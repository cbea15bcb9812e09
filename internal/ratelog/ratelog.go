// Package ratelog limits how often a repeated log line is written: a
// refusal, an error retried thousands of times a second, a peer retrying
// in a loop. Each key gets at most one line per interval, and the line
// that goes through says how many were held back since the previous one.
package ratelog

import (
	"sync"
	"time"
)

// maxKeys bounds the keys a Limiter remembers: past it the memory is
// cleared, so a flood of distinct keys logs at most this many lines per
// interval and never grows the map without bound.
const maxKeys = 1024

// Limiter lets one line per key through every Every. The zero value with
// Every set is ready to use; it is safe for concurrent use.
type Limiter struct {
	// Every is the least time between two lines of one key.
	Every time.Duration

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last time.Time
	held uint64
}

// New returns a Limiter of one line per key every every.
func New(every time.Duration) *Limiter { return &Limiter{Every: every} }

// Allow reports whether a line of key may be logged at now and, if so, how
// many lines of key were held back since the previous one allowed.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, held uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e != nil && now.Sub(e.last) < l.Every {
		e.held++
		return false, 0
	}
	if e != nil {
		held = e.held
	}
	if l.keys == nil || len(l.keys) >= maxKeys {
		l.keys = make(map[string]*entry)
	}
	l.keys[key] = &entry{last: now}
	return true, held
}
