package api_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// refusingBackend answers every request with err (nil: it holds data in
// memory) and counts the requests it got. With block, a write waits for
// its context to end instead.
type refusingBackend struct {
	memBackend
	err   error
	block bool
	calls atomic.Int64
}

func (b *refusingBackend) Put(ctx context.Context, ns, key string, value []byte, d replicator.Durability) (replicator.Result, error) {
	b.calls.Add(1)
	if b.block {
		<-ctx.Done()
		return replicator.Result{}, ctx.Err()
	}
	if b.err != nil {
		return replicator.Result{}, b.err
	}
	return b.memBackend.Put(ctx, ns, key, value, d)
}

func (b *refusingBackend) Get(ctx context.Context, ns, key string, cons replicator.Consistency) ([]byte, error) {
	b.calls.Add(1)
	if b.err != nil {
		return nil, b.err
	}
	return b.memBackend.Get(ctx, ns, key, cons)
}

// startBackend serves b on 127.0.0.1 with a site certificate of p and
// returns its address.
func startBackend(tb testing.TB, p *testPKI, name string, b api.Backend) string {
	tb.Helper()
	mat := p.material(tb, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: name})
	srv, err := api.Listen(api.Config{Listen: "127.0.0.1:0", TLS: mat, Backend: b, Status: func() any { return map[string]string{"name": name} }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			tb.Errorf("close the server: %v", err)
		}
	})
	return srv.Addr()
}

// deadAddr is a 127.0.0.1 address nothing listens on.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

func newMulti(tb testing.TB, p *testPKI, eps []string, timeout time.Duration) *api.Client {
	tb.Helper()
	c, err := api.NewMultiClient(eps, p.material(tb, clientID("app")), api.ClientOptions{Timeout: timeout})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func TestClient_Do(t *testing.T) {
	p := newTestPKI(t)
	t.Run("first endpoint down", func(t *testing.T) {
		live := startBackend(t, p, "site-b", &refusingBackend{})
		dead := deadAddr(t)
		c := newMulti(t, p, []string{dead, live}, 10*time.Second)
		if _, err := c.Put(ctxT(t), "ns", "k", []byte("v"), ""); err != nil {
			t.Fatalf("put with the first endpoint down: %v", err)
		}
		got, err := c.Get(ctxT(t), "ns", "k", false)
		if err != nil {
			t.Fatalf("get with the first endpoint down: %v", err)
		}
		if string(got) != "v" {
			t.Fatalf("got %q, want %q", got, "v")
		}
		if got, want := c.Current(), live; got != want {
			t.Fatalf("current endpoint: got %s, want %s", got, want)
		}
	})
	t.Run("follows the primary past replicas", func(t *testing.T) {
		replica := &refusingBackend{err: replicator.ErrReadOnly}
		fenced := &refusingBackend{err: failover.ErrFenced}
		noLeader := &refusingBackend{err: replicator.ErrNoLeader}
		primary := &refusingBackend{}
		eps := []string{
			startBackend(t, p, "replica", replica), startBackend(t, p, "fenced", fenced),
			startBackend(t, p, "noleader", noLeader), startBackend(t, p, "primary", primary),
		}
		c := newMulti(t, p, eps, 10*time.Second)
		for i := range 3 {
			if _, err := c.Put(ctxT(t), "ns", "k", []byte("v"), ""); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
		// The client remembers the primary: the later writes go to it
		// straight away.
		if got, want := replica.calls.Load(), int64(1); got != want {
			t.Fatalf("requests to the replica: got %d, want %d", got, want)
		}
		if got, want := primary.calls.Load(), int64(3); got != want {
			t.Fatalf("requests to the primary: got %d, want %d", got, want)
		}
	})
	t.Run("every endpoint refuses", func(t *testing.T) {
		a := startBackend(t, p, "replica", &refusingBackend{err: replicator.ErrReadOnly})
		b := startBackend(t, p, "fenced", &refusingBackend{err: failover.ErrFenced})
		dead := deadAddr(t)
		c := newMulti(t, p, []string{a, b, dead}, 10*time.Second)
		_, err := c.Put(ctxT(t), "ns", "k", []byte("v"), "")
		if !errors.Is(err, api.ErrReadOnly) || !errors.Is(err, api.ErrFenced) {
			t.Fatalf("got %v, want an error wrapping ErrReadOnly and ErrFenced", err)
		}
		for _, e := range []string{a, b, dead} {
			if !strings.Contains(err.Error(), e) {
				t.Fatalf("got %q, want it to name endpoint %s", err, e)
			}
		}
	})
	t.Run("write without an answer is not retried elsewhere", func(t *testing.T) {
		hung := &refusingBackend{block: true}
		other := &refusingBackend{}
		eps := []string{startBackend(t, p, "hung", hung), startBackend(t, p, "other", other)}
		c := newMulti(t, p, eps, 300*time.Millisecond)
		_, err := c.Put(ctxT(t), "ns", "k", []byte("v"), "")
		if !errors.Is(err, api.ErrOutcomeUnknown) {
			t.Fatalf("got %v, want ErrOutcomeUnknown", err)
		}
		if got, want := other.calls.Load(), int64(0); got != want {
			t.Fatalf("writes sent to the other node: got %d, want %d", got, want)
		}
	})
	t.Run("one endpoint keeps its error", func(t *testing.T) {
		a := startBackend(t, p, "replica", &refusingBackend{err: replicator.ErrReadOnly})
		c := newMulti(t, p, []string{a}, 10*time.Second)
		_, err := c.Put(ctxT(t), "ns", "k", []byte("v"), "")
		if !errors.Is(err, api.ErrReadOnly) {
			t.Fatalf("got %v, want ErrReadOnly", err)
		}
	})
}

func TestNewMultiClient(t *testing.T) {
	p := newTestPKI(t)
	mat := p.material(t, clientID("app"))
	for _, tc := range []struct {
		name string
		eps  []string
	}{{"none", nil}, {"bad scheme", []string{"127.0.0.1:1", "http://127.0.0.1:2"}}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := api.NewMultiClient(tc.eps, mat, api.ClientOptions{}); !errors.Is(err, api.ErrBadEndpoint) {
				t.Fatalf("got %v, want ErrBadEndpoint", err)
			}
		})
	}
}
