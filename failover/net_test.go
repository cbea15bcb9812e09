package failover

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
)

type netRig struct {
	tb    testing.TB
	ca    *pki.CA
	caDir string
	mu    sync.Mutex
	addrs map[string]string
}

func (r *netRig) endpoint(id pki.Identity) *transport.Endpoint {
	r.tb.Helper()
	certFile, keyFile, err := r.ca.IssueFiles(r.tb.TempDir(), id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		r.tb.Fatal(err)
	}
	m, err := pki.LoadTLS(pki.TLSFiles{CA: filepath.Join(r.caDir, pki.CACertFile), Cert: certFile, Key: keyFile})
	if err != nil {
		r.tb.Fatal(err)
	}
	cfg := transport.DefaultConfig()
	cfg.Listen, cfg.TLS = "127.0.0.1:0", m
	cfg.Resolve = func(peer string) (string, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if a, ok := r.addrs[peer]; ok {
			return a, nil
		}
		return "", fmt.Errorf("no address for %s", peer)
	}
	ep, err := transport.Listen(cfg)
	if err != nil {
		r.tb.Fatal(err)
	}
	r.tb.Cleanup(func() { _ = ep.Close() })
	r.mu.Lock()
	r.addrs[id.Name] = ep.Addr().String()
	r.mu.Unlock()
	return ep
}

// TestNet_LeaseAndPromotion runs the protocol over real QUIC with mutual
// TLS: a site renews with the witness, the twin is refused a promotion
// while the lease runs, then promoted once the site went silent, and the
// site's next renewal learns it is fenced.
func TestNet_LeaseAndPromotion(t *testing.T) {
	r := &netRig{tb: t, caDir: filepath.Join(t.TempDir(), "ca"), addrs: map[string]string{}}
	var err error
	if r.ca, err = pki.InitCA(r.caDir, "failover test CA"); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.LeaseDuration, cfg.RenewEvery, cfg.DetectAfter, cfg.ClockSkewMargin = 300*time.Millisecond, 100*time.Millisecond, 400*time.Millisecond, 100*time.Millisecond
	cfg.RequestTimeout = 300 * time.Millisecond
	witnessEP := r.endpoint(pki.Identity{Role: pki.RoleWitness, Region: "witness", Name: "witness"})
	witness := NewGrantor(newStore(t), cfg, nil, true, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, witnessEP, witness, nil)

	siteEP := r.endpoint(monaco)
	fenced := make(chan State, 1)
	h := NewHolder(cfg, nil, Net{EP: siteEP}, []string{"witness"}, func() uint64 { return 1 }, func(s State) { fenced <- s }, nil)
	if err := h.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	twinNet := Net{EP: r.endpoint(lux)}
	rep, err := twinNet.AskPromote(ctx, "witness", PromoteRequest{Epoch: 1})
	if err != nil || rep.Code != codeTooEarly {
		t.Fatalf("promotion while the lease runs: got %+v, %v, want too early", rep, err)
	}
	st, err := twinNet.AskStatus(ctx, "witness")
	if err != nil || st.State.Epoch != 1 || st.LeaseLeft <= 0 {
		t.Fatalf("status: got %+v, %v", st, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, err = twinNet.AskPromote(ctx, "witness", PromoteRequest{Epoch: 1})
		if err == nil && rep.Code == codeGranted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("promotion never granted: %+v, %v", rep, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rep.State.Epoch != 2 || rep.State.PrimaryNode != "lux-1" || rep.State.Changed.IsZero() {
		t.Fatalf("promoted state: %+v", rep.State)
	}
	if err := h.Renew(ctx); err == nil {
		t.Fatal("the old primary renewed after the promotion")
	}
	select {
	case s := <-fenced:
		if s.Epoch != 2 {
			t.Fatalf("fenced with %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the old primary was not told it is fenced")
	}
	if err := h.Check(); err == nil {
		t.Fatal("the fenced primary still takes writes")
	}
}
