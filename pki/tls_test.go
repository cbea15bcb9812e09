package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// issueMaterial issues a certificate for id from ca into a temporary
// directory and loads it with LoadTLS.
func issueMaterial(t testing.TB, ca *CA, caDir string, id Identity, hosts ...string) *Material {
	t.Helper()
	certFile, keyFile, err := ca.IssueFiles(t.TempDir(), id, hosts, time.Hour)
	if err != nil {
		t.Fatalf("IssueFiles: %v", err)
	}
	m, err := LoadTLS(TLSFiles{CA: filepath.Join(caDir, CACertFile), Cert: certFile, Key: keyFile})
	if err != nil {
		t.Fatalf("LoadTLS: %v", err)
	}
	return m
}

func TestTLSFiles_Validate(t *testing.T) {
	if err := (TLSFiles{CA: "a", Cert: "b", Key: "c"}).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	err := TLSFiles{}.Validate()
	if err == nil {
		t.Fatal("got nil error for empty TLSFiles")
	}
	for _, field := range []string{"TLSFiles.CA", "TLSFiles.Cert", "TLSFiles.Key"} {
		if got, want := err.Error(), field; !strings.Contains(got, want) {
			t.Fatalf("got %q, want it to name %s", got, want)
		}
	}
}

func TestLoadTLS(t *testing.T) {
	ca, caDir := newCA(t)
	id := Identity{RoleSite, "monaco", "site-a"}
	caFile := filepath.Join(caDir, CACertFile)
	certFile, keyFile, err := ca.IssueFiles(t.TempDir(), id, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ok", func(t *testing.T) {
		m, err := LoadTLS(TLSFiles{CA: caFile, Cert: certFile, Key: keyFile})
		if err != nil {
			t.Fatalf("LoadTLS: %v", err)
		}
		if got, want := m.Identity, id; got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
		if m.Certificate.Leaf == nil || m.Pool == nil {
			t.Fatal("Leaf or Pool not set")
		}
	})
	t.Run("foreign-ca", func(t *testing.T) {
		_, foreignDir := newCA(t)
		_, err := LoadTLS(TLSFiles{CA: filepath.Join(foreignDir, CACertFile), Cert: certFile, Key: keyFile})
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("key-mismatch", func(t *testing.T) {
		_, otherKey, err := ca.IssueFiles(t.TempDir(), id, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = LoadTLS(TLSFiles{CA: caFile, Cert: certFile, Key: otherKey})
		if got, want := err, ErrKeyMismatch; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("expired", func(t *testing.T) {
		certPEM, keyPEM, err := ca.issueAt(time.Now().Add(-48*time.Hour), id, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		cf, kf := filepath.Join(d, "a.crt"), filepath.Join(d, "a.key")
		if err := os.WriteFile(cf, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = LoadTLS(TLSFiles{CA: caFile, Cert: cf, Key: kf})
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := LoadTLS(TLSFiles{CA: caFile, Cert: certFile + ".nope", Key: keyFile})
		if got, want := err, os.ErrNotExist; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := LoadTLS(TLSFiles{}); err == nil {
			t.Fatal("got nil error, want an error")
		}
	})
}

// handshake runs a TLS handshake over a loopback TCP connection and returns
// both sides' connection states and errors. Each side then reads once, so that
// a refusal sent after the client's handshake completed (TLS 1.3 client
// authentication) surfaces as the client's error.
func handshake(t testing.TB, server, client *tls.Config) (srv, cli tls.ConnectionState, srvErr, cliErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		s := tls.Server(raw, server)
		if srvErr = s.Handshake(); srvErr == nil {
			srv = s.ConnectionState()
			_, _ = s.Write([]byte{1})
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(deadline)
	c := tls.Client(raw, client)
	if cliErr = c.Handshake(); cliErr == nil {
		cli = c.ConnectionState()
		_, cliErr = c.Read(make([]byte, 1))
	}
	<-done
	return srv, cli, srvErr, cliErr
}

func TestMaterial_ServerConfig(t *testing.T) {
	ca, caDir := newCA(t)
	siteA := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-a"}, "site-a.monaco.example")
	siteB := issueMaterial(t, ca, caDir, Identity{RoleSite, "monaco", "site-b"})

	t.Run("mutual-by-identity", func(t *testing.T) {
		srv, cli, srvErr, cliErr := handshake(t, siteA.ServerConfig("jumeau/1"), siteB.ClientConfig("", "jumeau/1"))
		if srvErr != nil || cliErr != nil {
			t.Fatalf("handshake: server %v, client %v", srvErr, cliErr)
		}
		gotPeer, err := VerifyPeer(srv, siteA.Pool)
		if err != nil {
			t.Fatalf("server VerifyPeer: %v", err)
		}
		if want := siteB.Identity; gotPeer != want {
			t.Fatalf("server sees %v, want %v", gotPeer, want)
		}
		gotServer, err := VerifyPeer(cli, siteB.Pool)
		if err != nil {
			t.Fatalf("client VerifyPeer: %v", err)
		}
		if want := siteA.Identity; gotServer != want {
			t.Fatalf("client sees %v, want %v", gotServer, want)
		}
		if got, want := cli.Version, uint16(tls.VersionTLS13); got != want {
			t.Fatalf("version: got %x, want %x", got, want)
		}
		if got, want := cli.CurveID, tls.X25519MLKEM768; got != want {
			t.Fatalf("key exchange: got %v, want %v", got, want)
		}
		if got, want := cli.NegotiatedProtocol, "jumeau/1"; got != want {
			t.Fatalf("ALPN: got %q, want %q", got, want)
		}
	})
	t.Run("by-host-name", func(t *testing.T) {
		_, _, srvErr, cliErr := handshake(t, siteA.ServerConfig(), siteB.ClientConfig("site-a.monaco.example"))
		if srvErr != nil || cliErr != nil {
			t.Fatalf("handshake: server %v, client %v", srvErr, cliErr)
		}
	})
	t.Run("wrong-host-name", func(t *testing.T) {
		_, _, _, cliErr := handshake(t, siteA.ServerConfig(), siteB.ClientConfig("site-c.monaco.example"))
		var he x509.HostnameError
		if !errors.As(cliErr, &he) {
			t.Fatalf("got %v, want an x509.HostnameError", cliErr)
		}
	})
	foreignCA, foreignDir := newCA(t)
	intruder := issueMaterial(t, foreignCA, foreignDir, Identity{RoleSite, "monaco", "site-b"})
	t.Run("foreign-client", func(t *testing.T) {
		// The intruder trusts our CA but presents a foreign certificate.
		cfg := (&Material{Certificate: intruder.Certificate, Pool: siteA.Pool}).ClientConfig("")
		_, _, srvErr, cliErr := handshake(t, siteA.ServerConfig(), cfg)
		if srvErr == nil || cliErr == nil {
			t.Fatalf("got server %v, client %v, want both to fail for a foreign client certificate", srvErr, cliErr)
		}
	})
	t.Run("foreign-server", func(t *testing.T) {
		_, _, _, cliErr := handshake(t, intruder.ServerConfig(), siteB.ClientConfig(""))
		if got, want := cliErr, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("no-client-cert", func(t *testing.T) {
		cfg := siteB.ClientConfig("")
		cfg.GetClientCertificate = nil
		_, _, srvErr, _ := handshake(t, siteA.ServerConfig(), cfg)
		if srvErr == nil {
			t.Fatal("server accepted a client without certificate")
		}
	})
}

func TestVerifyPeer(t *testing.T) {
	ca, _ := newCA(t)
	_, err := VerifyPeer(tls.ConnectionState{}, ca.Pool())
	if got, want := err, ErrNoPeerCert; !errors.Is(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
