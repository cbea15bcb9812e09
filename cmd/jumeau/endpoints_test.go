package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// kvBackend holds keys in memory, or refuses every request with err.
type kvBackend struct {
	err error
	mu  sync.Mutex
	kv  map[string][]byte
}

func (b *kvBackend) Put(_ context.Context, ns, key string, v []byte, _ replicator.Durability) (replicator.Result, error) {
	if b.err != nil {
		return replicator.Result{}, b.err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv == nil {
		b.kv = map[string][]byte{}
	}
	b.kv[ns+"/"+key] = v
	return replicator.Result{WALIndex: 1, RaftIndex: 1}, nil
}

func (b *kvBackend) Delete(context.Context, string, string, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, b.err
}

func (b *kvBackend) Get(_ context.Context, ns, key string, _ replicator.Consistency) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.kv[ns+"/"+key]
	if !ok {
		return nil, replicator.ErrNotFound
	}
	return v, nil
}

func (b *kvBackend) List(context.Context, string, replicator.ListQuery, replicator.Consistency, func(replicator.KV) error) (replicator.ListPage, error) {
	return replicator.ListPage{}, b.err
}

// kvLab is a lab of two sites, a twin and a witness whose APIs serve the
// given backends; a node without one is down (nothing listens on its
// address). It returns the lab's directory.
func kvLab(tb testing.TB, backends map[string]api.Backend) string {
	tb.Helper()
	dir := tb.TempDir()
	l, err := lab.Prepare(lab.Options{Dir: dir, Binary: "jumeau", Sites: 2, Twin: true, Witness: true})
	if err != nil {
		tb.Fatal(err)
	}
	pkiDir := filepath.Join(dir, "pki")
	for i := range l.Nodes {
		n := &l.Nodes[i]
		b, ok := backends[n.Name]
		if !ok {
			n.API = downAddr(tb)
			continue
		}
		mat, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(pkiDir, "ca.crt"), Cert: filepath.Join(pkiDir, n.Name+".crt"), Key: filepath.Join(pkiDir, n.Name+".key")})
		if err != nil {
			tb.Fatal(err)
		}
		srv, err := api.Listen(api.Config{Listen: "127.0.0.1:0", TLS: mat, Backend: b, Status: func() any { return map[string]string{} }})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		})
		n.API = srv.Addr()
	}
	writeLabJSON(tb, l)
	return dir
}

// downAddr is a 127.0.0.1 address nothing listens on.
func downAddr(tb testing.TB) string {
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

func labNode(tb testing.TB, dir, name string) lab.Node {
	tb.Helper()
	l, err := lab.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := l.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	return *n
}

func TestClientFlags_Endpoints(t *testing.T) {
	live := &kvBackend{}
	dir := kvLab(t, map[string]api.Backend{"site-b": live, lab.TwinName: &kvBackend{err: replicator.ErrReadOnly}})
	l, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	down, up := labNode(t, dir, "site-a").API, labNode(t, dir, "site-b").API
	creds := []string{"--ca", l.ClientCreds.CA, "--cert", l.ClientCreds.Cert, "--key", l.ClientCreds.Key}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"comma-separated, first down", append([]string{"--endpoint", down + "," + up}, creds...)},
		{"repeated, first down", append([]string{"--endpoint", down, "--endpoint", up}, creds...)},
		{"lab, first node down", []string{"--lab", dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := runOut(t, append([]string{"put", "ns", "k", "v"}, tc.args...)...); err != nil {
				t.Fatalf("put: %v\n%s", err, out)
			}
			out, err := runOut(t, append([]string{"get", "ns", "k"}, tc.args...)...)
			if err != nil {
				t.Fatalf("get: %v\n%s", err, out)
			}
			if got, want := out, "v"; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv(envEndpoints, down+","+up)
		t.Setenv(envCA, l.ClientCreds.CA)
		t.Setenv(envCert, l.ClientCreds.Cert)
		t.Setenv(envKey, l.ClientCreds.Key)
		if out, err := runOut(t, "put", "ns", "env", "e"); err != nil {
			t.Fatalf("put: %v\n%s", err, out)
		}
		// A flag wins over its variable.
		_, err := runOut(t, "put", "ns", "env", "e", "--endpoint", down)
		if err == nil || !strings.Contains(err.Error(), down) {
			t.Fatalf("put --endpoint %s: got %v, want a failure naming it", down, err)
		}
	})
	t.Run("every endpoint fails", func(t *testing.T) {
		twin := labNode(t, dir, lab.TwinName).API
		_, err := runOut(t, append([]string{"put", "ns", "k", "v", "--endpoint", down + "," + twin}, creds...)...)
		if err == nil {
			t.Fatal("put: got success, want a failure")
		}
		for _, w := range []string{down, twin, "nothing listens", "read-only"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("got %q, want it to say %q", err, w)
			}
		}
	})
}

// After a region failover the sites are replicas and the twin is the
// primary: put --lab finds it.
func TestClientFlags_LabAfterPromotion(t *testing.T) {
	twin := &kvBackend{}
	ro := replicator.ErrReadOnly
	dir := kvLab(t, map[string]api.Backend{"site-a": &kvBackend{err: ro}, "site-b": &kvBackend{err: ro}, lab.TwinName: twin})
	if out, err := runOut(t, "put", "--lab", dir, "ns", "k", "v"); err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	if got, want := string(twin.kv["ns/k"]), "v"; got != want {
		t.Fatalf("twin holds %q, want %q", got, want)
	}
}
