package drill

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// maxViolations bounds the split-brain violations listed in the findings.
const maxViolations = 5

// buildReport fills the report from what was measured.
func (r *runner) buildReport(o *outcome) (*report.Report, error) {
	sc := r.sc
	rep := report.New(sc.Name, r.start)
	rep.Description = sc.Description
	rep.Mode = report.ModeLab
	rep.JumeauVersion = r.o.Version
	if rep.JumeauVersion == "" {
		rep.JumeauVersion = "dev"
	}
	rep.ScenarioSHA256 = ScenarioSHA256(r.o.ScenarioSource)
	if r.o.Scale != 1 {
		rep.ScenarioScale = r.o.Scale
	}
	rep.Operator = r.operator()
	rep.WAL = o.wal
	for _, n := range r.lab.Nodes {
		rep.Topology.Nodes = append(rep.Topology.Nodes, report.Node{Name: n.Name, Role: n.Role, Region: n.Region})
	}
	rep.Topology.WANRTTMs = float64(sc.Topology.WANRTT) / float64(time.Millisecond)
	sent, acked, failed := r.load.totals()
	rep.Load = report.Load{Sent: sent, Acked: acked, Failed: failed, TargetRate: sc.Load.Rate, ValueBytes: int64(sc.Load.ValueSize),
		Failures: r.load.fails.report()}
	for _, d := range []replicator.Durability{replicator.DurabilityCell, replicator.DurabilityTwin} {
		c := &r.load.counts[d]
		if c[0].Load() == 0 {
			continue
		}
		rep.Load.ByDurability = append(rep.Load.ByDurability, report.DurabilityLoad{
			Durability: d.String(), Sent: c[0].Load(), Acked: c[1].Load(), Failed: c[2].Load()})
	}

	rep.RPO = report.RPO{LostWrites: int64(len(o.lost)), LostBytes: lostBytes(o.lost), WindowMs: rpoWindow(o.lost).Milliseconds()}
	rep.RTOMs = o.rto.Milliseconds()

	for _, e := range sc.Expect {
		measured, text, why := o.value(e)
		passed := false
		if why == "" {
			ok, err := e.Check(measured)
			if err != nil {
				why = err.Error()
			} else {
				passed = ok
			}
		}
		if why != "" {
			text = "not measured: " + why
		}
		rep.AddCheck(e.Label(), e.Expected(), text, passed)
	}
	r.mu.Lock()
	addAttackChecks(rep, r.attackRes)
	r.mu.Unlock()

	r.watch.mu.Lock()
	for _, s := range r.watch.samples {
		rep.AddSample(s.at, s.s)
	}
	r.watch.mu.Unlock()
	r.mu.Lock()
	for _, e := range r.events {
		rep.AddEvent(e.at, e.kind, e.text)
	}
	r.mu.Unlock()

	if o.primary != "" {
		rep.AddFinding("final primary: %s", o.primary)
	}
	if len(o.lost) > 0 {
		rep.AddFinding("lost: %d cell and %d twin acknowledged writes missing on %s, acknowledged from +%v to +%v",
			lostBy(o.lost, replicator.DurabilityCell), lostBy(o.lost, replicator.DurabilityTwin), o.primary,
			firstDone(o.lost).Sub(r.start).Round(time.Millisecond), lastDone(o.lost).Sub(r.start).Round(time.Millisecond))
	}
	for i, v := range o.splitBrain {
		if i == maxViolations {
			rep.AddFinding("... and %d more split-brain violations", len(o.splitBrain)-maxViolations)
			break
		}
		rep.AddFinding("split brain: %s", v)
	}
	for _, f := range o.findings {
		if f != "" {
			rep.AddFinding("%s", f)
		}
	}
	if err := rep.Finish(time.Now()); err != nil {
		return nil, fmt.Errorf("drill %s: report: %w", sc.Name, err)
	}
	return rep, nil
}

// ScenarioSHA256 is the digest the report records of a scenario's
// source: SHA-256, lower-case hex.
func ScenarioSHA256(source []byte) string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:])
}

// operator is Options.Operator, else the identity of the lab's client
// certificate, else the OS user (saying why in the log).
func (r *runner) operator() *report.Operator {
	if r.o.Operator != nil {
		return r.o.Operator
	}
	o, err := OperatorFromCert(r.lab.ClientCreds.Cert)
	if err != nil {
		r.log.Warn("drill: the report names the OS user: the lab's client certificate has no identity", "err", err)
		o = OperatorFromOS()
	}
	return &o
}

// addAttackChecks adds the attack steps' own checks to the report, in the
// order the steps began, each named after its step
// ("attacks[0].rogue-peer.leader_unchanged").
func addAttackChecks(rep *report.Report, runs []attackRun) {
	runs = slices.Clone(runs)
	slices.SortStableFunc(runs, func(a, b attackRun) int { return a.began.Compare(b.began) })
	for _, run := range runs {
		for _, c := range run.res.Checks {
			rep.AddCheck(run.step.Path+"."+string(run.step.Action)+"."+c.Name, c.Expected, c.Measured, c.Passed)
		}
	}
}

func firstDone(ws []history.Write) time.Time {
	t := ws[0].Done
	for _, w := range ws {
		if w.Done.Before(t) {
			t = w.Done
		}
	}
	return t
}

func lastDone(ws []history.Write) time.Time {
	t := ws[0].Done
	for _, w := range ws {
		if w.Done.After(t) {
			t = w.Done
		}
	}
	return t
}

// value returns the measured value of an expectation, as Check takes it
// and as the report prints it, or why it was not measured.
func (o *outcome) value(e scenarios.Expectation) (any, string, string) {
	switch e.Name {
	case scenarios.ExpectRPO:
		if o.rpoErr != "" {
			return nil, "", o.rpoErr
		}
		w := rpoWindow(o.lost)
		text := fmt.Sprintf("%d writes (%d B) over %s", len(o.lost), lostBytes(o.lost), fmtDur(w))
		if e.Kind() == scenarios.KindDuration {
			return w, text, ""
		}
		return int64(len(o.lost)), text, ""
	case scenarios.ExpectRTO:
		if o.rtoErr != "" {
			return nil, "", o.rtoErr
		}
		return o.rto, fmtDur(o.rto), ""
	case scenarios.ExpectAckedWritesLost:
		if o.rpoErr != "" {
			return nil, "", o.rpoErr
		}
		var n int64
		switch e.Durability {
		case scenarios.DurabilityCell:
			n = lostBy(o.lost, replicator.DurabilityCell)
		case scenarios.DurabilityTwin:
			n = lostBy(o.lost, replicator.DurabilityTwin)
		default:
			n = int64(len(o.lost))
		}
		return n, strconv.FormatInt(n, 10), ""
	case scenarios.ExpectSplitBrain:
		if o.sbErr != "" {
			return nil, "", o.sbErr
		}
		n := int64(len(o.splitBrain))
		return n, strconv.FormatInt(n, 10), ""
	case scenarios.ExpectPromotions:
		return o.promotions, strconv.FormatInt(o.promotions, 10), ""
	case scenarios.ExpectIntegrity:
		return o.integrity, o.integrity, ""
	case scenarios.ExpectTamperDetected:
		text := strconv.FormatBool(o.tamper)
		if o.tamperWhy != "" {
			text += " (" + o.tamperWhy + ")"
		}
		return o.tamper, text, ""
	}
	return nil, "", fmt.Sprintf("unknown expectation %q", e.Name)
}

// writtenLine is one line of Options.WritesFile (Node: where it was sent).
type writtenLine struct {
	Key        string    `json:"key"`
	Node       string    `json:"node"`
	Durability string    `json:"durability"`
	Acked      bool      `json:"acked"`
	WALIndex   uint64    `json:"wal_index,omitempty"`
	Sent       time.Time `json:"sent"`
	Done       time.Time `json:"done"`
}

// writeWrites writes the load's history to path, one JSON line a write.
func writeWrites(path string, ws []history.Write) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, w := range ws {
		if err := enc.Encode(writtenLine{Key: w.Key, Node: w.Node, Durability: w.Durability.String(), Acked: w.Acked, WALIndex: w.WALIndex, Sent: w.Sent, Done: w.Done}); err != nil {
			return fmt.Errorf("drill: write history: %w", err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("drill: write history: %w", err)
	}
	return nil
}
