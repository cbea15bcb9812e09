package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// decodeT decodes the JSON a command printed on stdout into v.
func decodeT(tb testing.TB, stdout string, v any) {
	tb.Helper()
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		tb.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
}

func TestPutDel_JSON(t *testing.T) {
	dir := kvLab(t, map[string]api.Backend{"site-a": &kvBackend{}, "site-b": &kvBackend{}})
	t.Run("put", func(t *testing.T) {
		out, _, err := drillRunT(t, nil, "put", "--lab", dir, "--node", "site-a", "--json", "app", "k1", "v1")
		if err != nil {
			t.Fatalf("put --json: %v", err)
		}
		var got writeDoc
		decodeT(t, out, &got)
		want := writeDoc{Op: writeOpPut, Namespace: "app", Key: "k1", Durability: "cell", WALIndex: 1, RaftIndex: 1}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("del", func(t *testing.T) {
		out, _, err := drillRunT(t, nil, "del", "--lab", dir, "--node", "site-a", "--json", "--durability", "twin", "app", "k1")
		if err != nil {
			t.Fatalf("del --json: %v", err)
		}
		var got writeDoc
		decodeT(t, out, &got)
		want := writeDoc{Op: writeOpDelete, Namespace: "app", Key: "k1", Durability: "twin"}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ro := kvLab(t, map[string]api.Backend{"site-a": &kvBackend{err: replicator.ErrReadOnly}})
		out, _, err := drillRunT(t, nil, "put", "--lab", ro, "--node", "site-a", "--json", "app", "k1", "v1")
		if got, want := exitCode(err), exitFailure; got != want {
			t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
		}
		if out != "" {
			t.Errorf("stdout: got %q, want nothing (the error goes to stderr)", out)
		}
	})
}

func TestDrillValidate_JSON(t *testing.T) {
	dir := t.TempDir()
	good, err := scenarios.BuiltinSource("earthquake-one-site")
	if err != nil {
		t.Fatal(err)
	}
	goodPath := filepath.Join(dir, "good.yaml")
	badPath := filepath.Join(dir, "bad.yaml")
	bad := strings.Replace(string(good), "at: 5s", "at: 90x", 1)
	for p, b := range map[string]string{goodPath: string(good), badPath: bad} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := drillRunT(t, nil, "drill", "validate", "--json", goodPath, badPath)
	if got, want := exitCode(err), exitFailure; got != want {
		t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
	}
	if !errors.Is(err, scenarios.ErrInvalid) {
		t.Errorf("error: got %v, want scenarios.ErrInvalid", err)
	}
	var got []validateDoc
	decodeT(t, out, &got)
	line, err := strconv.Atoi(lineOfT(t, bad, "at: 90x"))
	if err != nil {
		t.Fatal(err)
	}
	want := []validateDoc{
		{File: goodPath, Valid: true, Name: "earthquake-one-site", Steps: 1, Duration: "15s", Checks: 6},
		{File: badPath, Problems: []validateIssue{{Line: line, Field: "faults[0].at", Message: `"90x": not a duration (use 1s, 500ms)`}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestDrillVerify_JSON(t *testing.T) {
	dir := t.TempDir()
	good := savedReportT(t, dir, true)
	forged := savedReportT(t, dir, false)
	forgeBesideT(t, forged, t.TempDir())
	pub := filepath.Join(dir, report.PubFile)
	out, _, err := drillRunT(t, nil, "drill", "verify", "--json", good, forged, "--key", pub)
	if got, want := exitCode(err), exitFailure; got != want {
		t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
	}
	var got []verifyDoc
	decodeT(t, out, &got)
	if len(got) != 2 {
		t.Fatalf("got %d objects, want 2:\n%s", len(got), out)
	}
	if got[1].Verified || got[1].Report != forged || got[1].Error == "" || got[1].Drill != nil {
		t.Errorf("forged report: got %+v, want not verified, with the error", got[1])
	}
	wantDrill := verifyDrill{Scenario: "earthquake-total", StartedAt: time.Date(2026, 3, 14, 9, 15, 2, 0, time.UTC), Passed: true, LostWrites: 3, RTOMs: 3620}
	g := got[0]
	if !g.Verified || g.Report != good || g.KeyFile != pub || g.KeyID == "" || g.Pinned || g.Drill == nil || *g.Drill != wantDrill {
		t.Errorf("good report: got %+v (drill %+v), want verified with %s, drill %+v", g, g.Drill, pub, wantDrill)
	}
}

func TestLabUpDoc(t *testing.T) {
	l, err := lab.Prepare(lab.Options{Dir: t.TempDir(), Binary: "jumeau", Sites: 2})
	if err != nil {
		t.Fatal(err)
	}
	primary := lab.Primary{Name: "site-a", Epoch: 1, Region: "monaco", Mode: lab.ModeCell}
	d := labUpDocOf(l, primary, map[string]bool{"site-b": true})
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Dir     string      `json:"dir"`
		Primary lab.Primary `json:"primary"`
		Nodes   []struct {
			Name       string `json:"name"`
			API        string `json:"api"`
			WasRunning bool   `json:"was_running"`
		} `json:"nodes"`
	}
	decodeT(t, string(b), &got)
	if got.Dir != l.Dir || got.Primary != primary || len(got.Nodes) != 2 {
		t.Fatalf("got %s, want the lab %s with primary %+v and 2 nodes", b, l.Dir, primary)
	}
	for i, want := range []bool{false, true} {
		if n := got.Nodes[i]; n.Name != l.Nodes[i].Name || n.API != l.Nodes[i].API || n.WasRunning != want {
			t.Errorf("node %d: got %+v, want %s at %s, was_running %v", i, n, l.Nodes[i].Name, l.Nodes[i].API, want)
		}
	}
}

func TestLabUp_JSONFlag(t *testing.T) {
	// A lab up that fails before starting anything keeps its exit status
	// and prints nothing on stdout with --json.
	out, _, err := drillRunT(t, nil, "lab", "up", "--dir", t.TempDir(), "--json", "--wan-rtt", "5ms")
	if got, want := exitCode(err), exitFailure; got != want || err == nil || !strings.Contains(err.Error(), "add --twin") {
		t.Fatalf("got exit %d (%v), want %d asking for --twin", got, err, want)
	}
	if out != "" {
		t.Errorf("stdout: got %q, want nothing", out)
	}
}

func TestLabDown_JSON(t *testing.T) {
	dir := preparedLabT(t)
	out, _, err := drillRunT(t, nil, "lab", "down", "--dir", dir, "--json")
	if err != nil {
		t.Fatalf("lab down --json: %v", err)
	}
	var got labDownDoc
	decodeT(t, out, &got)
	want := labDownDoc{Dir: dir, Nodes: []string{"site-a", "site-b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
