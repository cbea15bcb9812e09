package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// runSplit runs a command line and returns what it printed on stdout and
// stderr.
func runSplit(tb testing.TB, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// A list of several pages (12 values of 500 KiB are 8 MB of JSON, the
// page budget 4 MiB): ls follows the continuation tokens.
func TestLsCmd_Run(t *testing.T) {
	c := cluster.New(t, cluster.Options{Sites: 1})
	name := c.WaitLeader("")
	cell := c.Node(name).Cell()
	var want []string
	for i := 0; i < 12; i++ {
		k := fmt.Sprintf("doc-%02d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cell.Put(ctx, "docs", k, bytes.Repeat([]byte{'v'}, 500<<10), replicator.DurabilityCell)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	creds := []string{"--endpoint", c.Node(name).APIAddr(), "--ca", c.Lab.ClientCreds.CA, "--cert", c.Lab.ClientCreds.Cert, "--key", c.Lab.ClientCreds.Key}
	ls := func(args ...string) []string { return append(append([]string{"ls"}, creds...), args...) }

	t.Run("every key", func(t *testing.T) {
		out, _, err := runSplit(t, ls("--limit", "0", "docs")...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := out, strings.Join(want, "\n")+"\n"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("limit, then resume", func(t *testing.T) {
		out, errOut, err := runSplit(t, ls("--limit", "5", "docs")...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := out, strings.Join(want[:5], "\n")+"\n"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		_, tok, ok := strings.Cut(strings.TrimSpace(errOut), "--after ")
		if !ok || tok == "" {
			t.Fatalf("got stderr %q, want the token to resume with", errOut)
		}
		out, _, err = runSplit(t, ls("--limit", "0", "--after", tok, "docs")...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := out, strings.Join(want[5:], "\n")+"\n"; got != want {
			t.Fatalf("resumed: got %q, want %q", got, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		out, _, err := runSplit(t, ls("--json", "--limit", "7", "docs")...)
		if err != nil {
			t.Fatal(err)
		}
		var res api.ListResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("got %.100q: %v", out, err)
		}
		if len(res.Items) != 7 || res.Next == "" || len(res.Items[6].Value) != 500<<10 {
			t.Fatalf("got %d items, next %q, want 7 items with values and a next token", len(res.Items), res.Next)
		}
	})
	t.Run("negative limit is a usage error", func(t *testing.T) {
		_, _, err := runSplit(t, ls("--limit", "-1", "docs")...)
		var ee *exitError
		if err == nil || errors.As(err, &ee) {
			t.Fatalf("got %v, want a usage error (exit 2)", err)
		}
	})
	t.Run("bad token fails with exit 1", func(t *testing.T) {
		_, _, err := runSplit(t, ls("--after", "not a token", "docs")...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, api.ErrBadRequest) {
			t.Fatalf("got %v, want exit 1 with ErrBadRequest", err)
		}
	})
}
