package replicator_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport"
)

// probeEndpoint is an endpoint presenting mat that dials every node of c
// at its own QUIC address.
func probeEndpoint(tb testing.TB, c *cluster.Cluster, mat *pki.Material) *transport.Endpoint {
	tb.Helper()
	tc := transport.DefaultConfig()
	tc.Listen, tc.TLS = "127.0.0.1:0", mat
	tc.HandshakeTimeout = 3 * time.Second
	tc.Resolve = func(name string) (string, error) {
		n, err := c.Lab.Node(name)
		if err != nil {
			return "", err
		}
		return n.QUIC, nil
	}
	ep, err := transport.Listen(tc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ep.Close() })
	return ep
}

// siteMaterial is the TLS material of a site of c, from its config.
func siteMaterial(tb testing.TB, c *cluster.Cluster, name string) *pki.Material {
	tb.Helper()
	n, err := c.Lab.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := node.LoadConfig(n.Config, nil)
	if err != nil {
		tb.Fatal(err)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key})
	if err != nil {
		tb.Fatal(err)
	}
	return mat
}

// issuedMaterial is TLS material for id issued by c's own CA.
func issuedMaterial(tb testing.TB, c *cluster.Cluster, id pki.Identity) *pki.Material {
	tb.Helper()
	caDir := filepath.Dir(c.Lab.ClientCreds.CA)
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		tb.Fatal(err)
	}
	cert, key, err := ca.IssueFiles(tb.TempDir(), id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: cert, Key: key})
	if err != nil {
		tb.Fatal(err)
	}
	return mat
}

// TestProbeForward: the probe speaks the forwarding protocol (a voter of
// the cell gets values and writes), and a certificate of the cell's CA for
// a name outside the cell gets no answer at all.
func TestProbeForward(t *testing.T) {
	c := cluster.New(t, cluster.Options{})
	leader := c.WaitLeader("")
	want := putN(t, c, leader, "fp", 3)
	var member, other string
	for _, s := range c.Sites() {
		if s != leader {
			if member == "" {
				member = s
			} else {
				other = s
			}
		}
	}
	ctx := ctxT(t, 30*time.Second)

	t.Run("a voter is served", func(t *testing.T) {
		ep := probeEndpoint(t, c, siteMaterial(t, c, member))
		ans, err := replicator.ProbeForward(ctx, ep, leader, replicator.ForwardRequest{Op: replicator.ForwardList, Namespace: "test", Prefix: "fp-", Limit: 10})
		if err != nil || ans.Err != nil {
			t.Fatalf("list: got %v, %v; want an answer", err, ans.Err)
		}
		if got := len(ans.KVs); got != len(want) {
			t.Fatalf("list: got %d values, want %d", got, len(want))
		}
		for _, kv := range ans.KVs {
			if got, want := string(kv.Value), string(want[kv.Key]); got != want {
				t.Errorf("list %s: got %q, want %q", kv.Key, got, want)
			}
		}
		ans, err = replicator.ProbeForward(ctx, ep, leader, replicator.ForwardRequest{Op: replicator.ForwardGet, Namespace: "test", Key: "fp-0001"})
		if err != nil || ans.Err != nil || len(ans.KVs) != 1 || string(ans.KVs[0].Value) != string(want["fp-0001"]) {
			t.Fatalf("get: got %+v, %v; want the value of fp-0001", ans, err)
		}
		ans, err = replicator.ProbeForward(ctx, ep, leader, replicator.ForwardRequest{Op: replicator.ForwardPut, Namespace: "test", Key: "fp-put", Value: []byte("forwarded")})
		if err != nil || ans.Err != nil || ans.WALIndex == 0 {
			t.Fatalf("put: got %+v, %v; want a WAL index", ans, err)
		}
		v, err := c.Node(leader).Cell().Get(ctx, "test", "fp-put", replicator.Linearizable)
		if got, want := string(v), "forwarded"; err != nil || got != want {
			t.Fatalf("read back: got %q, %v; want %q", got, err, want)
		}
		ans, err = replicator.ProbeForward(ctx, ep, other, replicator.ForwardRequest{Op: replicator.ForwardList, Namespace: "test"})
		if err != nil || !errors.Is(ans.Err, replicator.ErrNotLeader) {
			t.Fatalf("list on follower %s: got %+v, %v; want an ErrNotLeader answer", other, ans, err)
		}
	})

	t.Run("a non-member is refused in the handshake", func(t *testing.T) {
		ep := probeEndpoint(t, c, issuedMaterial(t, c, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-z"}))
		ans, err := replicator.ProbeForward(ctx, ep, leader, replicator.ForwardRequest{Op: replicator.ForwardList, Namespace: "test", Limit: 10})
		var te *quic.TransportError
		if !errors.As(err, &te) || !te.Remote || !te.ErrorCode.IsCryptoError() {
			t.Fatalf("got %+v, %v; want no answer, a TLS alert from %s", ans, err, leader)
		}
		if len(ans.KVs) != 0 {
			t.Fatalf("got %d values, want none", len(ans.KVs))
		}
	})

	t.Run("an unknown op is not sent", func(t *testing.T) {
		ep := probeEndpoint(t, c, siteMaterial(t, c, member))
		if _, err := replicator.ProbeForward(context.Background(), ep, leader, replicator.ForwardRequest{Op: 99}); !errors.Is(err, replicator.ErrBadRequest) {
			t.Fatalf("got %v, want ErrBadRequest", err)
		}
	})
}
