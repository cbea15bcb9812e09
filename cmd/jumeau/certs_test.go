package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

func TestCertsIssue_RefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if code, out, err := runT(t, "certs", "init", "--dir", dir); code != exitOK {
		t.Fatalf("certs init: %v\n%s", err, out)
	}
	issue := func(tb testing.TB, extra ...string) (exitStatus, string, error) {
		tb.Helper()
		return runT(tb, append([]string{"certs", "issue", "--dir", dir, "--role", "site", "--region", "monaco", "--name", "site-a"}, extra...)...)
	}
	if code, out, err := issue(t, "--host", "10.0.0.1", "--host", "site-a.example"); code != exitOK {
		t.Fatalf("first issue: %v\n%s", err, out)
	}
	certFile, keyFile := pki.IssuedFiles(dir, "site-a")
	first := readCert(t, certFile)

	t.Run("refused without force", func(t *testing.T) {
		code, _, err := issue(t, "--host", "127.0.0.1")
		if got, want := code, exitFailure; got != want {
			t.Fatalf("exit status: got %d (%v), want %d", got, err, want)
		}
		if !errors.Is(err, errCertExists) {
			t.Fatalf("got %v, want %v", err, errCertExists)
		}
		for _, want := range []string{certFile, keyFile, "--force", first.SerialNumber.Text(16), "10.0.0.1", "site-a.example"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to name %q", err, want)
			}
		}
		if got, want := readCert(t, certFile).SerialNumber, first.SerialNumber; got.Cmp(want) != 0 {
			t.Errorf("certificate serial: got %x, want %x (the file untouched)", got, want)
		}
	})
	t.Run("refused when only the key exists", func(t *testing.T) {
		if err := os.Remove(certFile); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(certFile, pemCert(first), 0o644); err != nil {
				t.Fatal(err)
			}
		}()
		_, _, err := issue(t)
		if !errors.Is(err, errCertExists) || !strings.Contains(err.Error(), keyFile) {
			t.Fatalf("got %v, want %v naming %s", err, errCertExists, keyFile)
		}
		if _, err := os.Stat(certFile); !os.IsNotExist(err) {
			t.Errorf("a refused issue wrote %s (stat: %v)", certFile, err)
		}
	})
	t.Run("force replaces", func(t *testing.T) {
		if err := os.WriteFile(certFile, pemCert(first), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, err := issue(t, "--force", "--host", "10.0.0.1", "--json")
		if code != exitOK {
			t.Fatalf("issue --force: %v\n%s", err, out)
		}
		var res issueResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("stdout %q: %v", out, err)
		}
		now := readCert(t, certFile)
		if now.SerialNumber.Cmp(first.SerialNumber) == 0 {
			t.Fatalf("serial: got %x again, want a new certificate", now.SerialNumber)
		}
		if got, want := res.Serial, now.SerialNumber.Text(16); got != want {
			t.Errorf("serial printed: got %s, want %s", got, want)
		}
		if res.Replaced == nil || res.Replaced.Serial != first.SerialNumber.Text(16) || !slices.Contains(res.Replaced.Hosts, "site-a.example") {
			t.Errorf("replaced: got %+v, want serial %x with host site-a.example", res.Replaced, first.SerialNumber)
		}
	})
	t.Run("force says which hosts are dropped", func(t *testing.T) {
		_, out, err := issue(t, "--force", "--host", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if want := "the new certificate no longer serves 10.0.0.1"; !strings.Contains(out, want) {
			t.Errorf("output: got %q, want it to contain %q", out, want)
		}
	})
}

// pemCert is cert as a PEM file.
func pemCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func TestCerts_JSON(t *testing.T) {
	dir := t.TempDir()
	code, out, err := runT(t, "certs", "init", "--dir", dir, "--json")
	var ca caResult
	if code != exitOK || json.Unmarshal([]byte(out), &ca) != nil || ca.Cert != filepath.Join(dir, pki.CACertFile) || ca.Serial == "" {
		t.Fatalf("certs init --json: got %d %q (%v), want the CA's files and serial", code, out, err)
	}
	if code, out, err := runT(t, "certs", "issue", "--dir", dir, "--role", "client", "--region", "monaco", "--name", "ops"); code != exitOK {
		t.Fatalf("certs issue: %v\n%s", err, out)
	}
	certFile, _ := pki.IssuedFiles(dir, "ops")
	code, out, err = runT(t, "certs", "revoke", "--dir", dir, "--cert", certFile, "--json")
	var rev revokeResult
	if code != exitOK || json.Unmarshal([]byte(out), &rev) != nil {
		t.Fatalf("certs revoke --json: got %d %q (%v)", code, out, err)
	}
	want := revokeResult{Revoked: []revokedEntry{{Serial: readCert(t, certFile).SerialNumber.Text(16), Identity: "client/monaco/ops", File: certFile}}, CRL: filepath.Join(dir, pki.CRLFile)}
	if !reflect.DeepEqual(rev, want) {
		t.Errorf("got %+v, want %+v", rev, want)
	}
}
