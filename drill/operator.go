package drill

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/report"
)

// maxCertFileSize bounds the certificate file OperatorFromCert reads.
const maxCertFileSize = 1 << 20

// OperatorFromCert is the operator of a drill run with the client
// certificate in certFile (PEM; its first certificate is the client's):
// its jumeau identity and the SHA-256 of its DER, with the OS user and
// host. It fails for a file that holds no certificate with an identity.
func OperatorFromCert(certFile string) (report.Operator, error) {
	data, err := readCapped(certFile, maxCertFileSize)
	if err != nil {
		return report.Operator{}, fmt.Errorf("drill: operator certificate: %w", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return report.Operator{}, fmt.Errorf("drill: operator certificate %s: no PEM CERTIFICATE block", certFile)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return report.Operator{}, fmt.Errorf("drill: operator certificate %s: %w", certFile, err)
		}
		id, err := pki.IdentityFromCert(cert)
		if err != nil {
			return report.Operator{}, fmt.Errorf("drill: operator certificate %s: %w", certFile, err)
		}
		sum := sha256.Sum256(cert.Raw)
		o := OperatorFromOS()
		o.Identity, o.Source, o.CertSHA256 = id.String(), report.OperatorCertificate, hex.EncodeToString(sum[:])
		return o, nil
	}
}

// OperatorFromOS is the operator of a drill run without a client
// certificate: the OS user (its name, else "uid N") and the host.
func OperatorFromOS() report.Operator {
	name := fmt.Sprintf("uid %d", os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return report.Operator{Identity: name, Source: report.OperatorOSUser, OSUser: name, Host: host}
}

// readCapped reads a file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, limit)
	}
	return data, nil
}
