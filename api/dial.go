package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
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
// the server closes before answering can be told from other failures.
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
	return &watchedConn{Conn: conn}, nil
}

// watchedConn is a client connection that remembers whether the server
// closed it before sending a byte of an answer.
type watchedConn struct {
	*tls.Conn
	answered    atomic.Bool
	closedEarly atomic.Bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered.Store(true)
	}
	if err != nil && !c.answered.Load() && isClose(err) {
		c.closedEarly.Store(true)
	}
	return n, err
}
