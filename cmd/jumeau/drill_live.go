package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/drill"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// liveTarget is what a live drill talks to: the twin, the Monaco sites it
// writes its markers through, and the certificate it does so with.
type liveTarget struct {
	twin      *api.Client
	twinName  string
	primaries []*api.Client
	certFile  string
}

func (t *liveTarget) close() {
	if t.twin != nil {
		t.twin.Close()
	}
	for _, c := range t.primaries {
		c.Close()
	}
}

// liveTargets are the admin clients of a live drill: the twin of --lab and
// its sites, or the single --endpoint (the twin) and the --primary sites.
func liveTargets(labDir string, cf *clientFlags, primaries []string, labSet bool) (*liveTarget, error) {
	if len(cf.endpoints) == 0 {
		if !labSet {
			return nil, errors.New("drill run --live: pass the twin's API as --endpoint HOST:PORT with --ca/--cert/--key (admin), or --lab DIR")
		}
		if len(primaries) > 0 {
			return nil, errors.New("drill run --live: --primary goes with --endpoint; with --lab the lab's sites are used")
		}
		l, err := lab.Load(labDir)
		if err != nil {
			return nil, err
		}
		tw, ok := l.Twin()
		if !ok {
			return nil, fmt.Errorf("drill run --live: the lab in %s has no twin to clone", labDir)
		}
		t := &liveTarget{twinName: tw.Name, certFile: l.AdminCreds.Cert}
		if t.twin, err = l.AdminClient(tw.Name); err != nil {
			return nil, err
		}
		for _, n := range l.Nodes {
			if pki.Role(n.Role) != pki.RoleSite {
				continue
			}
			c, err := l.AdminClient(n.Name)
			if err != nil {
				t.close()
				return nil, err
			}
			t.primaries = append(t.primaries, c)
		}
		return t, nil
	}
	if labSet {
		return nil, errors.New("drill run --live: use either --lab or --endpoint, not both")
	}
	if len(cf.endpoints) != 1 {
		return nil, errors.New("drill run --live: the live drill talks to the twin: pass a single --endpoint (the sites the markers go through are --primary)")
	}
	twin, err := cf.one()
	if err != nil {
		return nil, err
	}
	t := &liveTarget{twin: twin, twinName: cf.endpoints[0], certFile: cf.cert}
	if len(primaries) > 0 {
		mat, err := pki.LoadTLS(pki.TLSFiles{CA: cf.ca, Cert: cf.cert, Key: cf.key})
		if err != nil {
			t.close()
			return nil, err
		}
		for _, e := range primaries {
			c, err := api.NewClient(e, mat, api.ClientOptions{Timeout: cf.timeout})
			if err != nil {
				t.close()
				return nil, err
			}
			t.primaries = append(t.primaries, c)
		}
	}
	return t, nil
}

// runLiveDrill is the live, non-disruptive drill (drill.RunLive) on t,
// run as the identity of t's certificate.
func runLiveDrill(ctx context.Context, t *liveTarget, s *scenarios.Scenario, source []byte) (*report.Report, error) {
	op, err := drill.OperatorFromCert(t.certFile)
	if err != nil {
		return nil, err
	}
	o := drill.LiveOptions{Scenario: s, ScenarioSource: source, Twin: t.twin, TwinName: t.twinName, Operator: &op, Version: version}
	for _, c := range t.primaries {
		o.Primaries = append(o.Primaries, c)
	}
	return drill.RunLive(ctx, o)
}
