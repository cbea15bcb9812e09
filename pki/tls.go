package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TLSFiles names the PEM files a node loads: the CA bundle it trusts, its
// certificate and its private key.
type TLSFiles struct {
	CA   string `mapstructure:"ca" yaml:"ca" json:"ca"`
	Cert string `mapstructure:"cert" yaml:"cert" json:"cert"`
	Key  string `mapstructure:"key" yaml:"key" json:"key"`
}

// Validate checks that every path is set.
func (f TLSFiles) Validate() error {
	var errs []error
	if f.CA == "" {
		errs = append(errs, errors.New("pki: TLSFiles.CA is empty: set the path of the CA certificate (ca.crt)"))
	}
	if f.Cert == "" {
		errs = append(errs, errors.New("pki: TLSFiles.Cert is empty: set the path of this node's certificate (<name>.crt)"))
	}
	if f.Key == "" {
		errs = append(errs, errors.New("pki: TLSFiles.Key is empty: set the path of this node's private key (<name>.key)"))
	}
	return errors.Join(errs...)
}

// Material is what a node needs for mutual TLS: its certificate and key, the
// CA pool it trusts, and its own Identity (from its certificate).
//
// The TLS configs it makes (ServerConfig, ClientConfig) present the
// certificate current at each handshake: Reload replaces it (certificate
// rotation without a restart). A Material must not be copied.
type Material struct {
	// Certificate is the node's certificate chain and key as first
	// loaded; Leaf is set. Current returns the one served now.
	Certificate tls.Certificate
	// Pool holds the trusted CA certificates.
	Pool *x509.CertPool
	// Identity is the identity in Certificate.Leaf. A reload keeps it.
	Identity Identity

	files    TLSFiles                        // what LoadTLS read; empty: not reloadable
	reloadMu sync.Mutex                      // one Reload at a time
	cur      atomic.Pointer[tls.Certificate] // nil: Certificate
}

// LoadTLS reads and checks the files: the key file must be accessible to
// its owner only (ErrKeyPermissions otherwise), the key must match the
// certificate and the certificate must verify, now, against the CA bundle
// and carry an Identity.
func LoadTLS(files TLSFiles) (*Material, error) {
	if err := files.Validate(); err != nil {
		return nil, fmt.Errorf("load TLS: %w", err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, fmt.Errorf("load TLS: %w", err)
	}
	cas, err := ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("load TLS CA %s: %w", files.CA, err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	// Certificates verified against this pool are also checked against
	// the CA's revocation list next to the CA file (revoke.go).
	watchCRL(pool, files.CA, cas)
	cert, id, err := loadPair(files, pool)
	if err != nil {
		return nil, err
	}
	return &Material{Certificate: cert, Pool: pool, Identity: id, files: files}, nil
}

// loadPair reads the certificate and key files and checks them: the key
// file's permissions, the key against the certificate, the certificate
// against pool now, its Identity.
func loadPair(files TLSFiles, pool *x509.CertPool) (tls.Certificate, Identity, error) {
	certPEM, err := os.ReadFile(files.Cert)
	if err != nil {
		return tls.Certificate{}, Identity{}, fmt.Errorf("load TLS: %w", err)
	}
	keyPEM, err := readPrivateKeyFile(files.Key)
	if err != nil {
		return tls.Certificate{}, Identity{}, fmt.Errorf("load TLS: %w", err)
	}
	chain, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return tls.Certificate{}, Identity{}, fmt.Errorf("load TLS certificate %s: %w", files.Cert, err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return tls.Certificate{}, Identity{}, fmt.Errorf("load TLS key %s: %w", files.Key, err)
	}
	if err := matchKey(chain[0], key); err != nil {
		return tls.Certificate{}, Identity{}, fmt.Errorf("load TLS %s and %s: %w", files.Cert, files.Key, err)
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	id, err := VerifyCert(chain[0], intermediates, pool, time.Now())
	if err != nil {
		return tls.Certificate{}, Identity{}, fmt.Errorf("load TLS certificate %s against %s: %w", files.Cert, files.CA, err)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, id, nil
}

// Current is the certificate presented now: the one loaded last by
// LoadTLS or Reload.
func (m *Material) Current() *tls.Certificate {
	if c := m.cur.Load(); c != nil {
		return c
	}
	return &m.Certificate
}

// CertReload says what Reload did: the leaf served before and after (the
// same when the files hold the certificate already served).
type CertReload struct {
	Old, New *x509.Certificate
	// Changed is false when the files hold the certificate served already.
	Changed bool
}

// Reload reads the certificate and key files LoadTLS read again and checks
// them as LoadTLS does, and also that they carry the same Identity; if
// they pass, every TLS config of m presents them from its next handshake
// on (connections already open keep theirs). If they do not (unreadable,
// key permissions, a key of another certificate, not of the pool's CA,
// expired, revoked, another identity), the certificate served stays and
// the error says why.
func (m *Material) Reload() (CertReload, error) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	old := m.Current()
	res := CertReload{Old: old.Leaf, New: old.Leaf}
	if m.files == (TLSFiles{}) {
		return res, ErrNotReloadable
	}
	cert, id, err := loadPair(m.files, m.Pool)
	if err != nil {
		return res, fmt.Errorf("reload TLS: %w", err)
	}
	if id != m.Identity {
		return res, fmt.Errorf("reload TLS: %s: %w: it is for %s, this node is %s (issue one for %s)", m.files.Cert, ErrIdentityChanged, id, m.Identity, m.Identity)
	}
	res.New = cert.Leaf
	if cert.Leaf.Equal(old.Leaf) {
		return res, nil
	}
	res.Changed = true
	m.cur.Store(&cert)
	return res, nil
}

// getCertificate serves the current certificate to a TLS server.
func (m *Material) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.Current(), nil
}

// getClientCertificate presents the current certificate to a TLS server.
func (m *Material) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return m.Current(), nil
}

// CurvePreferences is the key exchange set of every jumeau TLS config: the
// hybrid post-quantum X25519MLKEM768, then classical X25519 and P-256 for
// peers without it. crypto/tls picks from the set in its own order, which puts
// the hybrid first, so two jumeau nodes always negotiate X25519MLKEM768.
func CurvePreferences() []tls.CurveID {
	return []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}
}

// ServerConfig returns a TLS 1.3 server config that presents the current
// certificate (Current) and requires a client certificate verified
// against the pool and carrying an Identity. The caller still checks the
// peer's role (VerifyPeer, CheckRole).
func (m *Material) ServerConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		GetCertificate:   m.getCertificate,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        m.Pool,
		NextProtos:       slices.Clone(nextProtos),
		CurvePreferences: CurvePreferences(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := VerifyPeer(cs, m.Pool)
			return err
		},
	}
}

// ClientConfig returns a TLS 1.3 client config presenting the node's
// current certificate (Current).
//
// With a non-empty serverName the server certificate is verified the usual
// way: chain to the pool and serverName among its DNS/IP SANs.
//
// With an empty serverName, peers are addressed by identity rather than host:
// the chain is verified against the pool (VerifyPeer) but no host name is
// checked, and the caller MUST then compare the peer's Identity (VerifyPeer)
// with the node it meant to reach before trusting the connection.
func (m *Material) ClientConfig(serverName string, nextProtos ...string) *tls.Config {
	c := &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: m.getClientCertificate,
		RootCAs:              m.Pool,
		ServerName:           serverName,
		NextProtos:           slices.Clone(nextProtos),
		CurvePreferences:     CurvePreferences(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := VerifyPeer(cs, m.Pool)
			return err
		},
	}
	if serverName == "" {
		// The standard verification needs a host name; VerifyConnection
		// above verifies the chain against the pool instead.
		c.InsecureSkipVerify = true
	}
	return c
}

// VerifyPeer verifies the peer certificate chain of a TLS connection against
// pool at the current time and returns the peer's Identity. It does not trust
// state.VerifiedChains: the chain is always verified again against pool.
func VerifyPeer(state tls.ConnectionState, pool *x509.CertPool) (Identity, error) {
	if len(state.PeerCertificates) == 0 {
		return Identity{}, ErrNoPeerCert
	}
	intermediates := x509.NewCertPool()
	for _, c := range state.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	return VerifyCert(state.PeerCertificates[0], intermediates, pool, time.Now())
}

// VerifyCert verifies cert at time now: it must chain to roots (through
// intermediates, which may be nil), carry both the ServerAuth and ClientAuth
// extended key usages, not be revoked (CheckRevoked, for pools made by
// LoadTLS), and hold an Identity. Failures of the chain and revocations
// wrap ErrUntrusted (and the x509 error, ErrRevoked or ErrBadCRL).
func VerifyCert(cert *x509.Certificate, intermediates, roots *x509.CertPool, now time.Time) (Identity, error) {
	if cert == nil {
		return Identity{}, ErrNoPeerCert
	}
	if roots == nil {
		return Identity{}, fmt.Errorf("verify %q: %w: no CA pool", cert.Subject.CommonName, ErrUntrusted)
	}
	for _, want := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: intermediates,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{want},
		}); err != nil {
			return Identity{}, fmt.Errorf("verify %q serial %x: %w: %w", cert.Subject.CommonName, cert.SerialNumber, ErrUntrusted, err)
		}
	}
	if err := CheckRevoked(roots, cert); err != nil {
		return Identity{}, fmt.Errorf("verify %q serial %x: %w: %w", cert.Subject.CommonName, cert.SerialNumber, ErrUntrusted, err)
	}
	return IdentityFromCert(cert)
}
