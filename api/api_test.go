package api_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/pki"
)

func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func clientWith(tb testing.TB, addr string, files pki.TLSFiles) *api.Client {
	tb.Helper()
	mat, err := pki.LoadTLS(files)
	if err != nil {
		tb.Fatalf("load tls: %v", err)
	}
	c, err := api.NewClient(addr, mat, api.ClientOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func TestServer_KV(t *testing.T) {
	c := cluster.New(t, cluster.Options{})
	leader := c.WaitLeader("")
	var other string
	for _, n := range c.Names() {
		if n != leader {
			other = n
		}
	}
	cl := c.Client(other)
	ctx := ctxT(t)
	res, err := cl.Put(ctx, "docs", "dir/a b", []byte("hello"), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.WALIndex == 0 || res.RaftIndex == 0 {
		t.Fatalf("got %+v, want non-zero indices", res)
	}
	got, err := cl.Get(ctx, "docs", "dir/a b", false)
	if err != nil || string(got) != "hello" {
		t.Fatalf("get: got %q, %v, want hello", got, err)
	}
	l, err := cl.List(ctx, "docs", "dir/", 10, false)
	if err != nil || len(l.Items) != 1 || l.Items[0].Key != "dir/a b" {
		t.Fatalf("list: got %+v, %v", l, err)
	}
	if _, err := cl.Get(ctx, "docs", "missing", false); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("get missing: got %v, want ErrNotFound", err)
	}
	if _, err := cl.Put(ctx, "docs", "k", nil, "bogus"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("bad durability: got %v, want ErrBadRequest", err)
	}
	if _, err := cl.Put(ctx, "docs", "k", nil, "twin"); !errors.Is(err, api.ErrNoTwin) {
		t.Fatalf("durability=twin without a twin: got %v, want ErrNoTwin", err)
	}
	if _, err := cl.Delete(ctx, "docs", "dir/a b", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, "docs", "dir/a b", false); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("get deleted: got %v, want ErrNotFound", err)
	}
}

func TestServer_Auth(t *testing.T) {
	c := cluster.New(t, cluster.Options{Sites: 1})
	addr := c.Node(c.Names()[0]).APIAddr()
	pkiDir := filepath.Join(c.Lab.Dir, "pki")

	t.Run("site certificate used as a client", func(t *testing.T) {
		cl := clientWith(t, addr, pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: filepath.Join(pkiDir, "site-a.crt"), Key: filepath.Join(pkiDir, "site-a.key")})
		_, err := cl.Put(ctxT(t), "ns", "k", []byte("v"), "")
		if !errors.Is(err, api.ErrForbidden) || !strings.Contains(err.Error(), "role") {
			t.Fatalf("got %v, want ErrForbidden naming the role", err)
		}
	})
	t.Run("certificate from a foreign CA", func(t *testing.T) {
		dir := t.TempDir()
		ca, err := pki.InitCA(dir, "intruder CA")
		if err != nil {
			t.Fatal(err)
		}
		cert, key, err := ca.IssueFiles(dir, pki.Identity{Role: pki.RoleClient, Region: "monaco", Name: "client"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// Present the foreign client certificate, trust the real CA for
		// the server.
		mat, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(dir, "ca.crt"), Cert: cert, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		real, err := pki.LoadTLS(pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: c.Lab.ClientCreds.Cert, Key: c.Lab.ClientCreds.Key})
		if err != nil {
			t.Fatal(err)
		}
		mat.Pool = real.Pool
		cl, err := api.NewClient(addr, mat, api.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		_, err = cl.Get(ctxT(t), "ns", "k", true)
		if !errors.Is(err, api.ErrUnauthenticated) || !strings.Contains(err.Error(), "CA") {
			t.Fatalf("got %v, want ErrUnauthenticated naming the CA", err)
		}
	})
	t.Run("auditor may read status, not keys", func(t *testing.T) {
		ca, err := pki.LoadCA(pkiDir)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cert, key, err := ca.IssueFiles(dir, pki.Identity{Role: pki.RoleAuditor, Region: "monaco", Name: "auditor"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cl := clientWith(t, addr, pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: cert, Key: key})
		var st map[string]any
		if err := cl.Status(ctxT(t), &st); err != nil {
			t.Fatalf("status as auditor: %v", err)
		}
		if _, err := cl.Get(ctxT(t), "ns", "k", true); !errors.Is(err, api.ErrForbidden) {
			t.Fatalf("get as auditor: got %v, want ErrForbidden", err)
		}
	})
}

// A request waiting on a write that cannot commit (no quorum) does not
// hold the server's shutdown: Close cancels it after a grace and returns
// without error (a node restarting in a new mode closes through here).
func TestServer_Close_CancelsStuckRequests(t *testing.T) {
	c := cluster.New(t, cluster.Options{})
	leader := c.WaitLeader("")
	var last string
	for _, n := range c.Names() {
		if n != leader {
			c.Stop(n)
		} else {
			last = n
		}
	}
	cl := c.Client(last)
	// Without a quorum the node has no leader; a write then retries
	// until its deadline (api.request_timeout, 10 s).
	deadline := time.Now().Add(10 * time.Second)
	for c.Node(last).Cell().Leader() != "" {
		if time.Now().After(deadline) {
			t.Fatal("the lone site still sees a leader after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		_, err := cl.Put(ctxT(t), "docs", "stuck", []byte("x"), "")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the write returned before Close: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	n := c.Node(last)
	if err := n.Close(); err != nil {
		t.Fatalf("Close with a stuck request: got %v, want nil (the request cancelled after the grace)", err)
	}
	if err := <-done; err == nil {
		t.Fatal("the stuck write succeeded without a quorum")
	}
}
