package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/monaco-sovereign/jumeau/internal/ratelog"
	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/pki"
)

// The metrics listener (listen.metrics) serves /metrics, /livez and
// /readyz and, with listen.pprof, Go's /debug/pprof/ handlers.
//
// /livez and /readyz take no authentication, on plain HTTP and TLS alike,
// so that a load balancer or an orchestrator's probe can ask: /livez
// answers 200 while the process serves (503 once it is closing), /readyz
// 200 while the node does its part (Readiness), else 503; both with a
// small JSON document, and nothing about the data.
//
// Without listen.metrics_tls it speaks plain HTTP with no authentication:
// whoever reaches the address reads the metrics (node names, roles, WAL
// indices, lag, latencies, error counts; no keys, values or
// credentials), and with pprof can profile the process (CPU, heap,
// goroutine stacks, execution traces: internals, and CPU to spend).
// Validate therefore refuses pprof on an address that is not loopback
// unless metrics_tls is on.
//
// With listen.metrics_tls it speaks TLS 1.3 with the node's certificate.
// A client certificate, when one is sent, must be of the deployment's CA
// (verified, revocation included, in the handshake: an untrusted one is
// refused there). A client without a certificate completes the handshake
// for the probes only: it is served /livez and /readyz, one request per
// connection, and refused everything else. /metrics then takes the
// auditor role, the least one there is: a client certificate would also
// read and write every namespace through the API, an auditor's reads
// status only, so a scraper's stolen credential is worth little.
// /debug/pprof/ takes admin only. Admin may read /metrics too (an
// operator with curl); admin can do more than that already.
var (
	metricsRoles = []pki.Role{pki.RoleAuditor, pki.RoleAdmin}
	pprofRoles   = []pki.Role{pki.RoleAdmin}
)

// Reasons a scrape of the TLS metrics listener is refused
// (jumeau_metrics_refused_total{reason}).
const (
	refusedNoCert    = "no_certificate"
	refusedUntrusted = "untrusted"
	refusedExpired   = "expired"
	refusedRole      = "role"
)

// refusalLogEvery is the least time between two log lines about refused
// scrapes of one reason (every refusal is counted).
const refusalLogEvery = 30 * time.Second

// validateMetricsListen checks listen.metrics_tls and listen.pprof
// against listen.metrics (already known to be empty or host:port).
func (c Config) validateMetricsListen() error {
	l := c.Listen
	if l.MetricsTLS && l.Metrics == "" {
		return fmt.Errorf("config: listen.metrics_tls needs listen.metrics (the address it secures): set listen.metrics, or remove listen.metrics_tls")
	}
	if l.Pprof && !l.MetricsTLS && !isLoopback(l.Metrics) {
		return fmt.Errorf("config: listen.pprof would serve /debug/pprof/ without authentication on listen.metrics %q, which is not a loopback address: "+
			"bind listen.metrics to 127.0.0.1 (and reach it through an SSH tunnel), set listen.metrics_tls: true (pprof then needs an admin certificate), or set listen.pprof: false", l.Metrics)
	}
	return nil
}

// isLoopback reports whether host:port hostport binds only the loopback
// interface: localhost or a loopback IP. An empty host binds every
// interface; other names are not resolved (they may not stay loopback).
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startMetrics registers the build, reload and keyring metrics and starts
// the metrics listener if listen.metrics is set.
func (n *Node) startMetrics() error {
	n.reg.MustRegister(buildInfo())
	n.reg.MustRegister(n.reloadCollectors()...)
	if n.keys != nil {
		n.reg.MustRegister(keyringCollectors(n.keys)...)
	}
	l := n.cfg.Listen
	if l.Metrics == "" {
		return nil
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jumeau_metrics_refused_total",
		Help: "Requests to the TLS metrics listener refused, by reason (no_certificate, untrusted, expired, role).",
	}, []string{"reason"})
	for _, r := range []string{refusedNoCert, refusedUntrusted, refusedExpired, refusedRole} {
		refused.WithLabelValues(r)
	}
	n.reg.MustRegister(refused)
	ma := &metricsAuth{pool: n.mat.Pool, refused: refused, logger: n.logger.With("component", "metrics"),
		logs: ratelog.New(refusalLogEvery)}

	mux := http.NewServeMux()
	mux.Handle("GET /livez", probe(n.live))
	mux.Handle("GET /readyz", probe(func() (bool, any) { r := n.Ready(); return r.Ready, r }))
	mux.Handle("/metrics", ma.require(metricsRoles, promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{})))
	if l.Pprof {
		mux.Handle("/debug/pprof/", ma.require(pprofRoles, http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", ma.require(pprofRoles, http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", ma.require(pprofRoles, http.HandlerFunc(pprof.Trace)))
	}
	ln, err := net.Listen("tcp", l.Metrics)
	if err != nil {
		return fmt.Errorf("node: metrics listener %s: %w", l.Metrics, err)
	}
	n.mln = ln
	n.metrics = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(ma.logger.Handler(), slog.LevelDebug),
	}
	if !l.MetricsTLS {
		if !isLoopback(l.Metrics) {
			n.logger.Info("metrics listener serves plain HTTP without authentication on a non-loopback address; set listen.metrics_tls: true to require client certificates",
				"listen.metrics", l.Metrics)
		}
		go func() { _ = n.metrics.Serve(ln) }()
		return nil
	}
	ma.tls = true
	n.metrics.TLSConfig = ma.tlsConfig(n.mat)
	go func() { _ = n.metrics.ServeTLS(ln, "", "") }()
	return nil
}

// MetricsAddr is the bound metrics address ("" without listen.metrics).
func (n *Node) MetricsAddr() string {
	if n.mln == nil {
		return ""
	}
	return n.mln.Addr().String()
}

// metricsAuth authenticates the TLS metrics listener's clients and
// counts (and logs, rate-limited) what it refuses.
type metricsAuth struct {
	tls     bool // serving TLS: check client certificates
	pool    *x509.CertPool
	refused *prometheus.CounterVec
	logger  *slog.Logger

	logs *ratelog.Limiter // one line per reason per refusalLogEvery
}

// tlsConfig is the listener's TLS 1.3 configuration: the node's
// certificate, and a client certificate, if sent, verified against the
// deployment's CA (chain, key usages, revocation) in the handshake. The
// certificate is requested rather than required, and with no CA list (a
// client then sends even a certificate of another CA), so that every
// refusal is counted under its reason; a client without one is refused
// by require, past the probes.
func (a *metricsAuth) tlsConfig(m *pki.Material) *tls.Config {
	// ServerConfig presents m's current certificate: Reload applies here too.
	c := m.ServerConfig()
	c.ClientAuth, c.ClientCAs = tls.RequestClientCert, nil
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil // the probes only (require)
		}
		if _, err := pki.VerifyPeer(cs, a.pool); err != nil {
			a.refuse(refusedUntrusted, "refused a client certificate", err)
			return fmt.Errorf("node: metrics listener: %w", err)
		}
		return nil
	}
	return c
}

// probe serves a health check: 200 with the JSON of doc while ok, else
// 503. A client without a certificate (on the TLS listener) gets one
// answer per connection.
func probe(check func() (ok bool, doc any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) == 0 {
			w.Header().Set("Connection", "close")
		}
		ok, doc := check()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if ok {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(doc)
	})
}

// liveness is the answer of /livez.
type liveness struct {
	Alive bool   `json:"alive"`
	Node  string `json:"node"`
}

// live reports whether the node is serving (not closing).
func (n *Node) live() (bool, any) {
	select {
	case <-n.done:
		return false, liveness{Node: n.cfg.Node.Name}
	default:
		return true, liveness{Alive: true, Node: n.cfg.Node.Name}
	}
}

// require serves h to clients whose certificate has one of roles (when
// serving TLS; plain HTTP serves everyone).
func (a *metricsAuth) require(roles []pki.Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.tls {
			h.ServeHTTP(w, r)
			return
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			a.refuse(refusedNoCert, "a client presented no certificate: scrape with one from `jumeau certs issue --role auditor`", nil)
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("client certificate required: use one from `jumeau certs issue --role %s` (only /livez and /readyz are served without)", roles[0]), http.StatusUnauthorized)
			return
		}
		leaf := r.TLS.PeerCertificates[0]
		if time.Now().After(leaf.NotAfter) {
			// A keep-alive connection outlived its certificate.
			a.refuse(refusedExpired, "a client certificate expired during its connection", nil)
			http.Error(w, "client certificate expired during this connection: reconnect with a renewed certificate", http.StatusUnauthorized)
			return
		}
		id, err := pki.IdentityFromCert(leaf)
		if err == nil {
			err = pki.CheckRole(id, roles...)
		}
		if err != nil {
			a.refuse(refusedRole, "refused a client role", err)
			http.Error(w, fmt.Sprintf("%v: use a certificate from `jumeau certs issue --role %s`", err, roles[0]), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refuse counts a refusal and logs it, at most once per refusalLogEvery
// for each reason.
func (a *metricsAuth) refuse(reason, msg string, err error) {
	a.refused.WithLabelValues(reason).Inc()
	ok, n := a.logs.Allow(reason, time.Now())
	if !ok {
		return
	}
	attrs := []any{"reason", reason, "suppressed_since_last", n}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	a.logger.Warn("metrics listener: "+msg, attrs...)
}

// buildInfo is jumeau_build_info: always 1, labelled with what the binary
// was built from, so that a dashboard shows which nodes run which build
// (and joins it onto other series).
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jumeau_build_info",
		Help: "Always 1; the labels say which build this node runs (version, commit, go_version).",
	}, []string{"version", "commit", "go_version"})
	g.WithLabelValues(Version, Commit, runtime.Version()).Set(1)
	return g
}

// keyringCollectors are the keyring file's metrics: an SRE alerts on a
// stale file (the keys are served from the replicated state meanwhile)
// and graphs failed writes.
func keyringCollectors(k *keyring.Keyring) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jumeau_keyring_write_failures_total",
			Help: "Failed writes of the keyring file (the keys stay usable in memory; the file is written again by the next write or start).",
		}, func() float64 { return float64(k.WriteFailures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jumeau_keyring_file_stale",
			Help: "1 while the keyring file lacks namespace keys held in memory (its last write failed), else 0.",
		}, func() float64 {
			if k.Stale() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jumeau_keyring_namespaces",
			Help: "Namespaces with a data key in this node's keyring.",
		}, func() float64 { return float64(len(k.Namespaces())) }),
	}
}
