package failover

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/pki"
)

// Lease stream messages (transport frames on a Lease stream; one request,
// one reply per stream). Reply codes:
const (
	codeGranted  uint8 = 0
	codeStale    uint8 = 1 // the requester's epoch is older: it is fenced
	codeAhead    uint8 = 2 // the requester claims an epoch this node does not know
	codeNotPrime uint8 = 3 // the requester's region is not the primary of the epoch
	codeTooEarly uint8 = 4 // promotion refused: the primary may still hold a lease or was heard recently
	codeNoVote   uint8 = 5 // this node does not vote on that request

	frameLeaseReq     uint8 = 1
	frameLeaseReply   uint8 = 2
	framePromoteReq   uint8 = 3
	framePromoteReply uint8 = 4
	frameStatusReq    uint8 = 5
	frameStatusReply  uint8 = 6
	frameSwitchReq    uint8 = 7
	frameSwitchReply  uint8 = 8

	maxLeaseFrame = 64 << 10
)

// LeaseRequest asks a grantor to back the primary's lease.
type LeaseRequest struct {
	Epoch    uint64 `codec:"e"`
	Duration int64  `codec:"d"` // ns
}

// Reply answers a lease or promotion request.
type Reply struct {
	Code   uint8  `codec:"c"`
	Reason string `codec:"r"`
	// State is the grantor's epoch state after the request.
	State State `codec:"s"`
}

// PromoteRequest asks the witness to make the requester's region primary
// in epoch Epoch+1. Epoch is the epoch the requester knows.
type PromoteRequest struct {
	Epoch uint64 `codec:"e"`
	// Force skips the requester's own loss check; it never skips the
	// lease and detection checks (those are what rule out split brain).
	Force bool `codec:"f"`
	// TipIndex and TipHash are the requester's WAL tip: the new epoch
	// starts there (State.StartIndex), and a returning former primary
	// exports what it holds beyond it.
	TipIndex uint64   `codec:"i"`
	TipHash  [32]byte `codec:"t"`
}

// SwitchRequest asks the witness for a planned switchover: the current
// primary, drained (it takes no more writes and its replicas hold its
// whole WAL), hands the primary role to region To (node ToNode when that
// region's primary is one node, the twin; "" for a cell).
type SwitchRequest struct {
	Epoch    uint64   `codec:"e"`
	To       string   `codec:"r"`
	ToNode   string   `codec:"n"`
	TipIndex uint64   `codec:"i"`
	TipHash  [32]byte `codec:"t"`
}

// StatusReply is a grantor's view (for promotion decisions and `failover
// status`).
type StatusReply struct {
	State State `codec:"s"`
	// HeardAgo is how long ago the primary last asked for a lease (ns; -1
	// never).
	HeardAgo int64 `codec:"h"`
	// LeaseLeft is how long the lease this node granted still runs (ns;
	// 0 when expired).
	LeaseLeft int64 `codec:"l"`
	// Node and Region name the answering node (from its certificate).
	Node   string `codec:"n"`
	Region string `codec:"g"`
}

// Grantor is the lease-granting side of a non-primary region (the twin,
// the witness): it backs the primary's lease and remembers when it last
// heard from it. On the witness it also votes on promotions and bumps the
// epoch.
type Grantor struct {
	store   *Store
	clock   Clock
	cfg     Config
	witness bool
	logger  *slog.Logger

	mu           sync.Mutex
	grantedUntil time.Time // local clock
	lastHeard    time.Time
	// promoting is set while this node asks the witness to promote it:
	// it grants no lease meanwhile, so no renewal can slip in between its
	// check and the epoch bump.
	promoting bool
}

// NewGrantor serves leases from store's epoch; witness enables promotion
// votes.
func NewGrantor(store *Store, cfg Config, clock Clock, witness bool, logger *slog.Logger) *Grantor {
	if clock == nil {
		clock = SystemClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Grantor{store: store, clock: clock, cfg: cfg, witness: witness, logger: logger, lastHeard: clock.Now()}
}

// Lease handles a renewal from peer.
func (g *Grantor) Lease(peer pki.Identity, req LeaseRequest) Reply {
	st := g.store.State()
	switch {
	case req.Epoch < st.Epoch:
		return Reply{Code: codeStale, State: st, Reason: fmt.Sprintf("epoch %d is over: %s/%s is primary in epoch %d", req.Epoch, st.PrimaryRegion, st.PrimaryNode, st.Epoch)}
	case req.Epoch > st.Epoch:
		return Reply{Code: codeAhead, State: st, Reason: fmt.Sprintf("this node knows epoch %d, not %d", st.Epoch, req.Epoch)}
	case peer.Region != st.PrimaryRegion:
		return Reply{Code: codeNotPrime, State: st, Reason: fmt.Sprintf("%s is not in the primary region %s of epoch %d", peer, st.PrimaryRegion, st.Epoch)}
	}
	d := time.Duration(req.Duration)
	if d <= 0 || d > 10*g.cfg.LeaseDuration {
		return Reply{Code: codeNoVote, State: st, Reason: fmt.Sprintf("lease duration %s out of range", d)}
	}
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastHeard = now
	if g.promoting {
		return Reply{Code: codeNoVote, State: st, Reason: "this node is asking for a promotion: no lease granted"}
	}
	if until := now.Add(d); until.After(g.grantedUntil) {
		g.grantedUntil = until
	}
	return Reply{Code: codeGranted, State: st}
}

// BeginPromotion checks that the primary is gone from this node's view
// and, if so, stops granting leases until EndPromotion: the caller then
// asks the witness. It returns the reason when the primary is not gone.
func (g *Grantor) BeginPromotion() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gone, why := g.primaryGone(); !gone {
		return false, why
	}
	g.promoting = true
	return true, ""
}

// EndPromotion ends a promotion attempt; with a new state (the witness
// said yes) the node adopts it durably first.
func (g *Grantor) EndPromotion(next *State) error {
	var err error
	if next != nil {
		err = g.Adopt(*next)
	}
	g.mu.Lock()
	g.promoting = false
	g.mu.Unlock()
	return err
}

// Heard notes other evidence that the primary is alive (the twin hears
// it on the ship stream).
func (g *Grantor) Heard() {
	now := g.clock.Now()
	g.mu.Lock()
	g.lastHeard = now
	g.mu.Unlock()
}

// Status reports the grantor's view.
func (g *Grantor) Status() StatusReply {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	r := StatusReply{State: g.store.State(), HeardAgo: int64(now.Sub(g.lastHeard))}
	if left := g.grantedUntil.Sub(now); left > 0 {
		r.LeaseLeft = int64(left)
	}
	return r
}

// PrimaryGone reports whether, as far as this node knows, the primary can
// no longer write: nothing heard for DetectAfter, and the lease this node
// granted expired ClockSkewMargin ago. It returns the reason when not.
func (g *Grantor) PrimaryGone() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.primaryGone()
}

func (g *Grantor) primaryGone() (bool, string) {
	now := g.clock.Now()
	if ago := now.Sub(g.lastHeard); ago < g.cfg.DetectAfter {
		return false, fmt.Sprintf("primary heard %s ago (detect_after %s)", ago.Round(time.Millisecond), g.cfg.DetectAfter)
	}
	if safe := g.grantedUntil.Add(g.cfg.ClockSkewMargin); now.Before(safe) {
		return false, fmt.Sprintf("a lease granted to the primary runs until %s from now (lease + clock_skew_margin)", safe.Sub(now).Round(time.Millisecond))
	}
	return true, ""
}

// Promote handles a promotion request (witness only): it bumps the epoch
// durably, making the requester's region primary, if the primary is gone
// from this node's view too.
func (g *Grantor) Promote(peer pki.Identity, req PromoteRequest) Reply {
	st := g.store.State()
	if !g.witness {
		return Reply{Code: codeNoVote, State: st, Reason: "only the witness votes on promotions"}
	}
	switch {
	case req.Epoch < st.Epoch:
		return Reply{Code: codeStale, State: st, Reason: fmt.Sprintf("epoch %d is over: %s/%s is primary in epoch %d", req.Epoch, st.PrimaryRegion, st.PrimaryNode, st.Epoch)}
	case req.Epoch > st.Epoch:
		return Reply{Code: codeAhead, State: st, Reason: fmt.Sprintf("the witness knows epoch %d, not %d", st.Epoch, req.Epoch)}
	case peer.Region == st.PrimaryRegion:
		return Reply{Code: codeNoVote, State: st, Reason: fmt.Sprintf("%s is already the primary region", peer.Region)}
	case peer.Role != pki.RoleTwin:
		// Only a twin holds the replicated state a new primary needs; a
		// site or witness elsewhere asking for the role is refused.
		return Reply{Code: codeNoVote, State: st, Reason: fmt.Sprintf("%s may not be promoted: only a twin becomes primary by promotion", peer)}
	}
	// The check and the epoch bump hold the lock that Lease takes, so no
	// renewal is granted in between.
	g.mu.Lock()
	defer g.mu.Unlock()
	if gone, why := g.primaryGone(); !gone {
		return Reply{Code: codeTooEarly, State: st, Reason: "the witness still sees the primary: " + why}
	}
	next := State{Epoch: st.Epoch + 1, PrimaryRegion: peer.Region, PrimaryNode: peer.Name, Changed: g.clock.Now(),
		StartIndex: req.TipIndex, StartHash: req.TipHash}
	if err := g.store.Save(next); err != nil {
		return Reply{Code: codeNoVote, State: st, Reason: fmt.Sprintf("the witness could not store epoch %d: %v", next.Epoch, err)}
	}
	g.lastHeard = g.clock.Now()
	g.grantedUntil = time.Time{}
	g.logger.Warn("promotion: epoch bumped", "epoch", next.Epoch, "primary_region", next.PrimaryRegion, "primary_node", next.PrimaryNode, "force", req.Force)
	return Reply{Code: codeGranted, State: next}
}

// Switch handles a planned switchover (witness only): the requester must
// be the current primary (its region, and its node when the epoch names
// one); it has stopped taking writes and its replicas hold its tip. The
// witness writes epoch+1 with region To as primary, starting at the tip.
// Leases granted in the old epoch may still run: the new primary waits
// LeaseDuration + ClockSkewMargin after it learns the epoch before it
// takes writes.
func (g *Grantor) Switch(peer pki.Identity, req SwitchRequest) Reply {
	st := g.store.State()
	switch {
	case !g.witness:
		return Reply{Code: codeNoVote, State: st, Reason: "only the witness votes on switchovers"}
	case req.Epoch < st.Epoch:
		return Reply{Code: codeStale, State: st, Reason: fmt.Sprintf("epoch %d is over: %s/%s is primary in epoch %d", req.Epoch, st.PrimaryRegion, st.PrimaryNode, st.Epoch)}
	case req.Epoch > st.Epoch:
		return Reply{Code: codeAhead, State: st, Reason: fmt.Sprintf("the witness knows epoch %d, not %d", st.Epoch, req.Epoch)}
	case peer.Region != st.PrimaryRegion || (st.PrimaryNode != "" && peer.Name != st.PrimaryNode):
		return Reply{Code: codeNotPrime, State: st, Reason: fmt.Sprintf("%s is not the primary of epoch %d (%s/%s): only the primary hands over", peer, st.Epoch, st.PrimaryRegion, st.PrimaryNode)}
	case req.To == "" || req.To == st.PrimaryRegion:
		return Reply{Code: codeNoVote, State: st, Reason: fmt.Sprintf("switchover target region %q: name another region than the primary %s", req.To, st.PrimaryRegion)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	next := State{Epoch: st.Epoch + 1, PrimaryRegion: req.To, PrimaryNode: req.ToNode, Changed: g.clock.Now(),
		StartIndex: req.TipIndex, StartHash: req.TipHash}
	if err := g.store.Save(next); err != nil {
		return Reply{Code: codeNoVote, State: st, Reason: fmt.Sprintf("the witness could not store epoch %d: %v", next.Epoch, err)}
	}
	g.lastHeard = g.clock.Now()
	g.grantedUntil = time.Time{}
	g.logger.Warn("switchover: epoch bumped", "epoch", next.Epoch, "primary_region", next.PrimaryRegion, "primary_node", next.PrimaryNode,
		"from", peer.String(), "start_index", next.StartIndex)
	return Reply{Code: codeGranted, State: next}
}

// Adopt moves the grantor to a newer epoch learned elsewhere (the twin
// after its promotion, a site that learns it was fenced).
func (g *Grantor) Adopt(st State) error {
	if st.Epoch <= g.store.State().Epoch {
		return nil
	}
	if err := g.store.Save(st); err != nil {
		return err
	}
	g.mu.Lock()
	g.grantedUntil = time.Time{}
	g.lastHeard = g.clock.Now()
	g.mu.Unlock()
	return nil
}

// Asker sends one request to a peer and returns its reply (the transport
// adapter; tests fake it).
type Asker interface {
	AskLease(ctx context.Context, peer string, req LeaseRequest) (Reply, error)
}

// Holder keeps the primary's lease: it renews with the grantors and says
// whether writes may be taken now. A lease counts when a majority of the
// three regions backs it: this region plus at least one grantor.
type Holder struct {
	cfg      Config
	clock    Clock
	ask      Asker
	grantors []string
	epoch    func() uint64
	logger   *slog.Logger
	onFenced func(State)

	mu         sync.Mutex
	validUntil time.Time
	lastErr    string
	fenced     *State
	renewals   uint64
}

// NewHolder returns a lease holder for this region; epoch returns the
// epoch this node writes in; onFenced is called once when a grantor
// reports a newer epoch.
func NewHolder(cfg Config, clock Clock, ask Asker, grantors []string, epoch func() uint64, onFenced func(State), logger *slog.Logger) *Holder {
	if clock == nil {
		clock = SystemClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Holder{cfg: cfg, clock: clock, ask: ask, grantors: grantors, epoch: epoch, onFenced: onFenced, logger: logger}
}

// Renew asks every grantor once, concurrently, and extends the lease if
// at least one backs it. The lease runs from before the requests were
// sent, so it ends no later than any grantor's promise.
func (h *Holder) Renew(ctx context.Context) error {
	start := h.clock.Now()
	epoch := h.epoch()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	defer cancel()
	type result struct {
		peer string
		rep  Reply
		err  error
	}
	out := make(chan result, len(h.grantors))
	for _, p := range h.grantors {
		go func() {
			rep, err := h.ask.AskLease(ctx, p, LeaseRequest{Epoch: epoch, Duration: int64(h.cfg.LeaseDuration)})
			out <- result{p, rep, err}
		}()
	}
	// One grant is a majority (this region + one other): stop waiting at
	// the first, so a slow or unreachable grantor does not delay it. No
	// grantor backs an epoch after the witness bumped it (the twin stops
	// granting before it asks, the witness refuses under the same lock),
	// so a late "stale" reply cannot contradict a grant.
	granted := 0
	var reasons []string
	var newer *State
	for range h.grantors {
		r := <-out
		switch {
		case r.err != nil:
			reasons = append(reasons, fmt.Sprintf("%s: %v", r.peer, r.err))
		case r.rep.Code == codeGranted:
			granted++
		default:
			reasons = append(reasons, fmt.Sprintf("%s: %s", r.peer, r.rep.Reason))
			if r.rep.Code == codeStale && r.rep.State.Epoch > epoch {
				st := r.rep.State
				newer = &st
			}
		}
		if granted > 0 || newer != nil {
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if newer != nil && h.fenced == nil {
		h.fenced = newer
		h.validUntil = time.Time{}
		h.logger.Error("fenced: a newer epoch exists; this region no longer takes writes", "epoch", newer.Epoch, "primary_region", newer.PrimaryRegion, "primary_node", newer.PrimaryNode)
		if h.onFenced != nil {
			go h.onFenced(*newer)
		}
	}
	if h.fenced != nil {
		return fmt.Errorf("%w: epoch %d, primary %s/%s", ErrFenced, h.fenced.Epoch, h.fenced.PrimaryRegion, h.fenced.PrimaryNode)
	}
	if granted+1 < 2 {
		h.lastErr = fmt.Sprintf("no grantor backed the lease: %v", reasons)
		return fmt.Errorf("%w: %s", ErrRefused, h.lastErr)
	}
	if until := start.Add(h.cfg.LeaseDuration); until.After(h.validUntil) {
		h.validUntil = until
	}
	h.lastErr = ""
	h.renewals++
	return nil
}

// Run renews every RenewEvery until ctx ends. It logs every change of
// the lease (held, lost: writes refused) once.
func (h *Holder) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.RenewEvery)
	defer t.Stop()
	held := false
	for {
		if err := h.Renew(ctx); err != nil && ctx.Err() == nil {
			h.logger.Debug("lease renewal failed", "err", err)
		}
		switch err := h.Check(); {
		case err == nil && !held:
			held = true
			h.logger.Info("primary lease held: this region takes writes", "epoch", h.epoch())
		case err != nil && held && ctx.Err() == nil:
			held = false
			h.logger.Warn("primary lease lost: writes refused until a grantor backs it again (self-fencing)", "epoch", h.epoch(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check returns nil while the lease is valid, else why writes are refused.
func (h *Holder) Check() error {
	now := h.clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fenced != nil {
		return fmt.Errorf("%w: epoch %d, primary %s/%s", ErrFenced, h.fenced.Epoch, h.fenced.PrimaryRegion, h.fenced.PrimaryNode)
	}
	if !now.Before(h.validUntil) {
		if h.lastErr != "" {
			return fmt.Errorf("%w (%s)", ErrLeaseExpired, h.lastErr)
		}
		return ErrLeaseExpired
	}
	return nil
}

// Expiry returns when the lease runs out (zero if never held) and whether
// the holder was fenced.
func (h *Holder) Expiry() (time.Time, *State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.validUntil, h.fenced
}

// Drop forgets the lease (leadership moved to another site).
func (h *Holder) Drop() {
	h.mu.Lock()
	h.validUntil = time.Time{}
	h.mu.Unlock()
}
