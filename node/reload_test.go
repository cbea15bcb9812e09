package node_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
)

// servedSerials is the serial of the certificate n presents on QUIC, the
// API and the metrics listener, as a client with as sees them.
func servedSerials(tb testing.TB, n *node.Node, as *pki.Material) map[string]string {
	tb.Helper()
	out := map[string]string{}
	capture := func(name string) *tls.Config {
		c := as.ClientConfig("", transport.ALPN)
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			out[name] = cs.PeerCertificates[0].SerialNumber.Text(16)
			return nil
		}
		return c
	}
	for _, name := range []string{"api", "metrics"} {
		addr := n.APIAddr()
		if name == "metrics" {
			addr = n.MetricsAddr()
		}
		c := capture(name)
		c.NextProtos = nil
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		conn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, n.QUICAddr(), capture("quic"), &quic.Config{})
	if err == nil {
		_ = conn.CloseWithError(0, "")
	}
	if out["quic"] == "" {
		tb.Fatalf("quic: no server certificate seen (%v)", err)
	}
	return out
}

func TestNode_Reload(t *testing.T) {
	l, err := lab.Prepare(lab.Options{Dir: t.TempDir(), Sites: 2, Binary: "jumeau"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(l.Nodes[0].Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen.MetricsTLS = true
	pkiDir := filepath.Join(l.Dir, "pki")
	level := new(slog.LevelVar)
	// site-a alone: the cell has no leader, which a reload does not need.
	n, err := node.Start(cfg, node.Options{LogLevel: level})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	siteB, err := pki.LoadTLS(pki.TLSFiles{CA: cfg.TLS.CA, Cert: filepath.Join(pkiDir, "site-b.crt"), Key: filepath.Join(pkiDir, "site-b.key")})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	first := servedSerials(t, n, siteB)["api"]

	t.Run("new certificate served everywhere", func(t *testing.T) {
		if _, _, err := ca.IssueFiles(pkiDir, pki.Identity{Role: pki.RoleSite, Region: "monaco", Name: "site-a"}, []string{"127.0.0.1"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		r := n.Reload(nil, nil)
		if err := r.Err(); err != nil || !r.Cert.Changed {
			t.Fatalf("reload: got changed %v, %v, want the new certificate", r.Cert.Changed, err)
		}
		want := r.Cert.New.SerialNumber.Text(16)
		if want == first {
			t.Fatalf("new serial %s is the old one", want)
		}
		for where, got := range servedSerials(t, n, siteB) {
			if got != want {
				t.Errorf("%s serves %s, want %s", where, got, want)
			}
		}
		if got, want := gaugeValue(t, n, "jumeau_tls_cert_expiry_timestamp_seconds"), float64(r.Cert.New.NotAfter.Unix()); got != want {
			t.Errorf("jumeau_tls_cert_expiry_timestamp_seconds: got %v, want %v", got, want)
		}
	})
	served := servedSerials(t, n, siteB)["api"]
	t.Run("bad pair refused, current kept", func(t *testing.T) {
		certFile := filepath.Join(pkiDir, "site-a.crt")
		good, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(certFile, good, 0o644)
		other, err := os.ReadFile(filepath.Join(pkiDir, "site-b.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, other, 0o644); err != nil {
			t.Fatal(err)
		}
		r := n.Reload(nil, nil)
		if !errors.Is(r.CertErr, pki.ErrKeyMismatch) && !errors.Is(r.CertErr, pki.ErrIdentityChanged) {
			t.Fatalf("got %v, want the pair refused", r.CertErr)
		}
		if got := servedSerials(t, n, siteB); got["api"] != served || got["quic"] != served || got["metrics"] != served {
			t.Errorf("served: got %v, want %s everywhere (kept)", got, served)
		}
		if got := counterValue(t, n, "jumeau_reload_total", "result", "error"); got != 1 {
			t.Errorf("jumeau_reload_total{result=error}: got %v, want 1", got)
		}
	})
	t.Run("log level and keys that wait for a restart", func(t *testing.T) {
		next := cfg
		next.Log.Level = "debug"
		next.API.RequestTimeout = 3 * time.Second
		r := n.Reload(&next, nil)
		if got, want := level.Level(), slog.LevelDebug; got != want {
			t.Errorf("log level: got %v, want %v", got, want)
		}
		if r.LogLevelWas != "info" || r.LogLevel != "debug" {
			t.Errorf("result: got %s -> %s, want info -> debug", r.LogLevelWas, r.LogLevel)
		}
		if got, want := r.Restart, []string{"api.request_timeout"}; !slices.Equal(got, want) {
			t.Errorf("restart keys: got %v, want %v", got, want)
		}
	})
	t.Run("revocation list", func(t *testing.T) {
		crl := filepath.Join(pkiDir, pki.CRLFile)
		if err := os.WriteFile(crl, []byte("not a CRL"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(crl)
		r := n.Reload(nil, nil)
		if !errors.Is(r.CRLErr, pki.ErrBadCRL) || r.CRL.File != crl {
			t.Fatalf("got %+v, %v, want %s reported invalid", r.CRL, r.CRLErr, crl)
		}
	})
}

// gaugeValue reads the unlabelled gauge name from n.
func gaugeValue(tb testing.TB, n *node.Node, name string) float64 {
	tb.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	tb.Fatalf("no %s", name)
	return 0
}

// counterValue reads name{label=value} from n.
func counterValue(tb testing.TB, n *node.Node, name, label, value string) float64 {
	tb.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	tb.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}
