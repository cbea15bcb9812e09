package api_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// testPKI is a deployment CA on disk (its revocation list is watched by
// every Material loaded from its ca.crt).
type testPKI struct {
	dir string
	ca  *pki.CA
}

func newTestPKI(tb testing.TB) *testPKI {
	tb.Helper()
	dir := tb.TempDir()
	ca, err := pki.InitCA(dir, "test CA")
	if err != nil {
		tb.Fatal(err)
	}
	return &testPKI{dir: dir, ca: ca}
}

// material issues a certificate for id and loads it with the CA.
func (p *testPKI) material(tb testing.TB, id pki.Identity) *pki.Material {
	tb.Helper()
	out := filepath.Join(p.dir, string(id.Role)+"-"+id.Name)
	cert, key, err := p.ca.IssueFiles(out, id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(p.dir, "ca.crt"), Cert: cert, Key: key})
	if err != nil {
		tb.Fatal(err)
	}
	return mat
}

func clientID(name string) pki.Identity {
	return pki.Identity{Role: pki.RoleClient, Region: "monaco", Name: name}
}

// memBackend is an in-memory key-value Backend.
type memBackend struct {
	mu sync.Mutex
	kv map[string][]byte
	n  uint64
}

func (b *memBackend) Put(_ context.Context, ns, key string, value []byte, _ replicator.Durability) (replicator.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv == nil {
		b.kv = map[string][]byte{}
	}
	b.n++
	b.kv[ns+"/"+key] = value
	return replicator.Result{RaftIndex: b.n, WALIndex: b.n}, nil
}

func (b *memBackend) Delete(_ context.Context, ns, key string, _ replicator.Durability) (replicator.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	delete(b.kv, ns+"/"+key)
	return replicator.Result{RaftIndex: b.n, WALIndex: b.n}, nil
}

func (b *memBackend) Get(_ context.Context, ns, key string, _ replicator.Consistency) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.kv[ns+"/"+key]
	if !ok {
		return nil, replicator.ErrNotFound
	}
	return v, nil
}

func (b *memBackend) List(context.Context, string, replicator.ListQuery, replicator.Consistency, func(replicator.KV) error) (replicator.ListPage, error) {
	return replicator.ListPage{}, nil
}

// testServer is a real api.Server on 127.0.0.1 with a site certificate
// of p, and a registry holding its collectors.
type testServer struct {
	srv *api.Server
	reg *prometheus.Registry
	p   *testPKI
}

func startServer(tb testing.TB, p *testPKI, lim api.Limits) *testServer {
	tb.Helper()
	mat := p.material(tb, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-a"})
	srv, err := api.Listen(api.Config{
		Listen: "127.0.0.1:0", TLS: mat, Backend: &memBackend{}, Status: func() any { return map[string]string{"ok": "yes"} },
		Promote: func(context.Context, bool) (any, error) { return map[string]bool{"promoted": true}, nil },
		Limits:  lim,
	})
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Collectors()...)
	return &testServer{srv: srv, reg: reg, p: p}
}

// metric returns the value of the series name{labels} (gauge or counter),
// failing if it does not exist.
func (s *testServer) metric(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	tb.Fatalf("no series %s%v", name, labels)
	return 0
}

func (s *testServer) refused(tb testing.TB, reason string) float64 {
	tb.Helper()
	return s.metric(tb, "jumeau_api_connections_refused_total", map[string]string{"reason": reason})
}

func (s *testServer) open(tb testing.TB) float64 {
	tb.Helper()
	return s.metric(tb, "jumeau_api_connections", nil)
}

// waitFor polls cond every 10 ms until it holds, failing after 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsConfig is a client config presenting mat's certificate whatever CAs
// the server names (as api.Client does); nil mat presents none.
func tlsConfig(p *testPKI, mat *pki.Material) *tls.Config {
	if mat == nil {
		// Trust the CA, present no certificate.
		return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p.ca.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
	}
	tc := mat.ClientConfig("127.0.0.1", "http/1.1")
	cert := mat.Certificate
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return tc
}

// rawConn is one HTTP/1.1 keep-alive connection to the server.
type rawConn struct {
	c  *tls.Conn
	br *bufio.Reader
}

// dial connects and runs the TLS handshake (which, in TLS 1.3, completes
// on the client's side before the server has checked its certificate).
func dial(tb testing.TB, addr string, tc *tls.Config) (*rawConn, error) {
	tb.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, tc)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = c.Close() })
	return &rawConn{c: c, br: bufio.NewReader(c)}, nil
}

// do sends one request on the connection and reads the answer (10 s at
// most).
func (r *rawConn) do(method, path, body string) (*http.Response, string, error) {
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
	if _, err := r.c.Write([]byte(req)); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		return nil, "", err
	}
	return resp, b.String(), nil
}

// newClient is an api.Client for the server with mat's credentials.
func newClient(tb testing.TB, s *testServer, mat *pki.Material) *api.Client {
	tb.Helper()
	c, err := api.NewClient(s.srv.Addr(), mat, api.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}
