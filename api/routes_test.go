package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/pki"
)

// httpClient is a plain HTTP client with mat's credentials.
func httpClient(tb testing.TB, p *testPKI, mat *pki.Material) *http.Client {
	tb.Helper()
	tr := &http.Transport{TLSClientConfig: tlsConfig(p, mat)}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestServer_Routes_MethodNotAllowed(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{})
	hc := httpClient(t, p, p.material(t, clientID("app")))
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPatch, "/v1/kv/ns/k", http.StatusMethodNotAllowed, "GET, HEAD, PUT, DELETE"},
		{http.MethodPost, "/v1/kv/ns/dir/k", http.StatusMethodNotAllowed, "GET, HEAD, PUT, DELETE"},
		{http.MethodPut, "/v1/status", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/v1/failover/promote", http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, "/v1/nowhere", http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctxT(t), tc.method, "https://"+s.srv.Addr()+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Fatalf("status: got %d, want %d", got, want)
			}
			if got, want := resp.Header.Get("Allow"), tc.allow; got != want {
				t.Errorf("Allow: got %q, want %q", got, want)
			}
			var eb struct{ Error, Code string }
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatalf("body is not a JSON error: %v", err)
			}
			if tc.status != http.StatusMethodNotAllowed {
				return
			}
			if got, want := eb.Code, "method_not_allowed"; got != want {
				t.Errorf("code: got %q, want %q", got, want)
			}
			for _, m := range strings.Split(tc.allow, ", ") {
				if !strings.Contains(eb.Error, m) {
					t.Errorf("error %q does not name the allowed method %s", eb.Error, m)
				}
			}
		})
	}
}

func TestServer_Put_TooLarge(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{})
	mat := p.material(t, clientID("app"))
	t.Run("client", func(t *testing.T) {
		_, err := newClient(t, s, mat).Put(ctxT(t), "ns", "big", make([]byte, api.MaxValueSize+1), "")
		if !errors.Is(err, api.ErrTooLarge) || !strings.Contains(err.Error(), "413") {
			t.Fatalf("got %v, want ErrTooLarge (HTTP 413)", err)
		}
	})
	t.Run("http", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctxT(t), http.MethodPut, "https://"+s.srv.Addr()+"/v1/kv/ns/big", bytes.NewReader(make([]byte, api.MaxValueSize+1)))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := httpClient(t, p, mat).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if got, want := resp.StatusCode, http.StatusRequestEntityTooLarge; got != want {
			t.Fatalf("status: got %d, want %d (%s)", got, want, b)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		if _, err := newClient(t, s, mat).Put(ctxT(t), "ns", "max", make([]byte, api.MaxValueSize), ""); err != nil {
			t.Fatalf("a value of exactly MaxValueSize: %v", err)
		}
	})
}

// A 403 says which role the route needs and how to get a certificate
// with it.
func TestServer_Auth_ForbiddenNamesTheRole(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{})
	client := newClient(t, s, p.material(t, clientID("app")))
	auditor := newClient(t, s, p.material(t, pki.Identity{Role: pki.RoleAuditor, Region: "monaco", Name: "audit"}))
	site := newClient(t, s, p.material(t, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-b"}))
	cases := []struct {
		name string
		call func() error
		want []string
	}{
		{"client on an admin route", func() error { return client.Promote(ctxT(t), false, &struct{}{}) }, []string{"role admin", "--role admin"}},
		{"auditor on a key", func() error { _, err := auditor.Get(ctxT(t), "ns", "k", true); return err }, []string{"role client or admin", "--role client"}},
		{"site on status", func() error { return site.Status(ctxT(t), &struct{}{}) }, []string{"role client, admin or auditor", "--role client"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, api.ErrForbidden) {
				t.Fatalf("got %v, want ErrForbidden", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
	if err := newClient(t, s, p.material(t, pki.Identity{Role: pki.RoleAdmin, Region: "monaco", Name: "ops"})).Promote(ctxT(t), false, &struct{}{}); err != nil {
		t.Fatalf("admin on the admin route: %v", err)
	}
}
