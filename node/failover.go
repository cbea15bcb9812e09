package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// FailoverStatus is the failover section of a node's status.
type FailoverStatus struct {
	Epoch         uint64 `json:"epoch"`
	PrimaryRegion string `json:"primary_region"`
	PrimaryNode   string `json:"primary_node,omitempty"`
	// Changed is when the witness started this epoch (its clock).
	Changed time.Time `json:"changed,omitzero"`
	// Lease (the primary region's writer).
	LeaseValid       bool  `json:"lease_valid"`
	LeaseExpiresInMS int64 `json:"lease_expires_in_ms,omitempty"`
	Fenced           bool  `json:"fenced"`
	// Grantor view (twin, witness).
	HeardAgoMS  int64 `json:"heard_ago_ms,omitempty"`
	LeaseLeftMS int64 `json:"lease_left_ms,omitempty"`
	// Promotion is the twin's promotion state: waiting, withheld (with
	// the reason: an alarm an operator must answer), or promoted.
	Promotion string `json:"promotion,omitempty"`
	// Mode is this node's part in the epoch: cell, replica, primary (a
	// promoted twin), twin (receiver) or witness.
	Mode string `json:"mode"`
	// StartIndex and StartHash are the WAL position the epoch began at.
	StartIndex uint64 `json:"start_index,omitempty"`
	StartHash  string `json:"start_hash,omitempty"`
	// ForkedTail is the file this site exported its forked tail to when
	// it was demoted in this epoch (absent when it was not).
	ForkedTail string `json:"forked_tail,omitempty"`
}

// regionFailover is a node's part in region failover: its epoch file,
// the lease it holds (the primary region's leader) or grants (the twin,
// the witness), and the twin's promotion.
type regionFailover struct {
	n       *Node
	cfg     failover.Config
	witness string // the witness's node name ("" = no leases)
	store   *failover.Store
	net     failover.Net
	grantor *failover.Grantor
	holder  atomic.Pointer[failover.Holder]
	logger  *slog.Logger
	m       *failoverMetrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	promoMu   sync.Mutex // one promotion attempt at a time
	mu        sync.Mutex
	promotion string
	promoted  atomic.Bool
	leaderAt  time.Time // when this node's holder started (fresh leader)
	notBefore time.Time // no writes before (old epoch's leases may run)
}

func newRegionFailover(n *Node, store *failover.Store) *regionFailover {
	cfg := n.cfg
	f := &regionFailover{
		n: n, cfg: cfg.failoverConfig(), witness: cfg.Failover.Witness, store: store,
		net: failover.Net{EP: n.ep}, logger: n.logger.With("component", "failover"),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.m = newFailoverMetrics(f, n.reg)
	return f
}

func (f *regionFailover) close() {
	f.cancel()
	f.wg.Wait()
}

func (f *regionFailover) go_(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

// primaryHere reports whether this node's region is the primary of the
// current epoch (and, for the twin, whether it is the promoted node).
func (f *regionFailover) primaryHere() bool {
	st := f.store.State()
	if st.PrimaryRegion != f.n.cfg.Node.Region {
		return false
	}
	return st.PrimaryNode == "" || st.PrimaryNode == f.n.cfg.Node.Name || f.n.cfg.Node.Role == "site"
}

// serveGrants answers lease, promotion and status requests (twin and
// witness).
func (f *regionFailover) serveGrants(witness bool) {
	f.grantor = failover.NewGrantor(f.store, f.cfg, nil, witness, f.logger)
	f.go_(func() { failover.Serve(f.ctx, f.n.ep, f.grantor, f.logger) })
}

// holdLease runs the lease holder while cell is the leader of the
// primary region, asking grantors.
func (f *regionFailover) holdLease(cell *replicator.Cell, grantors []string) {
	h := failover.NewHolder(f.cfg, nil, f.net, grantors, func() uint64 { return f.store.State().Epoch }, f.fenced, f.logger)
	f.holder.Store(h)
	f.go_(func() {
		var (
			stop    = func() {}
			running bool
			done    chan struct{}
		)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			leader := cell.IsLeader()
			switch {
			case leader && !running:
				ctx, cancel := context.WithCancel(f.ctx)
				stop = cancel
				done = make(chan struct{})
				f.mu.Lock()
				f.leaderAt = time.Now()
				f.mu.Unlock()
				go func() { defer close(done); h.Run(ctx) }()
				running = true
				f.logger.Info("leading the primary region: holding the primary lease", "grantors", grantors)
			case !leader && running:
				stop()
				<-done
				h.Drop()
				running = false
			}
			select {
			case <-f.ctx.Done():
				if running {
					stop()
					<-done
				}
				return
			case <-t.C:
			}
		}
	})
}

// gate is the cell's write gate: the lease must be valid. A leader that
// just took over waits (bounded) for its first renewal.
func (f *regionFailover) gate() error {
	err := f.check()
	if err == nil && f.n.opts.WriteLog != nil {
		f.n.opts.WriteLog(f.store.State().Epoch, time.Now())
	}
	return err
}

func (f *regionFailover) check() error {
	if !f.primaryHere() {
		st := f.store.State()
		return fmt.Errorf("%w: epoch %d, primary %s/%s", failover.ErrFenced, st.Epoch, st.PrimaryRegion, st.PrimaryNode)
	}
	f.mu.Lock()
	wait := time.Until(f.notBefore)
	f.mu.Unlock()
	if wait > 0 {
		f.m.refused.Inc()
		return fmt.Errorf("%w: the primary role just moved here; writes start in %s, once every lease of the previous epoch has run out",
			failover.ErrLeaseExpired, wait.Round(time.Millisecond))
	}
	h := f.holder.Load()
	if h == nil {
		return nil
	}
	err := h.Check()
	if err == nil || errors.Is(err, failover.ErrFenced) {
		return err
	}
	f.mu.Lock()
	fresh := time.Since(f.leaderAt) < f.cfg.LeaseDuration
	f.mu.Unlock()
	if !fresh {
		f.m.refused.Inc()
		return err
	}
	deadline := time.Now().Add(f.cfg.RequestTimeout)
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if err = h.Check(); err == nil {
			return nil
		}
	}
	f.m.refused.Inc()
	return err
}

// fenced persists a newer epoch learned from a grantor: this region no
// longer takes writes, across restarts too.
func (f *regionFailover) fenced(st failover.State) {
	f.m.fences.Inc()
	f.logger.Error("FENCED: another region is primary; this node takes no writes and turns into a replica (its forked tail is exported)",
		"epoch", st.Epoch, "primary_region", st.PrimaryRegion, "primary_node", st.PrimaryNode)
	f.adoptEpoch(st, "lease renewal")
}

func (f *regionFailover) setPromotion(s string) {
	f.mu.Lock()
	changed := f.promotion != s
	f.promotion = s
	f.mu.Unlock()
	if changed && s != "" && s != "waiting" {
		f.logger.Warn("promotion state", "state", s)
	}
}

// watch is the twin's failure detector: it promotes the twin
// automatically when the primary is gone and the loss is within bounds.
func (f *regionFailover) watch(auto bool) {
	f.setPromotion("waiting")
	f.go_(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-f.ctx.Done():
				return
			case <-t.C:
			}
			if f.promoted.Load() {
				return
			}
			if gone, _ := f.grantor.PrimaryGone(); !gone {
				f.setPromotion("waiting")
				continue
			}
			if !auto {
				f.setPromotion("primary lost; automatic promotion is off: run `jumeau failover promote`")
				continue
			}
			if _, err := f.promote(f.ctx, false); err != nil {
				f.logger.Debug("automatic promotion not done", "err", err)
			}
		}
	})
}

// PromoteResult is the answer of a promotion request.
type PromoteResult struct {
	Promoted bool   `json:"promoted"`
	Epoch    uint64 `json:"epoch"`
	Reason   string `json:"reason,omitempty"`
}

// promote makes the twin the primary if the witness agrees; force accepts
// a loss above the automatic bound (never a running lease).
func (f *regionFailover) promote(ctx context.Context, force bool) (PromoteResult, error) {
	f.promoMu.Lock()
	defer f.promoMu.Unlock()
	if f.promoted.Load() {
		return PromoteResult{Promoted: true, Epoch: f.store.State().Epoch, Reason: "already primary"}, nil
	}
	if f.witness == "" {
		return PromoteResult{}, fmt.Errorf("%w: no witness configured (failover.witness): promotion needs its vote", failover.ErrRefused)
	}
	ok, why := f.grantor.BeginPromotion()
	if !ok {
		return PromoteResult{}, fmt.Errorf("%w: this twin still sees the primary: %s", failover.ErrRefused, why)
	}
	// The witness must have lost the primary too (else this is a cut of
	// the WAN only: no promotion, and no promotion alarm either).
	sctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	ws, err := f.net.AskStatus(sctx, f.witness)
	cancel()
	if err != nil {
		_ = f.grantor.EndPromotion(nil)
		return PromoteResult{}, fmt.Errorf("%w: witness %s unreachable: %v", failover.ErrRefused, f.witness, err)
	}
	if heard := time.Duration(ws.HeardAgo); heard < f.cfg.DetectAfter {
		_ = f.grantor.EndPromotion(nil)
		f.setPromotion("waiting: this twin lost the primary but the witness still hears it (a cut of the WAN only)")
		return PromoteResult{}, fmt.Errorf("%w: the witness heard the primary %s ago", failover.ErrRefused, heard.Round(time.Millisecond))
	}
	records, age, known := f.n.twinRecv().LastKnownLag()
	// Writes the primary took after its last frame reached this twin are
	// unknown here; the witness heard the primary later than the twin
	// did if the WAN was cut first: that interval is a loss window too.
	var unseen time.Duration
	if d := time.Duration(f.grantor.Status().HeardAgo - ws.HeardAgo); d > 0 {
		unseen = d
	}
	if !force {
		var reason string
		switch {
		case !known:
			reason = "the twin's lag is unknown (no primary spoke to this process)"
		case records > f.cfg.MaxLossRecords:
			reason = fmt.Sprintf("last known lag %d records exceeds max_loss_records %d", records, f.cfg.MaxLossRecords)
		case age > f.cfg.MaxLossAge:
			reason = fmt.Sprintf("last known lag %s exceeds max_loss_age %s", age.Round(time.Millisecond), f.cfg.MaxLossAge)
		case unseen > f.cfg.MaxLossAge:
			reason = fmt.Sprintf("the witness heard the primary %s after this twin last did: writes of that window may be lost (max_loss_age %s)", unseen.Round(time.Millisecond), f.cfg.MaxLossAge)
		}
		if reason != "" {
			_ = f.grantor.EndPromotion(nil)
			f.m.withheld.Set(1)
			f.setPromotion("ALARM: primary lost but automatic promotion withheld: " + reason + "; accept the loss with `jumeau failover promote --force`")
			return PromoteResult{}, fmt.Errorf("%w: %s (accept it with force)", failover.ErrRefused, reason)
		}
	}
	// The twin never sets the FSM's applied Raft index (it applies
	// records, not Raft entries); clear it anyway before the epoch moves,
	// so the cell it starts replays its own Raft log from the start.
	if err := replicator.ResetApplied(f.n.db); err != nil {
		_ = f.grantor.EndPromotion(nil)
		return PromoteResult{}, err
	}
	epoch := f.store.State().Epoch
	rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	// The new epoch starts at this twin's tip: a returning Monaco site
	// exports what it holds beyond it. (Nothing was heard from the
	// primary for detect_after, so no frame extends the tip meanwhile.)
	tip, tipHash := f.n.wal.Last()
	rep, err := f.net.AskPromote(rctx, f.witness, failover.PromoteRequest{Epoch: epoch, Force: force, TipIndex: tip, TipHash: tipHash})
	cancel()
	if err != nil {
		_ = f.grantor.EndPromotion(nil)
		return PromoteResult{}, fmt.Errorf("%w: witness %s unreachable: %v", failover.ErrRefused, f.witness, err)
	}
	if rep.State.Epoch <= epoch || rep.State.PrimaryNode != f.n.cfg.Node.Name {
		_ = f.grantor.EndPromotion(nil)
		return PromoteResult{Epoch: rep.State.Epoch, Reason: rep.Reason}, fmt.Errorf("%w: witness: %s", failover.ErrRefused, rep.Reason)
	}
	if err := f.grantor.EndPromotion(&rep.State); err == nil {
		f.m.epochChanges.Inc()
	} else {
		// The witness bumped the epoch: this twin must become primary,
		// but cannot record it; stop rather than act on a lost epoch.
		f.logger.Error("promoted by the witness but could not store the epoch", "epoch", rep.State.Epoch, "err", err)
		return PromoteResult{}, fmt.Errorf("node: store promoted epoch %d: %w", rep.State.Epoch, err)
	}
	f.logger.Warn("PROMOTED: this twin is the primary", "epoch", rep.State.Epoch, "force", force,
		"lag_records", records, "lag_age", age, "lag_known", known, "unseen_window", unseen)
	f.m.promotions.Inc()
	f.m.withheld.Set(0)
	if err := f.n.becomePrimary(); err != nil {
		f.setPromotion("ALARM: promoted (epoch stored) but could not start the primary cell: " + err.Error())
		return PromoteResult{}, err
	}
	f.promoted.Store(true)
	f.setPromotion("promoted")
	return PromoteResult{Promoted: true, Epoch: rep.State.Epoch}, nil
}

func (f *regionFailover) status() *FailoverStatus {
	st := f.store.State()
	fs := &FailoverStatus{Epoch: st.Epoch, PrimaryRegion: st.PrimaryRegion, PrimaryNode: st.PrimaryNode, Changed: st.Changed,
		Fenced: !f.primaryHere() && f.n.cfg.Node.Role == "site", Mode: f.n.Mode(), StartIndex: st.StartIndex}
	if st.StartHash != ([32]byte{}) {
		fs.StartHash = fmt.Sprintf("%x", st.StartHash)
	}
	if p := ForkedTailPath(f.n.cfg.Node.DataDir, st.Epoch); f.n.Mode() == modeReplica && exists(p) {
		fs.ForkedTail = p
	}
	if h := f.holder.Load(); h != nil {
		until, fenced := h.Expiry()
		if left := time.Until(until); left > 0 && fenced == nil {
			fs.LeaseValid, fs.LeaseExpiresInMS = true, left.Milliseconds()
		}
		fs.Fenced = fs.Fenced || fenced != nil
	}
	if f.grantor != nil {
		gs := f.grantor.Status()
		fs.HeardAgoMS = time.Duration(gs.HeardAgo).Milliseconds()
		fs.LeaseLeftMS = time.Duration(gs.LeaseLeft).Milliseconds()
	}
	f.mu.Lock()
	fs.Promotion = f.promotion
	f.mu.Unlock()
	return fs
}

type failoverMetrics struct {
	promotions, fences, refused prometheus.Counter
	switchovers, epochChanges   prometheus.Counter
	withheld                    prometheus.Gauge
}

func newFailoverMetrics(f *regionFailover, reg prometheus.Registerer) *failoverMetrics {
	m := &failoverMetrics{
		promotions:   prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_failover_promotions_total", Help: "Promotions of this node to primary."}),
		fences:       prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_failover_fenced_total", Help: "Times this node learned a newer epoch and fenced itself."}),
		refused:      prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_lease_refused_writes_total", Help: "Writes refused because the primary lease was not valid."}),
		switchovers:  prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_failover_switchovers_total", Help: "Planned switchovers this node handed the primary role away in."}),
		epochChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_failover_epoch_changes_total", Help: "Newer region epochs this node adopted (promotions, switchovers, fences)."}),
		withheld:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "jumeau_failover_promotion_withheld", Help: "1 while the twin saw the primary lost but withheld an automatic promotion (loss above the bound): an operator must decide."}),
	}
	gauge := func(name, help string, fn func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn)
	}
	reg.MustRegister(m.promotions, m.fences, m.refused, m.withheld, m.switchovers, m.epochChanges,
		gauge("jumeau_failover_epoch", "Region epoch this node knows.", func() float64 { return float64(f.store.State().Epoch) }),
		gauge("jumeau_lease_valid", "1 while this node holds a valid primary lease.", func() float64 {
			if h := f.holder.Load(); h != nil && h.Check() == nil {
				return 1
			}
			return 0
		}),
		modeGauge(f, modeCell), modeGauge(f, modeReplica), modeGauge(f, modePrimary), modeGauge(f, modeTwin), modeGauge(f, modeWitness),
		gauge("jumeau_failover_is_primary_region", "1 if this node's region is the primary of the current epoch.", func() float64 {
			if f.primaryHere() {
				return 1
			}
			return 0
		}),
	)
	return m
}

// modeGauge is 1 while the node is in mode m (demotions, rejoins and
// promotions show as steps).
func modeGauge(f *regionFailover, m string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jumeau_node_mode", Help: "1 for this node's current mode (cell, replica, primary, twin, witness).",
		ConstLabels: prometheus.Labels{"mode": m},
	}, func() float64 {
		if f.n.Mode() == m {
			return 1
		}
		return 0
	})
}

// noData is the witness's API backend: it stores no user data.
type noData struct{}

var errNoData = fmt.Errorf("%w: this node is the witness: it stores no data (send reads and writes to the primary)", replicator.ErrBadRequest)

func (noData) Put(context.Context, string, string, []byte, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, errNoData
}
func (noData) Delete(context.Context, string, string, replicator.Durability) (replicator.Result, error) {
	return replicator.Result{}, errNoData
}
func (noData) Get(context.Context, string, string, replicator.Consistency) ([]byte, error) {
	return nil, errNoData
}
func (noData) List(context.Context, string, replicator.ListQuery, replicator.Consistency, func(replicator.KV) error) (replicator.ListPage, error) {
	return replicator.ListPage{}, errNoData
}

// switchBackend lets the twin swap its read-only receiver for the
// primary cell when it is promoted, under a running API server.
type switchBackend struct{ b atomic.Pointer[api.Backend] }

var (
	_ api.Backend = (*switchBackend)(nil)
	_ api.Backend = (*replicator.Twin)(nil)
	_ api.Backend = (*replicator.Cell)(nil)
	_ api.Backend = noData{}
)

func (s *switchBackend) set(b api.Backend) { s.b.Store(&b) }
func (s *switchBackend) get() api.Backend  { return *s.b.Load() }

func (s *switchBackend) Put(ctx context.Context, ns, key string, v []byte, d replicator.Durability) (replicator.Result, error) {
	return s.get().Put(ctx, ns, key, v, d)
}
func (s *switchBackend) Delete(ctx context.Context, ns, key string, d replicator.Durability) (replicator.Result, error) {
	return s.get().Delete(ctx, ns, key, d)
}
func (s *switchBackend) Get(ctx context.Context, ns, key string, c replicator.Consistency) ([]byte, error) {
	return s.get().Get(ctx, ns, key, c)
}
func (s *switchBackend) List(ctx context.Context, ns string, q replicator.ListQuery, c replicator.Consistency, emit func(replicator.KV) error) (replicator.ListPage, error) {
	return s.get().List(ctx, ns, q, c, emit)
}
