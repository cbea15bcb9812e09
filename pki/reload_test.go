package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// servedSerial is the serial of the certificate server presents to a
// client of the same CA (and the one client presents, as the server saw
// it).
func servedSerial(tb testing.TB, server, client *Material) (srv, cli string) {
	tb.Helper()
	s, c, srvErr, cliErr := handshake(tb, server.ServerConfig(), client.ClientConfig(""))
	if srvErr != nil || cliErr != nil {
		tb.Fatalf("handshake: server %v, client %v", srvErr, cliErr)
	}
	return c.PeerCertificates[0].SerialNumber.Text(16), s.PeerCertificates[0].SerialNumber.Text(16)
}

func TestMaterial_Reload(t *testing.T) {
	ca, caDir := newCA(t)
	dir := t.TempDir()
	id := Identity{RoleSite, "monaco", "site-a"}
	issue := func(tb testing.TB, id Identity) (certFile, keyFile string) {
		tb.Helper()
		certFile, keyFile, err := ca.IssueFiles(dir, id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		return certFile, keyFile
	}
	certFile, keyFile := issue(t, id)
	m, err := LoadTLS(TLSFiles{CA: filepath.Join(caDir, CACertFile), Cert: certFile, Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	peer := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-b"})
	first := m.Certificate.Leaf.SerialNumber.Text(16)

	t.Run("unchanged files", func(t *testing.T) {
		res, err := m.Reload()
		if err != nil || res.Changed || res.New.SerialNumber.Text(16) != first {
			t.Fatalf("got %+v, %v, want no change", res, err)
		}
	})
	issue(t, id)
	renewed := readLeaf(t, certFile)
	t.Run("renewed", func(t *testing.T) {
		res, err := m.Reload()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Changed || res.Old.SerialNumber.Text(16) != first || !res.New.Equal(renewed) {
			t.Fatalf("got changed %v, %x -> %x, want %s -> %x", res.Changed, res.Old.SerialNumber, res.New.SerialNumber, first, renewed.SerialNumber)
		}
		srv, _ := servedSerial(t, m, peer)
		_, cli := servedSerial(t, peer, m)
		if want := renewed.SerialNumber.Text(16); srv != want || cli != want {
			t.Fatalf("served: got %s as server, %s as client, want %s", srv, cli, want)
		}
	})

	// Each bad pair is refused and the renewed certificate stays served.
	write := func(tb testing.TB, certPEM, keyPEM []byte) {
		tb.Helper()
		if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	goodCert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	goodKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := ca.Issue(Identity{RoleSite, "monaco", "site-c"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey, err := ca.issueAt(time.Now().Add(-3*time.Hour), id, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := newCA(t)
	foreignCert, foreignKey, err := foreign.Issue(id, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mismatchCert, _, err := ca.Issue(id, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cert, key []byte
		keyMode   os.FileMode
		want      error
	}{
		{"garbage certificate", []byte("not a certificate"), goodKey, 0o600, ErrBadPEM},
		{"key of another certificate", mismatchCert, goodKey, 0o600, ErrKeyMismatch},
		{"another identity", otherCert, otherKey, 0o600, ErrIdentityChanged},
		{"expired", expiredCert, expiredKey, 0o600, ErrUntrusted},
		{"foreign CA", foreignCert, foreignKey, 0o600, ErrUntrusted},
		{"key readable by others", goodCert, goodKey, 0o644, ErrKeyPermissions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, tc.cert, tc.key)
			if err := os.Chmod(keyFile, tc.keyMode); err != nil {
				t.Fatal(err)
			}
			defer func() {
				write(t, goodCert, goodKey)
				if err := os.Chmod(keyFile, 0o600); err != nil {
					t.Fatal(err)
				}
			}()
			res, err := m.Reload()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if res.Changed || !res.New.Equal(renewed) {
				t.Errorf("result: got changed %v, new %x, want the renewed certificate kept", res.Changed, res.New.SerialNumber)
			}
			if srv, _ := servedSerial(t, m, peer); srv != renewed.SerialNumber.Text(16) {
				t.Errorf("served: got %s, want %x (kept)", srv, renewed.SerialNumber)
			}
		})
	}
	t.Run("not loaded from files", func(t *testing.T) {
		_, err := (&Material{Certificate: m.Certificate, Pool: m.Pool, Identity: m.Identity}).Reload()
		if !errors.Is(err, ErrNotReloadable) {
			t.Fatalf("got %v, want %v", err, ErrNotReloadable)
		}
	})
}

func readLeaf(tb testing.TB, file string) *x509.Certificate {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		tb.Fatal(err)
	}
	return certs[0]
}
