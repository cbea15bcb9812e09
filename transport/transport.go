package transport

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
)

// ALPN is the TLS application protocol of jumeau endpoints.
const ALPN = "jumeau/1"

var (
	// ErrFrameVersion is returned by Decoder.Decode for a frame whose
	// version byte is not FrameVersion.
	ErrFrameVersion = errors.New("transport: unknown frame version")
	// ErrFrameTooLarge is returned for a frame body above the size limit.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrFrameCorrupt is returned for a frame body that is empty, is not
	// one msgpack value of the expected shape, or has trailing bytes.
	ErrFrameCorrupt = errors.New("transport: corrupt frame")
	// ErrUnmarshalTarget is returned by Frame.Unmarshal when v is not a
	// non-nil pointer.
	ErrUnmarshalTarget = errors.New("transport: unmarshal target is not a non-nil pointer")
	// ErrRefused is returned when a stream is refused by role policy: by
	// Open when the peer's role may not serve the kind, and by Read or
	// Write when the peer refused our role.
	ErrRefused = errors.New("transport: stream refused")
	// ErrPeerMismatch is returned by Open when the node reached at the
	// resolved address presents another name than the peer asked for.
	ErrPeerMismatch = errors.New("transport: peer identity mismatch")
	// ErrProtocol is returned when a peer rejects our stream header (or we
	// reject its), e.g. after a version change.
	ErrProtocol = errors.New("transport: protocol violation")
	// ErrUnknownKind is returned for a Kind that is not one of the
	// constants.
	ErrUnknownKind = errors.New("transport: unknown stream kind")
	// ErrClosed is returned by operations on a closed Endpoint or stream
	// layer; it wraps net.ErrClosed.
	ErrClosed = fmt.Errorf("transport: endpoint closed: %w", net.ErrClosed)
)

// QUIC application error codes (see doc.go).
const (
	codeClosed   quic.StreamErrorCode = 0x00
	codeRefused  quic.StreamErrorCode = 0x10
	codeProtocol quic.StreamErrorCode = 0x11
	codeShutdown quic.StreamErrorCode = 0x12

	connClosed       quic.ApplicationErrorCode = 0x00
	connPeerMismatch quic.ApplicationErrorCode = 0x20
	connBadIdentity  quic.ApplicationErrorCode = 0x21
	connRevoked      quic.ApplicationErrorCode = 0x22
	connTooMany      quic.ApplicationErrorCode = 0x23
)

// Stream header (see doc.go).
const (
	streamVersion   = 1
	streamHeaderLen = 6
)

var streamMagic = [4]byte{'j', 'm', 'e', 'u'}

// maxIncomingStreams bounds the concurrent streams a peer may open on one
// connection.
const maxIncomingStreams = 256

var _ io.Closer = (*Endpoint)(nil)

// Endpoint is a node's single QUIC endpoint: one UDP socket that accepts
// connections from peers and dials them, with mutual TLS against the
// deployment CA. Streams are opened by peer name and kind; accepted streams
// wait in one queue per kind.
//
// Connections this endpoint dials are cached per peer and carry only the
// streams it opens; connections peers dial carry only theirs. Each direction
// thus follows the route Resolve gives its dialer (fault links are
// directional).
type Endpoint struct {
	cfg       Config
	log       *slog.Logger
	id        pki.Identity
	policy    [KindControl + 1][]pki.Role
	queues    [KindControl + 1]chan *Stream
	m         *metrics
	udp       *net.UDPConn
	tr        *quic.Transport
	ln        *quic.Listener
	clientTLS *tls.Config
	dialConf  *quic.Config

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	refusals *refusalLog

	mu      sync.Mutex
	closed  bool
	peers   map[connKey]*peerConn // dialed connections by peer name and class
	inbound map[*quic.Conn]pki.Identity
	perPeer map[pki.Identity]int // inbound connections by identity
}

// connClass separates the connections to one peer by what they carry:
// consensus traffic (Raft, leases) never shares a connection, so a flow
// control window or a congestion window, with bulk traffic (forwarded
// reads and writes, the shipped WAL, control). A large forwarded read then
// cannot delay a heartbeat or a lease renewal to the same peer.
type connClass uint8

const (
	classConsensus connClass = iota
	classBulk
)

func (k Kind) class() connClass {
	if k == KindRaft || k == KindLease {
		return classConsensus
	}
	return classBulk
}

// connKey names a cached dialed connection.
type connKey struct {
	peer  string
	class connClass
}

// peerConn is a dialed connection, or a dial in progress that concurrent
// Opens wait for.
type peerConn struct {
	key   connKey
	ready chan struct{} // closed when the dial finished; then conn/id or err are set
	conn  *quic.Conn
	id    pki.Identity
	err   error
}

func (pc *peerConn) usable() bool {
	select {
	case <-pc.ready:
		return pc.err == nil && pc.conn.Context().Err() == nil
	default:
		return true // dial in progress: wait for it
	}
}

// Listen binds cfg.Listen and starts accepting connections.
func Listen(cfg Config) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	id := cfg.TLS.Identity
	e := &Endpoint{
		cfg:      cfg,
		log:      logger.With("node", id.Name),
		id:       id,
		m:        newMetrics(id.Name),
		peers:    make(map[connKey]*peerConn),
		inbound:  make(map[*quic.Conn]pki.Identity),
		perPeer:  make(map[pki.Identity]int),
		refusals: newRefusalLog(logger.With("node", id.Name), refusalLogEvery),
	}
	for k, roles := range cfg.Policy {
		e.policy[k] = slices.Clone(roles)
	}
	for _, k := range Kinds() {
		e.queues[k] = make(chan *Stream, cfg.AcceptBacklog)
	}

	addr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	e.udp, err = net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	e.tr = &quic.Transport{Conn: e.udp, StatelessResetKey: statelessResetKey(cfg.TLS)}
	qc := &quic.Config{
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIdleTimeout:        cfg.IdleTimeout,
		KeepAlivePeriod:       cfg.KeepAlivePeriod,
		MaxIncomingStreams:    maxIncomingStreams,
		MaxIncomingUniStreams: -1,
	}
	e.dialConf = qc.Clone()
	e.dialConf.MaxIncomingStreams = -1 // peers never open streams on our dialed connections
	e.clientTLS = cfg.TLS.ClientConfig("", ALPN)

	e.ln, err = e.tr.Listen(e.serverTLS(), qc)
	if err != nil {
		e.tr.Close()
		e.udp.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Go(e.acceptConns)
	e.wg.Go(e.checkRevocations)
	e.log.Info("transport listening", "addr", e.udp.LocalAddr().String(), "identity", id.String())
	return e, nil
}

// statelessResetKey derives the QUIC stateless reset key from the node's
// private key, so that it survives restarts: a restarted node can then reset
// the connections its previous incarnation had, and peers re-dial at once
// instead of waiting for the idle timeout. nil (resets disabled) if the key
// cannot be exported.
func statelessResetKey(m *pki.Material) *quic.StatelessResetKey {
	der, err := x509.MarshalPKCS8PrivateKey(m.Certificate.PrivateKey)
	if err != nil {
		return nil
	}
	k, err := hkdf.Key(sha256.New, der, nil, "jumeau/1 QUIC stateless reset key", 32)
	if err != nil {
		return nil
	}
	var key quic.StatelessResetKey
	copy(key[:], k)
	return &key
}

// serverTLS is the node's server config with the client chain verified in
// VerifyConnection instead of by crypto/tls, so that refused peers are
// counted and logged with their address.
func (e *Endpoint) serverTLS() *tls.Config {
	base := e.cfg.TLS.ServerConfig(ALPN)
	base.ClientAuth = tls.RequireAnyClientCert // verified below, against the same pool
	base.SessionTicketsDisabled = true         // every connection verifies the full chain
	pool := e.cfg.TLS.Pool
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			remote := "unknown"
			if hello.Conn != nil {
				remote = hello.Conn.RemoteAddr().String()
			}
			c := base.Clone()
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				id, err := pki.VerifyPeer(cs, pool)
				if err != nil {
					e.m.handshakeFailures.WithLabelValues("in").Inc()
					e.refusals.warn("refused TLS peer", "tls:"+remote, "remote", remote, "err", err)
					return err
				}
				if err := e.member(id); err != nil {
					e.m.handshakeFailures.WithLabelValues("in").Inc()
					e.refuse(kindConnection, reasonNotMember, id, remote, err)
					return err
				}
				return nil
			}
			return c, nil
		},
	}
}

// Addr returns the bound UDP address.
func (e *Endpoint) Addr() net.Addr { return e.udp.LocalAddr() }

// Identity returns this node's identity (from its certificate).
func (e *Endpoint) Identity() pki.Identity { return e.id }

// Collectors returns the endpoint's Prometheus collectors (streams opened,
// accepted and refused by kind, handshake failures, dials, bytes by kind),
// to register on the caller's registry.
func (e *Endpoint) Collectors() []prometheus.Collector { return e.m.collectors() }

func (e *Endpoint) acceptConns() {
	for {
		conn, err := e.ln.Accept(e.ctx)
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Error("accept connections stopped", "err", err)
			}
			return
		}
		e.wg.Go(func() { e.serveConn(conn) })
	}
}

// serveConn accepts the streams a peer opens on the connection it dialed.
func (e *Endpoint) serveConn(conn *quic.Conn) {
	peer, err := pki.VerifyPeer(conn.ConnectionState().TLS, e.cfg.TLS.Pool)
	if err != nil { // VerifyConnection already refused such peers
		e.m.handshakeFailures.WithLabelValues("in").Inc()
		e.log.Warn("refused peer identity", "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.CloseWithError(connBadIdentity, "identity refused")
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = conn.CloseWithError(connClosed, "endpoint closed")
		return
	}
	var over error
	switch {
	case len(e.inbound) >= e.cfg.MaxConns:
		over = fmt.Errorf("endpoint has %d connections open (MaxConns %d)", len(e.inbound), e.cfg.MaxConns)
	case e.perPeer[peer] >= e.cfg.MaxConnsPerPeer:
		over = fmt.Errorf("%s has %d connections open (MaxConnsPerPeer %d)", peer, e.perPeer[peer], e.cfg.MaxConnsPerPeer)
	default:
		e.inbound[conn] = peer
		e.perPeer[peer]++
		e.m.conns.Set(float64(len(e.inbound)))
	}
	e.mu.Unlock()
	if over != nil {
		e.refuse(kindConnection, reasonConnLimit, peer, conn.RemoteAddr().String(), over)
		_ = conn.CloseWithError(connTooMany, "too many connections")
		return
	}
	defer func() {
		e.mu.Lock()
		delete(e.inbound, conn)
		if e.perPeer[peer]--; e.perPeer[peer] <= 0 {
			delete(e.perPeer, peer)
		}
		e.m.conns.Set(float64(len(e.inbound)))
		e.mu.Unlock()
	}()

	log := e.log.With("peer", peer.String(), "remote", conn.RemoteAddr().String())
	log.Debug("peer connected")
	for {
		qs, err := conn.AcceptStream(e.ctx)
		if err != nil {
			log.Debug("peer connection ended", "cause", context.Cause(conn.Context()))
			return
		}
		e.wg.Go(func() { e.serveStream(conn, peer, qs, log) })
	}
}

// serveStream reads the stream header, applies the role policy and queues
// the stream for Accept.
func (e *Endpoint) serveStream(conn *quic.Conn, peer pki.Identity, qs *quic.Stream, log *slog.Logger) {
	reject := func(code quic.StreamErrorCode) {
		qs.CancelRead(code)
		qs.CancelWrite(code)
	}
	var hdr [streamHeaderLen]byte
	_ = qs.SetReadDeadline(time.Now().Add(e.cfg.HandshakeTimeout))
	if _, err := io.ReadFull(qs, hdr[:]); err != nil {
		log.Warn("stream header not received", "err", err)
		reject(codeProtocol)
		return
	}
	_ = qs.SetReadDeadline(time.Time{})
	kind, err := parseStreamHeader(hdr)
	if err != nil {
		label := "unknown"
		if k := Kind(hdr[5]); k.Valid() {
			label = k.String()
		}
		e.m.refused.WithLabelValues(label, "local").Inc()
		log.Warn("refused stream", "err", err)
		if errors.Is(err, ErrUnknownKind) {
			reject(codeRefused) // a newer peer's kind: refused, not malformed
		} else {
			reject(codeProtocol)
		}
		return
	}
	if err := e.admit(kind, peer); err != nil {
		e.m.refused.WithLabelValues(kind.String(), "local").Inc()
		e.refuse(kind.String(), reasonOf(err), peer, conn.RemoteAddr().String(), err)
		reject(codeRefused)
		return
	}
	s := newStream(qs, conn, kind, peer, false, e.m)
	select {
	case e.queues[kind] <- s:
		e.m.accepted.WithLabelValues(kind.String()).Inc()
	case <-e.ctx.Done():
		s.abort(codeShutdown)
	case <-conn.Context().Done():
		s.abort(codeShutdown)
	}
}

// parseStreamHeader checks magic and version and returns the kind. An
// unknown kind is an error wrapping ErrUnknownKind.
func parseStreamHeader(hdr [streamHeaderLen]byte) (Kind, error) {
	if [4]byte(hdr[:4]) != streamMagic {
		return 0, fmt.Errorf("%w: bad stream magic %x", ErrProtocol, hdr[:4])
	}
	if hdr[4] != streamVersion {
		return 0, fmt.Errorf("%w: stream header version %d (want %d)", ErrProtocol, hdr[4], streamVersion)
	}
	k := Kind(hdr[5])
	if !k.Valid() {
		return 0, fmt.Errorf("%w: %d", ErrUnknownKind, hdr[5])
	}
	return k, nil
}

func streamHeader(k Kind) [streamHeaderLen]byte {
	var h [streamHeaderLen]byte
	copy(h[:4], streamMagic[:])
	h[4] = streamVersion
	h[5] = byte(k)
	return h
}

// Open opens a stream of the given kind to the peer named peer. It reuses
// the cached connection to the peer, dialing it first if there is none or it
// died (concurrent Opens share one dial). The peer must present a
// certificate whose identity name is peer (else ErrPeerMismatch) and whose
// role may serve kind (else ErrRefused). Open writes the stream header and
// returns without a round trip: if the peer refuses our role, the first Read
// or Write that hears of it returns an error wrapping ErrRefused.
func (e *Endpoint) Open(ctx context.Context, peer string, kind Kind) (*Stream, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("open stream to %s: %w: %d", peer, ErrUnknownKind, kind)
	}
	for attempt := 0; ; attempt++ {
		pc, err := e.conn(ctx, connKey{peer, kind.class()})
		if err != nil {
			return nil, fmt.Errorf("open %s stream to %s: %w", kind, peer, err)
		}
		if err := e.admit(kind, pc.id); err != nil {
			e.m.refused.WithLabelValues(kind.String(), "local").Inc()
			e.m.peersRefused.WithLabelValues(kind.String(), string(reasonOf(err))).Inc()
			return nil, fmt.Errorf("open %s stream to %s: %w: %w", kind, peer, ErrRefused, err)
		}
		qs, err := pc.conn.OpenStreamSync(ctx)
		if err != nil {
			if attempt == 0 && ctx.Err() == nil && (pc.conn.Context().Err() != nil || isConnError(err)) {
				// The connection died under us (its context may lag
				// behind the error): drop it and dial again, once.
				e.forget(pc)
				continue
			}
			return nil, fmt.Errorf("open %s stream to %s: %w", kind, peer, err)
		}
		hdr := streamHeader(kind)
		if _, err := qs.Write(hdr[:]); err != nil {
			qs.CancelRead(codeClosed)
			qs.CancelWrite(codeClosed)
			return nil, fmt.Errorf("open %s stream to %s: write header: %w", kind, peer, err)
		}
		e.m.opened.WithLabelValues(kind.String()).Inc()
		return newStream(qs, pc.conn, kind, pc.id, true, e.m), nil
	}
}

// conn returns a live connection of key's class to key's peer, dialing if
// needed.
func (e *Endpoint) conn(ctx context.Context, key connKey) (*peerConn, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	pc := e.peers[key]
	if pc == nil || !pc.usable() {
		pc = &peerConn{key: key, ready: make(chan struct{})}
		e.peers[key] = pc
		e.wg.Go(func() { e.dial(key.peer, pc) })
	}
	e.mu.Unlock()

	select {
	case <-pc.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for connection: %w", context.Cause(ctx))
	}
	if pc.err != nil {
		return nil, pc.err
	}
	return pc, nil
}

// dial connects to peer and checks its identity; it fills pc and closes
// pc.ready. It is bounded by HandshakeTimeout and by Close, not by the
// context of the Open that started it (other Opens may be waiting).
func (e *Endpoint) dial(peer string, pc *peerConn) {
	defer close(pc.ready)
	fail := func(result dialResult, err error) {
		pc.err = err
		e.m.dials.WithLabelValues(string(result)).Inc()
		e.forget(pc)
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.HandshakeTimeout)
	defer cancel()

	target, err := e.cfg.Resolve(peer)
	if err != nil {
		fail(dialError, fmt.Errorf("resolve %s: %w", peer, err))
		return
	}
	addr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		fail(dialError, fmt.Errorf("resolve %s: %w", peer, err))
		return
	}
	tlsConf := e.clientTLS.Clone()
	tlsConf.ServerName = peer // SNI only: the identity is checked below
	conn, err := e.tr.Dial(ctx, addr, tlsConf, e.dialConf)
	if err != nil {
		e.m.handshakeFailures.WithLabelValues("out").Inc()
		e.log.Warn("dial failed", "peer", peer, "addr", addr.String(), "err", err)
		fail(dialError, fmt.Errorf("dial %s at %s: %w", peer, addr, err))
		return
	}
	id, err := pki.VerifyPeer(conn.ConnectionState().TLS, e.cfg.TLS.Pool)
	if err != nil { // the handshake verified it already
		_ = conn.CloseWithError(connBadIdentity, "identity refused")
		e.m.handshakeFailures.WithLabelValues("out").Inc()
		fail(dialError, fmt.Errorf("dial %s at %s: %w", peer, addr, err))
		return
	}
	if id.Name != peer {
		_ = conn.CloseWithError(connPeerMismatch, "peer identity mismatch")
		e.log.Warn("dialed the wrong peer", "peer", peer, "addr", addr.String(), "got", id.String())
		fail(dialMismatch, fmt.Errorf("dial %s at %s: reached %s: %w", peer, addr, id, ErrPeerMismatch))
		return
	}
	if err := e.member(id); err != nil {
		// The right name with another role or region than the
		// deployment's node of that name: a misissued certificate.
		_ = conn.CloseWithError(connPeerMismatch, "peer identity mismatch")
		e.refuse(kindConnection, reasonNotMember, id, addr.String(), err)
		fail(dialMismatch, fmt.Errorf("dial %s at %s: reached %s: %w: %w", peer, addr, id, ErrPeerMismatch, err))
		return
	}
	if e.ctx.Err() != nil {
		_ = conn.CloseWithError(connClosed, "endpoint closed")
		fail(dialError, ErrClosed)
		return
	}
	pc.conn, pc.id = conn, id
	e.m.dials.WithLabelValues(string(dialOK)).Inc()
	e.log.Debug("connected to peer", "peer", id.String(), "addr", addr.String())
	e.wg.Go(func() {
		<-conn.Context().Done()
		e.forget(pc)
		e.log.Debug("connection to peer ended", "peer", peer, "cause", context.Cause(conn.Context()))
	})
}

// Redial closes this endpoint's connections to peer, if it dialed any: the
// next Open dials afresh. A caller whose streams stall on a connection
// that survived a long blackout uses it: QUIC's loss recovery backs off
// exponentially while nothing gets through, and a new connection starts
// over with a fresh RTT estimate and congestion window.
func (e *Endpoint) Redial(peer string) {
	var pcs []*peerConn
	e.mu.Lock()
	for _, class := range []connClass{classConsensus, classBulk} {
		key := connKey{peer, class}
		if pc := e.peers[key]; pc != nil {
			delete(e.peers, key)
			pcs = append(pcs, pc)
		}
	}
	e.mu.Unlock()
	for _, pc := range pcs {
		select {
		case <-pc.ready:
			if pc.conn != nil {
				_ = pc.conn.CloseWithError(0, "redial")
			}
		default:
			// Still dialing: the dial finishes on its own and is not reused.
		}
	}
}

// forget drops pc from the cache if it is still the entry for its key.
func (e *Endpoint) forget(pc *peerConn) {
	e.mu.Lock()
	if e.peers[pc.key] == pc {
		delete(e.peers, pc.key)
	}
	e.mu.Unlock()
}

// Accept returns the next stream of the given kind that a peer opened and
// the policy allowed.
func (e *Endpoint) Accept(ctx context.Context, kind Kind) (*Stream, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("accept: %w: %d", ErrUnknownKind, kind)
	}
	if e.ctx.Err() != nil {
		return nil, fmt.Errorf("accept %s: %w", kind, ErrClosed)
	}
	select {
	case s := <-e.queues[kind]:
		return s, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("accept %s: %w", kind, context.Cause(ctx))
	case <-e.ctx.Done():
		return nil, fmt.Errorf("accept %s: %w", kind, ErrClosed)
	}
}

// Close closes every connection (peers see an orderly close), the listener
// and the socket, and waits for the endpoint's goroutines. Streams are
// reset. Close is idempotent.
func (e *Endpoint) Close() error { return e.close(true) }

// close shuts the endpoint down; graceful=false skips the CONNECTION_CLOSE
// frames, as a crash would (for tests of peer restarts).
func (e *Endpoint) close(graceful bool) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var conns []*quic.Conn
	for c := range e.inbound {
		conns = append(conns, c)
	}
	for _, pc := range e.peers {
		select {
		case <-pc.ready:
			if pc.conn != nil {
				conns = append(conns, pc.conn)
			}
		default:
		}
	}
	e.mu.Unlock()

	e.cancel()
	if graceful {
		for _, c := range conns {
			_ = c.CloseWithError(connClosed, "endpoint closed")
		}
	}
	var errs []error
	// Transport.Close also tears down connections still being dialed.
	for _, err := range []error{e.ln.Close(), e.tr.Close(), e.udp.Close()} {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	e.wg.Wait()
	for _, q := range e.queues {
		for drained := false; !drained; {
			select {
			case s := <-q:
				s.abort(codeShutdown)
			default:
				drained = true
			}
		}
	}
	e.log.Info("transport closed")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close endpoint %s: %w", e.id.Name, err)
	}
	return nil
}
