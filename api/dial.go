package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// clientHandshakeTimeout bounds the client's side of a TLS handshake.
const clientHandshakeTimeout = 10 * time.Second

// closedEarlyError marks a request whose connection the server closed
// before answering anything: during the TLS handshake, or right after it
// (a server over a connection cap does both, Limits).
type closedEarlyError struct {
	err       error
	handshake bool
}

func (e *closedEarlyError) Error() string { return e.err.Error() }
func (e *closedEarlyError) Unwrap() error { return e.err }

// isClose reports whether err is the peer closing or resetting the
// connection (not a TLS alert: crypto/tls reports those otherwise).
func isClose(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// dialer opens the client's TLS connections itself, so that a connection
// the server closes during the handshake can be told from other failures
// (Client.doOne tells one closed right after it).
type dialer struct {
	net *net.Dialer
	tc  *tls.Config
}

func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, d.tc)
	hctx, cancel := context.WithTimeout(ctx, clientHandshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		if isClose(err) {
			return nil, &closedEarlyError{err: err, handshake: true}
		}
		return nil, err
	}
	// A *tls.Conn, not a wrapper: net/http reads the protocol ALPN
	// chose (h2 or http/1.1) from it.
	return conn, nil
}

// probeWait bounds how long a probe waits for the server to refuse it.
const probeWait = 2 * time.Second

// probe opens a TLS connection to addr and waits briefly for the server
// to refuse it: it returns the TLS alert the server sent, a
// closedEarlyError if the server closed it without a word, or nil if the
// connection stayed open (or could not be made: the request's own error
// says why then).
func (d *dialer) probe(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeWait+clientHandshakeTimeout)
	defer cancel()
	raw, err := d.net.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil
	}
	defer raw.Close()
	tc := d.tc.Clone()
	tc.NextProtos = []string{"http/1.1"} // an HTTP/1.1 server waits for us to speak
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		if isClose(err) {
			return &closedEarlyError{err: err, handshake: true}
		}
		if _, ok := remoteAlert(err); ok {
			return err
		}
		return nil
	}
	if err := conn.SetReadDeadline(time.Now().Add(probeWait)); err != nil {
		return nil
	}
	var b [1]byte
	_, err = conn.Read(b[:])
	switch {
	case err == nil:
		return nil
	case isClose(err):
		return &closedEarlyError{err: err}
	}
	if _, ok := remoteAlert(err); ok {
		return err
	}
	return nil
}
