package main

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/pki"
)

func TestRun_CertsRevoke(t *testing.T) {
	ctx := context.Background()
	dir, other := t.TempDir(), t.TempDir()
	for _, args := range [][]string{
		{"certs", "init", "--dir", dir},
		{"certs", "issue", "--dir", dir, "--role", "site", "--region", "monaco", "--name", "mc-1"},
		{"certs", "issue", "--dir", dir, "--role", "client", "--region", "monaco", "--name", "ops"},
		{"certs", "init", "--dir", other},
		{"certs", "issue", "--dir", other, "--role", "site", "--region", "monaco", "--name", "mc-1"},
	} {
		if err := run(ctx, args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	certOf := func(tb testing.TB, dir, name string) string {
		tb.Helper()
		m, _ := filepath.Glob(filepath.Join(dir, "*"+name+"*.crt"))
		if len(m) != 1 {
			tb.Fatalf("certificate of %s in %s: got %v, want one file", name, dir, m)
		}
		return m[0]
	}
	site, client := certOf(t, dir, "mc-1"), certOf(t, dir, "ops")

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"nothing named", []string{"--dir", dir}, "--cert FILE or --serial HEX"},
			{"bad serial", []string{"--dir", dir, "--serial", "xyz"}, `--serial "xyz": want the certificate's serial number in hex`},
			{"foreign certificate", []string{"--dir", dir, "--cert", certOf(t, other, "mc-1")}, "was not issued by this CA"},
			{"missing file", []string{"--dir", dir, "--cert", filepath.Join(dir, "nope.crt")}, "nope.crt"},
		} {
			err := run(ctx, append([]string{"certs", "revoke"}, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, pki.CRLFile)); !os.IsNotExist(err) {
			t.Errorf("a refused revoke wrote %s (stat: %v)", pki.CRLFile, err)
		}
	})

	t.Run("cert then serial", func(t *testing.T) {
		if err := run(ctx, []string{"certs", "revoke", "--dir", dir, "--cert", site}); err != nil {
			t.Fatal(err)
		}
		cs := readCert(t, client)
		if err := run(ctx, []string{"certs", "revoke", "--dir", dir, "--serial", "0x" + cs.SerialNumber.Text(16)}); err != nil {
			t.Fatal(err)
		}
		ca, err := pki.LoadCA(dir)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, pki.CRLFile))
		if err != nil {
			t.Fatal(err)
		}
		crl, err := pki.ParseCRL(data, []*x509.Certificate{ca.Certificate()})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range crl.RevokedCertificateEntries {
			got = append(got, e.SerialNumber.Text(16))
		}
		want := []string{readCert(t, site).SerialNumber.Text(16), cs.SerialNumber.Text(16)}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("revoked serials: got %v, want %v (the first revoke kept)", got, want)
		}
		if got, want := crl.Number.Int64(), int64(2); got != want {
			t.Errorf("CRL number: got %d, want %d", got, want)
		}
	})
}

func readCert(tb testing.TB, file string) *x509.Certificate {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		tb.Fatal(err)
	}
	return certs[0]
}
