package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// LiveTwin is the twin's API as the live drill uses it (an admin
// *api.Client).
type LiveTwin interface {
	Sandbox(ctx context.Context, v any) error
	Get(ctx context.Context, ns, key string, stale bool) ([]byte, error)
	Status(ctx context.Context, v any) error
}

// LivePrimary is a Monaco site's API as the live drill uses it to write
// its markers (an *api.Client; a site forwards to its leader).
type LivePrimary interface {
	Put(ctx context.Context, ns, key string, value []byte, durability string) (api.WriteResult, error)
}

// LiveOptions configure RunLive.
type LiveOptions struct {
	// Scenario names the drill and holds the rto and integrity
	// expectations checked live.
	Scenario *scenarios.Scenario
	// ScenarioSource is the scenario as read (see Options.ScenarioSource).
	ScenarioSource []byte
	// Twin is the twin's API, with admin credentials.
	Twin LiveTwin
	// TwinName names the twin in the report when its answer does not.
	TwinName string
	// Primaries are the Monaco sites' APIs the markers are written
	// through, tried in order (the next after an error). None: the
	// replication_continued check is not made and a finding says so.
	Primaries []LivePrimary
	// Operator is who runs the drill (required).
	Operator *report.Operator
	// Version is the jumeau version written in the report.
	Version string
	// MarkerWait bounds the wait for the twin to hold every acknowledged
	// marker once the sandbox is done (0: DefaultMarkerWait).
	MarkerWait time.Duration
}

// Marker writes of the live drill.
const (
	// MarkerNamespace is the namespace of the live drill's markers.
	MarkerNamespace = "jumeau-drill"
	// minMarkers is how many markers at least are written.
	minMarkers = 10
	// maxMarkers bounds the markers of one drill.
	maxMarkers = 200
	// markerEvery is the period of the marker writes.
	markerEvery = 50 * time.Millisecond
	// DefaultMarkerWait bounds the wait for the twin to hold every marker
	// (LiveOptions.MarkerWait).
	DefaultMarkerWait = 30 * time.Second
	// markerPoll is the period of the twin reads while waiting.
	markerPoll = 100 * time.Millisecond
	// liveRequestTimeout bounds one marker write or twin read.
	liveRequestTimeout = 2 * time.Second
)

// RunLive is the live, non-disruptive drill: while the twin promotes a
// clone of its store in isolation and throws it away, markers are written
// through the primary; the report checks the scenario's rto and integrity
// expectations against what the clone measured (the others need real
// faults: lab drills) and that the twin received every marker the primary
// acknowledged (replication_continued). The error is for a drill that
// could not run; a failed check is in the report.
func RunLive(ctx context.Context, o LiveOptions) (*report.Report, error) {
	if o.Scenario == nil || o.Twin == nil || o.Operator == nil || len(o.ScenarioSource) == 0 {
		return nil, fmt.Errorf("%w: a live drill needs a scenario, its source, the twin and the operator", ErrOptions)
	}
	if o.MarkerWait <= 0 {
		o.MarkerWait = DefaultMarkerWait
	}
	s := o.Scenario
	start := time.Now()
	rep := report.New(s.Name, start)
	rep.Mode = report.ModeLive
	rep.Description = "live, non-disruptive: the twin promoted a clone of its store in isolation; production replication went on"
	rep.JumeauVersion = o.Version
	rep.ScenarioSHA256 = ScenarioSHA256(o.ScenarioSource)
	rep.Operator = o.Operator
	rep.AddEvent(start, report.KindNote, "live drill asked of the twin")

	var ev markerEvidence
	ev.twinBefore = twinIndex(ctx, o.Twin)
	m := newMarkers(start, o.Primaries)
	sandboxDone := make(chan struct{})
	var markersDone sync.WaitGroup
	if len(o.Primaries) > 0 {
		markersDone.Go(func() { m.write(ctx, sandboxDone) })
	}
	var res node.SandboxResult
	err := o.Twin.Sandbox(ctx, &res)
	close(sandboxDone)
	markersDone.Wait()
	if err != nil {
		if errors.Is(err, api.ErrForbidden) {
			return nil, fmt.Errorf("%w (the live drill needs an admin certificate: `jumeau certs issue --role admin`)", err)
		}
		return nil, fmt.Errorf("live drill: %w", err)
	}
	if res.Node == "" {
		res.Node = o.TwinName
	}
	rep.Topology.Nodes = []report.Node{{Name: res.Node, Role: "twin"}}
	cp := start.Add(time.Duration(res.CheckpointMS) * time.Millisecond)
	rep.AddEvent(cp, report.KindNote, fmt.Sprintf("%s cloned its store (Pebble checkpoint) at WAL index %d in %d ms", res.Node, res.CheckpointIndex, res.CheckpointMS))
	promoted := start.Add(time.Duration(res.TotalMS) * time.Millisecond)
	rep.AddEvent(promoted, report.KindPromotion, fmt.Sprintf("clone promoted in isolation: first write accepted at WAL index %d, %d ms after the promotion began", res.ProbeIndex, res.PromoteMS))
	rep.RTOMs = res.PromoteMS
	integrity := "verified"
	if !res.ChainVerified || !res.ProbeReadBack || res.ProbeIndex <= res.CheckpointIndex {
		integrity = fmt.Sprintf("failed (chain verified %v, probe read back %v)", res.ChainVerified, res.ProbeReadBack)
	}
	measured := map[string]any{"rto": time.Duration(res.PromoteMS) * time.Millisecond, "integrity": integrity}
	checked := 0
	for _, e := range s.Expect {
		v, ok := measured[e.Name]
		if !ok {
			continue
		}
		pass, err := e.Check(v)
		if err != nil {
			return nil, err
		}
		rep.AddCheck(e.Label(), e.Expected(), fmt.Sprint(v), pass)
		checked++
	}
	if checked == 0 {
		rep.AddCheck("integrity", "== verified", integrity, integrity == "verified")
	}
	rep.WAL = []report.WALPosition{{
		Node: res.Node, Index: res.CheckpointIndex, Hash: res.CheckpointHash,
		Note: fmt.Sprintf("clone (Pebble checkpoint): hash chain verified from %d to %d (%v), %d keys, state digest %s", res.VerifiedFrom, res.VerifiedTo, res.ChainVerified, res.StateKeys, res.StateDigest),
	}}

	if len(o.Primaries) > 0 {
		ev.sent, ev.acked, ev.failed, ev.lastIndex = m.counts()
		rep.AddEvent(time.Now(), report.KindNote, fmt.Sprintf("%d markers written through the primary during the drill (%d acknowledged), in namespace %s", ev.sent, ev.acked, MarkerNamespace))
		var missing []string
		ev.seen, missing = m.awaitOnTwin(ctx, o.Twin, o.MarkerWait)
		ev.twinAfter = twinIndex(ctx, o.Twin)
		rep.AddEvent(time.Now(), report.KindNote, fmt.Sprintf("the twin holds %d of the %d acknowledged markers", ev.seen, ev.acked))
		c := replicationCheck(ev)
		rep.AddCheck(c.Name, c.Expected, c.Measured, c.Passed)
		if len(missing) > 0 {
			rep.AddFinding("markers acknowledged by the primary and not on the twin after %v: %s", o.MarkerWait, joinNames(missing))
		}
		rep.Load = report.Load{Sent: int64(ev.sent), Acked: int64(ev.acked), Failed: int64(ev.failed), ValueBytes: int64(m.size), Failures: m.fails.report()}
	} else {
		rep.AddFinding("replication during the drill not checked: no primary to write markers through (pass --primary SITE:PORT, or use --lab)")
	}
	rep.AddFinding("clone: WAL %d..%d verified (hash chain), %d keys, state digest %s", res.VerifiedFrom, res.VerifiedTo, res.StateKeys, res.StateDigest)
	rep.AddFinding("isolation: %s", res.Isolation)
	rep.AddFinding("twin WAL index: %d before the drill, %d -> %d across the sandbox, %d once the markers were read (0: not read)", ev.twinBefore, res.TwinIndexBefore, res.TwinIndexAfter, ev.twinAfter)
	rep.AddFinding("not measured live (they need real faults, use a lab drill): rpo, acked_writes_lost, split_brain, promotions, tamper_detected")
	if err := rep.Finish(time.Now()); err != nil {
		return nil, err
	}
	return rep, nil
}

// twinIndex is the twin's last WAL index from its status (0 when it
// cannot be read).
func twinIndex(ctx context.Context, t LiveTwin) uint64 {
	ctx, cancel := context.WithTimeout(ctx, liveRequestTimeout)
	defer cancel()
	var st node.Status
	if err := t.Status(ctx, &st); err != nil || st.Twin == nil {
		return 0
	}
	return st.Twin.WALLast
}

// markers are the live drill's marker writes.
type markers struct {
	prefix    string
	size      int
	primaries []LivePrimary
	fails     failureTally

	mu        sync.Mutex
	keys      []string // acknowledged markers, in write order
	sent      int
	failed    int
	lastIndex uint64
}

func newMarkers(start time.Time, primaries []LivePrimary) *markers {
	prefix := fmt.Sprintf("live-%s-%04x-", start.UTC().Format("20060102T150405Z"), rand.Uint32()&0xffff)
	return &markers{prefix: prefix, size: len(markerValue(prefix + "000")), primaries: primaries}
}

// markerValue is the value written under a marker key.
func markerValue(key string) []byte { return []byte("jumeau live drill marker " + key) }

// write writes a marker every markerEvery until the sandbox is done and
// at least minMarkers were sent, at most maxMarkers; a failed write moves
// to the next primary.
func (m *markers) write(ctx context.Context, sandboxDone <-chan struct{}) {
	p := 0
	for i := 0; i < maxMarkers && ctx.Err() == nil; i++ {
		select {
		case <-sandboxDone:
			if i >= minMarkers {
				return
			}
		default:
		}
		key := fmt.Sprintf("%s%03d", m.prefix, i)
		wctx, cancel := context.WithTimeout(ctx, liveRequestTimeout)
		res, err := m.primaries[p].Put(wctx, MarkerNamespace, key, markerValue(key), "cell")
		cancel()
		m.mu.Lock()
		m.sent++
		if err != nil {
			m.failed++
			p = (p + 1) % len(m.primaries)
		} else {
			m.keys = append(m.keys, key)
			m.lastIndex = max(m.lastIndex, res.WALIndex)
		}
		m.mu.Unlock()
		if err != nil {
			m.fails.add(err)
		}
		sleepUntil(ctx, time.Now().Add(markerEvery))
	}
}

// counts returns sent, acknowledged, failed and the last WAL index
// acknowledged.
func (m *markers) counts() (sent, acked, failed int, last uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent, len(m.keys), m.failed, m.lastIndex
}

// awaitOnTwin reads the acknowledged markers from the twin (stale reads)
// until it returns every one with its bytes or wait passes; it
// returns how many it holds and the keys it does not.
func (m *markers) awaitOnTwin(ctx context.Context, t LiveTwin, wait time.Duration) (int, []string) {
	m.mu.Lock()
	pending := append([]string(nil), m.keys...)
	m.mu.Unlock()
	total := len(pending)
	deadline := time.Now().Add(wait)
	for len(pending) > 0 && ctx.Err() == nil {
		var still []string
		for _, key := range pending {
			rctx, cancel := context.WithTimeout(ctx, liveRequestTimeout)
			v, err := t.Get(rctx, MarkerNamespace, key, true)
			cancel()
			if err != nil || !bytes.Equal(v, markerValue(key)) {
				still = append(still, key)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		sleepUntil(ctx, time.Now().Add(markerPoll))
	}
	return total - len(pending), pending
}
