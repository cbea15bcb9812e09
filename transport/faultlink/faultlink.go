package faultlink

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrInvalidParams means Params failed validation or decoding.
	ErrInvalidParams = errors.New("faultlink: invalid params")
	// ErrClosed means the link or set is closed.
	ErrClosed = errors.New("faultlink: closed")
	// ErrLinkExists means a set already has a link of that name.
	ErrLinkExists = errors.New("faultlink: link already exists")
	// ErrNoLink means a set has no link of that name.
	ErrNoLink = errors.New("faultlink: no such link")
	// ErrInvalidName means a link name is empty, too long, or has characters
	// other than letters, digits and "._-:>".
	ErrInvalidName = errors.New("faultlink: invalid link name")
)

const (
	// DefaultSessionIdle is how long a client may stay silent, both ways,
	// before its upstream socket is closed.
	DefaultSessionIdle = 2 * time.Minute
	// MaxSessions is how many clients a link relays for at once; datagrams
	// from more clients are dropped and counted as errors.
	MaxSessions = 4096
)

// DirectionStats counts what happened to the datagrams of one direction.
type DirectionStats struct {
	// Packets and Bytes count datagrams delivered.
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// Dropped is Lost + Blackholed + Overflowed + Errors.
	Dropped uint64 `json:"dropped"`
	// Lost counts datagrams dropped by Params.Loss.
	Lost uint64 `json:"lost"`
	// Blackholed counts datagrams dropped by Params.Blackhole.
	Blackholed uint64 `json:"blackholed"`
	// Overflowed counts datagrams dropped because a queue was full.
	Overflowed uint64 `json:"overflowed"`
	// Errors counts datagrams the relay could not send or had no session for.
	Errors uint64 `json:"errors"`
	// Queued is how many datagrams wait for their delivery time now.
	Queued int `json:"queued"`
}

// Stats are a link's counters since it was created.
type Stats struct {
	// ToTarget is the direction from clients to the target.
	ToTarget DirectionStats `json:"to_target"`
	// ToClient is the direction from the target back to clients.
	ToClient DirectionStats `json:"to_client"`
	// Sessions is the number of clients with an upstream socket now.
	Sessions int `json:"sessions"`
}

// session is one client of a link and its upstream socket to the target.
type session struct {
	client netip.AddrPort
	up     *net.UDPConn
	last   atomic.Int64 // link clock of the last datagram either way
	closed atomic.Bool
}

// Link is a fault-injecting UDP relay. It listens on a local address and
// forwards every datagram a client sends to the target through an upstream
// socket of that client, and relays the target's replies back to the client.
// Its faults can be changed at any time with Set.
type Link struct {
	name     string
	target   *net.UDPAddr
	conn     *net.UDPConn
	log      *slog.Logger
	epoch    time.Time
	baseline Params
	idle     time.Duration

	toTarget *direction
	toClient *direction

	pmu    sync.Mutex // serialises params changes
	params atomic.Pointer[Params]

	mu       sync.Mutex
	sessions map[netip.AddrPort]*session
	closed   bool

	done      chan struct{}
	wg        sync.WaitGroup
	running   atomic.Int32 // goroutines alive, for tests
	closeOnce sync.Once
	closeErr  error
}

// New starts a link named name that listens on the UDP address listen (such
// as "127.0.0.1:0") and relays to the UDP address target with the faults p.
// p is also the link's baseline, which Reset restores. A nil logger discards.
func New(name, listen, target string, p Params, logger *slog.Logger) (*Link, error) {
	return newLink(name, listen, target, p, logger, DefaultSessionIdle)
}

// newLink is New with a session idle timeout.
func newLink(name, listen, target string, p Params, logger *slog.Logger, idle time.Duration) (*Link, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("new link %s: %w", name, err)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("new link %s: resolve target %s: %w", name, target, err)
	}
	laddr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("new link %s: resolve listen address %s: %w", name, listen, err)
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("new link %s: listen on %s: %w", name, listen, err)
	}
	l := &Link{
		name:     name,
		target:   taddr,
		conn:     conn,
		log:      logger.With("link", name),
		epoch:    time.Now(),
		baseline: p,
		idle:     idle,
		sessions: make(map[netip.AddrPort]*session),
		done:     make(chan struct{}),
	}
	pp := p
	l.params.Store(&pp)
	seed := uint64(time.Now().UnixNano())
	l.toTarget = newDirection(p, seed, func(b []byte, s *session) error {
		_, err := s.up.Write(b)
		return err
	})
	l.toClient = newDirection(p, seed+1, func(b []byte, s *session) error {
		_, err := l.conn.WriteToUDPAddrPort(b, s.client)
		return err
	})
	l.goRun(func() { l.toTarget.run(l.now, l.done) })
	l.goRun(func() { l.toClient.run(l.now, l.done) })
	l.goRun(l.readClients)
	l.log.Info("link up", "listen", l.Addr(), "target", target, "params", p.String())
	return l, nil
}

// goRun starts a goroutine that Close waits for.
func (l *Link) goRun(f func()) {
	l.wg.Add(1)
	l.running.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.running.Add(-1)
		f()
	}()
}

// now is the link's monotonic clock in nanoseconds.
func (l *Link) now() int64 { return int64(time.Since(l.epoch)) }

// Name returns the link's name.
func (l *Link) Name() string { return l.name }

// Addr returns the address the link listens on; clients send there.
func (l *Link) Addr() string { return l.conn.LocalAddr().String() }

// Target returns the address the link relays to.
func (l *Link) Target() string { return l.target.String() }

// Params returns the faults in force.
func (l *Link) Params() Params { return *l.params.Load() }

// Baseline returns the faults the link was created with.
func (l *Link) Baseline() Params { return l.baseline }

// Set replaces the faults of both directions. It takes effect for the next
// datagram; datagrams already queued keep their delivery times, except that a
// blackhole also drops them.
func (l *Link) Set(p Params) error {
	return l.update(func(cur *Params) { *cur = p })
}

// Reset restores the baseline faults (those given to New).
func (l *Link) Reset() {
	// The baseline was validated by New.
	_ = l.Set(l.baseline)
}

// update applies change to the current params atomically with respect to
// other updates.
func (l *Link) update(change func(*Params)) error {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	p := *l.params.Load()
	change(&p)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("set params of link %s: %w", l.name, err)
	}
	l.params.Store(&p)
	l.toTarget.set(p)
	l.toClient.set(p)
	l.log.Info("link params set", "params", p.String())
	return nil
}

// Seed reseeds the random sources of loss and jitter, so that a test sees the
// same drops for the same traffic.
func (l *Link) Seed(seed uint64) {
	l.toTarget.seed(seed)
	l.toClient.seed(seed + 1)
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	n := len(l.sessions)
	l.mu.Unlock()
	return Stats{ToTarget: l.toTarget.snapshot(), ToClient: l.toClient.snapshot(), Sessions: n}
}

// Close stops the link: it closes its sockets, stops its goroutines, waits for
// them, and drops what is queued. It is safe to call more than once.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		err := l.conn.Close()
		l.mu.Lock()
		l.closed = true
		for _, s := range l.sessions {
			s.closed.Store(true)
			_ = s.up.Close()
		}
		l.sessions = nil
		l.mu.Unlock()
		l.wg.Wait()
		l.toTarget.drain()
		l.toClient.drain()
		if err != nil {
			l.closeErr = fmt.Errorf("close link %s: %w", l.name, err)
		}
		l.log.Info("link closed")
	})
	return l.closeErr
}

// readClients reads datagrams from clients and passes them to the target
// direction, until the listening socket is closed.
func (l *Link) readClients() {
	buf := make([]byte, largeBuf)
	var last *session
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if l.stopping(err) {
				return
			}
			continue
		}
		s := last
		if s == nil || s.client != from || s.closed.Load() {
			s = l.session(from)
			if s == nil {
				l.toTarget.stats.errors.Add(1)
				continue
			}
			last = s
		}
		now := l.now()
		s.last.Store(now)
		l.toTarget.handle(now, buf[:n], s)
	}
}

// stopping reports whether a read error means the link is closing; other
// errors are logged and, if they repeat, slowed down.
func (l *Link) stopping(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	select {
	case <-l.done:
		return true
	default:
	}
	l.log.Debug("read error", "err", err)
	// A persistent socket error must not spin a core.
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	select {
	case <-l.done:
		return true
	case <-t.C:
		return false
	}
}

// session returns the session of a client, creating it (and its upstream
// socket and reader) on first sight. It returns nil if the link is closed,
// full, or the upstream socket cannot be made.
func (l *Link) session(client netip.AddrPort) *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if s, ok := l.sessions[client]; ok {
		return s
	}
	if len(l.sessions) >= MaxSessions {
		l.log.Warn("too many clients; dropping datagram", "client", client, "max", MaxSessions)
		return nil
	}
	up, err := net.DialUDP("udp", nil, l.target)
	if err != nil {
		l.log.Warn("open upstream socket", "client", client, "target", l.target, "err", err)
		return nil
	}
	s := &session{client: client, up: up}
	s.last.Store(l.now())
	l.sessions[client] = s
	l.goRun(func() { l.readTarget(s) })
	l.log.Debug("session open", "client", client, "upstream", up.LocalAddr())
	return s
}

// readTarget reads the target's replies to one client and passes them to the
// client direction, until the session is closed or idle.
func (l *Link) readTarget(s *session) {
	buf := make([]byte, largeBuf)
	deadline := l.epoch.Add(time.Duration(s.last.Load()) + l.idle)
	_ = s.up.SetReadDeadline(deadline)
	for {
		n, err := s.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.closed.Load() {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
				if l.expire(s) {
					return
				}
				_ = s.up.SetReadDeadline(l.epoch.Add(time.Duration(s.last.Load()) + l.idle))
				continue
			}
			// A connected UDP socket reports ICMP errors (target not
			// listening yet) as read errors: not fatal.
			if l.stopping(err) {
				return
			}
			continue
		}
		now := l.now()
		s.last.Store(now)
		l.toClient.handle(now, buf[:n], s)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expire closes s if it has been idle for l.idle, and reports whether it did.
func (l *Link) expire(s *session) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now()-s.last.Load() < int64(l.idle) {
		return false
	}
	if l.sessions[s.client] == s {
		delete(l.sessions, s.client)
	}
	s.closed.Store(true)
	_ = s.up.Close()
	l.log.Debug("session idle; closed", "client", s.client)
	return true
}
