package node_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/node"
)

// joined returns the errors err joins (err alone if it joins none).
func joined(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestConfig_Validate(t *testing.T) {
	t.Run("every error", func(t *testing.T) {
		// Three independent mistakes: each must be reported, not only the
		// first (the site's own checks wait for node.name).
		yaml := strings.NewReplacer(
			"name: site-a,", "",
			`api: "127.0.0.1:8001"`, `api: "nowhere"`,
		).Replace(validYAML) + "log: {level: loud}\n"
		_, err := node.LoadConfig(writeConfig(t, yaml), nil)
		wants := []string{"node.name is required", `listen.api "nowhere"`, `log.level "loud"`}
		got := joined(err)
		if len(got) != len(wants) {
			t.Fatalf("got %d errors, want %d:\n%v", len(got), len(wants), err)
		}
		for i, want := range wants {
			if !strings.Contains(got[i].Error(), want) {
				t.Errorf("error %d: got %q, want it to mention %q", i, got[i], want)
			}
		}
	})
	t.Run("the role's checks too", func(t *testing.T) {
		yaml := strings.NewReplacer(
			"keyring: {file: k.json, kek_file: kek}", "keyring: {}",
			"sites: [site-a, site-b]", "sites: [site-a, site-b, site-c]",
		).Replace(validYAML) + "log: {format: xml}\n"
		_, err := node.LoadConfig(writeConfig(t, yaml), nil)
		wants := []string{`log.format "xml"`, `cell.sites names "site-c"`, "keyring.file is required"}
		got := joined(err)
		if len(got) != len(wants) {
			t.Fatalf("got %d errors, want %d:\n%v", len(got), len(wants), err)
		}
		for i, want := range wants {
			if !strings.Contains(got[i].Error(), want) {
				t.Errorf("error %d: got %q, want it to mention %q", i, got[i], want)
			}
		}
	})
	t.Run("the role's checks wait for a valid role", func(t *testing.T) {
		cfg := node.DefaultConfig()
		cfg.Node = node.NodeConfig{Name: "site-a", Role: "emperor", Region: "monaco", DataDir: "/tmp/x"}
		cfg.Listen.QUIC, cfg.Listen.API = "127.0.0.1:7001", "127.0.0.1:8001"
		cfg.TLS = node.TLSConfig{CA: "ca.crt", Cert: "a.crt", Key: "a.key"}
		got := joined(cfg.Validate())
		if len(got) != 1 || !strings.Contains(got[0].Error(), "node.role") {
			t.Fatalf("got %v, want the node.role error alone (not the missing cell.sites and keyring of a site)", got)
		}
	})
	t.Run("valid", func(t *testing.T) {
		if _, err := node.LoadConfig(writeConfig(t, validYAML), nil); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
}
