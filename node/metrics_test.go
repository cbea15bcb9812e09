package node_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
)

func TestLoadConfig_MetricsListener(t *testing.T) {
	listen := func(extra string) string {
		return strings.Replace(validYAML, `listen: {quic: "127.0.0.1:7001", api: "127.0.0.1:8001"}`,
			`listen: {quic: "127.0.0.1:7001", api: "127.0.0.1:8001", `+extra+`}`, 1)
	}
	for _, tc := range []struct {
		name, listen string
		want         []string // substrings of the error; nil: valid
	}{
		{"pprof on all interfaces", `metrics: "0.0.0.0:9001", pprof: true`, []string{"listen.pprof", "0.0.0.0:9001", "127.0.0.1", "listen.metrics_tls: true"}},
		{"pprof on an empty host", `metrics: ":9001", pprof: true`, []string{"listen.pprof", "not a loopback"}},
		{"pprof on all IPv6 interfaces", `metrics: "[::]:9001", pprof: true`, []string{"listen.pprof"}},
		{"pprof on a LAN address", `metrics: "10.0.0.1:9001", pprof: true`, []string{"listen.pprof"}},
		{"pprof on a host name", `metrics: "metrics.example:9001", pprof: true`, []string{"listen.pprof"}},
		{"metrics_tls without metrics", `metrics_tls: true`, []string{"listen.metrics_tls", "listen.metrics"}},
		{"pprof on loopback", `metrics: "127.0.0.1:9001", pprof: true`, nil},
		{"pprof on localhost", `metrics: "localhost:9001", pprof: true`, nil},
		{"pprof on IPv6 loopback", `metrics: "[::1]:9001", pprof: true`, nil},
		{"pprof behind TLS on all interfaces", `metrics: "0.0.0.0:9001", pprof: true, metrics_tls: true`, nil},
		{"plain metrics on all interfaces", `metrics: "0.0.0.0:9001"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, listen(tc.listen)), nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil, want an error naming %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to name %q", err, w)
				}
			}
		})
	}
}

// scraper is an HTTPS client of the metrics listener presenting cert
// (none if nil) and trusting the deployment's CA.
func scraper(tb testing.TB, pool *x509.CertPool, cert *tls.Certificate) *http.Client {
	tb.Helper()
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(tb testing.TB, c *http.Client, url string) (int, string, error) {
	tb.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// refusedCount reads jumeau_metrics_refused_total{reason} from n.
func refusedCount(tb testing.TB, n *node.Node, reason string) float64 {
	tb.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jumeau_metrics_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	tb.Fatalf("no jumeau_metrics_refused_total{reason=%q} series", reason)
	return 0
}

// credentials loads (or, for a role the lab has no credentials of, issues)
// a certificate from the lab's CA.
func credentials(tb testing.TB, caDir string, role pki.Role, name string) *tls.Certificate {
	tb.Helper()
	certFile, keyFile := filepath.Join(caDir, name+".crt"), filepath.Join(caDir, name+".key")
	if _, err := os.Stat(certFile); err != nil {
		ca, err := pki.LoadCA(caDir)
		if err != nil {
			tb.Fatal(err)
		}
		if certFile, keyFile, err = ca.IssueFiles(tb.TempDir(), pki.Identity{Role: role, Region: "monaco", Name: name}, nil, time.Hour); err != nil {
			tb.Fatal(err)
		}
	}
	m, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(caDir, pki.CACertFile), Cert: certFile, Key: keyFile})
	if err != nil {
		tb.Fatal(err)
	}
	return &m.Certificate
}

func TestNode_MetricsTLS(t *testing.T) {
	cfg := oneSite(t)
	cfg.Listen.MetricsTLS, cfg.Listen.Pprof = true, true
	n := startT(t, cfg)
	defer n.Close()
	base := "https://" + n.MetricsAddr()
	caDir := filepath.Dir(cfg.TLS.CA)
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	pool := ca.Pool()

	t.Run("series exist before any refusal", func(t *testing.T) {
		for _, r := range []string{"no_certificate", "untrusted", "expired", "role"} {
			if got := refusedCount(t, n, r); got != 0 {
				t.Errorf("reason %s: got %v, want 0", r, got)
			}
		}
	})
	t.Run("plain HTTP is not served", func(t *testing.T) {
		code, body, err := get(t, &http.Client{Timeout: 10 * time.Second}, "http://"+n.MetricsAddr()+"/metrics")
		if err == nil && (code == http.StatusOK || strings.Contains(body, "jumeau_")) {
			t.Fatalf("got %d with metrics, want no metrics over plain HTTP", code)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		code, body, err := get(t, scraper(t, pool, nil), base+"/metrics")
		if err != nil || code != http.StatusUnauthorized || strings.Contains(body, "jumeau_") || !strings.Contains(body, "--role auditor") {
			t.Fatalf("got %d %q, %v, want 401 naming the auditor role, no metrics", code, body, err)
		}
		if got := refusedCount(t, n, "no_certificate"); got != 1 {
			t.Errorf("refused no_certificate: got %v, want 1", got)
		}
		if code, _, err := get(t, scraper(t, pool, nil), base+"/debug/pprof/"); err != nil || code != http.StatusUnauthorized {
			t.Errorf("pprof: got %d, %v, want 401", code, err)
		}
	})
	t.Run("probes need no certificate", func(t *testing.T) {
		for _, path := range []string{"/livez", "/readyz"} {
			code, body, err := get(t, scraper(t, pool, nil), base+path)
			if err != nil || code != http.StatusOK || strings.Contains(body, "jumeau_") {
				t.Errorf("%s: got %d %q, %v, want 200 and no metrics", path, code, body, err)
			}
		}
	})
	t.Run("certificate of a foreign CA", func(t *testing.T) {
		dir := t.TempDir()
		foreign, err := pki.InitCA(dir, "intruder CA")
		if err != nil {
			t.Fatal(err)
		}
		cf, kf, err := foreign.IssueFiles(dir, pki.Identity{Role: pki.RoleAuditor, Region: "monaco", Name: "prometheus"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		m, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(dir, pki.CACertFile), Cert: cf, Key: kf})
		if err != nil {
			t.Fatal(err)
		}
		if code, _, err := get(t, scraper(t, pool, &m.Certificate), base+"/metrics"); err == nil {
			t.Fatalf("got status %d, want the handshake refused", code)
		}
		if got := refusedCount(t, n, "untrusted"); got != 1 {
			t.Errorf("refused untrusted: got %v, want 1", got)
		}
	})
	auditor := scraper(t, pool, credentials(t, caDir, pki.RoleAuditor, "prometheus"))
	t.Run("auditor scrapes", func(t *testing.T) {
		code, body, err := get(t, auditor, base+"/metrics")
		if err != nil || code != http.StatusOK || !strings.Contains(body, "jumeau_keyring_namespaces") {
			t.Fatalf("got %d, %v (%d bytes), want 200 with the node's metrics", code, err, len(body))
		}
	})
	t.Run("client role refused", func(t *testing.T) {
		code, body, err := get(t, scraper(t, pool, credentials(t, caDir, pki.RoleClient, "client")), base+"/metrics")
		if err != nil || code != http.StatusForbidden || !strings.Contains(body, "--role auditor") {
			t.Fatalf("got %d %q, %v, want 403 naming the auditor role", code, body, err)
		}
		if got := refusedCount(t, n, "role"); got != 1 {
			t.Errorf("refused role: got %v, want 1", got)
		}
	})
	t.Run("pprof takes admin only", func(t *testing.T) {
		if code, _, err := get(t, auditor, base+"/debug/pprof/"); err != nil || code != http.StatusForbidden {
			t.Errorf("auditor: got %d, %v, want 403", code, err)
		}
		admin := scraper(t, pool, credentials(t, caDir, pki.RoleAdmin, "admin"))
		if code, body, err := get(t, admin, base+"/debug/pprof/"); err != nil || code != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("admin: got %d, %v, want 200 with the pprof index", code, err)
		}
	})
}
