package api

import (
	"fmt"
	"time"
)

// Limits bound what clients may hold of a Server: connections (file
// descriptors and memory) and how long a connection may sit in the TLS
// handshake or idle. A node sets them from the api.* keys of its
// configuration (docs/config.md).
type Limits struct {
	// MaxConnections bounds the connections the server holds at once,
	// counted from accept (so including those still in the TLS
	// handshake). A connection over the cap is closed at once, before
	// its handshake (api.max_connections).
	MaxConnections int
	// MaxConnectionsPerClient bounds the established connections of one
	// client identity (role/region/name of its certificate), so one
	// client cannot take the whole MaxConnections. A connection over the
	// cap is closed right after its handshake
	// (api.max_connections_per_client).
	MaxConnectionsPerClient int
	// HandshakeTimeout bounds the TLS handshake of a connection, from
	// accept (api.handshake_timeout).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that carried no request
	// for this long (api.idle_timeout).
	IdleTimeout time.Duration
}

// Bounds of the Limits accepted by Validate.
const (
	// MaxMaxConnections is the largest MaxConnections: the usual ceiling
	// of a Linux process's open files (fs.nr_open).
	MaxMaxConnections = 1 << 20
	// MinHandshakeTimeout leaves a client on another continent a few
	// round trips for the handshake.
	MinHandshakeTimeout = 100 * time.Millisecond
	// MaxHandshakeTimeout keeps a stalled handshake from holding a
	// connection for long.
	MaxHandshakeTimeout = time.Minute
	// MinIdleTimeout keeps connections reusable between requests.
	MinIdleTimeout = time.Second
	// MaxIdleTimeout bounds how long an idle connection is kept.
	MaxIdleTimeout = time.Hour
)

// readHeaderTimeout bounds the reading of a request's headers.
const readHeaderTimeout = 10 * time.Second

// DefaultLimits returns the limits a node uses unless configured
// otherwise: 1024 connections in all, 256 per client identity, a 5 s
// handshake and a 30 s idle timeout.
//
// 1024 connections cost a few tens of MB and leave most of a default
// file-descriptor budget to Pebble and QUIC; 256 per identity is four
// times the Go client's default pool (ClientOptions.MaxConns, 64) and
// above the largest pool the repository's tools open (256), while leaving
// three quarters of the node to other identities. A TLS 1.3 handshake
// takes one round trip plus the certificate checks: 5 s is ample across
// regions and short for a client that stalls on purpose. Clients keep
// their pools busy or reconnect cheaply, so 30 s idle is enough.
func DefaultLimits() Limits {
	return Limits{
		MaxConnections:          1024,
		MaxConnectionsPerClient: 256,
		HandshakeTimeout:        5 * time.Second,
		IdleTimeout:             30 * time.Second,
	}
}

// Validate checks every limit against its bounds; the error wraps
// ErrInvalidLimits and names the configuration key.
func (l Limits) Validate() error {
	switch {
	case l.MaxConnections < 1 || l.MaxConnections > MaxMaxConnections:
		return fmt.Errorf("%w: api.max_connections %d: use 1..%d (default %d)", ErrInvalidLimits, l.MaxConnections, MaxMaxConnections, DefaultLimits().MaxConnections)
	case l.MaxConnectionsPerClient < 1 || l.MaxConnectionsPerClient > l.MaxConnections:
		return fmt.Errorf("%w: api.max_connections_per_client %d: use 1..api.max_connections (%d)", ErrInvalidLimits, l.MaxConnectionsPerClient, l.MaxConnections)
	case l.HandshakeTimeout < MinHandshakeTimeout || l.HandshakeTimeout > MaxHandshakeTimeout:
		return fmt.Errorf("%w: api.handshake_timeout %v: use %v..%v (default %v)", ErrInvalidLimits, l.HandshakeTimeout, MinHandshakeTimeout, MaxHandshakeTimeout, DefaultLimits().HandshakeTimeout)
	case l.IdleTimeout < MinIdleTimeout || l.IdleTimeout > MaxIdleTimeout:
		return fmt.Errorf("%w: api.idle_timeout %v: use %v..%v (default %v)", ErrInvalidLimits, l.IdleTimeout, MinIdleTimeout, MaxIdleTimeout, DefaultLimits().IdleTimeout)
	}
	return nil
}

// withDefaults fills the zero fields from DefaultLimits (callers that
// predate Limits, and tests, leave them zero).
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.MaxConnectionsPerClient == 0 {
		l.MaxConnectionsPerClient = min(d.MaxConnectionsPerClient, l.MaxConnections)
	}
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = d.HandshakeTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	return l
}
