package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// runT runs a command line through runIO and returns its exit status and
// standard output.
func runT(tb testing.TB, args ...string) (exitStatus, string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := runIO(context.Background(), args, &out, &errOut)
	return exitCode(err), out.String(), err
}

// unreachableLabT is a fake lab (fakeLabT) whose witness does not answer.
func unreachableLabT(tb testing.TB, promote promoteFunc) string {
	tb.Helper()
	dir := fakeLabT(tb, labDocs(), promote)
	l, err := lab.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := l.Node(lab.WitnessName)
	if err != nil {
		tb.Fatal(err)
	}
	n.API = "127.0.0.1:1" // nothing listens there
	writeLabJSON(tb, l)
	return dir
}

func TestRun_ExitCode(t *testing.T) {
	down := unreachableLabT(t, func(context.Context, bool) (any, error) {
		return nil, fmt.Errorf("test twin: %w", replicator.ErrTimeout) // the API answers 504
	})
	cases := []struct {
		name string
		args []string
		want exitStatus
	}{
		{"version", []string{"version"}, exitOK},
		{"no command prints the help", nil, exitOK},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"unknown subcommand", []string{"certs", "frobnicate"}, exitUsage},
		{"unknown flag", []string{"status", "--frobnicate"}, exitUsage},
		{"bad flag value", []string{"status", "--timeout", "soon"}, exitUsage},
		{"missing argument", []string{"get", "ns"}, exitUsage},
		{"extra argument", []string{"version", "extra"}, exitUsage},
		{"missing required flag", []string{"certs", "issue", "--dir", t.TempDir(), "--region", "monaco", "--name", "x"}, exitUsage},
		{"serve without config", []string{"serve"}, exitUsage},
		{"endpoint without credentials", []string{"get", "--endpoint", "127.0.0.1:1", "ns", "k"}, exitUsage},
		{"lab and endpoint", []string{"status", "--lab", down, "--endpoint", "127.0.0.1:1"}, exitUsage},
		{"revoke nothing", []string{"certs", "revoke", "--dir", t.TempDir()}, exitUsage},
		{"connection refused", []string{"get", "--lab", down, "--node", lab.WitnessName, "ns", "k"}, exitFailure},
		{"gateway timeout", []string{"failover", "promote", "--lab", down}, exitFailure},
		{"lab without lab.json", []string{"status", "--lab", t.TempDir()}, exitFailure},
		{"status with a node unreachable", []string{"status", "--lab", down, "--timeout", "2s"}, exitFailure},
		{"failover status with a node unreachable", []string{"failover", "status", "--lab", down, "--timeout", "2s"}, exitFailure},
		{"drill history of a missing directory", []string{"drill", "history", "--dir", filepath.Join(t.TempDir(), "nonexistent")}, exitFailure},
		{"drill history without a directory", []string{"drill", "history"}, exitUsage},
		{"drill history of an empty directory", []string{"drill", "history", "--dir", t.TempDir()}, exitOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, out, err := runT(t, tc.args...)
			if got != tc.want {
				t.Fatalf("exit status: got %d (%v), want %d\n%s", got, err, tc.want, out)
			}
		})
	}
}

func TestRun_UnreachableStillPrints(t *testing.T) {
	dir := unreachableLabT(t, nil)
	for _, args := range [][]string{{"status"}, {"failover", "status"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, err := runT(t, append(args, "--lab", dir, "--timeout", "2s")...)
			if got, want := code, exitFailure; got != want {
				t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
			}
			for _, want := range []string{"site-a ", lab.WitnessName + "  unreachable: "} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if err == nil || !strings.Contains(err.Error(), "1 of 4 nodes did not answer") {
				t.Errorf("error: got %v, want it to say 1 of 4 nodes did not answer", err)
			}
		})
	}
}

func TestFailoverPromote_RefusedPrintsJSON(t *testing.T) {
	dir := fakeLabT(t, labDocs(), func(context.Context, bool) (any, error) {
		return nil, fmt.Errorf("%w: the witness heard the primary 120ms ago", failover.ErrRefused) // HTTP 409
	})
	code, out, err := runT(t, "failover", "promote", "--lab", dir)
	if got, want := code, exitFailure; got != want {
		t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
	}
	var res promoteResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout: got %q, want the promote result as JSON: %v", out, err)
	}
	if res.Promoted || res.Epoch != 1 || !strings.Contains(res.Reason, "the witness heard the primary 120ms ago") {
		t.Errorf("result: got %+v, want not promoted, epoch 1 (the twin's), the twin's reason", res)
	}
}
