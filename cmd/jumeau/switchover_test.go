package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/wal"
)

// writeTail writes a forked-tail file of n chained puts after fork index
// 10 and returns its path.
func writeTail(tb testing.TB, n int) string {
	tb.Helper()
	var buf bytes.Buffer
	fork := [32]byte{1}
	hdr := wal.TailHeader{Node: "site-a", Region: "monaco", Epoch: 2, NewPrimary: "luxembourg/lux-1", ForkIndex: 10,
		ForkHash: "01" + strings.Repeat("00", 31), ForkMatch: true, Exported: time.Unix(1_800_000_000, 0).UTC(), First: 11, Last: uint64(10 + n)}
	tw, err := wal.NewTailWriter(&buf, hdr)
	if err != nil {
		tb.Fatal(err)
	}
	prev := fork
	for i := 0; i < n; i++ {
		r := wal.Record{Index: uint64(11 + i), Epoch: 1, Term: 3, Time: time.Unix(1_800_000_000, int64(i)).UnixNano(),
			Namespace: "app", Key: "k" + string(rune('a'+i)), Op: wal.OpPut, Payload: []byte("sealed"), PrevHash: prev}
		r.Seal()
		prev = r.Hash
		if err := tw.Add(&r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "forked-tail-e2.jtail")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestFailoverTail(t *testing.T) {
	path := writeTail(t, 3)
	t.Run("table", func(t *testing.T) {
		out, err := runOut(t, "failover", "tail", path)
		if err != nil {
			t.Fatalf("failover tail: %v\n%s", err, out)
		}
		for _, want := range []string{"forked tail of site-a (monaco), demoted in epoch 2 (new primary luxembourg/lux-1)",
			"chain matches: yes", "3 records (WAL index 11..13) the new primary never received", `put  app        "kc"`} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		out, err := runOut(t, "failover", "tail", path, "--json")
		if err != nil || !strings.Contains(out, `"fork_index": 10`) || strings.Count(out, `"op": "put"`) != 3 {
			t.Fatalf("failover tail --json: %v\n%s", err, out)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		b, _ := os.ReadFile(path)
		b[len(b)/2] ^= 1
		bad := filepath.Join(t.TempDir(), "bad.jtail")
		if err := os.WriteFile(bad, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := runOut(t, "failover", "tail", bad)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, wal.ErrBadTail) {
			t.Fatalf("damaged tail: got %v, want exit 1 wrapping wal.ErrBadTail", err)
		}
	})
}

func TestFailoverSwitchover_BadArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"failover", "switchover", "--lab", t.TempDir()}, "--to REGION is required"},
		{"two endpoints", []string{"failover", "switchover", "--to", "monaco", "--endpoint", "a:1,b:2"}, "single --endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runOut(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// switchoverLabT is a fake lab whose leader, site-a, answers a switchover
// with sw.
func switchoverLabT(tb testing.TB, sw func(ctx context.Context, to string) (any, error)) string {
	tb.Helper()
	return fakeLabWithT(tb, labDocs(), func(n *lab.Node, cfg *api.Config) {
		if n.Name == "site-a" {
			cfg.Switchover = sw
		}
	})
}

func TestFailoverSwitchover_Done(t *testing.T) {
	dir := switchoverLabT(t, func(_ context.Context, to string) (any, error) {
		return node.SwitchResult{Epoch: 2, From: "monaco", To: to, ToNode: "lux-1", StartIndex: 100, DrainMS: 900}, nil
	})
	out, err := runOut(t, "failover", "switchover", "--lab", dir, "--to", "luxembourg")
	if err != nil {
		t.Fatalf("switchover: %v\n%s", err, out)
	}
	got := strings.TrimSpace(out)
	want := `{"switched":true,"epoch":2,"from":"monaco","to":"luxembourg","to_node":"lux-1","start_index":100,"drain_ms":900}`
	if got != want {
		t.Errorf("output: got %s, want %s", got, want)
	}
}

func TestFailoverSwitchover_Refused(t *testing.T) {
	dir := switchoverLabT(t, func(context.Context, string) (any, error) {
		return nil, fmt.Errorf("%w: replicas did not catch up", failover.ErrRefused)
	})
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"failover", "switchover", "--lab", dir, "--to", "luxembourg"})
	err := root.ExecuteContext(context.Background())
	if got, want := exitCode(err), exitFailure; got != want {
		t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
	}
	var res switchoverResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, stdout.String())
	}
	if got, want := res.Switched, false; got != want {
		t.Errorf("switched: got %v, want %v", got, want)
	}
	if got, want := res.Epoch, uint64(1); got != want {
		t.Errorf("epoch: got %d, want %d (the primary's current one)", got, want)
	}
	if !strings.Contains(res.Reason, "replicas did not catch up") {
		t.Errorf("reason: got %q, want the primary's refusal", res.Reason)
	}
}
