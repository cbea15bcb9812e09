package api_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/pki"
)

// Every certificate the handshake refuses gives the Go client (and so the
// CLI) an ErrUnauthenticated that says what is wrong and how to fix it.
func TestClient_ExplainRefusedCertificate(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{})
	good := p.material(t, clientID("app"))

	foreign := func(tb testing.TB) *pki.Material {
		other := newTestPKI(tb)
		mat := other.material(tb, clientID("intruder"))
		mat.Pool = good.Pool // trust the real server
		return mat
	}
	expired := func(tb testing.TB) *pki.Material {
		certPEM, keyPEM, err := p.ca.Issue(clientID("late"), nil, time.Millisecond)
		if err != nil {
			tb.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			tb.Fatal(err)
		}
		waitFor(tb, "the certificate expires", func() bool { return time.Now().After(cert.Leaf.NotAfter) })
		return &pki.Material{Certificate: cert, Pool: good.Pool, Identity: clientID("late")}
	}
	revoked := func(tb testing.TB) *pki.Material {
		mat := p.material(tb, clientID("gone"))
		if err := p.ca.Revoke(p.dir, mat.Certificate.Leaf.SerialNumber); err != nil {
			tb.Fatal(err)
		}
		return mat
	}
	// A client whose CA file has no revocation list next to it cannot
	// tell a revocation from the server's other refusals.
	revokedUnseen := func(tb testing.TB) *pki.Material {
		mat := p.material(tb, clientID("gone-too"))
		if err := p.ca.Revoke(p.dir, mat.Certificate.Leaf.SerialNumber); err != nil {
			tb.Fatal(err)
		}
		dir := tb.TempDir()
		ca := filepath.Join(dir, "ca.crt")
		if err := os.WriteFile(ca, p.ca.CertPEM(), 0o644); err != nil {
			tb.Fatal(err)
		}
		cert, key := filepath.Join(p.dir, "client-gone-too", "gone-too.crt"), filepath.Join(p.dir, "client-gone-too", "gone-too.key")
		m, err := pki.LoadTLS(pki.TLSFiles{CA: ca, Cert: cert, Key: key})
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name string
		mat  func(testing.TB) *pki.Material
		want []string
	}{
		{"no certificate", func(testing.TB) *pki.Material { return &pki.Material{Pool: good.Pool} }, []string{"requires a client certificate and received none", "--role client"}},
		{"foreign CA", foreign, []string{"intruder", "not signed by this deployment's CA", "--role client"}},
		{"expired", expired, []string{"late", "expired", "renew"}},
		{"revoked", revoked, []string{"gone", "it is revoked", "--role client"}},
		{"revoked, list not seen by the client", revokedUnseen, []string{"gone-too", "may be revoked", "--role client"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newClient(t, s, tc.mat(t)).Get(ctxT(t), "ns", "k", false)
			if !errors.Is(err, api.ErrUnauthenticated) {
				t.Fatalf("got %v, want ErrUnauthenticated", err)
			}
			var oe *net.OpError
			if !errors.As(err, &oe) {
				t.Errorf("got %v, want it to wrap the TLS error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
	if _, err := newClient(t, s, good).Get(ctxT(t), "ns", "k", false); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a good certificate: got %v, want ErrNotFound (it gets through)", err)
	}
}

func TestClient_ExplainTransport(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p, api.Limits{})
	t.Run("server certificate from another CA", func(t *testing.T) {
		other := newTestPKI(t)
		_, err := newClient(t, s, other.material(t, clientID("app"))).Get(ctxT(t), "ns", "k", false)
		var cve *tls.CertificateVerificationError
		if !errors.As(err, &cve) || !strings.Contains(err.Error(), "not signed by the CA you passed (--ca)") {
			t.Fatalf("got %v, want a certificate verification error naming --ca", err)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		c, err := api.NewClient(addr, p.material(t, clientID("app")), api.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Get(ctxT(t), "ns", "k", false); err == nil || !strings.Contains(err.Error(), "nothing listens there") {
			t.Fatalf("got %v, want an error saying nothing listens there", err)
		}
	})
}
