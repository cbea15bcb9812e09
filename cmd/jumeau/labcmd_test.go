package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/lab"
)

// preparedLabT writes a lab (two sites, no process running) and returns
// its directory.
func preparedLabT(tb testing.TB) string {
	tb.Helper()
	l, err := lab.Prepare(lab.Options{Dir: tb.TempDir(), Binary: "jumeau", Sites: 2})
	if err != nil {
		tb.Fatal(err)
	}
	writeLabJSON(tb, l)
	return l.Dir
}

func TestLabNodeCmds_Refusals(t *testing.T) {
	dir := preparedLabT(t)
	cases := []struct {
		name string
		args []string
		code exitStatus
		want string
	}{
		{"start without node", []string{"lab", "start", "--dir", dir}, 2, "one node name"},
		{"stop with two nodes", []string{"lab", "stop", "--dir", dir, "site-a", "site-b"}, 2, "one node name"},
		{"start unknown node", []string{"lab", "start", "--dir", dir, "site-z"}, 2, `unknown node "site-z": this lab has site-a, site-b`},
		{"kill unknown node", []string{"lab", "kill", "--dir", dir, "lux-1"}, 2, "this lab has site-a, site-b"},
		{"stop not running", []string{"lab", "stop", "--dir", dir, "site-a"}, 1, "node not running: site-a"},
		{"kill not running", []string{"lab", "kill", "--dir", dir, "site-b"}, 1, "node not running: site-b"},
		{"zero grace", []string{"lab", "stop", "--dir", dir, "--grace", "0s", "site-a"}, 2, "--grace"},
		{"negative wait", []string{"lab", "restart", "--dir", dir, "--wait", "-1s", "site-a"}, 2, "--wait"},
		{"no lab", []string{"lab", "start", "--dir", t.TempDir(), "site-a"}, 1, "lab up"},
		{"status of no lab", []string{"lab", "status", "--dir", t.TempDir()}, 1, "lab up"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			if got := exitCode(err); got != tc.code || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got exit %d, error %v; want exit %d, an error mentioning %q", got, err, tc.code, tc.want)
			}
		})
	}
}

// Status documents of a lab after a promotion: the witness and the twin
// in epoch 2 with lux-1 primary (leading, leased), the sites replicas.
const (
	replicaJSON = `{"name":"site-a","role":"site","region":"monaco",
 "failover":{"epoch":2,"primary_region":"luxembourg","primary_node":"lux-1","fenced":true,"mode":"replica"}}`
	promotedTwinJSON = `{"name":"lux-1","role":"twin","region":"luxembourg",
 "cell":{"raft_state":"Leader","leader":"lux-1","term":2},
 "failover":{"epoch":2,"primary_region":"luxembourg","primary_node":"lux-1","lease_valid":true,"lease_expires_in_ms":1700,"mode":"primary","promotion":"promoted"}}`
)

func TestLabStatus_AfterPromotion(t *testing.T) {
	docs := map[string]string{"site-a": replicaJSON, "site-b": replicaJSON, lab.TwinName: promotedTwinJSON, lab.WitnessName: witnessFailoverJSON}
	dir := fakeLabT(t, docs, nil)
	out, err := runOut(t, "lab", "status", "--dir", dir, "--json")
	if err != nil {
		t.Fatalf("lab status --json: %v\n%s", err, out)
	}
	var doc labStatusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	want := lab.Primary{Name: lab.TwinName, Epoch: 2, Region: lab.TwinRegion, Mode: lab.ModePrimary}
	if doc.Primary == nil || *doc.Primary != want {
		t.Errorf("primary: got %+v (not ready: %q), want %+v", doc.Primary, doc.NotReady, want)
	}
	if got, want := len(doc.Nodes), 4; got != want {
		t.Fatalf("nodes: got %d, want %d", got, want)
	}
	for _, r := range doc.Nodes {
		// No process was started: the API answering is served by the test.
		if r.Process != lab.ProcessStopped || r.PID != 0 {
			t.Errorf("%s: got process %s pid %d, want %s", r.Name, r.Process, r.PID, lab.ProcessStopped)
		}
	}
	if got := doc.Nodes[0]; got.Mode != string(lab.ModeReplica) || got.Epoch != 2 {
		t.Errorf("site-a: got mode %q epoch %d, want %s in epoch 2", got.Mode, got.Epoch, lab.ModeReplica)
	}

	table, err := runOut(t, "lab", "status", "--dir", dir)
	if err != nil {
		t.Fatalf("lab status: %v\n%s", err, table)
	}
	for _, w := range []string{
		"primary: lux-1 (promoted twin, epoch 2, region luxembourg)\n",
		"not running: site-a, site-b, lux-1, witness-1:",
	} {
		if !strings.Contains(table, w) {
			t.Errorf("lab status lacks %q:\n%s", w, table)
		}
	}
}
