package node_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/node"
)

func TestLoadConfig_APILimits(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.API.Limits(), api.DefaultLimits(); got != want {
			t.Fatalf("api limits: got %+v, want %+v", got, want)
		}
	})
	t.Run("file and environment", func(t *testing.T) {
		t.Setenv("JUMEAU_API_IDLE_TIMEOUT", "45s")
		cfg, err := node.LoadConfig(writeConfig(t, validYAML+"api: {max_connections: 300, max_connections_per_client: 20, handshake_timeout: 2s}\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := api.Limits{MaxConnections: 300, MaxConnectionsPerClient: 20, HandshakeTimeout: 2 * time.Second, IdleTimeout: 45 * time.Second}
		if got := cfg.API.Limits(); got != want {
			t.Fatalf("api limits: got %+v, want %+v", got, want)
		}
	})
	cases := []struct {
		name, yaml, key string
	}{
		{"no connections", "api: {max_connections: 0}\n", "api.max_connections"},
		{"per client over the node", "api: {max_connections: 10, max_connections_per_client: 11}\n", "api.max_connections_per_client"},
		{"negative handshake", "api: {handshake_timeout: -1s}\n", "api.handshake_timeout"},
		{"idle zero", "api: {idle_timeout: 0s}\n", "api.idle_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, validYAML+tc.yaml), nil)
			if !errors.Is(err, api.ErrInvalidLimits) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("got %v, want ErrInvalidLimits naming %s", err, tc.key)
			}
		})
	}
}

// A started node serves the API's connection metrics from the start, every
// refusal reason at 0.
func TestStart_APIMetrics(t *testing.T) {
	n := startT(t, oneSite(t))
	t.Cleanup(func() { _ = n.Close() })
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" {
					key += "{" + lp.GetValue() + "}"
				}
			}
			got[key] = true
		}
	}
	for _, want := range []string{"jumeau_api_connections", "jumeau_api_connections_refused_total{tls}",
		"jumeau_api_connections_refused_total{node_cap}", "jumeau_api_connections_refused_total{client_cap}"} {
		if !got[want] {
			t.Errorf("series %s: missing from the node's registry", want)
		}
	}
}
