package pki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
	"weak"
)

// Revocation errors.
var (
	// ErrRevoked is returned when a certificate's serial number is on the
	// revocation list of the CA it chains to.
	ErrRevoked = errors.New("pki: certificate revoked")
	// ErrBadCRL is returned when a revocation list file does not parse or
	// is not signed by the CA. Verification then refuses every
	// certificate (it fails closed) until the file is fixed.
	ErrBadCRL = errors.New("pki: invalid revocation list")
)

// CRLFile is the revocation list of a CA directory, next to ca.crt: one
// PEM "X509 CRL" block (an RFC 5280 v2 CRL signed by the CA). CA.Revoke
// writes it; LoadTLS watches the file next to the CA file it loads.
const CRLFile = "ca.crl"

const pemCRL = "X509 CRL"

// maxCRLSize bounds the revocation list file a node reads.
const maxCRLSize = 16 << 20

// Revoke adds serials to the CA's revocation list dir/ca.crl, keeping the
// entries it already has, and signs it again with the next CRL number
// (write-to-temp, fsync, rename). Nodes whose CA file is dir/ca.crt refuse
// those certificates from their next handshake or API connection.
func (ca *CA) Revoke(dir string, serials ...*big.Int) error {
	path := filepath.Join(dir, CRLFile)
	now := time.Now()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: ca.cert.NotAfter}
	seen := map[string]bool{}
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		prev, err := ParseCRL(old, []*x509.Certificate{ca.cert})
		if err != nil {
			return fmt.Errorf("revoke: %s: %w", path, err)
		}
		tmpl.Number = new(big.Int).Add(prev.Number, big.NewInt(1))
		for _, e := range prev.RevokedCertificateEntries {
			seen[e.SerialNumber.String()] = true
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: e.SerialNumber, RevocationTime: e.RevocationTime})
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("revoke: %w", err)
	}
	for _, s := range serials {
		if s == nil || s.Sign() <= 0 {
			return fmt.Errorf("revoke: serial %v: want a positive certificate serial number", s)
		}
		if seen[s.String()] {
			continue
		}
		seen[s.String()] = true
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		return fmt.Errorf("revoke: sign the revocation list: %w", err)
	}
	if err := writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: pemCRL, Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

// ParseCRL parses a PEM revocation list (the first "X509 CRL" block; other
// blocks are skipped) and checks that one of cas signed it.
func ParseCRL(data []byte, cas []*x509.Certificate) (*x509.RevocationList, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: no %s block", ErrBadCRL, pemCRL)
		}
		if b.Type != pemCRL {
			continue
		}
		crl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCRL, err)
		}
		for _, ca := range cas {
			if crl.CheckSignatureFrom(ca) == nil {
				return crl, nil
			}
		}
		return nil, fmt.Errorf("%w: not signed by the CA (issuer %q)", ErrBadCRL, crl.Issuer.String())
	}
}

// crlSource is the revocation list watched for one CA pool: re-read when
// the file changes (size, time or absence), checked on every use.
type crlSource struct {
	path string
	cas  []*x509.Certificate

	mu      sync.Mutex
	stamp   string // size and modification time of the file read; "" absent
	revoked map[string]bool
	err     error
}

// crlSources maps a CA pool made by LoadTLS to its revocation list; an
// entry goes when its pool is collected.
var crlSources sync.Map // weak.Pointer[x509.CertPool] -> *crlSource

// watchCRL makes CheckRevoked consult the revocation list next to caFile
// for certificates verified against pool.
func watchCRL(pool *x509.CertPool, caFile string, cas []*x509.Certificate) {
	key := weak.Make(pool)
	crlSources.Store(key, &crlSource{path: filepath.Join(filepath.Dir(caFile), CRLFile), cas: cas})
	runtime.AddCleanup(pool, func(k weak.Pointer[x509.CertPool]) { crlSources.Delete(k) }, key)
}

// CheckRevoked returns an error wrapping ErrRevoked if cert is on the
// revocation list of the CA file pool was loaded from by LoadTLS (the file
// CRLFile next to it), ErrBadCRL if that file is present but invalid, and
// nil if it is absent or pool did not come from LoadTLS. VerifyCert (so
// VerifyPeer, hence QUIC and the API) calls it.
func CheckRevoked(pool *x509.CertPool, cert *x509.Certificate) error {
	if pool == nil || cert == nil {
		return nil
	}
	v, ok := crlSources.Load(weak.Make(pool))
	if !ok {
		return nil
	}
	src := v.(*crlSource)
	revoked, err := src.load()
	if err != nil {
		return err
	}
	if revoked[cert.SerialNumber.String()] {
		return fmt.Errorf("%w: serial %x (%q) is on the revocation list %s", ErrRevoked, cert.SerialNumber, cert.Subject.CommonName, src.path)
	}
	return nil
}

// load returns the revoked serials, reading the file again if it changed.
func (s *crlSource) load() (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	stamp := ""
	switch {
	case err == nil:
		stamp = fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCRL, s.path, err)
	}
	if stamp == s.stamp && (s.revoked != nil || s.err != nil || stamp == "") {
		return s.revoked, s.err
	}
	s.stamp, s.revoked, s.err = stamp, nil, nil
	if stamp == "" {
		return nil, nil
	}
	if fi.Size() > maxCRLSize {
		s.err = fmt.Errorf("%w: %s: %d bytes, at most %d", ErrBadCRL, s.path, fi.Size(), maxCRLSize)
		return nil, s.err
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		s.stamp = "" // read again next time
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCRL, s.path, err)
	}
	crl, err := ParseCRL(data, s.cas)
	if err != nil {
		s.err = fmt.Errorf("%s: %w (fix or remove it: every certificate is refused meanwhile)", s.path, err)
		return nil, s.err
	}
	s.revoked = make(map[string]bool, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		s.revoked[e.SerialNumber.String()] = true
	}
	return s.revoked, nil
}

// CRLInfo describes the revocation list a CA pool is checked against.
type CRLInfo struct {
	// File is the ca.crl next to the CA file ("" for a pool LoadTLS did
	// not make: no list is checked).
	File string `json:"file,omitempty"`
	// Present is false while the file does not exist (nothing revoked).
	Present bool `json:"present"`
	// Revoked is how many serial numbers the list holds.
	Revoked int `json:"revoked"`
}

// RevocationList reads the revocation list of pool again if the file
// changed, as every verification does, and describes it. An invalid file
// is ErrBadCRL: every certificate is refused until it is fixed.
func RevocationList(pool *x509.CertPool) (CRLInfo, error) {
	if pool == nil {
		return CRLInfo{}, nil
	}
	v, ok := crlSources.Load(weak.Make(pool))
	if !ok {
		return CRLInfo{}, nil
	}
	src := v.(*crlSource)
	revoked, err := src.load()
	info := CRLInfo{File: src.path, Revoked: len(revoked)}
	if _, serr := os.Stat(src.path); serr == nil {
		info.Present = true
	}
	return info, err
}
