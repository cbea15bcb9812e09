package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/node"
)

const validYAML = `
node: {name: site-a, role: site, region: monaco, data_dir: /tmp/x}
listen: {quic: "127.0.0.1:7001", api: "127.0.0.1:8001"}
tls: {ca: ca.crt, cert: a.crt, key: a.key}
peers:
  - {name: site-b, addr: "127.0.0.1:7002"}
cell: {sites: [site-a, site-b]}
keyring: {file: k.json, kek_file: kek}
`

func writeConfig(tb testing.TB, body string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "jumeau.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLoadConfig_Valid(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Raft.ElectionTimeout, node.DefaultConfig().Raft.ElectionTimeout; got != want {
		t.Fatalf("raft.election_timeout: got %v, want default %v", got, want)
	}
	if got, want := cfg.Peers[0].Name, "site-b"; got != want {
		t.Fatalf("peers[0].name: got %q, want %q", got, want)
	}
}

func TestLoadConfig_Env(t *testing.T) {
	t.Setenv("JUMEAU_RAFT_ELECTION_TIMEOUT", "750ms")
	t.Setenv("JUMEAU_LOG_LEVEL", "debug")
	cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Raft.ElectionTimeout, 750*time.Millisecond; got != want {
		t.Fatalf("election timeout from env: got %v, want %v", got, want)
	}
	if got, want := cfg.Log.Level, "debug"; got != want {
		t.Fatalf("log level from env: got %q, want %q", got, want)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", validYAML + "raft: {heartbeat: 1s}\n", "heartbeat"},
		{"unknown section", validYAML + "colour: blue\n", "colour"},
		{"bad duration", validYAML + "api: {request_timeout: soon}\n", "request_timeout"},
		{"missing name", strings.Replace(validYAML, "name: site-a,", "", 1), "node.name"},
		{"bad role", strings.Replace(validYAML, "role: site", "role: emperor", 1), "node.role"},
		{"twin not yet", strings.Replace(validYAML, "role: site", "role: twin", 1), "role: site"},
		{"site without address", strings.Replace(validYAML, "sites: [site-a, site-b]", "sites: [site-a, site-b, site-c]", 1), "site-c"},
		{"bad address", strings.Replace(validYAML, `quic: "127.0.0.1:7001"`, `quic: "nowhere"`, 1), "listen.quic"},
		{"bad log level", validYAML + "log: {level: loud}\n", "log.level"},
		{"pprof without metrics", strings.Replace(validYAML, `api: "127.0.0.1:8001"}`, `api: "127.0.0.1:8001", pprof: true}`, 1), "listen.pprof"},
		{"not yaml", "node: [\n", "config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
