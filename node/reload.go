package node

import (
	"errors"
	"log/slog"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/pki"
)

// Reload (SIGHUP on `jumeau serve`) applies what a running node can take
// without a restart:
//
//   - the certificate and key (the files tls.cert and tls.key name),
//     served from the next handshake on by QUIC, the API and the metrics
//     listener; a pair that does not load (unreadable, key mode, key of
//     another certificate, not of the CA, expired, revoked, another
//     identity) is refused and the current one kept;
//   - log.level, from the configuration file read again;
//   - the revocation list needs nothing: it is read again whenever the
//     file changes, at every verification. Reload reads and logs it, so
//     an invalid one (every certificate refused) shows at once.
//
// Other keys of the file that differ from the running configuration take
// effect at the next restart; Reload names them. A file that no longer
// loads applies nothing (the certificate is reloaded all the same).

// reloadResult is the result label of jumeau_reload_total.
type reloadResult string

// Results of a reload.
const (
	reloadOK    reloadResult = "ok"
	reloadError reloadResult = "error" // something was refused and kept as it was
)

// noRestartKeys are the configuration keys Reload applies.
var noRestartKeys = map[string]bool{"log.level": true}

// ReloadResult is what Node.Reload did (it also logs it).
type ReloadResult struct {
	// LogLevel is the log level after the reload; LogLevelWas before.
	LogLevel, LogLevelWas string
	// Cert is the certificate served before and after; CertErr why a new
	// pair was refused.
	Cert    pki.CertReload
	CertErr error
	// CRL is the revocation list checked against; CRLErr says it is
	// invalid.
	CRL    pki.CRLInfo
	CRLErr error
	// ConfigErr is why the configuration file did not load.
	ConfigErr error
	// Restart lists the keys whose new values wait for a restart.
	Restart []string
}

// Err joins what the reload refused or found broken (nil: all applied).
func (r ReloadResult) Err() error { return errors.Join(r.ConfigErr, r.CertErr, r.CRLErr) }

// Reload applies what the node can take without a restart (see above).
// next is the configuration file read again, nil if reading it failed
// with nextErr. It logs what changed and what was refused, and counts
// the reload in jumeau_reload_total{result}.
func (n *Node) Reload(next *Config, nextErr error) ReloadResult {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	log := n.logger.With("component", "reload")
	r := ReloadResult{ConfigErr: nextErr}
	if nextErr != nil {
		log.Error("reload: the configuration file does not load: none of it is applied, the node keeps its settings", "err", nextErr)
	}
	if lv := n.opts.LogLevel; lv != nil {
		r.LogLevelWas = levelName(lv.Level())
		r.LogLevel = r.LogLevelWas
		if next != nil {
			var want slog.Level
			if err := want.UnmarshalText([]byte(next.Log.Level)); err == nil && want != lv.Level() {
				lv.Set(want)
				r.LogLevel = levelName(want)
				log.Info("reload: log level changed", "from", r.LogLevelWas, "to", r.LogLevel)
			}
		}
	}
	if next != nil {
		r.Restart = changedKeys(n.cfg, *next)
		if len(r.Restart) > 0 {
			log.Warn("reload: these settings changed in the configuration file and take effect only when the process restarts", "keys", r.Restart)
		}
	}
	r.Cert, r.CertErr = n.mat.Reload()
	switch cur := r.Cert.New; {
	case r.CertErr != nil:
		log.Error("reload: refused the certificate and key files; still serving the current certificate",
			"cert", n.cfg.TLS.Cert, "key", n.cfg.TLS.Key, "serial", cur.SerialNumber.Text(16), "not_after", cur.NotAfter.UTC(), "err", r.CertErr)
	case r.Cert.Changed:
		log.Info("reload: serving the new certificate from the next handshake on (open connections keep theirs)",
			"cert", n.cfg.TLS.Cert, "serial", cur.SerialNumber.Text(16), "not_after", cur.NotAfter.UTC(),
			"serial_was", r.Cert.Old.SerialNumber.Text(16), "not_after_was", r.Cert.Old.NotAfter.UTC())
	default:
		log.Info("reload: certificate unchanged", "cert", n.cfg.TLS.Cert, "serial", cur.SerialNumber.Text(16), "not_after", cur.NotAfter.UTC())
	}
	r.CRL, r.CRLErr = pki.RevocationList(n.mat.Pool)
	if r.CRLErr != nil {
		log.Error("reload: the revocation list is invalid: every certificate is refused until it is fixed or removed", "file", r.CRL.File, "err", r.CRLErr)
	} else {
		log.Info("reload: revocation list", "file", r.CRL.File, "present", r.CRL.Present, "revoked", r.CRL.Revoked)
	}
	res := reloadOK
	if r.Err() != nil {
		res = reloadError
	}
	n.reloads.WithLabelValues(string(res)).Inc()
	return r
}

// reloadCollectors are jumeau_reload_total and the expiry of the
// certificate served, which an SRE alerts on before it runs out.
func (n *Node) reloadCollectors() []prometheus.Collector {
	n.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jumeau_reload_total",
		Help: "Reloads (SIGHUP) by result: ok, or error when something was refused and kept as it was (see the log).",
	}, []string{"result"})
	for _, r := range []reloadResult{reloadOK, reloadError} {
		n.reloads.WithLabelValues(string(r))
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jumeau_tls_cert_expiry_timestamp_seconds",
		Help: "When the certificate this node serves expires (Unix time); renew it and send SIGHUP before.",
	}, func() float64 { return float64(n.mat.Current().Leaf.NotAfter.Unix()) })
	return []prometheus.Collector{n.reloads, expiry}
}

// levelName is the configuration name of a log level (debug, info, warn,
// error).
func levelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}

// changedKeys lists the keys (node.name, peers, ...) whose values differ
// between a and b, other than those Reload applies.
func changedKeys(a, b Config) []string {
	var out []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		t := x.Type()
		for i := 0; i < t.NumField(); i++ {
			key := t.Field(i).Tag.Get("mapstructure")
			if key == "" {
				continue
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			fx, fy := x.Field(i), y.Field(i)
			if fx.Kind() == reflect.Struct && fx.Type() != reflect.TypeFor[time.Time]() {
				walk(key, fx, fy)
				continue
			}
			if !noRestartKeys[key] && !reflect.DeepEqual(fx.Interface(), fy.Interface()) {
				out = append(out, key)
			}
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}
