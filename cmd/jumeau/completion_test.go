package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/scenarios"
)

// completeT runs `jumeau __complete args...` as the shell does and
// returns the candidates it printed (without the directive line) and the
// directive.
func completeT(tb testing.TB, args ...string) (candidates []string, directive string) {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	if err := runIO(context.Background(), append([]string{"__complete"}, args...), &stdout, &stderr); err != nil {
		tb.Fatalf("__complete %v: %v\n%s", args, err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		if line != "" {
			candidates = append(candidates, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return candidates, directive
}

func TestAddCompletions_Complete(t *testing.T) {
	fake := fakeLabT(t, labDocs(), nil) // site-a, site-b, lux-1, witness-1
	two := preparedLabT(t)              // site-a, site-b
	nodes := []string{"site-a", "site-b", "lux-1", "witness-1"}
	cases := []struct {
		name string
		args []string
		want []string
		dir  string // the directive line
	}{
		{"drill show", []string{"drill", "show", ""}, scenarios.Builtins(), ":4"},
		{"drill show prefix", []string{"drill", "show", "earthquake-to"}, []string{"earthquake-total"}, ":4"},
		{"drill show second arg", []string{"drill", "show", "earthquake-total", ""}, nil, ":4"},
		{"drill run files too", []string{"drill", "run", ""}, scenarios.Builtins(), ":0"},
		{"failover promote --node", []string{"failover", "promote", "--lab", fake, "--node", ""}, nodes, ":4"},
		{"put --node", []string{"put", "--lab", fake, "--node", "site"}, []string{"site-a", "site-b"}, ":4"},
		{"status --node", []string{"status", "--lab", two, "--node", ""}, []string{"site-a", "site-b"}, ":4"},
		{"--node without a lab", []string{"get", "--node", ""}, nil, ":4"},
		{"--node of a missing lab", []string{"get", "--lab", t.TempDir(), "--node", ""}, nil, ":4"},
		{"lab start", []string{"lab", "start", "--dir", fake, ""}, nodes, ":4"},
		{"lab stop", []string{"lab", "stop", "--dir", two, ""}, []string{"site-a", "site-b"}, ":4"},
		{"lab kill prefix", []string{"lab", "kill", "--dir", fake, "l"}, []string{"lux-1"}, ":4"},
		{"lab restart", []string{"lab", "restart", "--dir", two, "site-b"}, []string{"site-b"}, ":4"},
		{"lab restart second arg", []string{"lab", "restart", "--dir", two, "site-b", ""}, nil, ":4"},
		{"certs issue --role", []string{"certs", "issue", "--role", ""}, []string{"site", "twin", "witness", "client", "auditor", "admin"}, ":4"},
		{"certs issue --role prefix", []string{"certs", "issue", "--role", "a"}, []string{"auditor", "admin"}, ":4"},
		{"put --durability", []string{"put", "--durability", ""}, []string{"cell", "twin"}, ":4"},
		{"del --durability", []string{"del", "--durability", "t"}, []string{"twin"}, ":4"},
		{"bench --durability", []string{"bench", "--durability", ""}, []string{"cell", "twin"}, ":4"},
		{"switchover --to", []string{"failover", "switchover", "--lab", fake, "--to", ""}, []string{"monaco", "luxembourg"}, ":4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, dir := completeT(t, tc.args...)
			if !reflect.DeepEqual(got, tc.want) || dir != tc.dir {
				t.Errorf("got %q %s, want %q %s", got, dir, tc.want, tc.dir)
			}
		})
	}
}

func TestCompletionCmd_Scripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := runIO(context.Background(), []string{"completion", shell}, &stdout, &stderr); err != nil {
				t.Fatalf("completion %s: %v\n%s", shell, err, stderr.String())
			}
			if got := stdout.String(); !strings.Contains(got, "__complete") {
				t.Errorf("completion %s: got a script of %d bytes without __complete, want the dynamic completion script", shell, len(got))
			}
		})
	}
}
