// Package node assembles one jumeau process: the Pebble store, the Raft
// storage, the WAL, the keyring, the QUIC endpoint, the cell and the APIs.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/raftstore"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Version is set by the binary (ldflags) and reported in status.
var Version = "dev"

// Commit is the source revision of the binary, set by the binary like
// Version and reported in jumeau_build_info.
var Commit = "unknown"

// Node is one running jumeau process.
type Node struct {
	cfg       Config
	logger    *slog.Logger
	db        *pebble.DB
	wal       *wal.Log
	ep        *transport.Endpoint
	cell      *replicator.Cell // sites; the twin once promoted
	twin      *replicator.Twin // the twin until promoted
	fo        *regionFailover
	backend   switchBackend
	roleMu    sync.Mutex // guards cell and twin (a promotion swaps them)
	keys      *keyring.Keyring
	disk      *diskspace.Guard // free space of the data directory
	opts      Options
	api       *api.Server
	metrics   *http.Server
	mln       net.Listener
	reg       *prometheus.Registry
	started   time.Time
	mat       *pki.Material // this node's TLS material (the sandbox reuses it)
	members   *transport.Members
	mode      atomic.Value // string, see mode.go
	restart   chan string  // Restarts
	reloadMu  sync.Mutex   // one Reload at a time
	reloads   *prometheus.CounterVec
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Options carry what the embedding program provides.
type Options struct {
	Logger *slog.Logger
	// RaftLog receives hashicorp/raft's JSON log lines (nil discards).
	RaftLog io.Writer
	// OnFatal is called once if the node can no longer serve correctly
	// (its state machine halted after a storage failure); the program
	// should stop, and its supervisor restart it.
	OnFatal func(error)
	// LogLevel, if set, is the level of Logger's handler: Reload sets it
	// to the configuration file's log.level.
	LogLevel *slog.LevelVar
	// WriteLog, if set, is called every time this node's write gate lets
	// a write through, before it is proposed and again before it is
	// acknowledged, with the epoch it is accepted in (the history the
	// split-brain checker reads).
	WriteLog func(epoch uint64, at time.Time)
}

// Start opens the node's data directory and starts serving. On error,
// everything already opened is closed again.
func Start(cfg Config, opts Options) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", cfg.Node.Name)
	n = &Node{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), started: time.Now(), restart: make(chan string, 1), done: make(chan struct{})}
	self := n // the returns below set n to nil before this runs
	defer func() {
		if err != nil {
			_ = self.Close()
			n = nil
		}
	}()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mat, err := pki.LoadTLS(pki.TLSFiles{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key})
	if err != nil {
		return nil, fmt.Errorf("node: load TLS material: %w", err)
	}
	if err := checkIdentity(cfg, mat.Identity); err != nil {
		return nil, err
	}
	n.mat = mat
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: create data dir: %w", err)
	}
	if err := checkDataDir(cfg.Node.DataDir); err != nil {
		return nil, err
	}
	if err := n.startDisk(); err != nil {
		return nil, err
	}
	n.opts = opts
	role := pki.Role(cfg.Node.Role)
	peers := map[string]string{}
	for _, p := range cfg.Peers {
		peers[p.Name] = p.Addr
	}
	// Only the deployment's nodes may connect; the cell's voters are set
	// with the mode, below.
	n.members, err = cfg.newMembers(mat.Identity, "")
	if err != nil {
		return nil, err
	}
	tc := transport.DefaultConfig()
	tc.Listen = cfg.Listen.QUIC
	tc.TLS = mat
	tc.Logger = logger
	tc.Members = n.members
	tc.Resolve = func(peer string) (string, error) {
		if a, ok := peers[peer]; ok {
			return a, nil
		}
		return "", fmt.Errorf("node: no address for peer %q: add it under peers in the config", peer)
	}
	n.ep, err = transport.Listen(tc)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.reg.MustRegister(n.ep.Collectors()...)
	epochs, err := failover.OpenStore(filepath.Join(cfg.Node.DataDir, "epoch"),
		failover.State{Epoch: max(cfg.Cell.Epoch, 1), PrimaryRegion: cfg.Failover.PrimaryRegion})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	// Learn the current epoch before choosing a mode: a site that was
	// down through a promotion must not start its old cell.
	confirmEpoch(cfg, epochs, failover.Net{EP: n.ep}, logger)
	st := epochs.State()
	n.setMode(modeFor(cfg, st))
	switch {
	case n.Mode() == modeReplica && !hasMarker(cfg, replicaMarker):
		// This site was primary and another region is now: export its
		// forked tail and turn its store into a replica's first.
		if err := demoteStore(cfg, st, logger, false); err != nil {
			return nil, err
		}
	case n.Mode() == modeCell && !hasMarker(cfg, replicaMarker):
		stale, err := staleCell(cfg, st, logger)
		if err != nil {
			return nil, err
		}
		if stale {
			// The cell was re-formed at the epoch's start while this
			// site was away: its Raft state must never rejoin it.
			if err := demoteStore(cfg, st, logger, true); err != nil {
				return nil, err
			}
		}
	}
	if role != pki.RoleWitness {
		kek, err := keyring.LoadKEK(cfg.Keyring.KEKFile, cfg.Keyring.KEKEnv)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.keys, err = keyring.Open(cfg.Keyring.File, kek)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.db, err = openPebbleLog(filepath.Join(cfg.Node.DataDir, "pebble"), newPebbleLog(logger.With("component", "pebble"), n.reg))
		if err != nil {
			return nil, err
		}
		n.wal, err = wal.Open(n.db, wal.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("node: open wal: %w", err)
		}
		if err := verifyWALTail(n.wal, walVerifyTail); err != nil {
			return nil, err
		}
	}
	n.fo = newRegionFailover(n, epochs)
	var promote func(context.Context, bool) (any, error)
	switch role {
	case pki.RoleWitness:
		n.fo.serveGrants(true)
		n.backend.set(noData{})
	case pki.RoleTwin:
		if cfg.Failover.Witness != "" {
			n.fo.watchEpoch()
		}
		if n.Mode() == modePrimary {
			// Promoted (or switched over to) before this start: come back
			// as the primary, once the old epoch's leases have run out.
			n.fo.holdOff()
			if err := n.becomePrimary(); err != nil {
				return nil, err
			}
			n.fo.promoted.Store(true)
			n.fo.setPromotion("promoted")
			break
		}
		if hasMarker(cfg, primaryMarker) {
			// This twin handed the primary role back: drop its cell's
			// Raft state; its WAL and state stay and are shipped onto.
			if err := n.wipeRaftState(); err != nil {
				return nil, err
			}
		}
		n.fo.serveGrants(false)
		n.twin, err = replicator.OpenTwin(n.receiverConfig(st), replicator.TwinDeps{
			DB: n.db, WAL: n.wal, Endpoint: n.ep, Keys: n.keys,
			Logger: logger, Registerer: n.reg, OnFatal: opts.OnFatal, OnHeard: n.fo.grantor.Heard,
		})
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.backend.set(n.twin)
		if cfg.Failover.Witness != "" {
			n.fo.watch(cfg.Failover.AutoPromote)
		}
		promote = func(ctx context.Context, force bool) (any, error) { return n.fo.promote(ctx, force) }
	case pki.RoleSite:
		if cfg.Failover.Witness != "" {
			n.fo.watchEpoch()
		}
		if n.Mode() == modeReplica {
			// Reverse replication: a read-only copy fed by the primary,
			// and a grantor of its lease (the third region's vote beside
			// the witness: the promoted twin survives the witness's loss).
			if cfg.Failover.Witness != "" {
				n.fo.serveGrants(false)
			}
			n.twin, err = replicator.OpenTwin(n.receiverConfig(st), replicator.TwinDeps{
				DB: n.db, WAL: n.wal, Endpoint: n.ep, Keys: n.keys,
				Logger: logger, Registerer: n.reg, OnFatal: opts.OnFatal,
			})
			if err != nil {
				return nil, fmt.Errorf("node: %w", err)
			}
			n.backend.set(n.twin)
			break
		}
		cc := cfg.cellConfig()
		if hasMarker(cfg, replicaMarker) {
			// Switched back to this region: the replicas, all at the
			// epoch's start, bootstrap a new cell continuing the WAL.
			if last, h := n.wal.Last(); last != st.StartIndex || h != st.StartHash {
				return nil, fmt.Errorf("%w: it cannot join its region's cell: the cell was re-formed at WAL index %d when epoch %d began, "+
					"and this site's store ends at %d (it was away or behind then; its old store, if any, is kept as pebble.fork-e%d in %s). "+
					"Reseed it: hand the primary role to the twin (`jumeau failover switchover --to <twin's region>`), start this site again "+
					"(it resyncs as a replica), then switch back", ErrStaleSite, st.StartIndex, st.Epoch, last, st.Epoch, cfg.Node.DataDir)
			}
			if err := removeMarker(cfg, replicaMarker); err != nil {
				return nil, err
			}
			cc.Bootstrap = true
			n.fo.holdOff()
			logger.Warn("rejoining: this region is primary again; the replicas form a new cell at the epoch's start",
				"epoch", st.Epoch, "start_index", st.StartIndex, "sites", cc.Peers)
		}
		rs, err := raftstore.New(n.db, raftstore.Options{Sync: true, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("node: open raft store: %w", err)
		}
		cc.Epoch = st.Epoch
		n.cell, err = replicator.Open(cc, replicator.Deps{
			DB: n.db, WAL: n.wal, LogStore: rs, StableStore: rs, Endpoint: n.ep, Keys: n.keys,
			Logger: logger, RaftLog: opts.RaftLog, Registerer: n.reg, OnFatal: opts.OnFatal, Gate: n.fo.gate, Admit: n.admit,
		})
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.backend.set(n.cell)
		if cfg.Failover.Witness != "" {
			grantors := []string{cfg.Failover.Witness}
			if cfg.Twin.Name != "" {
				grantors = append(grantors, cfg.Twin.Name)
			}
			n.fo.holdLease(n.cell, grantors)
		}
	}
	n.api, err = api.Listen(api.Config{
		Listen: cfg.Listen.API, TLS: mat, Backend: &n.backend, Status: func() any { return n.Status() }, Promote: promote,
		Switchover: func(ctx context.Context, to string) (any, error) { return n.Switchover(ctx, to) },
		Sandbox:    func(ctx context.Context) (any, error) { return n.SandboxDrill(ctx) },
		Logger:     logger, RequestTimeout: cfg.API.RequestTimeout, Limits: cfg.API.Limits(),
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.reg.MustRegister(n.api.Collectors()...)
	if err := n.startMetrics(); err != nil {
		return nil, err
	}
	logger.Info("node started", "role", cfg.Node.Role, "region", cfg.Node.Region,
		"quic", n.ep.Addr().String(), "api", n.api.Addr(), "metrics", cfg.Listen.Metrics, "version", Version)
	return n, nil
}

// walVerifyTail is how many of the newest WAL records are re-read and
// verified (hashes and chain links) before a node starts serving.
const walVerifyTail = 4096

// verifyWALTail refuses to start on a WAL whose newest records do not
// verify: a site must not serve, or lead, from a corrupted log.
func verifyWALTail(w *wal.Log, n uint64) error {
	last, _ := w.Last()
	if last == 0 {
		return nil
	}
	from := max(w.First(), last-min(last, n)+1)
	if err := w.Verify(from, last); err != nil {
		return fmt.Errorf("node: the WAL on disk does not verify (%w): this site's data is damaged; "+
			"move its data_dir aside and restart it empty with cell.bootstrap false: the leader rebuilds it with a snapshot", err)
	}
	return nil
}

// openPebble opens the node's one Pebble database (raft log, WAL, state).
func openPebble(dir string, logger *slog.Logger) (*pebble.DB, error) {
	return openPebbleLog(dir, newPebbleLog(logger, nil))
}

// openPebbleLog is openPebble logging through pl (disk.go).
func openPebbleLog(dir string, pl *pebbleLog) (*pebble.DB, error) {
	opts := &pebble.Options{
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		CompactionConcurrencyRange:  func() (int, int) { return 1, 2 },
		Logger:                      pl,
		EventListener:               pl.events(),
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("node: open pebble at %s: %w", dir, err)
	}
	return db, nil
}

// Cell returns the node's cell member (nil on the twin until it is
// promoted, and on the witness).
func (n *Node) Cell() *replicator.Cell {
	n.roleMu.Lock()
	defer n.roleMu.Unlock()
	return n.cell
}

// Twin returns the node's twin receiver (nil on sites, on the witness and
// on a promoted twin).
func (n *Node) Twin() *replicator.Twin {
	n.roleMu.Lock()
	defer n.roleMu.Unlock()
	return n.twin
}

func (n *Node) twinRecv() *replicator.Twin { return n.Twin() }

// becomePrimary turns the twin into the primary: it stops receiving and
// starts a cell of one site on the same store, whose FSM continues the
// WAL chain at the twin's tip in the new epoch, behind the primary lease.
func (n *Node) becomePrimary() error {
	n.roleMu.Lock()
	tw := n.twin
	n.twin = nil
	n.roleMu.Unlock()
	if tw != nil {
		_ = tw.Close()
	}
	// The marker says this store now holds a cell's Raft state, to be
	// wiped if this twin hands the primary role back.
	if err := writeMarker(n.cfg, primaryMarker, n.fo.store.State().Epoch); err != nil {
		return err
	}
	rs, err := raftstore.New(n.db, raftstore.Options{Sync: true, Logger: n.logger})
	if err != nil {
		return fmt.Errorf("node: promote: open raft store: %w", err)
	}
	cc := n.cfg.cellConfig()
	cc.Peers = []string{n.cfg.Node.Name}
	cc.Bootstrap = true
	cc.Epoch = n.fo.store.State().Epoch
	// Reverse replication: ship to every site of the region this twin
	// replaced; they rebuild as replicas when they come back.
	cc.Ship.Twin, cc.Ship.Replicas = "", append([]string(nil), n.cfg.Cell.Sites...)
	cc.Ship.StartDown = true // the region it replaced was just lost
	cell, err := replicator.Open(cc, replicator.Deps{
		DB: n.db, WAL: n.wal, LogStore: rs, StableStore: rs, Endpoint: n.ep, Keys: n.keys,
		Logger: n.logger, RaftLog: n.opts.RaftLog, Registerer: n.reg, OnFatal: n.opts.OnFatal, Gate: n.fo.gate, Admit: n.admit,
	})
	if err != nil {
		return fmt.Errorf("node: promote: start the primary cell: %w", err)
	}
	n.roleMu.Lock()
	n.cell = cell
	n.setMode(modePrimary)
	n.roleMu.Unlock()
	n.backend.set(cell)
	if n.cfg.Failover.Witness != "" {
		// The witness and the sites of the region this twin replaced
		// (once they are back as replicas) back its lease.
		n.fo.holdLease(cell, append([]string{n.cfg.Failover.Witness}, n.cfg.Cell.Sites...))
	}
	return nil
}

// receiverConfig is the WAL receiver's configuration in epoch st: the
// twin receives from the primary cell's sites; a replica site from the
// promoted twin.
func (n *Node) receiverConfig(st failover.State) replicator.TwinConfig {
	tc := n.cfg.twinConfig()
	tc.SenderEpoch = st.Epoch
	if n.cfg.Node.Role == "site" {
		tc.PrimaryRegion = st.PrimaryRegion
		tc.Sites = []string{st.PrimaryNode}
	}
	return tc
}

// APIAddr is the bound client API address.
func (n *Node) APIAddr() string { return n.api.Addr() }

// QUICAddr is the bound QUIC address.
func (n *Node) QUICAddr() string { return n.ep.Addr().String() }

// Registry returns the node's Prometheus registry.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// Status is the node's status document (GET /v1/status).
type Status struct {
	Name     string                 `json:"name"`
	Role     string                 `json:"role"`
	Region   string                 `json:"region"`
	Version  string                 `json:"version"`
	Uptime   string                 `json:"uptime"`
	Cell     *replicator.Status     `json:"cell,omitempty"`
	Twin     *replicator.TwinStatus `json:"twin,omitempty"`
	Failover *FailoverStatus        `json:"failover,omitempty"`
	Disk     *diskspace.Status      `json:"disk,omitempty"`
}

// Status returns the node's status.
func (n *Node) Status() Status {
	st := Status{
		Name: n.cfg.Node.Name, Role: n.cfg.Node.Role, Region: n.cfg.Node.Region, Version: Version,
		Uptime: time.Since(n.started).Round(time.Second).String(),
	}
	n.roleMu.Lock()
	cell, twin := n.cell, n.twin
	n.roleMu.Unlock()
	if cell != nil {
		cs := cell.Status()
		st.Cell = &cs
	}
	if twin != nil {
		ts := twin.Status()
		st.Twin = &ts
	}
	if n.fo != nil {
		st.Failover = n.fo.status()
	}
	if n.disk != nil {
		ds := n.disk.Status()
		st.Disk = &ds
	}
	return st
}

// Done is closed when Close is called.
func (n *Node) Done() <-chan struct{} { return n.done }

// Close stops serving and closes the store; data stays on disk. Later
// calls return the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.done)
		n.closeErr = n.close()
	})
	return n.closeErr
}

func (n *Node) close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.api != nil {
		errs = append(errs, n.api.Close(ctx))
	}
	if n.metrics != nil {
		errs = append(errs, n.metrics.Close())
	}
	if n.fo != nil {
		n.fo.close()
	}
	// The endpoint closes first: a Raft RPC in flight to a peer that is
	// already gone would otherwise hold the cell's shutdown for the
	// transport timeout (5 s), and a mode change restarts through here.
	if n.ep != nil {
		errs = append(errs, n.ep.Close())
	}
	if c := n.Cell(); c != nil {
		errs = append(errs, c.Close())
	}
	if t := n.Twin(); t != nil {
		errs = append(errs, t.Close())
	}
	if n.db != nil {
		errs = append(errs, n.db.Close())
	}
	if n.disk != nil {
		n.disk.Close()
	}
	return errors.Join(errs...)
}

// DB returns the node's Pebble database (tests compare state digests).
func (n *Node) DB() *pebble.DB { return n.db }

// WAL returns the node's write-ahead log.
func (n *Node) WAL() *wal.Log { return n.wal }

// Promote asks this node (the twin) to become the primary (see
// `jumeau failover promote`); force accepts a loss above the automatic
// bound, never a primary that may still hold its lease.
func (n *Node) Promote(ctx context.Context, force bool) (PromoteResult, error) {
	if n.cfg.Node.Role != "twin" {
		return PromoteResult{}, fmt.Errorf("%w: only the twin can be promoted", failover.ErrRefused)
	}
	return n.fo.promote(ctx, force)
}
