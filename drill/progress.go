package drill

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// statusEvery is how often the rate line is printed when the progress is
// not a terminal (on a terminal it is rewritten at every sample).
const statusEvery = 2 * time.Second

// progress prints the drill's progress: one line per event, and a rate
// line, rewritten in place on a terminal, every statusEvery otherwise.
type progress struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex
	pending  bool // a rate line is on screen without its newline
	lastLine time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// linef prints one line.
func (p *progress) linef(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		fmt.Fprint(p.w, "\r\033[K")
		p.pending = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// status shows the rate line.
func (p *progress) status(line string) {
	if p == nil || p.w == nil || line == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+strings.TrimRight(line, "\n"))
		p.pending = true
		return
	}
	if time.Since(p.lastLine) < statusEvery {
		return
	}
	p.lastLine = time.Now()
	fmt.Fprintln(p.w, line)
}

// done ends the rate line on a terminal.
func (p *progress) done() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		fmt.Fprintln(p.w)
		p.pending = false
	}
}
