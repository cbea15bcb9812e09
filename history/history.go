package history

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/replicator"
)

// Errors of the history package.
var (
	// ErrMalformed: a gate log line is not "<unix-nanos> <epoch>\n".
	ErrMalformed = errors.New("history: malformed gate log")
	// ErrTornLine: a gate log ends with a line without its newline (a
	// write torn by a crash); the complete lines before it are returned.
	ErrTornLine = errors.New("history: gate log ends with a torn line")
	// ErrPresence: the presence function of Lost failed.
	ErrPresence = errors.New("history: presence check failed")
)

// Write is one write attempt and its outcome.
type Write struct {
	Key        string
	Size       int    // value bytes
	Node       string // the node the client sent it to
	Durability replicator.Durability
	Sent       time.Time // when the client sent it
	Done       time.Time // when the client got the answer (or gave up)
	Acked      bool      // the node acknowledged it
	Err        string    // why it was not acknowledged ("" if Acked)
	// WALIndex is the WAL index the acknowledgement named (0 if unknown).
	WALIndex uint64
}

// Pass is one pass of a node's write gate: the node let a write through
// in Epoch at At.
type Pass struct {
	Node  string
	Epoch uint64
	At    time.Time
}

// Epoch is one region epoch as the witness started it.
type Epoch struct {
	Epoch uint64
	// Began is when the witness started it (its clock; zero: unknown,
	// as for the first epoch).
	Began time.Time
	// Writers are the nodes that may let writes through in this epoch
	// (the primary region's; empty: not checked).
	Writers []string
}

// Fault is one fault injected during the history (a partition, a kill, a
// pause), shown next to the violations it may explain.
type Fault struct {
	At    time.Time
	Until time.Time // zero: until healed, or instantaneous
	What  string
	Nodes []string // the nodes it affects directly (killed, paused)
}

// History is a thread-safe record of writes, gate passes, epochs and
// faults. The zero value is not usable: call New.
type History struct {
	start time.Time

	mu        sync.Mutex
	writes    []Write
	passes    []Pass
	epochs    map[uint64]Epoch
	conflicts []Violation // an epoch started twice, differently
	faults    []Fault
}

// New returns an empty history whose reports count time from now.
func New() *History {
	return &History{start: time.Now(), epochs: map[uint64]Epoch{}}
}

// Start is the time reports count offsets from.
func (h *History) Start() time.Time { return h.start }

// Offset renders t as an offset from the history's start ("+12.345s").
func (h *History) Offset(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	d := t.Sub(h.start)
	if d < 0 {
		return "-" + (-d).Round(time.Microsecond).String()
	}
	return "+" + d.Round(time.Microsecond).String()
}

// Record adds one write attempt.
func (h *History) Record(w Write) {
	h.mu.Lock()
	h.writes = append(h.writes, w)
	h.mu.Unlock()
}

// Pass records one gate pass; its signature is cluster.Options.WriteLog's.
func (h *History) Pass(node string, epoch uint64, at time.Time) {
	h.mu.Lock()
	h.passes = append(h.passes, Pass{Node: node, Epoch: epoch, At: at})
	h.mu.Unlock()
}

// AddPasses records gate passes read from a gate log.
func (h *History) AddPasses(ps []Pass) {
	h.mu.Lock()
	h.passes = append(h.passes, ps...)
	h.mu.Unlock()
}

// EpochBegan records an epoch as the witness reports it. Reporting the
// same epoch again with the same start and writers changes nothing; a
// different start or writers is recorded as a conflict, which SplitBrain
// reports (the witness started one epoch twice: it lost its epoch file).
func (h *History) EpochBegan(e Epoch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.epochs[e.Epoch]
	if !ok {
		e.Writers = slices.Clone(e.Writers)
		h.epochs[e.Epoch] = e
		return
	}
	if old.Began.Equal(e.Began) && slices.Equal(old.Writers, e.Writers) {
		return
	}
	if old.Began.IsZero() && slices.Equal(old.Writers, e.Writers) {
		// Its start was unknown at first (first epoch, or read before it
		// was stored): learning it is no conflict.
		old.Began = e.Began
		h.epochs[e.Epoch] = old
		return
	}
	h.conflicts = append(h.conflicts, Violation{
		Kind: KindEpochConflict, Epoch: e.Epoch, At: e.Began,
		Detail: fmt.Sprintf("epoch %d started twice: at %s with writers [%s], then at %s with writers [%s] (the witness lost its epoch state?)",
			e.Epoch, h.Offset(old.Began), strings.Join(old.Writers, " "), h.Offset(e.Began), strings.Join(e.Writers, " ")),
	})
}

// Epochs returns the recorded epochs, oldest first.
func (h *History) Epochs() []Epoch {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Epoch, 0, len(h.epochs))
	for _, e := range h.epochs {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Epoch) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return out
}

// Fault records one injected fault.
func (h *History) Fault(f Fault) {
	h.mu.Lock()
	h.faults = append(h.faults, f)
	h.mu.Unlock()
}

// Writes returns a copy of the recorded writes, in recording order.
func (h *History) Writes() []Write {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.writes)
}

// Passes returns a copy of the recorded gate passes, by time.
func (h *History) Passes() []Pass {
	h.mu.Lock()
	out := slices.Clone(h.passes)
	h.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Pass) int { return a.At.Compare(b.At) })
	return out
}

// Summary is one line of counts: writes by outcome and durability, the
// most frequent errors, gate passes by epoch and node.
func (h *History) Summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	acked := map[replicator.Durability]int{}
	errs := map[string]int{}
	failed := 0
	for _, w := range h.writes {
		if w.Acked {
			acked[w.Durability]++
			continue
		}
		failed++
		errs[w.Err]++
	}
	type count struct {
		what string
		n    int
	}
	var top []count
	for e, n := range errs {
		top = append(top, count{e, n})
	}
	slices.SortFunc(top, func(a, b count) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.what, b.what)) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d writes: %d acknowledged (cell %d, twin %d), %d not", len(h.writes),
		acked[replicator.DurabilityCell]+acked[replicator.DurabilityTwin], acked[replicator.DurabilityCell], acked[replicator.DurabilityTwin], failed)
	for i, c := range top {
		if i == 5 {
			fmt.Fprintf(&b, "; %d other kinds", len(top)-5)
			break
		}
		fmt.Fprintf(&b, "; %d × %q", c.n, c.what)
	}
	byEpoch := map[uint64]map[string]int{}
	for _, p := range h.passes {
		if byEpoch[p.Epoch] == nil {
			byEpoch[p.Epoch] = map[string]int{}
		}
		byEpoch[p.Epoch][p.Node]++
	}
	fmt.Fprintf(&b, "; %d gate passes", len(h.passes))
	for _, e := range slices.Sorted(maps.Keys(byEpoch)) {
		fmt.Fprintf(&b, "; epoch %d:", e)
		for _, n := range slices.Sorted(maps.Keys(byEpoch[e])) {
			fmt.Fprintf(&b, " %s %d", n, byEpoch[e][n])
		}
	}
	return b.String()
}

// Kinds of violations.
const (
	// KindSplitBrain: a node let a write through in an epoch after a
	// newer epoch had begun.
	KindSplitBrain = "split-brain"
	// KindEarlyPass: a node let a write through in an epoch before the
	// witness started it.
	KindEarlyPass = "early-pass"
	// KindForeignWriter: a node that is not a writer of the epoch let a
	// write through in it.
	KindForeignWriter = "foreign-writer"
	// KindUnknownEpoch: a node let a write through in an epoch newer than
	// every epoch the witness reported.
	KindUnknownEpoch = "unknown-epoch"
	// KindEpochConflict: the witness reported one epoch with two
	// different starts or writer sets.
	KindEpochConflict = "epoch-conflict"
	// KindLost: an acknowledged write is missing.
	KindLost = "lost"
)

// Violation is one broken invariant.
type Violation struct {
	Kind   string
	Node   string
	Epoch  uint64
	At     time.Time
	Detail string // a sentence naming the evidence
}

func (v Violation) String() string {
	return strings.ToUpper(v.Kind) + ": " + v.Detail
}

// Report renders up to max violations, one per line, and how many more
// there are.
func Report(vs []Violation, max int) string {
	var b strings.Builder
	for i, v := range vs {
		if i == max {
			fmt.Fprintf(&b, "... and %d more\n", len(vs)-max)
			break
		}
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	return b.String()
}
