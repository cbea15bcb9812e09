package replicator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Config tunes a cell member. Durations are for a metro network (the
// Monaco sites are within 2 km of each other).
type Config struct {
	// Name is this site's name: its Raft server ID and address.
	Name string
	// Peers are the names of every voter of the cell, this site included.
	Peers []string
	// Bootstrap lets the cell be created from Peers when no Raft state exists.
	Bootstrap bool
	// SnapshotDir holds Raft snapshots.
	SnapshotDir string
	// Epoch is stamped on every record this site writes as leader.
	Epoch uint64

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	MaxAppendEntries   int
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	// ApplyTimeout bounds a write when the caller's context has no deadline.
	ApplyTimeout time.Duration
	// MaxInFlightEntries bounds the Raft entries the leader's group
	// commit keeps in flight; writes arriving meanwhile share the next
	// entry (see propose.go).
	MaxInFlightEntries int
	// RaftLogLevel is hashicorp/raft's log level (trace, debug, info, warn, error, off).
	RaftLogLevel string
	// Ship configures WAL shipping to the twin, the RPO guard and WAL
	// retention; Ship.Twin empty means no twin.
	Ship ShipConfig
}

// DefaultConfig returns settings tuned for a metro LAN cell.
func DefaultConfig() Config {
	return Config{
		Epoch:              1,
		HeartbeatTimeout:   300 * time.Millisecond,
		ElectionTimeout:    300 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		MaxAppendEntries:   512,
		SnapshotInterval:   60 * time.Second,
		SnapshotThreshold:  65536,
		TrailingLogs:       65536,
		ApplyTimeout:       10 * time.Second,
		MaxInFlightEntries: 2,
		RaftLogLevel:       "warn",
		Ship:               DefaultShipConfig(),
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("replicator config: name is empty: set node.name")
	case len(c.Peers) == 0:
		return errors.New("replicator config: no peers: list every cell site under cell.peers")
	case c.SnapshotDir == "":
		return errors.New("replicator config: snapshot dir is empty")
	case c.Epoch == 0:
		return errors.New("replicator config: epoch must be >= 1")
	case c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < 5*time.Millisecond:
		return errors.New("replicator config: raft heartbeat and election timeouts must be >= 5ms")
	case c.LeaderLeaseTimeout <= 0 || c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return errors.New("replicator config: raft leader lease timeout must be > 0 and <= the heartbeat timeout")
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return errors.New("replicator config: raft max_append_entries must be within 1..1024")
	case c.ApplyTimeout <= 0:
		return errors.New("replicator config: apply timeout must be > 0")
	case c.MaxInFlightEntries < 1 || c.MaxInFlightEntries > 64:
		return errors.New("replicator config: raft max_inflight_entries must be within 1..64")
	}
	if err := c.Ship.Validate(); err != nil {
		return fmt.Errorf("replicator config: %w", err)
	}
	self := false
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if seen[p] {
			return fmt.Errorf("replicator config: peer %q listed twice in cell.peers", p)
		}
		seen[p] = true
		self = self || p == c.Name
	}
	if !self {
		return fmt.Errorf("replicator config: this node %q is not in cell.peers %v", c.Name, c.Peers)
	}
	return nil
}

// Sealer seals and unseals values with per-namespace data keys
// (implemented by *keyring.Keyring).
type Sealer interface {
	KeyInstaller
	Has(ns string) bool
	Generate(ns string) ([]byte, error)
	// Flush rewrites the keyring file; the leader calls it before it
	// creates a namespace key.
	Flush() error
	Seal(ns string, aad, plaintext []byte) ([]byte, error)
	Unseal(ns string, aad, sealed []byte) ([]byte, error)
}

// Deps are the parts a cell member runs on.
type Deps struct {
	DB          *pebble.DB
	WAL         *wal.Log
	LogStore    raft.LogStore
	StableStore raft.StableStore
	Endpoint    *transport.Endpoint
	Keys        Sealer
	Logger      *slog.Logger
	// RaftLog receives hashicorp/raft's own log lines (JSON); nil discards.
	RaftLog io.Writer
	// Registerer receives the cell's Prometheus metrics; nil skips them.
	Registerer prometheus.Registerer
	// OnFatal is called once if the state machine halts after a storage
	// failure (the embedding program should restart the site).
	OnFatal func(error)
	// Gate, if set, is asked before every write on the leader: the
	// primary lease (a lapsed or fenced lease refuses the write).
	Gate func() error
	// Admit, if set, is asked before every new write on the leader,
	// before Gate; its error refuses the write (the node's free disk
	// space). Unlike Gate it is not asked again after the commit, and
	// never for what Raft replicates or the FSM applies.
	Admit func() error
}

// Result describes a committed write.
type Result struct {
	RaftIndex uint64   `json:"raft_index"`
	WALIndex  uint64   `json:"wal_index"`
	Hash      [32]byte `json:"-"`
}

// Cell is one site's member of the primary cell: Raft, the FSM over Pebble,
// write forwarding to the leader, and reads.
type Cell struct {
	cfg     Config
	deps    Deps
	logger  *slog.Logger
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	layer   *transport.RaftLayer
	fsm     *FSM
	metrics *metrics

	keyMu sync.Mutex
	fwd   *forwarder
	prop  *proposer
	lists *lister
	ships []*shipper // one per ship target (Ship.Twin, Ship.Replicas)
	// inflight counts leader writes between their gate check and their
	// return; draining refuses new ones (planned switchover).
	inflight atomic.Int64
	draining atomic.Bool
	// termCommitted is the last term in which this leader saw an entry of
	// its own term committed (read barrier).
	termCommitted atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open starts this site's cell member. With Bootstrap set and no Raft state
// on disk, it bootstraps the cell from Peers.
func Open(cfg Config, deps Deps) (*Cell, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil || deps.WAL == nil || deps.LogStore == nil || deps.StableStore == nil || deps.Endpoint == nil || deps.Keys == nil {
		return nil, errors.New("replicator: open: missing dependency (db, wal, log store, stable store, endpoint and keys are required)")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "cell")
	fsm, err := NewFSM(deps.DB, deps.WAL, deps.Keys, logger)
	if err != nil {
		return nil, err
	}
	fsm.OnFail = deps.OnFatal
	if deps.OnFatal != nil {
		deps.LogStore = &guardedLogStore{LogStore: deps.LogStore, onFail: deps.OnFatal}
	}
	rl := deps.RaftLog
	if rl == nil {
		rl = io.Discard
	}
	hl := hclog.New(&hclog.LoggerOptions{
		Name: "raft", Output: rl, JSONFormat: true,
		Level: hclog.LevelFromString(cfg.RaftLogLevel),
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Name)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	// Raft restores the newest snapshot at start and then replays the log
	// after it. The FSM is persistent: Restore skips a snapshot it already
	// holds (applied index at or past the snapshot's) after reading only its
	// header, and restores one it does not (a crash after raft stored an
	// installed snapshot but before the FSM committed it).
	rc.Logger = hl
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("replicator: raft config: %w", err)
	}

	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Clean(cfg.SnapshotDir), 2, hl.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("replicator: snapshot store %s: %w", cfg.SnapshotDir, err)
	}
	layer := deps.Endpoint.StreamLayer(transport.KindRaft)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 4,
		Timeout: 5 * time.Second,
		// No pipelined replication: in hashicorp/raft v1.8.0, when a
		// follower answers a pipelined AppendEntries with a newer term or
		// a failure, the pipeline's decoder exits while the sender can
		// still block handing it the next request, and nothing closes the
		// pipeline: the leader never again replicates to that follower
		// (its heartbeats go on, so no election heals it) and
		// raft.Shutdown waits forever. TestChaos hit this (a Close stuck
		// for minutes); see also hashicorp/raft#612. Synchronous
		// AppendEntries carry the transport's deadlines, and the
		// proposer already batches writes into one entry per round trip.
		MaxRPCsInFlight: 1,
		Logger:          hl.Named("transport"),
	})
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(deps.LogStore, deps.StableStore, snaps)
		if err != nil {
			trans.Close()
			return nil, fmt.Errorf("replicator: check raft state: %w", err)
		}
		if !has {
			var servers []raft.Server
			for _, p := range cfg.Peers {
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p), Address: raft.ServerAddress(p)})
			}
			if err := raft.BootstrapCluster(rc, deps.LogStore, deps.StableStore, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
				trans.Close()
				return nil, fmt.Errorf("replicator: bootstrap cell: %w", err)
			}
			logger.Info("bootstrapped cell", "peers", cfg.Peers)
		}
	}
	r, err := raft.NewRaft(rc, fsm, deps.LogStore, deps.StableStore, snaps, trans)
	if err != nil {
		trans.Close()
		return nil, fmt.Errorf("replicator: start raft: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cell{cfg: cfg, deps: deps, logger: logger, raft: r, trans: trans, layer: layer, fsm: fsm, ctx: ctx, cancel: cancel}
	c.metrics = newMetrics(c, deps.Registerer)
	c.fwd = newForwarder(c)
	c.lists = newLister(deps.DB, deps.Keys, deps.Registerer)
	c.prop = newProposer(c)
	c.wg.Add(4)
	go c.serveForward()
	go c.observe()
	go c.prop.run()
	go c.retain()
	targets := cfg.Ship.Replicas
	if cfg.Ship.Twin != "" {
		targets = append([]string{cfg.Ship.Twin}, targets...)
	}
	for _, t := range targets {
		sc := cfg.Ship
		sc.Twin, sc.Replicas = t, nil
		reg := deps.Registerer
		if len(targets) > 1 {
			reg = prometheus.WrapRegistererWith(prometheus.Labels{"target": t}, reg)
		}
		s := newShipper(c, sc, reg)
		c.ships = append(c.ships, s)
		c.wg.Add(1)
		go s.run()
	}
	return c, nil
}

// Close stops the member; the data stays on disk.
// raftHandlersWait bounds Close's wait for raft's RPC handlers.
const raftHandlersWait = 5 * time.Second

func (c *Cell) Close() error {
	c.cancel()
	err := c.raft.Shutdown().Error()
	c.trans.Close()
	// An RPC handler that passed raft's shutdown check just before
	// Shutdown may still write the term or entries: the caller closes
	// the store after Close, so wait for the handlers (their streams are
	// reset once the endpoint closes, or by the peer).
	if !c.layer.Wait(raftHandlersWait) {
		c.logger.Warn("raft RPC handlers still running after shutdown", "waited", raftHandlersWait)
	}
	c.wg.Wait()
	c.metrics.unregister()
	c.lists.m.unregister()
	if err != nil {
		return fmt.Errorf("replicator: shutdown raft: %w", err)
	}
	return nil
}

// Raft exposes the Raft node (tests and status).
func (c *Cell) Raft() *raft.Raft { return c.raft }

// FSM exposes the state machine (tests and status).
func (c *Cell) FSM() *FSM { return c.fsm }

// IsLeader reports whether this site is the cell leader.
func (c *Cell) IsLeader() bool { return c.raft.State() == raft.Leader }

// Leader returns the current leader's name, or "" if unknown.
func (c *Cell) Leader() string {
	_, id := c.raft.LeaderWithID()
	return string(id)
}

// WaitLeader blocks until the cell has a leader or ctx ends.
func (c *Cell) WaitLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if l := c.Leader(); l != "" {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for leader: %w", ErrNoLeader)
		case <-t.C:
		}
	}
}

// Put writes value under ns/key. The leader seals it and commits it through
// Raft; a follower forwards the plaintext to the leader over the cell's
// mutually authenticated QUIC link.
//
// With DurabilityTwin it returns once the twin has the write durably, or
// fails with ErrTwinUnconfirmed (the write is committed in the cell and may
// still reach the twin).
func (c *Cell) Put(ctx context.Context, ns, key string, value []byte, d Durability) (Result, error) {
	if err := ValidateNamespace(ns); err != nil {
		return Result{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Result{}, err
	}
	if len(value) > maxPayloadLen-64 {
		return Result{}, fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadRequest, len(value), maxPayloadLen-64)
	}
	return c.write(ctx, wal.OpPut, ns, key, value, d)
}

// Delete removes ns/key (deleting a missing key is not an error: the
// delete is still recorded in the WAL).
func (c *Cell) Delete(ctx context.Context, ns, key string, d Durability) (Result, error) {
	if err := ValidateNamespace(ns); err != nil {
		return Result{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Result{}, err
	}
	return c.write(ctx, wal.OpDelete, ns, key, nil, d)
}

func (c *Cell) write(ctx context.Context, op wal.Op, ns, key string, value []byte, d Durability) (Result, error) {
	if d == DurabilityTwin && len(c.ships) == 0 {
		return Result{}, ErrNoTwin
	}
	start := time.Now()
	res, err := c.writeOnce(ctx, op, ns, key, value, d)
	for err != nil && (errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader)) && ctx.Err() == nil {
		// Leadership moved: retry on the new leader until the deadline.
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
		if ctx.Err() != nil {
			break
		}
		res, err = c.writeOnce(ctx, op, ns, key, value, d)
	}
	c.metrics.observeWrite(op, start, err)
	return res, err
}

func (c *Cell) writeOnce(ctx context.Context, op wal.Op, ns, key string, value []byte, d Durability) (Result, error) {
	if !c.IsLeader() {
		leader := c.Leader()
		if leader == "" {
			return Result{}, ErrNoLeader
		}
		if leader == c.cfg.Name {
			return Result{}, ErrNotLeader
		}
		return c.fwd.write(ctx, leader, op, ns, key, value, d)
	}
	return c.leaderWrite(ctx, op, ns, key, value, d)
}

// leaderWrite applies the RPO guard, seals and commits a write on the
// leader, and for DurabilityTwin waits for the twin's ack.
func (c *Cell) leaderWrite(ctx context.Context, op wal.Op, ns, key string, value []byte, d Durability) (Result, error) {
	switch {
	case d > DurabilityTwin:
		return Result{}, fmt.Errorf("%w: unknown durability %d", ErrBadRequest, d)
	case d == DurabilityTwin && len(c.ships) == 0:
		return Result{}, ErrNoTwin
	}
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	if c.draining.Load() {
		return Result{}, ErrSwitching
	}
	if c.deps.Admit != nil {
		if err := c.deps.Admit(); err != nil {
			return Result{}, err
		}
	}
	if c.deps.Gate != nil {
		if err := c.deps.Gate(); err != nil {
			return Result{}, err
		}
	}
	if s := c.bestShip(); s != nil {
		if err := s.guard(ctx); err != nil {
			return Result{}, err
		}
	}
	res, err := c.sealAndApply(ctx, op, ns, key, value)
	if err == nil && d == DurabilityTwin {
		err = c.waitAnyShipped(ctx, res.WALIndex)
	}
	if err == nil && c.deps.Gate != nil {
		// The lease may have run out while the write committed: then it
		// is not acknowledged (another region may be primary by now; the
		// write stays in this cell's WAL, outside the new primary's).
		if gerr := c.deps.Gate(); gerr != nil {
			err = fmt.Errorf("%w: committed at WAL index %d in this cell, but the primary lease was lost before acknowledging it: %w", ErrTimeout, res.WALIndex, gerr)
		}
	}
	return res, err
}

func (c *Cell) sealAndApply(ctx context.Context, op wal.Op, ns, key string, value []byte) (Result, error) {
	cmd := command{Op: op, Epoch: c.cfg.Epoch, Namespace: ns, Key: key}
	if op == wal.OpPut {
		if err := c.ensureKey(ctx, ns); err != nil {
			return Result{}, err
		}
		sealed, err := c.deps.Keys.Seal(ns, aad(ns, key), value)
		if err != nil {
			return Result{}, fmt.Errorf("seal %s/%s: %w", ns, key, err)
		}
		cmd.Payload = sealed
	}
	return c.apply(ctx, &cmd)
}

// waitFuture is f.Error() bounded by ctx and by the cell's life:
// hashicorp/raft leaves a request unanswered when it shuts down while the
// request is still queued (hashicorp/raft#498), and an unbounded wait in
// a request handler would then hold Close forever. The goroutine left
// behind by such a request ends if raft ever answers it.
func (c *Cell) waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	case <-c.ctx.Done():
		return ErrClosed
	}
}

func (c *Cell) apply(ctx context.Context, cmd *command) (Result, error) {
	return c.prop.propose(ctx, cmd)
}

// ensureKey makes sure the namespace has a data key on every site: the
// leader generates one, wraps it with the key-encryption key and commits it
// through Raft, so every replica installs the same key.
//
// First the leader rewrites its keyring file: a leader that cannot write
// it (no file descriptor left, full disk, unwritable directory) fails the
// request with that reason and proposes nothing. A write that fails later,
// when the committed key is applied, does not halt any site (see
// FSM.ApplyBatch). The generated key is not installed before it commits:
// a leader deposed meanwhile must not hold a key the cell never agreed on.
func (c *Cell) ensureKey(ctx context.Context, ns string) error {
	if c.deps.Keys.Has(ns) {
		return nil
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.deps.Keys.Has(ns) {
		return nil
	}
	if err := c.deps.Keys.Flush(); err != nil {
		return fmt.Errorf("namespace %s has no data key yet, and this site cannot write its keyring file to create one (nothing was written): %w", ns, err)
	}
	wrapped, err := c.deps.Keys.Generate(ns)
	if err != nil {
		return fmt.Errorf("generate data key for namespace %s: %w", ns, err)
	}
	if _, err := c.apply(ctx, &command{Op: wal.OpKey, Epoch: c.cfg.Epoch, Namespace: ns, Payload: wrapped}); err != nil {
		return fmt.Errorf("replicate data key for namespace %s: %w", ns, err)
	}
	if !c.deps.Keys.Has(ns) {
		return fmt.Errorf("data key for namespace %s was committed but this site could not install it (see its log; is the key-encryption key right?)", ns)
	}
	return nil
}

// Consistency selects how a read is served.
type Consistency int

const (
	// Linearizable reads go through the leader after a read barrier.
	Linearizable Consistency = iota
	// Stale reads are served from this site's local state.
	Stale
)

// readBarrier implements the Raft read-index protocol on the leader: make
// sure the leader has committed an entry of its own term (a new leader's
// commit index can lag the writes its predecessor acknowledged until its
// first entry commits), take the commit index, confirm leadership with a
// quorum, and wait until the state has applied that index.
//
// Its timeouts are ErrReadTimeout: a read changed nothing (ErrTimeout
// would tell the caller a write may still commit).
func (c *Cell) readBarrier(ctx context.Context) error {
	if err := c.waitTermCommitted(ctx); err != nil {
		return err
	}
	idx := c.raft.CommitIndex()
	if err := c.waitFuture(ctx, c.raft.VerifyLeader()); err != nil {
		switch {
		case errors.Is(err, ErrTimeout):
			return fmt.Errorf("read barrier: verify leadership: %w", ErrReadTimeout)
		case errors.Is(err, ErrClosed):
			return fmt.Errorf("read barrier: verify leadership: %w", err)
		}
		return fmt.Errorf("read barrier: %w", ErrNotLeader)
	}
	idx = c.fsmVisible(idx)
	if err := c.WaitApplied(ctx, idx); err != nil {
		if errors.Is(err, ErrTimeout) {
			return fmt.Errorf("read barrier: wait for index %d (applied %d): %w", idx, c.fsm.Applied(), ErrReadTimeout)
		}
		return err
	}
	return nil
}

// waitTermCommitted waits until the entry at the commit index belongs to
// the current term; the term it was seen for is cached.
func (c *Cell) waitTermCommitted(ctx context.Context) error {
	for {
		term := c.raft.CurrentTerm()
		if c.termCommitted.Load() == term {
			return nil
		}
		if !c.IsLeader() {
			return fmt.Errorf("read barrier: %w", ErrNotLeader)
		}
		var l raft.Log
		if err := c.deps.LogStore.GetLog(c.raft.CommitIndex(), &l); err == nil && l.Term == term {
			c.termCommitted.Store(term)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read barrier: leader has not committed an entry of term %d yet: %w", term, ErrReadTimeout)
		case <-c.ctx.Done():
			return ErrClosed
		case <-time.After(time.Millisecond):
		}
	}
}

// fsmVisible returns the highest index <= idx that the FSM will see: Raft
// never hands no-op entries (one per new term) to the FSM, so waiting for
// the FSM to reach a no-op's index would wait for the next write.
func (c *Cell) fsmVisible(idx uint64) uint64 {
	for idx > c.fsm.Applied() {
		var l raft.Log
		if err := c.deps.LogStore.GetLog(idx, &l); err != nil {
			// Compacted away: covered by a snapshot, hence applied.
			return min(idx, c.fsm.Applied())
		}
		if l.Type != raft.LogNoop {
			return idx
		}
		idx--
	}
	return idx
}

// WaitApplied waits until the FSM has applied Raft index idx.
func (c *Cell) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		ch := c.fsm.Changed()
		if c.fsm.Applied() >= idx {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", idx, c.fsm.Applied(), ErrTimeout)
		case <-c.ctx.Done():
			return ErrClosed
		case <-ch:
		}
	}
}

// Get reads ns/key.
func (c *Cell) Get(ctx context.Context, ns, key string, cons Consistency) ([]byte, error) {
	if err := ValidateNamespace(ns); err != nil {
		return nil, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if cons == Linearizable {
		if !c.IsLeader() {
			leader := c.Leader()
			if leader == "" || leader == c.cfg.Name {
				return nil, ErrNoLeader
			}
			return c.fwd.get(ctx, leader, ns, key)
		}
		if err := c.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return c.localGet(ns, key)
}

func (c *Cell) localGet(ns, key string) ([]byte, error) {
	sealed, err := readSealed(c.deps.DB, ns, key)
	if err != nil {
		return nil, err
	}
	v, err := c.deps.Keys.Unseal(ns, aad(ns, key), sealed)
	if err != nil {
		return nil, fmt.Errorf("unseal %s/%s: %w", ns, key, err)
	}
	return v, nil
}

// Status is a snapshot of this member's view of the cell.
type Status struct {
	Name         string   `json:"name"`
	RaftState    string   `json:"raft_state"`
	Leader       string   `json:"leader"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	LastLogIndex uint64   `json:"last_log_index"`
	WALFirst     uint64   `json:"wal_first_index"`
	WALLast      uint64   `json:"wal_last_index"`
	WALHash      string   `json:"wal_last_hash"`
	Epoch        uint64   `json:"epoch"`
	Peers        []string `json:"peers"`
	FSMError     string   `json:"fsm_error,omitempty"`
	// Ship is the region replication view (nil without a twin).
	Ship *ShipStatus `json:"ship,omitempty"`
	// Ships lists every target when there are several (a promoted twin
	// shipping to the sites of the region it replaced); Ship is then the
	// one with the least lag.
	Ships []ShipStatus `json:"ships,omitempty"`
}

// Status returns this member's view of the cell.
func (c *Cell) Status() Status {
	last, h := c.deps.WAL.Last()
	fsmErr := ""
	if err := c.fsm.Failed(); err != nil {
		fsmErr = err.Error()
	}
	var ship *ShipStatus
	var ships []ShipStatus
	if s := c.bestShip(); s != nil {
		st := s.status()
		ship = &st
	}
	if len(c.ships) > 1 {
		for _, s := range c.ships {
			ships = append(ships, s.status())
		}
	}
	return Status{
		Ship:         ship,
		Ships:        ships,
		FSMError:     fsmErr,
		Name:         c.cfg.Name,
		RaftState:    c.raft.State().String(),
		Leader:       c.Leader(),
		Term:         c.raft.CurrentTerm(),
		CommitIndex:  c.raft.CommitIndex(),
		AppliedIndex: c.fsm.Applied(),
		LastLogIndex: c.raft.LastIndex(),
		WALFirst:     c.deps.WAL.First(),
		WALLast:      last,
		WALHash:      fmt.Sprintf("%x", h),
		Epoch:        c.cfg.Epoch,
		Peers:        append([]string(nil), c.cfg.Peers...),
	}
}

// Snapshot asks Raft for a snapshot now (tests and operators).
func (c *Cell) Snapshot() error {
	if err := c.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("replicator: snapshot: %w", err)
	}
	return nil
}

// observe counts leader changes.
func (c *Cell) observe() {
	defer c.wg.Done()
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	c.raft.RegisterObserver(obs)
	defer c.raft.DeregisterObserver(obs)
	for {
		select {
		case <-c.ctx.Done():
			return
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			c.metrics.leaderChanges.Inc()
			c.logger.Info("cell leader changed", "leader", string(lo.LeaderID), "term", c.raft.CurrentTerm())
		}
	}
}

// retain is WAL retention: every site keeps the newest
// Ship.RetainRecords records. A twin cut off for longer than that is
// rebuilt from a state snapshot before shipping resumes.
func (c *Cell) retain() {
	defer c.wg.Done()
	n := c.cfg.Ship.RetainRecords
	if n == 0 {
		return
	}
	t := time.NewTicker(c.cfg.Ship.RetainEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		last, _ := c.deps.WAL.Last()
		if last <= n || last-n < c.deps.WAL.First() {
			continue
		}
		if err := c.deps.WAL.TruncateBefore(last - n + 1); err != nil {
			c.logger.Warn("wal retention", "err", err)
		}
	}
}
