package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
)

// Kind is the purpose of a stream. The acceptor checks the opener's role
// against the policy of the kind, and queues the stream for Accept(kind).
type Kind uint8

// Stream kinds. The values are on the wire (stream header byte 5).
const (
	// KindRaft carries hashicorp/raft RPCs between the sites of a cell.
	KindRaft Kind = 1
	// KindForward carries client writes forwarded to the cell leader.
	KindForward Kind = 2
	// KindShip carries the WAL from the cell leader to the twin.
	KindShip Kind = 3
	// KindLease carries primary lease renewals and epoch queries.
	KindLease Kind = 4
	// KindControl carries health, status and drill control.
	KindControl Kind = 5
)

// Kinds lists every stream kind.
func Kinds() []Kind { return []Kind{KindRaft, KindForward, KindShip, KindLease, KindControl} }

// Valid reports whether k is one of the Kind constants.
func (k Kind) Valid() bool { return k >= KindRaft && k <= KindControl }

// String returns the lower-case name of the kind ("raft", ...).
func (k Kind) String() string {
	switch k {
	case KindRaft:
		return "raft"
	case KindForward:
		return "forward"
	case KindShip:
		return "ship"
	case KindLease:
		return "lease"
	case KindControl:
		return "control"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// DefaultPolicy is the role policy of a jumeau node: only sites speak Raft
// and forward writes; sites and the twin ship the WAL (both ways, for reverse
// replication after a failover); sites, the twin and the witness exchange
// leases and control messages.
func DefaultPolicy() map[Kind][]pki.Role {
	return map[Kind][]pki.Role{
		KindRaft:    {pki.RoleSite},
		KindForward: {pki.RoleSite},
		KindShip:    {pki.RoleSite, pki.RoleTwin},
		KindLease:   {pki.RoleSite, pki.RoleTwin, pki.RoleWitness},
		KindControl: {pki.RoleSite, pki.RoleTwin, pki.RoleWitness},
	}
}

// Config configures an Endpoint.
type Config struct {
	// Listen is the UDP address to bind, e.g. "127.0.0.1:7001". The same
	// socket listens and dials.
	Listen string
	// TLS is the node's certificate, key and CA pool (pki.LoadTLS).
	TLS *pki.Material
	// Resolve maps a peer node name to the UDP address to dial (which may
	// be a fault-link relay in front of the peer). The peer is
	// authenticated by its certificate, not by its address.
	Resolve func(peer string) (addr string, err error)
	// Policy says which peer roles may open, and may serve, each kind of
	// stream. A kind without an entry is refused to everyone.
	Policy map[Kind][]pki.Role
	// Logger receives refusals and connection events; nil discards.
	Logger *slog.Logger
	// HandshakeTimeout bounds a QUIC+TLS handshake and the reading of a
	// stream header.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection without any traffic for that long.
	IdleTimeout time.Duration
	// KeepAlivePeriod is how often an idle connection is pinged; it must be
	// shorter than IdleTimeout.
	KeepAlivePeriod time.Duration
	// AcceptBacklog is the length of each kind's accept queue. A stream
	// that finds the queue full waits for Accept.
	AcceptBacklog int
	// Members, if set, says which identities belong to the deployment and
	// which stream kinds each may use (members.go): a connection from any
	// other certificate is refused in the handshake, a stream of a kind the
	// peer has no business on is refused like a role the policy refuses.
	// nil checks the role policy only (tools and tests); a node always
	// sets it.
	Members *Members
	// MaxConns bounds the connections peers have open to this endpoint; a
	// connection over it is closed at once (code 0x23).
	MaxConns int
	// MaxConnsPerPeer bounds the connections one identity has open to this
	// endpoint (a node dials one and reuses it; a restarted node's old one
	// is reset); one over it is closed at once (code 0x23).
	MaxConnsPerPeer int
	// RevocationCheckEvery is how often the certificates of open
	// connections are checked against the revocation list: a connection
	// whose peer was revoked is closed (code 0x22).
	RevocationCheckEvery time.Duration
}

// DefaultConfig returns a Config with the default policy and timeouts; set
// Listen, TLS and Resolve.
func DefaultConfig() Config {
	return Config{
		Policy:           DefaultPolicy(),
		HandshakeTimeout: 5 * time.Second,
		IdleTimeout:      30 * time.Second,
		KeepAlivePeriod:  5 * time.Second,
		AcceptBacklog:    64,
		MaxConns:         256,
		MaxConnsPerPeer:  8,
		// The check stats the revocation list file and looks up a
		// serial per connection: cheap at this rate.
		RevocationCheckEvery: time.Second,
	}
}

// Validate checks the config; its errors name the field and the fix.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New(`transport: Config.Listen is empty: set the UDP address to bind, e.g. "127.0.0.1:7001"`))
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("transport: Config.Listen %q is not host:port: %w", c.Listen, err))
	}
	if c.TLS == nil {
		errs = append(errs, errors.New("transport: Config.TLS is nil: load the node's certificates with pki.LoadTLS"))
	} else {
		if c.TLS.Pool == nil || len(c.TLS.Certificate.Certificate) == 0 || c.TLS.Certificate.PrivateKey == nil {
			errs = append(errs, errors.New("transport: Config.TLS is incomplete: load it with pki.LoadTLS"))
		}
		if err := c.TLS.Identity.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("transport: Config.TLS.Identity: %w", err))
		}
	}
	if c.Resolve == nil {
		errs = append(errs, errors.New("transport: Config.Resolve is nil: set a function mapping peer names to UDP addresses"))
	}
	if c.Policy == nil {
		errs = append(errs, errors.New("transport: Config.Policy is nil: use DefaultPolicy()"))
	}
	for k, roles := range c.Policy {
		if !k.Valid() {
			errs = append(errs, fmt.Errorf("transport: Config.Policy has unknown kind %d: use the Kind constants", k))
		}
		for _, r := range roles {
			if !r.Valid() {
				errs = append(errs, fmt.Errorf("transport: Config.Policy[%s] has unknown role %q: use the pki.Role constants", k, r))
			}
		}
	}
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("transport: Config.HandshakeTimeout %v must be positive (default 5s)", c.HandshakeTimeout))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("transport: Config.IdleTimeout %v must be positive (default 30s)", c.IdleTimeout))
	}
	if c.KeepAlivePeriod <= 0 || c.KeepAlivePeriod >= c.IdleTimeout {
		errs = append(errs, fmt.Errorf("transport: Config.KeepAlivePeriod %v must be positive and below IdleTimeout %v (default 5s)", c.KeepAlivePeriod, c.IdleTimeout))
	}
	if c.AcceptBacklog <= 0 {
		errs = append(errs, fmt.Errorf("transport: Config.AcceptBacklog %d must be positive (default 64)", c.AcceptBacklog))
	}
	if c.MaxConns <= 0 {
		errs = append(errs, fmt.Errorf("transport: Config.MaxConns %d must be positive (default 256)", c.MaxConns))
	}
	if c.MaxConnsPerPeer <= 0 || c.MaxConnsPerPeer > c.MaxConns {
		errs = append(errs, fmt.Errorf("transport: Config.MaxConnsPerPeer %d must be positive and at most MaxConns %d (default 8)", c.MaxConnsPerPeer, c.MaxConns))
	}
	if c.RevocationCheckEvery <= 0 {
		errs = append(errs, fmt.Errorf("transport: Config.RevocationCheckEvery %v must be positive (default 1s)", c.RevocationCheckEvery))
	}
	return errors.Join(errs...)
}
