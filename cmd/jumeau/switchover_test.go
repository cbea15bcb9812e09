package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
