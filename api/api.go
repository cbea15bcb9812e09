package api

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/internal/ratelog"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// MaxValueSize bounds a value in a PUT body.
const MaxValueSize = 8 << 20

// Backend is what the API serves (implemented by *replicator.Cell).
type Backend interface {
	Put(ctx context.Context, ns, key string, value []byte, d replicator.Durability) (replicator.Result, error)
	Delete(ctx context.Context, ns, key string, d replicator.Durability) (replicator.Result, error)
	Get(ctx context.Context, ns, key string, cons replicator.Consistency) ([]byte, error)
	List(ctx context.Context, ns string, q replicator.ListQuery, cons replicator.Consistency, emit func(replicator.KV) error) (replicator.ListPage, error)
}

// Config configures a Server.
type Config struct {
	Listen  string
	TLS     *pki.Material
	Backend Backend
	Status  func() any
	// Promote, if set, serves POST /v1/failover/promote (admin only): it
	// asks this node (the twin) to become the primary; force accepts a
	// larger loss than the automatic bound.
	Promote func(ctx context.Context, force bool) (any, error)
	// Switchover, if set, serves POST /v1/failover/switchover?to=REGION
	// (admin only): the primary hands its role to region to.
	Switchover func(ctx context.Context, to string) (any, error)
	// Sandbox, if set, serves POST /v1/drill/sandbox (admin only): the
	// live, non-disruptive drill on the twin (a promoted clone, isolated
	// and thrown away).
	Sandbox        func(ctx context.Context) (any, error)
	Logger         *slog.Logger
	RequestTimeout time.Duration
	// Limits bound connections and their timeouts; zero fields take
	// DefaultLimits.
	Limits Limits
}

// Server is the HTTPS API of one node.
type Server struct {
	cfg    Config
	ln     *connLimiter
	m      *metrics
	srv    *http.Server
	logger *slog.Logger
	done   chan error
	// base is every request's parent context: Close cancels it after
	// closeGrace, so a request waiting on a write that cannot complete
	// (no leader) does not hold the shutdown for its whole timeout.
	base       context.Context
	cancelBase context.CancelFunc
	logs       ratelog.Limiter // per-request refusals
}

// closeGrace is how long Close lets in-flight requests finish before it
// cancels them.
const closeGrace = time.Second

// WriteResult is the body of a successful PUT or DELETE.
type WriteResult struct {
	RaftIndex uint64 `json:"raft_index"`
	WALIndex  uint64 `json:"wal_index"`
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Listen binds the API address and starts serving.
func Listen(cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.TLS == nil {
		return nil, errors.New("api: listen: backend and TLS material are required")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The handshake verifies the client certificate (chain to this
	// deployment's CA, not revoked, a jumeau identity): a client without
	// a valid one never gets an established connection. It learns why
	// from the TLS alert, which the Go client turns into a message
	// (explainTransport). The role is checked per request (auth).
	tc := cfg.TLS.ServerConfig("h2", "http/1.1")
	raw, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, m: newMetrics(cfg.TLS.Identity.Name), logger: logger.With("component", "api"), done: make(chan error, 1), logs: ratelog.Limiter{Every: logEvery}}
	s.ln = newConnLimiter(raw, tc, cfg.Limits, s.m, s.logger)
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connAuthKey{}, &connAuth{})
		},
	}
	// The listener hands over *tls.Conn with the handshake done: Serve
	// (not ServeTLS) serves HTTP/1.1 or HTTP/2 by the negotiated protocol.
	go func() { s.done <- s.srv.Serve(s.ln) }()
	return s, nil
}

// Collectors returns the server's Prometheus collectors: open connections
// (jumeau_api_connections) and connections refused by reason
// (jumeau_api_connections_refused_total), labelled with the node's name.
func (s *Server) Collectors() []prometheus.Collector { return s.m.collectors() }

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting in-flight requests finish for up to ctx.
//
// Requests still running after closeGrace are cancelled (their callers
// see the write's outcome as unknown, as after a crash).
func (s *Server) Close(ctx context.Context) error {
	cancel := time.AfterFunc(closeGrace, s.cancelBase)
	defer cancel.Stop()
	defer s.cancelBase()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	_ = s.ln.Close()
	s.ln.wait()
	return err
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	kv := []pki.Role{pki.RoleClient, pki.RoleAdmin}
	st := []pki.Role{pki.RoleClient, pki.RoleAdmin, pki.RoleAuditor}
	mux.Handle("PUT /v1/kv/{ns}/{key...}", s.auth(kv, s.put))
	mux.Handle("DELETE /v1/kv/{ns}/{key...}", s.auth(kv, s.del))
	mux.Handle("GET /v1/kv/{ns}/{key...}", s.auth(kv, s.get))
	mux.Handle("GET /v1/kv/{ns}", s.auth(kv, s.list))
	mux.Handle("GET /v1/status", s.auth(st, s.status))
	mux.Handle("POST /v1/failover/promote", s.auth([]pki.Role{pki.RoleAdmin}, s.promote))
	mux.Handle("POST /v1/failover/switchover", s.auth([]pki.Role{pki.RoleAdmin}, s.switchover))
	mux.Handle("POST /v1/drill/sandbox", s.auth([]pki.Role{pki.RoleAdmin}, s.sandbox))
	mux.Handle("GET /healthz", s.auth(st, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(mux, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s: see `jumeau --help` or api/doc.go for the routes", r.Method, r.URL.Path))
	})
	return mux
}

// routeMethods are the methods tried by allowedMethods.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete}

// allowedMethods returns the methods with which r's path matches a route
// other than the catch-all "/": the path exists, r's method does not.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allowed []string
	for _, m := range routeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// connAuth caches the identity of a connection's client certificate: it
// cannot change during a TLS connection (the handshake verified the chain).
type connAuth struct {
	once   sync.Once
	id     pki.Identity
	leaf   *x509.Certificate
	status int
	msg    string
}

type connAuthKey struct{}

// identify returns the identity of the client certificate the handshake
// verified, or an HTTP status and message.
func identify(r *http.Request) (pki.Identity, *x509.Certificate, int, string) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		// The handshake requires a certificate: not reached.
		return pki.Identity{}, nil, http.StatusUnauthorized,
			"no client certificate: pass --ca/--cert/--key with a certificate from `jumeau certs issue --role client`"
	}
	leaf := r.TLS.PeerCertificates[0]
	id, err := pki.IdentityFromCert(leaf)
	if err != nil {
		return pki.Identity{}, leaf, http.StatusUnauthorized, fmt.Sprintf("%v: issue a client certificate with `jumeau certs issue --role client`", err)
	}
	return id, leaf, 0, ""
}

// auth checks, on every request, that the connection's client
// certificate is neither expired nor revoked since the handshake, and
// that its role may use the route (routes allow different roles).
func (s *Server) auth(roles []pki.Role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ca, _ := r.Context().Value(connAuthKey{}).(*connAuth)
		if ca == nil {
			ca = &connAuth{}
		}
		ca.once.Do(func() { ca.id, ca.leaf, ca.status, ca.msg = identify(r) })
		if ca.status != 0 {
			writeError(w, ca.status, "unauthenticated", ca.msg)
			return
		}
		if time.Now().After(ca.leaf.NotAfter) {
			// A keep-alive connection outlived its certificate.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusUnauthorized, "unauthenticated",
				"client certificate expired during this connection: reconnect with a renewed certificate")
			return
		}
		// The revocation list may have changed since the handshake: a
		// revoked certificate loses its open connections too. The lookup
		// is cheap (a stat of the list file, about 3 µs): pki re-reads
		// the list only when the file changed.
		if err := pki.CheckRevoked(s.cfg.TLS.Pool, ca.leaf); err != nil {
			if ok, n := s.logs.Allow("revoked", time.Now()); ok {
				s.logger.Warn("refused client certificate on an open connection", "identity", ca.id.String(), "remote", r.RemoteAddr, "err", err, "suppressed", n)
			}
			w.Header().Set("Connection", "close")
			msg := fmt.Sprintf("client certificate %q refused (%v): ask for a new certificate (`jumeau certs issue --role %s`)", ca.id.String(), err, ca.id.Role)
			if !errors.Is(err, pki.ErrRevoked) {
				msg = fmt.Sprintf("client certificate %q refused: this node cannot read its revocation list (%v)", ca.id.String(), err)
			}
			writeError(w, http.StatusUnauthorized, "unauthenticated", msg)
			return
		}
		if err := pki.CheckRole(ca.id, roles...); err != nil {
			if ok, n := s.logs.Allow("role", time.Now()); ok {
				s.logger.Warn("refused client role", "identity", ca.id.String(), "remote", r.RemoteAddr, "err", err, "suppressed", n)
			}
			writeError(w, http.StatusForbidden, "forbidden",
				fmt.Sprintf("%v: %s %s needs a certificate with role %s: issue one with `jumeau certs issue --role %s`",
					err, r.Method, r.URL.Path, orRoles(roles), roles[0]))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	})
}

// orRoles joins roles as "a, b or c".
func orRoles(roles []pki.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func consistency(r *http.Request) (replicator.Consistency, error) {
	switch v := r.URL.Query().Get("consistency"); v {
	case "", "linearizable":
		return replicator.Linearizable, nil
	case "stale":
		return replicator.Stale, nil
	default:
		return 0, fmt.Errorf("%w: consistency %q: use linearizable or stale", replicator.ErrBadRequest, v)
	}
}

func durability(r *http.Request) (replicator.Durability, error) {
	return replicator.ParseDurability(r.URL.Query().Get("durability"))
}

func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	d, err := durability(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxValueSize))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("value too large: values are limited to %d bytes: split it, or store it elsewhere and put a reference to it", mbe.Limit))
		return
	}
	if err != nil {
		s.fail(w, fmt.Errorf("%w: read value: %v", replicator.ErrBadRequest, err))
		return
	}
	res, err := s.cfg.Backend.Put(r.Context(), r.PathValue("ns"), r.PathValue("key"), body, d)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, WriteResult{RaftIndex: res.RaftIndex, WALIndex: res.WALIndex})
}

func (s *Server) del(w http.ResponseWriter, r *http.Request) {
	d, err := durability(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	res, err := s.cfg.Backend.Delete(r.Context(), r.PathValue("ns"), r.PathValue("key"), d)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, WriteResult{RaftIndex: res.RaftIndex, WALIndex: res.WALIndex})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	cons, err := consistency(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	v, err := s.cfg.Backend.Get(r.Context(), r.PathValue("ns"), r.PathValue("key"), cons)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(v)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(v)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Status == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "status is not available on this node")
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Status())
}

func (s *Server) sandbox(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Sandbox == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "this node runs no live drill: send the request to the twin")
		return
	}
	res, err := s.cfg.Sandbox(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) switchover(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Switchover == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "this node cannot hand over the primary role: send the request to the primary")
		return
	}
	to := r.URL.Query().Get("to")
	if to == "" {
		s.fail(w, fmt.Errorf("%w: to is empty: name the region to switch over to (e.g. to=luxembourg)", replicator.ErrBadRequest))
		return
	}
	res, err := s.cfg.Switchover(r.Context(), to)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) promote(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Promote == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "this node cannot be promoted: send the request to the twin")
		return
	}
	force := false
	switch v := r.URL.Query().Get("force"); v {
	case "", "false":
	case "true":
		force = true
	default:
		s.fail(w, fmt.Errorf("%w: force %q: use true or false", replicator.ErrBadRequest, v))
		return
	}
	res, err := s.cfg.Promote(r.Context(), force)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, replicator.ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, replicator.ErrBadRequest):
		status, code = http.StatusBadRequest, "bad_request"
	case errors.Is(err, replicator.ErrNoLeader), errors.Is(err, replicator.ErrNotLeader), errors.Is(err, replicator.ErrClosed):
		status, code = http.StatusServiceUnavailable, "no_leader"
	case errors.Is(err, replicator.ErrReadTimeout):
		// Before the timeout case: a read that timed out changed
		// nothing, unlike a write whose outcome is unknown.
		status, code = http.StatusGatewayTimeout, "read_timeout"
	case errors.Is(err, replicator.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		status, code = http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, ErrNotImplemented):
		status, code = http.StatusNotImplemented, "not_implemented"
	case errors.Is(err, replicator.ErrReadOnly):
		status, code = http.StatusForbidden, "read_only"
	case errors.Is(err, replicator.ErrTwinUnconfirmed):
		status, code = http.StatusGatewayTimeout, "twin_unconfirmed"
	case errors.Is(err, replicator.ErrRPOExceeded):
		status, code = http.StatusServiceUnavailable, "rpo_exceeded"
	case errors.Is(err, replicator.ErrSwitching):
		status, code = http.StatusServiceUnavailable, "switching"
	case errors.Is(err, replicator.ErrNoTwin):
		status, code = http.StatusBadRequest, "no_twin"
	case errors.Is(err, failover.ErrLeaseExpired):
		status, code = http.StatusServiceUnavailable, "lease_expired"
	case errors.Is(err, failover.ErrFenced):
		status, code = http.StatusForbidden, "fenced"
	case errors.Is(err, failover.ErrRefused):
		status, code = http.StatusConflict, "refused"
	case errors.Is(err, diskspace.ErrNoSpace):
		status, code = http.StatusInsufficientStorage, "nospace"
	}
	if status == http.StatusInternalServerError {
		s.logger.Error("request failed", "err", err)
	}
	writeError(w, status, code, err.Error())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
