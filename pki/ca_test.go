package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// newCA makes a CA in a temporary directory.
func newCA(t testing.TB) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := InitCA(dir, "jumeau test CA")
	if err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return ca, dir
}

// parseCert parses the single certificate of a PEM block.
func parseCert(t testing.TB, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		t.Fatalf("ParseCertificatesPEM: %v", err)
	}
	if got, want := len(certs), 1; got != want {
		t.Fatalf("got %d certificates, want %d", got, want)
	}
	return certs[0]
}

func TestInitCA(t *testing.T) {
	ca, dir := newCA(t)
	t.Run("files", func(t *testing.T) {
		st, err := os.Stat(filepath.Join(dir, CAKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Fatalf("ca.key mode: got %v, want %v", got, want)
		}
		data, err := os.ReadFile(filepath.Join(dir, CACertFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := data, ca.CertPEM(); !bytes.Equal(got, want) {
			t.Fatalf("ca.crt differs from CertPEM")
		}
		c := parseCert(t, data)
		if !c.IsCA || !c.MaxPathLenZero {
			t.Fatalf("got IsCA=%v MaxPathLenZero=%v, want both true", c.IsCA, c.MaxPathLenZero)
		}
		if got, want := c.Subject.CommonName, "jumeau test CA"; got != want {
			t.Fatalf("CN: got %q, want %q", got, want)
		}
	})
	t.Run("overwrite", func(t *testing.T) {
		before, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		_, err = InitCA(dir, "other")
		if got, want := err, ErrCAExists; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		after, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatal("ca.key changed by a refused InitCA")
		}
	})
	t.Run("overwrite-key-only", func(t *testing.T) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, CAKeyFile), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := InitCA(d, "other")
		if got, want := err, ErrCAExists; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if _, err := os.Stat(filepath.Join(d, CACertFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("ca.crt created next to a foreign ca.key: %v", err)
		}
	})
	t.Run("empty-name", func(t *testing.T) {
		if _, err := InitCA(t.TempDir(), " "); err == nil {
			t.Fatal("got nil error, want an error for an empty name")
		}
	})
}

func TestLoadCA(t *testing.T) {
	ca, dir := newCA(t)
	t.Run("round-trip", func(t *testing.T) {
		loaded, err := LoadCA(dir)
		if err != nil {
			t.Fatalf("LoadCA: %v", err)
		}
		if !loaded.Certificate().Equal(ca.Certificate()) {
			t.Fatal("loaded CA certificate differs")
		}
		// A certificate issued by the loaded CA verifies against the original.
		id := Identity{RoleSite, "monaco", "site-a"}
		certPEM, _, err := loaded.Issue(id, nil, time.Hour)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		got, err := VerifyCert(parseCert(t, certPEM), nil, ca.Pool(), time.Now())
		if err != nil {
			t.Fatalf("VerifyCert: %v", err)
		}
		if want := id; got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := LoadCA(t.TempDir())
		if got, want := err, os.ErrNotExist; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("key-mismatch", func(t *testing.T) {
		_, other := newCA(t)
		d := t.TempDir()
		copyFile(t, filepath.Join(dir, CACertFile), filepath.Join(d, CACertFile))
		copyFile(t, filepath.Join(other, CAKeyFile), filepath.Join(d, CAKeyFile))
		_, err := LoadCA(d)
		if got, want := err, ErrKeyMismatch; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("not-a-ca", func(t *testing.T) {
		certFile, keyFile, err := ca.IssueFiles(t.TempDir(), Identity{RoleSite, "monaco", "site-a"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		copyFile(t, certFile, filepath.Join(d, CACertFile))
		copyFile(t, keyFile, filepath.Join(d, CAKeyFile))
		if _, err := LoadCA(d); err == nil {
			t.Fatal("got nil error, want a refusal of a leaf certificate as CA")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, CACertFile), []byte("not pem"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCA(d)
		if got, want := err, ErrBadPEM; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCA_Issue(t *testing.T) {
	ca, _ := newCA(t)
	id := Identity{RoleSite, "monaco", "site-a"}
	certPEM, keyPEM, err := ca.Issue(id, []string{"site-a.monaco.example", "127.0.0.1", "::1"}, DefaultValidity)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	c := parseCert(t, certPEM)
	t.Run("identity", func(t *testing.T) {
		got, err := VerifyCert(c, nil, ca.Pool(), time.Now())
		if err != nil {
			t.Fatalf("VerifyCert: %v", err)
		}
		if want := id; got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := c.Subject.CommonName, "site-a"; got != want {
			t.Fatalf("CN: got %q, want %q", got, want)
		}
		if got, want := c.Subject.OrganizationalUnit, []string{"site"}; !slices.Equal(got, want) {
			t.Fatalf("OU: got %q, want %q", got, want)
		}
	})
	t.Run("profile", func(t *testing.T) {
		if got, want := c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}; !slices.Equal(got, want) {
			t.Fatalf("EKU: got %v, want %v", got, want)
		}
		if c.IsCA {
			t.Fatal("leaf is a CA")
		}
		if got, want := c.DNSNames, []string{"site-a.monaco.example"}; !slices.Equal(got, want) {
			t.Fatalf("DNS: got %v, want %v", got, want)
		}
		if got, want := len(c.IPAddresses), 2; got != want {
			t.Fatalf("IPs: got %d, want %d", got, want)
		}
		if !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
			t.Fatalf("IP: got %v, want 127.0.0.1", c.IPAddresses[0])
		}
		if got, want := c.NotAfter.Sub(c.NotBefore), DefaultValidity+ClockSkew; got != want {
			t.Fatalf("lifetime: got %v, want %v", got, want)
		}
	})
	t.Run("key", func(t *testing.T) {
		key, err := ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			t.Fatalf("ParsePrivateKeyPEM: %v", err)
		}
		if err := matchKey(c, key); err != nil {
			t.Fatalf("matchKey: %v", err)
		}
	})
	t.Run("distinct-serials", func(t *testing.T) {
		other, _, err := ca.Issue(id, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if parseCert(t, other).SerialNumber.Cmp(c.SerialNumber) == 0 {
			t.Fatal("two certificates share a serial")
		}
	})
	bad := []struct {
		name     string
		id       Identity
		hosts    []string
		validity time.Duration
		want     error
	}{
		{"bad-identity", Identity{RoleSite, "", "a"}, nil, time.Hour, ErrBadIdentity},
		{"zero-validity", id, nil, 0, ErrValidity},
		{"outlives-ca", id, nil, CAValidity + 24*time.Hour, ErrValidity},
		{"empty-host", id, []string{""}, time.Hour, nil},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			_, _, err := ca.Issue(tc.id, tc.hosts, tc.validity)
			if err == nil {
				t.Fatal("got nil error, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCA_IssueFiles(t *testing.T) {
	ca, _ := newCA(t)
	dir := filepath.Join(t.TempDir(), "certs")
	id := Identity{RoleTwin, "lux", "twin"}
	certFile, keyFile, err := ca.IssueFiles(dir, id, []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatalf("IssueFiles: %v", err)
	}
	if got, want := certFile, filepath.Join(dir, "twin.crt"); got != want {
		t.Fatalf("cert file: got %q, want %q", got, want)
	}
	if got, want := keyFile, filepath.Join(dir, "twin.key"); got != want {
		t.Fatalf("key file: got %q, want %q", got, want)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("key mode: got %v, want %v", got, want)
	}
	first, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("rotate", func(t *testing.T) {
		if _, _, err := ca.IssueFiles(dir, id, nil, time.Hour); err != nil {
			t.Fatalf("IssueFiles again: %v", err)
		}
		second, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(first, second) {
			t.Fatal("certificate not replaced")
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(entries), 2; got != want {
			t.Fatalf("got %d files (temporary files left?), want %d", got, want)
		}
	})
}

func TestVerifyCert(t *testing.T) {
	ca, _ := newCA(t)
	foreign, _ := newCA(t)
	id := Identity{RoleSite, "monaco", "site-a"}
	now := time.Now()
	certPEM, _, err := ca.Issue(id, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := parseCert(t, certPEM)

	t.Run("ok", func(t *testing.T) {
		got, err := VerifyCert(good, nil, ca.Pool(), now)
		if err != nil {
			t.Fatalf("VerifyCert: %v", err)
		}
		if want := id; got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("foreign-ca", func(t *testing.T) {
		_, err := VerifyCert(good, nil, foreign.Pool(), now)
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("got %v, want an x509.UnknownAuthorityError inside", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, err := VerifyCert(good, nil, ca.Pool(), good.NotAfter.Add(time.Second))
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		var ci x509.CertificateInvalidError
		if !errors.As(err, &ci) || ci.Reason != x509.Expired {
			t.Fatalf("got %v, want x509 Expired", err)
		}
	})
	t.Run("issued-expired", func(t *testing.T) {
		oldPEM, _, err := ca.issueAt(now.Add(-2*time.Hour), id, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyCert(parseCert(t, oldPEM), nil, ca.Pool(), now)
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		// Rewrite the identity URI inside the signed part: the signature no
		// longer matches.
		der := bytes.ReplaceAll(good.Raw, []byte("site-a"), []byte("site-b"))
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("ParseCertificate: %v", err)
		}
		if got, _ := IdentityFromCert(c); got.Name != "site-b" {
			t.Fatalf("tampering did not change the identity: %v", got)
		}
		_, err = VerifyCert(c, nil, ca.Pool(), now)
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("no-pool", func(t *testing.T) {
		_, err := VerifyCert(good, nil, nil, now)
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("self-signed", func(t *testing.T) {
		c := selfSigned(t, "jumeau://site/monaco/site-a")
		_, err := VerifyCert(c, nil, ca.Pool(), now)
		if got, want := err, ErrUntrusted; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestParsePrivateKeyPEM(t *testing.T) {
	t.Run("sec1", func(t *testing.T) {
		ca, _ := newCA(t)
		_, keyPEM, err := ca.Issue(Identity{RoleSite, "monaco", "a"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			t.Fatalf("got key type %T, want *ecdsa.PrivateKey", k)
		}
		sec1, err := x509.MarshalECPrivateKey(ec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
		if err != nil {
			t.Fatalf("ParsePrivateKeyPEM(SEC 1): %v", err)
		}
		if !ec.PublicKey.Equal(got.Public()) {
			t.Fatal("SEC 1 and PKCS#8 keys differ")
		}
	})
	for name, data := range map[string]string{
		"empty":     "",
		"cert-only": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"bad-der":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		t.Run("bad/"+name, func(t *testing.T) {
			_, err := ParsePrivateKeyPEM([]byte(data))
			if got, want := err, ErrBadPEM; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}
