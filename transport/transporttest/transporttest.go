// Package transporttest gives tests real QUIC endpoints on 127.0.0.1 with
// mutual TLS from a throwaway CA, resolving each other by node name.
package transporttest

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
)

// Net is a CA and a name -> address registry shared by its endpoints.
type Net struct {
	tb    testing.TB
	ca    *pki.CA
	caDir string
	mu    sync.Mutex
	addrs map[string]string
}

// New makes a CA in a temporary directory.
func New(tb testing.TB) *Net {
	tb.Helper()
	n := &Net{tb: tb, caDir: filepath.Join(tb.TempDir(), "ca"), addrs: map[string]string{}}
	var err error
	if n.ca, err = pki.InitCA(n.caDir, "test CA"); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Endpoint starts an endpoint for id with the default policy, closed at
// cleanup; other endpoints of n reach it by id.Name.
func (n *Net) Endpoint(id pki.Identity) *transport.Endpoint {
	n.tb.Helper()
	certFile, keyFile, err := n.ca.IssueFiles(n.tb.TempDir(), id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		n.tb.Fatal(err)
	}
	m, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(n.caDir, pki.CACertFile), Cert: certFile, Key: keyFile})
	if err != nil {
		n.tb.Fatal(err)
	}
	cfg := transport.DefaultConfig()
	cfg.Listen, cfg.TLS = "127.0.0.1:0", m
	cfg.Resolve = func(peer string) (string, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if a, ok := n.addrs[peer]; ok {
			return a, nil
		}
		return "", fmt.Errorf("transporttest: no endpoint named %s", peer)
	}
	ep, err := transport.Listen(cfg)
	if err != nil {
		n.tb.Fatal(err)
	}
	n.tb.Cleanup(func() { _ = ep.Close() })
	n.mu.Lock()
	n.addrs[id.Name] = ep.Addr().String()
	n.mu.Unlock()
	return ep
}
