package api

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// nopBackend serves no key.
type nopBackend struct{}

func (nopBackend) Put(context.Context, string, string, []byte, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, replicator.ErrNotFound
}

func (nopBackend) Delete(context.Context, string, string, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, replicator.ErrNotFound
}

func (nopBackend) Get(context.Context, string, string, replicator.Consistency) ([]byte, error) {
	return nil, replicator.ErrNotFound
}

func (nopBackend) List(context.Context, string, replicator.ListQuery, replicator.Consistency, func(replicator.KV) error) (replicator.ListPage, error) {
	return replicator.ListPage{}, nil
}

func h2Material(tb testing.TB, dir string, ca *pki.CA, id pki.Identity) *pki.Material {
	tb.Helper()
	cert, key, err := ca.IssueFiles(filepath.Join(dir, id.Name), id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(dir, "ca.crt"), Cert: cert, Key: key})
	if err != nil {
		tb.Fatal(err)
	}
	return mat
}

// The client speaks HTTP/2 with a server that offers it, through its own
// TLS dial.
func TestNewClient_HTTP2(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.InitCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(Config{Listen: "127.0.0.1:0", TLS: h2Material(t, dir, ca, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-a"}),
		Backend: nopBackend{}, Status: func() any { return map[string]string{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close the server: %v", err)
		}
	})
	c, err := NewClient(srv.Addr(), h2Material(t, dir, ca, pki.Identity{Role: pki.RoleClient, Region: "monaco", Name: "app"}), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.eps[0].base+"/v1/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.eps[0].hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.ProtoMajor, 2; got != want {
		t.Fatalf("protocol: got HTTP/%d, want HTTP/%d", got, want)
	}
	var st map[string]string
	if err := c.Status(ctx, &st); err != nil {
		t.Fatalf("status over HTTP/2: %v", err)
	}
}
