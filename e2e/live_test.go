//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
)

// TestLab_DrillLive: `drill run --live` against a running deployment under
// load: the twin promotes an isolated clone and measures it, production
// writes and shipping go on, and nothing of the clone leaks.
func TestLab_DrillLive(t *testing.T) {
	l := upLabArgs(t, "--twin", "--witness")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ld := newLoader(t, l)
	stop := ld.start(ctx, 4, 1_000_000)
	defer stop()
	waitAcked(t, ld, 200)
	before := ld.ackedCount()
	so, se, code := runCLI(t, "drill", "run", "earthquake-total", "--live", "--lab", l.Dir, "--json")
	if code != 0 {
		t.Fatalf("drill run --live: exit %d\n%s\n%s", code, so, se)
	}
	var rep struct {
		Passed bool   `json:"passed"`
		Mode   string `json:"mode"`
		RTOMs  int64  `json:"rto_ms"`
		Checks []struct {
			Name     string `json:"name"`
			Measured string `json:"measured"`
			Passed   bool   `json:"passed"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(so), &rep); err != nil {
		t.Fatalf("drill run --live --json: %v\n%s", err, so)
	}
	if !rep.Passed || rep.Mode != "live" || rep.RTOMs <= 0 || len(rep.Checks) < 3 {
		t.Fatalf("live report: got %+v, want passed, mode live, an RTO and the rto, integrity and replication checks", rep)
	}
	t.Logf("live drill: clone writable %d ms into its promotion; checks %+v", rep.RTOMs, rep.Checks)
	// Production went on: writes kept being acknowledged during the drill.
	waitAcked(t, ld, before+100)
	stop()
	ld.verify(t, leaderOf(t, l))
	// The clone's probe is nowhere in production.
	for _, name := range []string{lab.TwinName, siteNames(l)[0]} {
		c := probeClient(t, l, name)
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Get(gctx, "jumeau-sandbox", "probe", true)
		cancel()
		if !errors.Is(err, api.ErrNotFound) {
			t.Errorf("the clone's probe on %s: got %v, want not found", name, err)
		}
	}
}

// leaderOf returns the current leader's name.
func leaderOf(tb testing.TB, l *lab.Lab) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name, err := l.WaitLeader(ctx, "")
	if err != nil {
		tb.Fatal(err)
	}
	return name
}
