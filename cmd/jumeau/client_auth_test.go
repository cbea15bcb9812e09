package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
)

// A certificate the server refuses in its handshake gives the CLI a
// message that says so and how to get one it accepts.
func TestGet_RefusedCertificate(t *testing.T) {
	dir := fakeLabT(t, labDocs(), nil)
	l, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(dir, "pki")
	ca, err := pki.LoadCA(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	cert, key, err := ca.IssueFiles(certDir, pki.Identity{Role: pki.RoleClient, Region: "monaco", Name: "leaver"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(mustRead(t, cert))
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Revoke(pkiDir, certs[0].SerialNumber); err != nil {
		t.Fatal(err)
	}
	// A copy of the CA certificate without the revocation list: the CLI
	// loads the certificate and only the server refuses it.
	caCopy := filepath.Join(certDir, "ca.crt")
	if err := os.WriteFile(caCopy, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	site := l.Nodes[0].API

	t.Run("refused by the server", func(t *testing.T) {
		_, err := runOut(t, "get", "--endpoint", site, "--ca", caCopy, "--cert", cert, "--key", key, "ns", "k")
		if !errors.Is(err, api.ErrUnauthenticated) {
			t.Fatalf("got %v, want ErrUnauthenticated", err)
		}
		for _, w := range []string{"the server refused our client certificate", "client/monaco/leaver", "revoked", "jumeau certs issue --role client"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("got %q, want it to say %q", err, w)
			}
		}
	})
	t.Run("refused before dialing", func(t *testing.T) {
		_, err := runOut(t, "get", "--endpoint", site, "--ca", filepath.Join(pkiDir, "ca.crt"), "--cert", cert, "--key", key, "ns", "k")
		if !errors.Is(err, pki.ErrRevoked) {
			t.Fatalf("got %v, want pki.ErrRevoked (the CLI sees the revocation list next to --ca)", err)
		}
	})
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
