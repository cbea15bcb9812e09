package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DefaultValidity is the lifetime of node certificates: short-lived
	// certificates limit what a stolen key is worth.
	DefaultValidity = 90 * 24 * time.Hour
	// CAValidity is the lifetime of a CA made by InitCA.
	CAValidity = 10 * 365 * 24 * time.Hour
	// ClockSkew is how far NotBefore is backdated so that nodes whose clocks
	// lag a little accept a fresh certificate.
	ClockSkew = 5 * time.Minute

	// CACertFile and CAKeyFile are the file names InitCA writes in its
	// directory.
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"

	organization = "jumeau"
	pemCert      = "CERTIFICATE"
	pemKey       = "PRIVATE KEY"
)

// CA is the deployment's certificate authority. It signs node certificates
// that carry an Identity. Its key is ECDSA P-256.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// InitCA creates a new CA named name in dir: dir/ca.crt (0644) and dir/ca.key
// (0600). dir is created (0700) if needed. It refuses with ErrCAExists if
// either file already exists.
func InitCA(dir, name string) (*CA, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("init CA in %s: empty CA name", dir)
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("init CA: %s: %w", p, ErrCAExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("init CA: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("init CA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{organization}},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("init CA: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("init CA: marshal key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: keyDER})

	// O_EXCL on both files: a concurrent InitCA cannot clobber a CA either.
	if err := writeExcl(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	if err := writeExcl(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return nil, fmt.Errorf("init CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("init CA: parse certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: certPEM, key: key}, nil
}

// LoadCA loads the CA written by InitCA in dir. Its key file must be
// accessible to its owner only (ErrKeyPermissions otherwise).
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certPath, err)
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("load CA %s: certificate %q is not a CA", certPath, cert.Subject.CommonName)
	}
	keyPEM, err := readPrivateKeyFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", keyPath, err)
	}
	if err := matchKey(cert, key); err != nil {
		return nil, fmt.Errorf("load CA %s and %s: %w", certPath, keyPath, err)
	}
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: cert.Raw}), key: key}, nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate in PEM form (what ca.crt holds).
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue makes a key pair and a certificate for id, valid for validity from
// now (backdated by ClockSkew). hosts are DNS names or IP addresses the node
// serves under. The certificate carries the identity as the URI SAN
// jumeau://role/region/name, CN=name and OU=role, and both the ServerAuth and
// ClientAuth extended key usages. Both results are PEM; the key is PKCS#8.
func (ca *CA) Issue(id Identity, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	return ca.issueAt(time.Now(), id, hosts, validity)
}

func (ca *CA) issueAt(now time.Time, id Identity, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if err := id.Validate(); err != nil {
		return nil, nil, fmt.Errorf("issue certificate: %w", err)
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w: %v is not positive", id, ErrValidity, validity)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w: %v outlives the CA (expires %s)",
			id, ErrValidity, validity, ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         id.Name,
			OrganizationalUnit: []string{string(id.Role)},
			Organization:       []string{organization},
		},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URI()},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, nil, fmt.Errorf("issue certificate for %s: empty host", id)
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: generate key: %w", id, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %s: marshal key: %w", id, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: keyDER}), nil
}

// IssueFiles issues like Issue and writes dir/<name>.crt (0644) and
// dir/<name>.key (0600), replacing existing files atomically (certificate
// rotation). dir is created (0700) if needed.
func (ca *CA) IssueFiles(dir string, id Identity, hosts []string, validity time.Duration) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := ca.Issue(id, hosts, validity)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("issue files for %s: %w", id, err)
	}
	certFile, keyFile = IssuedFiles(dir, id.Name)
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("issue files for %s: %w", id, err)
	}
	if err := writeAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("issue files for %s: %w", id, err)
	}
	return certFile, keyFile, nil
}

// IssuedFiles are the files IssueFiles writes for the holder name in dir:
// dir/<name>.crt and dir/<name>.key.
func IssuedFiles(dir, name string) (certFile, keyFile string) {
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

// ParseCertificatesPEM parses every CERTIFICATE block of data, in order. Other
// block types are skipped; no certificate at all is ErrBadPEM.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != pemCert {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrBadPEM, len(certs), err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no %s block", ErrBadPEM, pemCert)
	}
	return certs, nil
}

// ParsePrivateKeyPEM parses the first private key block of data: PKCS#8
// ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). The key must be able to sign.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: no %s block", ErrBadPEM, pemKey)
		}
		var k any
		var err error
		switch b.Type {
		case pemKey:
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadPEM, b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: %s: key type %T cannot sign", ErrBadPEM, b.Type, k)
		}
		return s, nil
	}
}

// matchKey checks that key is the private half of cert's public key.
func matchKey(cert *x509.Certificate, key crypto.Signer) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never zero
}

// writeExcl creates path with perm, failing if it exists, and syncs it.
func writeExcl(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrCAExists)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// writeAtomic writes data to a temporary file in path's directory, syncs it,
// sets perm and renames it over path.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
