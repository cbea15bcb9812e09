package lab

import (
	"path/filepath"
	"testing"
)

func TestLab_EnableGateLogs(t *testing.T) {
	dir := t.TempDir()
	l, err := Prepare(Options{Dir: dir, Sites: 3, Binary: "/bin/true", Twin: true, Witness: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if n.GateLog != "" {
			t.Fatalf("%s: got gate log %q before, want none (made without GateLog)", n.Name, n.GateLog)
		}
	}
	if got := l.Running(); len(got) != 0 {
		t.Errorf("got running %v, want none (nothing started)", got)
	}
	if l.Alive("site-a") || l.Alive("nope") {
		t.Error("got a node alive in a lab never started")
	}
	if err := l.EnableGateLogs(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range got.Nodes {
		if want := filepath.Join(dir, "nodes", n.Name, "gate.log"); n.GateLog != want {
			t.Errorf("%s: got gate log %q in lab.json, want %q", n.Name, n.GateLog, want)
		}
	}
}
