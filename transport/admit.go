package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/monaco-sovereign/jumeau/internal/ratelog"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/quic-go/quic-go"
)

// refusalLogEvery is how often one peer's refusals of one kind are logged:
// a peer retrying in a loop must not flood the log.
const refusalLogEvery = 10 * time.Second

// admit applies the role policy, then the membership rule, to a peer that
// opens (or that we want to serve) a stream of kind.
func (e *Endpoint) admit(kind Kind, peer pki.Identity) error {
	if err := pki.CheckRole(peer, e.policy[kind]...); err != nil {
		return err
	}
	if e.cfg.Members != nil {
		return e.cfg.Members.Admit(kind, peer)
	}
	return nil
}

// member reports whether peer may connect at all: it is a node of the
// deployment (with Members) and its role may use at least one kind.
func (e *Endpoint) member(peer pki.Identity) error {
	if e.cfg.Members != nil {
		if err := e.cfg.Members.Member(peer); err != nil {
			return err
		}
	}
	for _, k := range Kinds() {
		if pki.CheckRole(peer, e.policy[k]...) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s: no stream kind is open to role %s", ErrNotMember, peer, peer.Role)
}

// reasonOf is the metric reason of an admit error.
func reasonOf(err error) refusalReason {
	if errors.Is(err, pki.ErrRoleNotAllowed) {
		return reasonRole
	}
	return reasonNotMember
}

// refuse counts and logs (rate-limited per peer and kind) the refusal of
// a peer whose certificate is valid.
func (e *Endpoint) refuse(kind string, reason refusalReason, peer pki.Identity, remote string, err error) {
	e.m.peersRefused.WithLabelValues(kind, string(reason)).Inc()
	e.refusals.warn("refused peer", peer.String()+"|"+kind+"|"+string(reason),
		"peer", peer.String(), "kind", kind, "reason", string(reason), "remote", remote, "err", err)
}

// checkRevocations closes, every RevocationCheckEvery, the connections
// (accepted and dialed) whose peer certificate is now revoked, so that a
// revocation takes effect on connections opened before it.
func (e *Endpoint) checkRevocations() {
	t := time.NewTicker(e.cfg.RevocationCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		e.closeRevoked()
	}
}

func (e *Endpoint) closeRevoked() {
	type open struct {
		conn *quic.Conn
		peer string
	}
	var conns []open
	e.mu.Lock()
	for c, id := range e.inbound {
		conns = append(conns, open{c, id.String()})
	}
	for _, pc := range e.peers {
		select {
		case <-pc.ready:
			if pc.conn != nil {
				conns = append(conns, open{pc.conn, pc.id.String()})
			}
		default:
		}
	}
	e.mu.Unlock()
	for _, o := range conns {
		certs := o.conn.ConnectionState().TLS.PeerCertificates
		if len(certs) == 0 {
			continue
		}
		if err := pki.CheckRevoked(e.cfg.TLS.Pool, certs[0]); err != nil {
			e.m.peersRefused.WithLabelValues(kindConnection, string(reasonRevoked)).Inc()
			e.log.Warn("closing the connection of a revoked peer", "peer", o.peer, "remote", o.conn.RemoteAddr().String(), "err", err)
			_ = o.conn.CloseWithError(connRevoked, "certificate revoked")
		}
	}
}

// refusalLog logs a warning at most once per interval per key, with the
// number of warnings it held back since the last one.
type refusalLog struct {
	log *slog.Logger
	lim *ratelog.Limiter
}

func newRefusalLog(log *slog.Logger, every time.Duration) *refusalLog {
	return &refusalLog{log: log, lim: ratelog.New(every)}
}

func (r *refusalLog) warn(msg, key string, args ...any) {
	ok, held := r.lim.Allow(key, time.Now())
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	r.log.Warn(msg, args...)
}
