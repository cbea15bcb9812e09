package drill

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

func TestReplicationCheck_Verdict(t *testing.T) {
	for _, c := range []struct {
		name string
		e    markerEvidence
		want bool
	}{
		{"replication stopped: nothing written, twin index unchanged", markerEvidence{twinBefore: 30, twinAfter: 30}, false},
		{"replication stopped: markers acknowledged, none on the twin", markerEvidence{sent: 10, acked: 10, lastIndex: 40, twinBefore: 30, twinAfter: 30}, false},
		{"one marker missing on the twin", markerEvidence{sent: 10, acked: 10, seen: 9, lastIndex: 40, twinBefore: 30, twinAfter: 39}, false},
		{"the primary acknowledged no marker", markerEvidence{sent: 10, failed: 10, twinBefore: 30, twinAfter: 30}, false},
		{"every acknowledged marker on the twin", markerEvidence{sent: 10, acked: 9, failed: 1, seen: 9, lastIndex: 40, twinBefore: 30, twinAfter: 40}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := replicationCheck(c.e)
			if got.Passed != c.want {
				t.Errorf("got passed %v (measured %q), want %v", got.Passed, got.Measured, c.want)
			}
			if got.Name != checkReplicationContinued || got.Expected == "" || got.Measured == "" {
				t.Errorf("got %+v, want the check named %s with its bound and measure", got, checkReplicationContinued)
			}
		})
	}
}

// fakeCell is a primary and its twin in memory: what the primary
// acknowledges reaches the twin only while replicating is set.
type fakeCell struct {
	mu          sync.Mutex
	replicating bool
	down        bool // every write fails: nothing listens
	primary     map[string][]byte
	twin        map[string][]byte
	index       uint64
	twinIndex   uint64
}

func newFakeCell(replicating bool) *fakeCell {
	return &fakeCell{replicating: replicating, primary: map[string][]byte{}, twin: map[string][]byte{}, index: 30, twinIndex: 30}
}

func (c *fakeCell) Put(_ context.Context, ns, key string, value []byte, _ string) (api.WriteResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return api.WriteResult{}, fmt.Errorf("api: PUT: nothing listens there: %w", syscall.ECONNREFUSED)
	}
	c.index++
	c.primary[ns+"/"+key] = bytes.Clone(value)
	if c.replicating {
		c.twin[ns+"/"+key] = bytes.Clone(value)
		c.twinIndex = c.index
	}
	return api.WriteResult{WALIndex: c.index}, nil
}

func (c *fakeCell) Get(_ context.Context, ns, key string, stale bool) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !stale {
		return nil, fmt.Errorf("%w: the twin serves stale reads only", api.ErrBadRequest)
	}
	v, ok := c.twin[ns+"/"+key]
	if !ok {
		return nil, api.ErrNotFound
	}
	return v, nil
}

func (c *fakeCell) Status(_ context.Context, v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := v.(*node.Status)
	st.Twin = &replicator.TwinStatus{WALLast: c.twinIndex}
	return nil
}

// Sandbox answers as a twin whose clone promoted in 40 ms.
func (c *fakeCell) Sandbox(ctx context.Context, v any) error {
	sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
	c.mu.Lock()
	defer c.mu.Unlock()
	*v.(*node.SandboxResult) = node.SandboxResult{
		Node: "lux-1", CheckpointIndex: c.twinIndex, CheckpointHash: strings.Repeat("ab", 32), CheckpointMS: 5,
		ChainVerified: true, VerifiedFrom: 1, VerifiedTo: c.twinIndex, StateKeys: 3, StateDigest: "d1",
		PromoteMS: 40, ProbeIndex: c.twinIndex + 1, ProbeReadBack: true, Isolation: "loopback, no peer", TotalMS: 60,
		TwinIndexBefore: 30, TwinIndexAfter: c.twinIndex,
	}
	return nil
}

func runLiveT(tb testing.TB, c *fakeCell) *report.Report {
	tb.Helper()
	src, err := scenarios.BuiltinSource("earthquake-one-site")
	if err != nil {
		tb.Fatal(err)
	}
	op := OperatorFromOS()
	rep, err := RunLive(context.Background(), LiveOptions{
		Scenario: builtin(tb, "earthquake-one-site"), ScenarioSource: src, Twin: c, Primaries: []LivePrimary{c},
		Operator: &op, Version: "test", MarkerWait: 300 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

func reportCheckT(tb testing.TB, r *report.Report, name string) report.Check {
	tb.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	tb.Fatalf("no check %s in %+v", name, r.Checks)
	return report.Check{}
}

func TestRunLive(t *testing.T) {
	t.Run("replication going on", func(t *testing.T) {
		rep := runLiveT(t, newFakeCell(true))
		c := reportCheckT(t, rep, checkReplicationContinued)
		if !c.Passed || !rep.Passed {
			t.Fatalf("got %+v (report passed %v), want passed", c, rep.Passed)
		}
		if rep.Load.Acked < minMarkers || rep.Load.Failed != 0 {
			t.Errorf("got load %+v, want at least %d markers acknowledged, none failed", rep.Load, minMarkers)
		}
	})
	t.Run("replication stopped", func(t *testing.T) {
		rep := runLiveT(t, newFakeCell(false))
		c := reportCheckT(t, rep, checkReplicationContinued)
		if c.Passed || rep.Passed {
			t.Fatalf("got %+v (report passed %v), want failed: the twin received no marker", c, rep.Passed)
		}
		if !strings.HasPrefix(c.Measured, "0 of ") {
			t.Errorf("measured: got %q, want 0 markers on the twin", c.Measured)
		}
	})
	t.Run("primary down", func(t *testing.T) {
		cell := newFakeCell(true)
		cell.down = true
		rep := runLiveT(t, cell)
		if c := reportCheckT(t, rep, checkReplicationContinued); c.Passed {
			t.Fatalf("got %+v, want failed: no marker acknowledged", c)
		}
		want := []report.FailureCount{{Cause: string(CauseConnRefused), Count: rep.Load.Failed}}
		if got := rep.Load.Failures; len(got) != 1 || got[0].Cause != want[0].Cause || got[0].Count != want[0].Count || rep.Load.Failed < minMarkers {
			t.Errorf("failures: got %+v (failed %d), want %+v", got, rep.Load.Failed, want)
		}
	})
	t.Run("no primary", func(t *testing.T) {
		src, _ := scenarios.BuiltinSource("earthquake-one-site")
		op := OperatorFromOS()
		rep, err := RunLive(context.Background(), LiveOptions{Scenario: builtin(t, "earthquake-one-site"), ScenarioSource: src, Twin: newFakeCell(true), Operator: &op})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Checks {
			if c.Name == checkReplicationContinued {
				t.Fatalf("got check %+v, want none: nothing was written to see", c)
			}
		}
		if !slices.ContainsFunc(rep.Findings, func(f string) bool { return strings.Contains(f, "not checked") }) {
			t.Errorf("findings: got %q, want one saying replication was not checked", rep.Findings)
		}
	})
	t.Run("provenance", func(t *testing.T) {
		rep := runLiveT(t, newFakeCell(true))
		src, _ := scenarios.BuiltinSource("earthquake-one-site")
		if got, want := rep.ScenarioSHA256, ScenarioSHA256(src); got != want {
			t.Errorf("scenario_sha256: got %s, want %s", got, want)
		}
		if got := rep.WAL; len(got) != 1 || got[0].Node != "lux-1" || got[0].Hash == "" {
			t.Errorf("wal: got %+v, want the clone's position", got)
		}
	})
}
