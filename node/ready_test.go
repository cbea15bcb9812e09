package node_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
)

// probeT asks a node's plain metrics listener for path and decodes the
// answer.
func probeT(tb testing.TB, n *node.Node, path string) (int, node.Readiness) {
	tb.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + n.MetricsAddr() + path)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var r node.Readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		tb.Fatalf("GET %s: decode: %v", path, err)
	}
	return resp.StatusCode, r
}

// waitProbe polls path on n until it answers want (or 30 s pass).
func waitProbe(tb testing.TB, n *node.Node, path string, want int) node.Readiness {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, r := probeT(tb, n, path)
		if code == want {
			return r
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: got %d %+v for 30s, want %d", path, code, r, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNode_Probes(t *testing.T) {
	c := cluster.New(t, cluster.Options{Sites: 2, Twin: true, Witness: true})
	leader := c.WaitLeader("")
	t.Run("ready", func(t *testing.T) {
		for _, name := range c.Names() {
			n := c.Node(name)
			r := waitProbe(t, n, "/readyz", http.StatusOK)
			if !r.Ready || r.Mode == "" || r.Reason == "" {
				t.Errorf("%s /readyz: got %+v, want ready with its mode and why", name, r)
			}
			if code, _ := probeT(t, n, "/livez"); code != http.StatusOK {
				t.Errorf("%s /livez: got %d, want 200", name, code)
			}
		}
	})
	t.Run("quorum lost", func(t *testing.T) {
		var follower string
		for _, s := range c.Sites() {
			if s != leader {
				follower = s
			}
		}
		c.Stop(follower)
		r := waitProbe(t, c.Node(leader), "/readyz", http.StatusServiceUnavailable)
		if r.Ready || !strings.Contains(r.Reason, "no leader") {
			t.Errorf("%s /readyz with its follower down: got %+v, want not ready: no leader", leader, r)
		}
		tw := waitProbe(t, c.Twin(), "/readyz", http.StatusServiceUnavailable)
		if tw.Ready || !strings.Contains(tw.Reason, "no primary site ships") {
			t.Errorf("twin /readyz with the cell down: got %+v, want not ready: nobody ships", tw)
		}
		if code, w := probeT(t, c.Node(c.WitnessName()), "/readyz"); code != http.StatusOK || !w.Ready {
			t.Errorf("witness /readyz: got %d %+v, want ready (it holds the epoch)", code, w)
		}
		if code, _ := probeT(t, c.Node(leader), "/livez"); code != http.StatusOK {
			t.Errorf("%s /livez: got %d, want 200 (alive, not ready)", leader, code)
		}
	})
}
