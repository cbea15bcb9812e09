package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/drill"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// liveCertFile is the admin certificate a live drill runs with: the
// lab's, or --cert.
func liveCertFile(labDir string, cf *clientFlags, labSet bool) (string, error) {
	if len(cf.endpoints) > 0 || !labSet {
		return cf.cert, nil
	}
	l, err := lab.Load(labDir)
	if err != nil {
		return "", err
	}
	return l.AdminCreds.Cert, nil
}

// liveClient is an admin client for the twin of a running deployment:
// the single --endpoint, or the twin of --lab.
func liveClient(labDir string, cf *clientFlags, labSet bool) (*api.Client, error) {
	if len(cf.endpoints) == 0 {
		if !labSet {
			return nil, errors.New("drill run --live: pass the twin's API as --endpoint HOST:PORT with --ca/--cert/--key (admin), or --lab DIR")
		}
		l, err := lab.Load(labDir)
		if err != nil {
			return nil, err
		}
		t, ok := l.Twin()
		if !ok {
			return nil, fmt.Errorf("drill run --live: the lab in %s has no twin to clone", labDir)
		}
		return l.AdminClient(t.Name)
	}
	if labSet {
		return nil, errors.New("drill run --live: use either --lab or --endpoint, not both")
	}
	if len(cf.endpoints) != 1 {
		return nil, errors.New("drill run --live: the live drill talks to the twin: pass a single --endpoint")
	}
	return cf.one()
}

// runLiveDrill is the live, non-disruptive drill: the twin promotes a
// clone of its store in isolation and throws it away; the report checks
// the scenario's rto and integrity expectations against what the clone
// measured (the other expectations need real faults: lab drills).
func runLiveDrill(ctx context.Context, c *api.Client, s *scenarios.Scenario, source []byte, certFile string) (*report.Report, error) {
	op, err := drill.OperatorFromCert(certFile)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := report.New(s.Name, start)
	rep.Mode = report.ModeLive
	rep.Description = "live, non-disruptive: the twin promoted a clone of its store in isolation; production replication went on"
	rep.JumeauVersion = version
	rep.ScenarioSHA256, rep.Operator = drill.ScenarioSHA256(source), &op
	rep.AddEvent(start, report.KindNote, "live drill asked of the twin")
	var res node.SandboxResult
	if err := c.Sandbox(ctx, &res); err != nil {
		if errors.Is(err, api.ErrForbidden) {
			return nil, fmt.Errorf("%w (the live drill needs an admin certificate: `jumeau certs issue --role admin`)", err)
		}
		return nil, fmt.Errorf("live drill: %w", err)
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
		m, ok := measured[e.Name]
		if !ok {
			continue
		}
		pass, err := e.Check(m)
		if err != nil {
			return nil, err
		}
		rep.AddCheck(e.Label(), e.Expected(), fmt.Sprint(m), pass)
		checked++
	}
	if checked == 0 {
		rep.AddCheck("integrity", "== verified", integrity, integrity == "verified")
	}
	rep.WAL = []report.WALPosition{{Node: res.Node, Index: res.CheckpointIndex, Hash: res.CheckpointHash,
		Note: fmt.Sprintf("clone (Pebble checkpoint): hash chain verified from %d to %d (%v)", res.VerifiedFrom, res.VerifiedTo, res.ChainVerified)}}
	rep.AddCheck("replication_continued", "twin index after >= before", fmt.Sprintf("%d -> %d", res.TwinIndexBefore, res.TwinIndexAfter), res.TwinIndexAfter >= res.TwinIndexBefore)
	rep.AddFinding("clone: WAL %d..%d verified (hash chain), %d keys, state digest %s", res.VerifiedFrom, res.VerifiedTo, res.StateKeys, res.StateDigest)
	rep.AddFinding("isolation: %s", res.Isolation)
	rep.AddFinding("the twin kept receiving during the drill: WAL index %d before, %d after", res.TwinIndexBefore, res.TwinIndexAfter)
	rep.AddFinding("not measured live (they need real faults, use a lab drill): rpo, acked_writes_lost, split_brain, promotions, tamper_detected")
	if err := rep.Finish(time.Now()); err != nil {
		return nil, err
	}
	return rep, nil
}
