package history

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/monaco-sovereign/jumeau/replicator"
)

// faultWindow is how long before a violation the faults shown next to it
// may have started.
const faultWindow = 5 * time.Second

// newer is the earliest evidence that an epoch newer than some epoch had
// begun: a start the witness reported, or a recorded gate pass.
type newer struct {
	at    time.Time
	epoch uint64
	what  string
}

// SplitBrain checks the gate passes against the epochs and returns the
// violations, grouped by kind, node and epoch (first and last pass, how
// many), oldest first:
//
//   - split-brain: a pass in epoch e at or after the start of an epoch
//     newer than e (as the witness reported it), or after a recorded pass
//     in a newer epoch;
//   - early-pass: a pass in epoch e before e began;
//   - foreign-writer: a pass by a node outside the epoch's Writers;
//   - unknown-epoch: a pass in an epoch newer than every reported epoch
//     (only checked when some epoch was reported);
//   - epoch-conflict: an epoch reported twice, differently (EpochBegan).
func (h *History) SplitBrain() []Violation {
	h.mu.Lock()
	passes := slices.Clone(h.passes)
	epochs := maps.Clone(h.epochs)
	vs := slices.Clone(h.conflicts)
	faults := slices.Clone(h.faults)
	h.mu.Unlock()
	slices.SortStableFunc(passes, func(a, b Pass) int { return a.At.Compare(b.At) })

	// The earliest evidence of each epoch having begun.
	begun := map[uint64]newer{}
	for e, ep := range epochs {
		if !ep.Began.IsZero() {
			begun[e] = newer{at: ep.Began, epoch: e, what: fmt.Sprintf("epoch %d began at %s (witness; writers [%s])", e, h.Offset(ep.Began), strings.Join(ep.Writers, " "))}
		}
	}
	for _, p := range passes {
		if b, ok := begun[p.Epoch]; !ok || p.At.Before(b.at) {
			begun[p.Epoch] = newer{at: p.At, epoch: p.Epoch, what: fmt.Sprintf("%s let a write through in epoch %d at %s", p.Node, p.Epoch, h.Offset(p.At))}
		}
	}
	// bound[e]: the earliest evidence of any epoch newer than e.
	known := slices.Sorted(maps.Keys(begun))
	bound := map[uint64]newer{}
	for i, e := range known {
		var best newer
		for _, f := range known[i+1:] {
			if b := begun[f]; best.at.IsZero() || b.at.Before(best.at) {
				best = b
			}
		}
		if !best.at.IsZero() {
			bound[e] = best
		}
	}
	var maxEpoch uint64
	for e := range epochs {
		maxEpoch = max(maxEpoch, e)
	}

	type key struct {
		kind  string
		node  string
		epoch uint64
	}
	type group struct {
		first, last Pass
		n           int
		why         string
	}
	groups := map[key]*group{}
	var order []key
	add := func(k key, p Pass, why string) {
		g := groups[k]
		if g == nil {
			g = &group{first: p, why: why}
			groups[k] = g
			order = append(order, k)
		}
		g.last = p
		g.n++
	}
	for _, p := range passes {
		ep, reported := epochs[p.Epoch]
		if b, ok := bound[p.Epoch]; ok && !p.At.Before(b.at) {
			add(key{KindSplitBrain, p.Node, p.Epoch}, p, b.what)
		}
		if reported && !ep.Began.IsZero() && p.At.Before(ep.Began) {
			add(key{KindEarlyPass, p.Node, p.Epoch}, p, fmt.Sprintf("epoch %d began at %s", p.Epoch, h.Offset(ep.Began)))
		}
		if reported && len(ep.Writers) > 0 && !slices.Contains(ep.Writers, p.Node) {
			add(key{KindForeignWriter, p.Node, p.Epoch}, p, fmt.Sprintf("the writers of epoch %d are [%s]", p.Epoch, strings.Join(ep.Writers, " ")))
		}
		if len(epochs) > 0 && p.Epoch > maxEpoch {
			add(key{KindUnknownEpoch, p.Node, p.Epoch}, p, fmt.Sprintf("the newest epoch the witness reported is %d", maxEpoch))
		}
	}
	for _, k := range order {
		g := groups[k]
		var what string
		switch k.kind {
		case KindSplitBrain:
			what = fmt.Sprintf("%s let %d write(s) through in epoch %d at or after %s, from %s (%s later) to %s",
				k.node, g.n, k.epoch, g.why, h.Offset(g.first.At), g.first.At.Sub(bound[k.epoch].at).Round(time.Microsecond), h.Offset(g.last.At))
		case KindEarlyPass:
			what = fmt.Sprintf("%s let %d write(s) through in epoch %d before it began (%s), from %s to %s",
				k.node, g.n, k.epoch, g.why, h.Offset(g.first.At), h.Offset(g.last.At))
		case KindForeignWriter:
			what = fmt.Sprintf("%s let %d write(s) through in epoch %d, but %s; from %s to %s",
				k.node, g.n, k.epoch, g.why, h.Offset(g.first.At), h.Offset(g.last.At))
		case KindUnknownEpoch:
			what = fmt.Sprintf("%s let %d write(s) through in epoch %d, but %s; from %s to %s",
				k.node, g.n, k.epoch, g.why, h.Offset(g.first.At), h.Offset(g.last.At))
		}
		if fs := h.faultsNear(faults, k.node, g.first.At); fs != "" {
			what += "; faults around it: " + fs
		}
		vs = append(vs, Violation{Kind: k.kind, Node: k.node, Epoch: k.epoch, At: g.first.At, Detail: what})
	}
	slices.SortStableFunc(vs, func(a, b Violation) int { return a.At.Compare(b.At) })
	return vs
}

// faultsNear lists the faults (the last six) that began by at and were
// in force within faultWindow before it (a fault without Until counts as
// instantaneous), and that touch node or no node in particular.
func (h *History) faultsNear(faults []Fault, node string, at time.Time) string {
	var out []string
	for _, f := range faults {
		end := f.Until
		if end.IsZero() {
			end = f.At
		}
		if f.At.After(at) || end.Before(at.Add(-faultWindow)) {
			continue
		}
		if len(f.Nodes) > 0 && !slices.Contains(f.Nodes, node) {
			continue
		}
		s := f.What + " at " + h.Offset(f.At)
		if !f.Until.IsZero() {
			s += " until " + h.Offset(f.Until)
		}
		out = append(out, s)
	}
	if len(out) > 6 {
		out = out[len(out)-6:]
	}
	return strings.Join(out, "; ")
}

// Losses are the acknowledged writes a node does not hold, by durability.
type Losses struct {
	start time.Time
	// Checked counts the acknowledged writes checked.
	Checked map[replicator.Durability]int
	// Lost holds the missing ones, by acknowledgement time.
	Lost map[replicator.Durability][]Write
}

// Lost asks present about the key of every acknowledged write (keys are
// expected to be unique to one write) and returns those it reports
// missing. An error of present stops the check (ErrPresence).
func (h *History) Lost(present func(key string) (bool, error)) (Losses, error) {
	ws := h.Writes()
	l := Losses{start: h.start, Checked: map[replicator.Durability]int{}, Lost: map[replicator.Durability][]Write{}}
	for _, w := range ws {
		if !w.Acked {
			continue
		}
		l.Checked[w.Durability]++
		ok, err := present(w.Key)
		if err != nil {
			return l, fmt.Errorf("%w: key %s: %w", ErrPresence, w.Key, err)
		}
		if !ok {
			l.Lost[w.Durability] = append(l.Lost[w.Durability], w)
		}
	}
	for _, lost := range l.Lost {
		slices.SortStableFunc(lost, func(a, b Write) int { return cmp.Compare(a.Done.UnixNano(), b.Done.UnixNano()) })
	}
	return l, nil
}

// Count is how many acknowledged writes of durability d are missing.
func (l Losses) Count(d replicator.Durability) int { return len(l.Lost[d]) }

// Bytes is how many value bytes of acknowledged writes of durability d
// are missing.
func (l Losses) Bytes(d replicator.Durability) int {
	n := 0
	for _, w := range l.Lost[d] {
		n += w.Size
	}
	return n
}

// Violation describes one lost write.
func (l Losses) Violation(w Write) Violation {
	off := func(t time.Time) string {
		if t.IsZero() {
			return "(unknown)"
		}
		return "+" + t.Sub(l.start).Round(time.Microsecond).String()
	}
	return Violation{
		Kind: KindLost, Node: w.Node, At: w.Done,
		Detail: fmt.Sprintf("durability=%s write %s (%d bytes) acknowledged by %s at %s (sent %s) is missing",
			w.Durability, w.Key, w.Size, w.Node, off(w.Done), off(w.Sent)),
	}
}

// Violations describes every lost write of the durabilities ds.
func (l Losses) Violations(ds ...replicator.Durability) []Violation {
	var vs []Violation
	for _, d := range ds {
		for _, w := range l.Lost[d] {
			vs = append(vs, l.Violation(w))
		}
	}
	return vs
}

// String counts the checked and missing writes per durability.
func (l Losses) String() string {
	var parts []string
	for _, d := range slices.Sorted(maps.Keys(l.Checked)) {
		parts = append(parts, fmt.Sprintf("durability=%s: %d acknowledged, %d missing (%d bytes)", d, l.Checked[d], l.Count(d), l.Bytes(d)))
	}
	if len(parts) == 0 {
		return "no acknowledged write"
	}
	return strings.Join(parts, "; ")
}
