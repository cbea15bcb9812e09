package pki

import (
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCA_Revoke(t *testing.T) {
	ca, caDir := newCA(t)
	server := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-a"})
	stolen := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-b"})
	other := issueMaterial(t, ca, caDir, Identity{RoleClient, "monaco", "client"})
	verify := func(m *Material) error {
		_, err := VerifyCert(m.Certificate.Leaf, nil, server.Pool, time.Now())
		return err
	}
	if err := verify(stolen); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if err := ca.Revoke(caDir, stolen.Certificate.Leaf.SerialNumber); err != nil {
		t.Fatal(err)
	}
	t.Run("revoked", func(t *testing.T) {
		err := verify(stolen)
		if !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrUntrusted) {
			t.Fatalf("got %v, want ErrRevoked and ErrUntrusted", err)
		}
	})
	t.Run("others still trusted", func(t *testing.T) {
		if err := verify(other); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	t.Run("handshake refused", func(t *testing.T) {
		_, _, srvErr, _ := handshake(t, server.ServerConfig(), stolen.ClientConfig(""))
		if !errors.Is(srvErr, ErrRevoked) {
			t.Fatalf("server handshake: got %v, want ErrRevoked", srvErr)
		}
		_, _, srvErr, cliErr := handshake(t, server.ServerConfig(), other.ClientConfig(""))
		if srvErr != nil || cliErr != nil {
			t.Fatalf("handshake of a valid client: server %v, client %v", srvErr, cliErr)
		}
	})
	t.Run("second revocation keeps the first", func(t *testing.T) {
		if err := ca.Revoke(caDir, other.Certificate.Leaf.SerialNumber, stolen.Certificate.Leaf.SerialNumber); err != nil {
			t.Fatal(err)
		}
		if err := verify(stolen); !errors.Is(err, ErrRevoked) {
			t.Fatalf("stolen: got %v, want ErrRevoked", err)
		}
		if err := verify(other); !errors.Is(err, ErrRevoked) {
			t.Fatalf("other: got %v, want ErrRevoked", err)
		}
		data, err := os.ReadFile(filepath.Join(caDir, CRLFile))
		if err != nil {
			t.Fatal(err)
		}
		crl, err := ParseCRL(data, []*x509.Certificate{ca.Certificate()})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(crl.RevokedCertificateEntries), 2; got != want {
			t.Fatalf("entries: got %d, want %d", got, want)
		}
		if got, want := crl.Number.Int64(), int64(2); got != want {
			t.Fatalf("CRL number: got %d, want %d", got, want)
		}
	})
	t.Run("own certificate revoked", func(t *testing.T) {
		// A node whose own certificate is revoked does not start.
		certFile, keyFile, err := ca.IssueFiles(t.TempDir(), Identity{RoleSite, "monaco", "site-c"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadTLS(TLSFiles{CA: filepath.Join(caDir, CACertFile), Cert: certFile, Key: keyFile})
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.Revoke(caDir, m.Certificate.Leaf.SerialNumber); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTLS(TLSFiles{CA: filepath.Join(caDir, CACertFile), Cert: certFile, Key: keyFile}); !errors.Is(err, ErrRevoked) {
			t.Fatalf("LoadTLS: got %v, want ErrRevoked", err)
		}
	})
	t.Run("bad serial", func(t *testing.T) {
		if err := ca.Revoke(caDir, big.NewInt(0)); err == nil {
			t.Fatal("got nil, want an error for serial 0")
		}
	})
}

func TestCheckRevoked(t *testing.T) {
	ca, caDir := newCA(t)
	server := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-a"})
	peer := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-b"})
	crlPath := filepath.Join(caDir, CRLFile)
	t.Run("no list", func(t *testing.T) {
		if err := CheckRevoked(server.Pool, peer.Certificate.Leaf); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	t.Run("pool not from LoadTLS", func(t *testing.T) {
		if err := CheckRevoked(ca.Pool(), peer.Certificate.Leaf); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	t.Run("malformed list fails closed", func(t *testing.T) {
		if err := os.WriteFile(crlPath, []byte("not a CRL"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CheckRevoked(server.Pool, peer.Certificate.Leaf); !errors.Is(err, ErrBadCRL) {
			t.Fatalf("got %v, want ErrBadCRL", err)
		}
	})
	t.Run("list of another CA fails closed", func(t *testing.T) {
		foreign, foreignDir := newCA(t)
		if err := foreign.Revoke(foreignDir, big.NewInt(42)); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(foreignDir, CRLFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crlPath, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CheckRevoked(server.Pool, peer.Certificate.Leaf); !errors.Is(err, ErrBadCRL) {
			t.Fatalf("got %v, want ErrBadCRL", err)
		}
		if err := ca.Revoke(caDir); !errors.Is(err, ErrBadCRL) {
			t.Fatalf("Revoke over a foreign list: got %v, want ErrBadCRL", err)
		}
	})
	t.Run("removed list", func(t *testing.T) {
		if err := os.Remove(crlPath); err != nil {
			t.Fatal(err)
		}
		if err := CheckRevoked(server.Pool, peer.Certificate.Leaf); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
}

func FuzzParseCRL(f *testing.F) {
	ca, err := InitCA(filepath.Join(f.TempDir(), "ca"), "fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := ca.Revoke(dir, big.NewInt(7), big.NewInt(1<<40)); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, CRLFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	f.Add([]byte{})
	f.Add(ca.CertPEM())
	f.Fuzz(func(t *testing.T, data []byte) {
		crl, err := ParseCRL(data, []*x509.Certificate{ca.Certificate()})
		if err != nil {
			if !errors.Is(err, ErrBadCRL) {
				t.Fatalf("error does not wrap ErrBadCRL: %v", err)
			}
			return
		}
		if crl == nil {
			t.Fatal("nil list without an error")
		}
	})
}
