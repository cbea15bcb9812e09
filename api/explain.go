package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"syscall"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
)

// The TLS alerts (RFC 8446, section 6) a server sends when it refuses a
// client certificate during the handshake. crypto/tls does not export its
// alert values; these are the protocol's numbers.
const (
	alertBadCertificate      tls.AlertError = 42
	alertCertificateRevoked  tls.AlertError = 44
	alertCertificateExpired  tls.AlertError = 45
	alertUnknownCA           tls.AlertError = 48
	alertCertificateRequired tls.AlertError = 116
)

// opRemoteError is the net.OpError operation crypto/tls reports for an
// alert received from the peer.
const opRemoteError = "remote error"

// remoteAlert returns the TLS alert the server sent, if err carries one.
func remoteAlert(err error) (tls.AlertError, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return ae, true
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != opRemoteError || oe.Err == nil {
		return 0, false
	}
	// crypto/tls reports a received alert as its unexported uint8 alert
	// type; read the number rather than the text.
	v := reflect.ValueOf(oe.Err)
	if v.Kind() != reflect.Uint8 || v.Type().PkgPath() != "crypto/tls" {
		return 0, false
	}
	return tls.AlertError(v.Uint()), true
}

// explainTransport turns TLS and dial failures into errors that say what to
// check. A client certificate refused by the server's handshake wraps
// ErrUnauthenticated.
func (c *Client) explainTransport(method, path string, err error) error {
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cve):
		return fmt.Errorf("api: %s %s: the server's certificate is not signed by the CA you passed (--ca): %w", method, path, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("api: %s %s: nothing listens there (is the node running? check --endpoint): %w", method, path, err)
	}
	if ce := (*closedEarlyError)(nil); errors.As(err, &ce) {
		when, limit := "right after the TLS handshake", "api.max_connections_per_client for "+c.who()
		if ce.handshake {
			when, limit = "during the TLS handshake", "api.max_connections"
		}
		return fmt.Errorf("api: %s %s: the server closed the connection %s without answering "+
			"(restarting, or at its connection cap %s): retry; if it persists, open fewer connections or ask for a higher cap: %w",
			method, path, when, limit, err)
	}
	if a, ok := remoteAlert(err); ok {
		if msg := c.refusal(a); msg != "" {
			return fmt.Errorf("%w: %s %s: %s (%w)", ErrUnauthenticated, method, path, msg, err)
		}
	}
	return fmt.Errorf("api: %s %s: %w", method, path, err)
}

// who names the identity of our certificate.
func (c *Client) who() string {
	if c.mat == nil || c.mat.Certificate.Leaf == nil {
		return "this client's identity"
	}
	return c.mat.Identity.String()
}

// issueHint is how to get a certificate the API accepts.
const issueHint = "pass --ca/--cert/--key with a certificate from `jumeau certs issue --role client`"

// refusal explains the alert a by which the server refused our client
// certificate, or returns "" for other alerts.
func (c *Client) refusal(a tls.AlertError) string {
	var leaf *x509.Certificate
	if c.mat != nil {
		leaf = c.mat.Certificate.Leaf
	}
	ours := "the server refused our client certificate"
	if leaf != nil {
		ours = fmt.Sprintf("the server refused our client certificate (%s, serial %x)", c.mat.Identity, leaf.SerialNumber)
	}
	revoked := func() string {
		return ours + ": it is revoked: ask for a new one (`jumeau certs issue --role client`) and pass it with --cert/--key"
	}
	switch a {
	case alertCertificateRequired:
		return "the server requires a client certificate and received none: " + issueHint
	case alertUnknownCA:
		return ours + ": it is not signed by this deployment's CA: " + issueHint + " on this deployment's CA"
	case alertCertificateExpired:
		when := ""
		if leaf != nil {
			when = fmt.Sprintf(" (valid until %s)", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return ours + ": it has expired or is not valid yet by the server's clock" + when + ": renew it: " + issueHint
	case alertCertificateRevoked:
		return revoked()
	case alertBadCertificate:
		// The server's own checks (pki.VerifyPeer) all end in this
		// alert; our copy of the revocation list may tell which.
		if c.mat != nil && leaf != nil && errors.Is(pki.CheckRevoked(c.mat.Pool, leaf), pki.ErrRevoked) {
			return revoked()
		}
		return ours + ": it may be revoked (`jumeau certs revoke`), lack a jumeau:// identity or the client and server key usages, or the server cannot read its revocation list: " + issueHint
	}
	return ""
}
