package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// maxListBytes bounds the values one list request brings back (the API
// client reads at most twice api.MaxValueSize).
const maxListBytes = 4 << 20

// outcome is what the drill measured.
type outcome struct {
	primary string

	// RTO: the longest of the disruptions' recovery times.
	rto    time.Duration
	rtoErr string // why it is not measured ("" when it is)
	rtoOf  []string

	// RPO.
	rpoErr   string
	checked  map[replicator.Durability]int
	lost     []history.Write // acknowledged writes missing on the primary
	excluded int             // missing keys the ransomware overwrote

	splitBrain []history.Violation
	sbErr      string

	promotions int64
	integrity  string
	wal        []report.WALPosition // each data node's last position, as read
	tamper     bool
	tamperWhy  string
	findings   []string
}

// rpoWindow is the span of the acknowledgement times of the lost writes.
func rpoWindow(lost []history.Write) time.Duration {
	if len(lost) < 2 {
		return 0
	}
	first, last := lost[0].Done, lost[0].Done
	for _, w := range lost[1:] {
		if w.Done.Before(first) {
			first = w.Done
		}
		if w.Done.After(last) {
			last = w.Done
		}
	}
	return last.Sub(first)
}

// lostBytes sums the value sizes of writes.
func lostBytes(ws []history.Write) int64 {
	var n int64
	for _, w := range ws {
		n += int64(w.Size)
	}
	return n
}

// lostBy counts the writes of durability d.
func lostBy(ws []history.Write, d replicator.Durability) int64 {
	var n int64
	for _, w := range ws {
		if w.Durability == d {
			n++
		}
	}
	return n
}

// recoveryTimes returns, for each disruption, the time from it to the
// first write sent after it that was acknowledged; ok false for a
// disruption no write recovered from.
func recoveryTimes(ds []disruption, ws []history.Write) (rto time.Duration, per []string, missing string) {
	for _, d := range ds {
		var first time.Time
		for _, w := range ws {
			if w.Acked && !w.Sent.Before(d.at) && (first.IsZero() || w.Done.Before(first)) {
				first = w.Done
			}
		}
		if first.IsZero() {
			if missing == "" {
				missing = fmt.Sprintf("no write was acknowledged after %q", d.what)
			}
			continue
		}
		t := first.Sub(d.at)
		per = append(per, fmt.Sprintf("%s: %s", d.what, fmtDur(t)))
		rto = max(rto, t)
	}
	return rto, per, missing
}

// fmtDur prints a duration to the millisecond: "3.62s", "850ms".
func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// measure measures the outcome after the drill.
func (r *runner) measure(ctx context.Context, primary string, primaryErr error) *outcome {
	o := &outcome{primary: primary}
	writes := r.load.own.Writes()

	r.mu.Lock()
	ds := slices.Clone(r.disrupted)
	runs := slices.Clone(r.attackRes)
	r.mu.Unlock()
	rto, per, missing := recoveryTimes(ds, writes)
	o.rto, o.rtoOf = rto, per
	switch {
	case len(ds) == 0:
		o.rtoErr = "no disruptive fault (a kill or pause of the leader or the primary, a link cut): nothing to recover from"
	case missing != "":
		o.rtoErr = missing
	}
	if len(per) > 0 {
		o.findings = append(o.findings, "recovery: "+strings.Join(per, "; "))
	}

	// RPO: read every acknowledged write back from the primary.
	if primaryErr != nil {
		o.rpoErr = primaryErr.Error()
	} else {
		r.pr.linef("measuring: reading %d acknowledged writes back from the primary %s", countAcked(writes), primary)
		if err := r.readBack(ctx, o, primary, runs); err != nil {
			o.rpoErr = err.Error()
		}
	}

	// Split brain: the gate logs against the witness's epochs.
	r.readGateLogs(o)
	o.splitBrain = r.hist.SplitBrain()

	// Promotions: epochs the witness started during the drill.
	_, _, epoch := r.watch.current()
	if r.startEpoch > 0 && epoch >= r.startEpoch {
		o.promotions = int64(epoch - r.startEpoch)
	}

	o.integrity, o.wal = r.integrity(ctx)

	// Attacks.
	o.tamper = true
	var why []string
	tampering := 0
	for _, run := range runs {
		o.findings = append(o.findings, run.res.Findings...)
		if run.step.Action == scenarios.Ransomware {
			if run.err != nil {
				o.findings = append(o.findings, fmt.Sprintf("%s ransomware: %v", run.step.Path, run.err))
			}
			continue
		}
		tampering++
		switch {
		case run.err != nil:
			o.tamper = false
			why = append(why, fmt.Sprintf("%s %s: %v", run.step.Path, run.step.Action, run.err))
		case !run.res.Detected:
			o.tamper = false
			why = append(why, fmt.Sprintf("%s %s: not detected", run.step.Path, run.step.Action))
		}
	}
	if tampering == 0 {
		o.tamper = false
		why = append(why, "no forged-records, stolen-cert, replay or rogue-peer attack ran")
	}
	o.tamperWhy = strings.Join(why, "; ")
	return o
}

func countAcked(ws []history.Write) int {
	n := 0
	for _, w := range ws {
		if w.Acked {
			n++
		}
	}
	return n
}

// batchDigits is how many trailing digits of the sequence one list
// request covers (10^k keys), so that a list stays under maxListBytes.
func batchDigits(valueSize int) int {
	for k := 3; k > 0; k-- {
		if int(math.Pow10(k))*(valueSize*4/3+64) <= maxListBytes {
			return k
		}
	}
	return 0
}

// readBack lists every key of the run on the primary (linearizable
// reads) and sets o's losses.
func (r *runner) readBack(ctx context.Context, o *outcome, primary string, runs []attackRun) error {
	c := r.clients[primary]
	if c == nil {
		return fmt.Errorf("no client for the primary %q", primary)
	}
	keys := r.load.written()
	k := batchDigits(r.sc.Load.ValueSize)
	batch := int64(math.Pow10(k))
	maxSeq := r.load.seq.Load()
	got := map[string][]byte{}
	for _, ns := range r.sc.Load.Namespaces {
		for b := int64(0); b*batch <= maxSeq; b++ {
			full := keyOf(r.runID, b*batch)
			prefix := full[:len(full)-k]
			var items []replicator.KV
			var err error
			for try := 0; try < 10; try++ {
				lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				res, lerr := c.List(lctx, ns, prefix, int(batch), false)
				cancel()
				if err = lerr; err == nil {
					items = res.Items
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				return fmt.Errorf("read back %s/%s* on %s: %w", ns, prefix, primary, err)
			}
			for _, kv := range items {
				if w, ok := keys[kv.Key]; ok && w.ns == ns {
					got[kv.Key] = kv.Value
				}
			}
		}
	}
	losses, err := r.load.own.Lost(func(key string) (bool, error) {
		w, ok := keys[key]
		if !ok {
			return true, nil // not a load write (an attack's)
		}
		v, ok := got[key]
		return ok && len(v) == w.size && bytes.Equal(v, valueOf(key, w.size)), nil
	})
	if err != nil {
		return err
	}
	o.checked = losses.Checked
	var lost []history.Write
	for _, d := range []replicator.Durability{replicator.DurabilityCell, replicator.DurabilityTwin} {
		lost = append(lost, losses.Lost[d]...)
	}
	lost, o.excluded = excludeRansomware(lost, keys, runs)
	if o.excluded > 0 {
		o.findings = append(o.findings, fmt.Sprintf("ransomware: %d acknowledged keys hold the attacker's bytes or were deleted on the primary (not counted as lost: the WAL keeps their history)", o.excluded))
	}
	o.lost = lost
	return nil
}

// excludeRansomware removes from lost the keys a ransomware step may have
// overwritten or deleted: in its namespace, acknowledged before it ended,
// at most its count of keys.
func excludeRansomware(lost []history.Write, keys map[string]written, runs []attackRun) ([]history.Write, int) {
	excluded := 0
	for _, run := range runs {
		rw := run.step.Ransomware
		if run.step.Action != scenarios.Ransomware || rw == nil {
			continue
		}
		budget := rw.Keys
		kept := lost[:0:0]
		for _, w := range lost {
			if budget > 0 && keys[w.Key].ns == rw.Namespace && !w.Done.After(run.end) {
				budget--
				excluded++
				continue
			}
			kept = append(kept, w)
		}
		lost = kept
	}
	return lost, excluded
}

// readGateLogs adds the drill's gate passes of every node to the history.
func (r *runner) readGateLogs(o *outcome) {
	var missing []string
	for _, n := range r.lab.Nodes {
		if n.Role == string(pki.RoleWitness) {
			continue
		}
		if n.GateLog == "" {
			missing = append(missing, n.Name)
			continue
		}
		ps, err := history.ReadGateLog(n.GateLog, n.Name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // it let no write through
		case err != nil && !errors.Is(err, history.ErrTornLine):
			o.sbErr = fmt.Sprintf("%s's gate log: %v", n.Name, err)
		}
		var mine []history.Pass
		for _, p := range ps {
			if !p.At.Before(r.start) {
				mine = append(mine, p)
			}
		}
		r.hist.AddPasses(mine)
	}
	if len(missing) > 0 {
		o.sbErr = fmt.Sprintf("no gate log for %s (a lab made without gate logs)", strings.Join(missing, ", "))
	}
}

// walPos is a node's last WAL record.
type walPos struct {
	index uint64
	hash  string
	err   string
}

// posOf reads a data node's last WAL position from its status.
func posOf(st *node.Status) walPos {
	switch {
	case st.Cell != nil:
		p := walPos{index: st.Cell.WALLast, hash: st.Cell.WALHash, err: st.Cell.FSMError}
		if st.Cell.Ship != nil && st.Cell.Ship.Diverged != "" {
			p.err = "shipping diverged: " + st.Cell.Ship.Diverged
		}
		return p
	case st.Twin != nil:
		return walPos{index: st.Twin.WALLast, hash: st.Twin.WALHash, err: st.Twin.FSMError}
	}
	return walPos{err: "no WAL in its status"}
}

// walPositions is each data node's last WAL record for the report, in
// node order, from the positions read (a node absent from pos did not
// answer).
func walPositions(nodes []string, pos map[string]walPos) []report.WALPosition {
	out := make([]report.WALPosition, 0, len(nodes))
	for _, n := range nodes {
		p, ok := pos[n]
		w := report.WALPosition{Node: n, Index: p.index, Hash: p.hash, Note: p.err}
		switch {
		case !ok:
			w.Note = "no status: the node did not answer"
		case w.Hash == "" && w.Note == "":
			w.Note = "no WAL hash in its status"
		}
		out = append(out, w)
	}
	return out
}

// integrity waits until every data node holds the same last WAL record
// and returns scenarios.Verified, or what differs, with the positions it
// read last.
func (r *runner) integrity(ctx context.Context) (string, []report.WALPosition) {
	deadline := time.Now().Add(convergeTimeout)
	r.pr.linef("measuring: waiting for %s to converge on one WAL (at most %v)", joinNames(r.data), convergeTimeout)
	last := ""
	for {
		sts := r.pollStatus(ctx, r.data)
		pos := map[string]walPos{}
		var missing, broken []string
		for _, n := range r.data {
			st := sts[n]
			if st == nil {
				missing = append(missing, n)
				continue
			}
			p := posOf(st)
			if p.err != "" {
				broken = append(broken, n+": "+p.err)
			}
			pos[n] = p
		}
		if len(broken) > 0 {
			return "broken: " + strings.Join(broken, "; "), walPositions(r.data, pos)
		}
		byIndex := map[uint64]map[string][]string{}
		for n, p := range pos {
			if byIndex[p.index] == nil {
				byIndex[p.index] = map[string][]string{}
			}
			byIndex[p.index][p.hash] = append(byIndex[p.index][p.hash], n)
		}
		for idx, hs := range byIndex {
			if len(hs) > 1 {
				var parts []string
				for h, ns := range hs {
					slices.Sort(ns)
					parts = append(parts, fmt.Sprintf("%s hold %.12s", strings.Join(ns, ","), h))
				}
				slices.Sort(parts)
				return fmt.Sprintf("diverged at WAL index %d: %s", idx, strings.Join(parts, "; ")), walPositions(r.data, pos)
			}
		}
		if len(missing) == 0 && len(byIndex) == 1 {
			return scenarios.Verified, walPositions(r.data, pos)
		}
		var parts []string
		for _, n := range r.data {
			if p, ok := pos[n]; ok {
				parts = append(parts, n+" at "+strconv.FormatUint(p.index, 10))
			} else {
				parts = append(parts, n+" silent")
			}
		}
		last = strings.Join(parts, ", ")
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Sprintf("not converged after %v: %s", convergeTimeout, last), walPositions(r.data, pos)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
