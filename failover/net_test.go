package failover

import (
	"context"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport/transporttest"
)

// TestNet_LeaseAndPromotion runs the protocol over real QUIC with mutual
// TLS: a site renews with the witness, the twin is refused a promotion
// while the lease runs, then promoted once the site went silent, and the
// site's next renewal learns it is fenced.
func TestNet_LeaseAndPromotion(t *testing.T) {
	r := transporttest.New(t)
	cfg := DefaultConfig()
	cfg.LeaseDuration, cfg.RenewEvery, cfg.DetectAfter, cfg.ClockSkewMargin = 300*time.Millisecond, 100*time.Millisecond, 400*time.Millisecond, 100*time.Millisecond
	cfg.RequestTimeout = 300 * time.Millisecond
	witnessEP := r.Endpoint(pki.Identity{Role: pki.RoleWitness, Region: "witness", Name: "witness"})
	witness := NewGrantor(newStore(t), cfg, nil, true, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, witnessEP, witness, nil)

	siteEP := r.Endpoint(monaco)
	fenced := make(chan State, 1)
	h := NewHolder(cfg, nil, Net{EP: siteEP}, []string{"witness"}, func() uint64 { return 1 }, func(s State) { fenced <- s }, nil)
	if err := h.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	twinNet := Net{EP: r.Endpoint(lux)}
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
