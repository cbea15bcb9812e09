package api

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/internal/ratelog"
	"github.com/monaco-sovereign/jumeau/pki"
)

// refusal is why the server closed a connection before serving it; it is
// the reason label of jumeau_api_connections_refused_total.
type refusal string

// The refusal reasons.
const (
	// refusedTLS: the TLS handshake failed or timed out (no client
	// certificate, one this deployment's CA did not sign, a revoked one,
	// or a client too slow to finish).
	refusedTLS refusal = "tls"
	// refusedNodeCap: the server already held Limits.MaxConnections.
	refusedNodeCap refusal = "node_cap"
	// refusedClientCap: the client's identity already held
	// Limits.MaxConnectionsPerClient.
	refusedClientCap refusal = "client_cap"
)

func refusals() []refusal { return []refusal{refusedTLS, refusedNodeCap, refusedClientCap} }

// logEvery is the least time between two log lines of one kind of
// refusal; the ones in between are counted in the next line.
const logEvery = 10 * time.Second

// metrics are a Server's collectors. They carry a constant "node" label
// so several servers (a lab on one machine) can share a registry.
type metrics struct {
	open    prometheus.Gauge
	refused *prometheus.CounterVec // reason
}

func newMetrics(node string) *metrics {
	labels := prometheus.Labels{"node": node}
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "jumeau", Subsystem: "api", Name: "connections",
			Help:        "Client API connections held open, from accept (including those in the TLS handshake).",
			ConstLabels: labels,
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jumeau", Subsystem: "api", Name: "connections_refused_total",
			Help:        "Client API connections closed before serving a request, by reason: tls (handshake failed or timed out), node_cap (api.max_connections reached), client_cap (api.max_connections_per_client reached by the client's identity).",
			ConstLabels: labels,
		}, []string{"reason"}),
	}
	// Make every series exist from the start so rates work at once.
	for _, r := range refusals() {
		m.refused.WithLabelValues(string(r))
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.open, m.refused}
}

// connLimiter is the Server's listener. It accepts TCP connections, closes
// those over MaxConnections at once, runs each TLS handshake (which
// verifies the client certificate, pki.Material.ServerConfig) under
// HandshakeTimeout, closes those over MaxConnectionsPerClient, and hands
// only the authenticated connections to the HTTP server (as *tls.Conn, so
// it finds the handshake done and the negotiated protocol).
type connLimiter struct {
	raw    net.Listener
	tc     *tls.Config
	lim    Limits
	m      *metrics
	logger *slog.Logger
	logs   ratelog.Limiter

	ready  chan net.Conn
	done   chan struct{}
	ctx    context.Context // cancelled by Close: interrupts handshakes
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup

	mu        sync.Mutex
	open      int
	perClient map[string]int
}

func newConnLimiter(raw net.Listener, tc *tls.Config, lim Limits, m *metrics, logger *slog.Logger) *connLimiter {
	l := &connLimiter{raw: raw, tc: tc, lim: lim, m: m, logger: logger, logs: ratelog.Limiter{Every: logEvery},
		ready: make(chan net.Conn), done: make(chan struct{}), perClient: map[string]int{}}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// Accept returns the next authenticated connection.
func (l *connLimiter) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and interrupts the handshakes under way;
// connections already handed to the HTTP server are its to close.
func (l *connLimiter) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		l.cancel()
		err = l.raw.Close()
	})
	return err
}

// Addr is the bound address.
func (l *connLimiter) Addr() net.Addr { return l.raw.Addr() }

// wait returns when the accept loop and every handshake have ended (after
// Close).
func (l *connLimiter) wait() { l.wg.Wait() }

func (l *connLimiter) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *connLimiter) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.raw.Accept()
		if err != nil {
			if l.closed() || errors.Is(err, net.ErrClosed) {
				_ = l.Close()
				return
			}
			// Out of file descriptors and the like: retry, backing off
			// as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if ok, n := l.logs.Allow("accept", time.Now()); ok {
				l.logger.Warn("accepting an API connection failed; retrying", "err", err, "retry_in", backoff, "suppressed", n)
			}
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		if !l.admit() {
			// Counted before the close, so a client that sees the close
			// also sees the count.
			l.refuse(refusedNodeCap, c.RemoteAddr(), "open", l.lim.MaxConnections,
				"hint", "api.max_connections reached: raise it or find the client holding the connections")
			_ = c.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(&trackedConn{Conn: c, l: l})
	}
}

// handshake runs the TLS handshake of c and, if the client is
// authenticated and under its cap, hands the connection to Accept.
func (l *connLimiter) handshake(c *trackedConn) {
	defer l.wg.Done()
	conn := tls.Server(c, l.tc)
	ctx, cancel := context.WithTimeout(l.ctx, l.lim.HandshakeTimeout)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(l.lim.HandshakeTimeout))
	if err := conn.HandshakeContext(ctx); err != nil {
		l.refuse(refusedTLS, c.RemoteAddr(), "err", err)
		_ = conn.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var id pki.Identity
	var err error
	if certs := conn.ConnectionState().PeerCertificates; len(certs) > 0 {
		id, err = pki.IdentityFromCert(certs[0])
	} else {
		err = pki.ErrNoPeerCert // the handshake requires one: not reached
	}
	if err != nil {
		l.refuse(refusedTLS, c.RemoteAddr(), "err", err)
		_ = conn.Close()
		return
	}
	if !l.admitClient(c, id.String()) {
		l.refuse(refusedClientCap, c.RemoteAddr(), "identity", id.String(), "open", l.lim.MaxConnectionsPerClient,
			"hint", "api.max_connections_per_client reached by this identity: the client should pool fewer connections, or raise the cap")
		_ = conn.Close()
		return
	}
	select {
	case l.ready <- conn:
	case <-l.done:
		_ = conn.Close()
	}
}

// admit counts a new connection against MaxConnections.
func (l *connLimiter) admit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.lim.MaxConnections {
		return false
	}
	l.open++
	l.m.open.Inc()
	return true
}

// admitClient counts c against its identity's MaxConnectionsPerClient.
func (l *connLimiter) admitClient(c *trackedConn, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perClient[id] >= l.lim.MaxConnectionsPerClient {
		return false
	}
	l.perClient[id]++
	c.client = id
	return true
}

// release uncounts a closed connection.
func (l *connLimiter) release(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	l.m.open.Dec()
	if c.client == "" {
		return
	}
	if l.perClient[c.client]--; l.perClient[c.client] <= 0 {
		delete(l.perClient, c.client)
	}
}

// refuse counts a refused connection and logs it (rate-limited per
// reason).
func (l *connLimiter) refuse(r refusal, remote net.Addr, attrs ...any) {
	if l.closed() {
		return // handshakes interrupted by Close are not refusals
	}
	l.m.refused.WithLabelValues(string(r)).Inc()
	ok, n := l.logs.Allow(string(r), time.Now())
	if !ok {
		return
	}
	l.logger.Warn("refused API connection", append([]any{"reason", string(r), "remote", remote.String(), "suppressed", n}, attrs...)...)
}

// trackedConn is an accepted connection, uncounted when it closes.
type trackedConn struct {
	net.Conn
	l      *connLimiter
	client string // identity counted by admitClient; guarded by l.mu
	once   sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}
