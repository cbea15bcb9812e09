package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/raftstore"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// SandboxResult is what a live, non-disruptive drill measured on a clone
// of the twin (POST /v1/drill/sandbox).
type SandboxResult struct {
	Node string `json:"node"`
	// The clone: a Pebble checkpoint of the twin's store.
	CheckpointIndex uint64 `json:"checkpoint_index"`
	CheckpointHash  string `json:"checkpoint_hash"`
	CheckpointMS    int64  `json:"checkpoint_ms"`
	// Integrity: the clone's WAL chain verified from its first record
	// (or anchor) to its tip, and the digest of its whole state.
	ChainVerified bool   `json:"chain_verified"`
	VerifiedFrom  uint64 `json:"verified_from"`
	VerifiedTo    uint64 `json:"verified_to"`
	StateKeys     int    `json:"state_keys"`
	StateDigest   string `json:"state_digest"`
	// Promotion of the clone, isolated: a cell of one on a loopback
	// endpoint that knows no peer. PromoteMS runs from the start of the
	// promotion to the first write the clone accepted (its RTO).
	PromoteMS     int64  `json:"promote_ms"`
	ProbeIndex    uint64 `json:"probe_wal_index"`
	ProbeReadBack bool   `json:"probe_read_back"`
	Isolation     string `json:"isolation"`
	TotalMS       int64  `json:"total_ms"`
	// Replication kept running: the twin's WAL tip before and after.
	TwinIndexBefore uint64 `json:"twin_index_before"`
	TwinIndexAfter  uint64 `json:"twin_index_after"`
}

// SandboxDrill is the live, non-disruptive drill: this twin clones its
// store from a Pebble checkpoint into a sandbox directory, verifies the
// clone's chain and state, promotes the clone in isolation (a one-site
// cell on a loopback endpoint that resolves no peer, with its own copy of
// the keyring and a throwaway epoch), times the first write it accepts,
// and throws it away. The twin keeps receiving meanwhile; nothing of the
// sandbox reaches the real sites or the region epoch.
func (n *Node) SandboxDrill(ctx context.Context) (SandboxResult, error) {
	tw := n.Twin()
	if tw == nil || n.Mode() != modeTwin {
		return SandboxResult{}, fmt.Errorf("%w: %s is not the twin receiver (mode %s): the live drill clones the twin", failover.ErrRefused, n.cfg.Node.Name, n.Mode())
	}
	start := time.Now()
	res := SandboxResult{Node: n.cfg.Node.Name}
	res.TwinIndexBefore, _ = n.wal.Last()
	dir, err := os.MkdirTemp(n.cfg.Node.DataDir, "sandbox-")
	if err != nil {
		return res, fmt.Errorf("node: sandbox: %w", err)
	}
	defer os.RemoveAll(dir)
	logger := n.logger.With("component", "sandbox")

	// The clone.
	if err := n.db.Checkpoint(filepath.Join(dir, "pebble"), pebble.WithFlushedWAL()); err != nil {
		return res, fmt.Errorf("node: sandbox: checkpoint: %w", err)
	}
	res.CheckpointMS = time.Since(start).Milliseconds()
	db, err := openPebble(filepath.Join(dir, "pebble"), logger)
	if err != nil {
		return res, err
	}
	defer db.Close()
	w, err := wal.Open(db, wal.Options{Logger: logger})
	if err != nil {
		return res, fmt.Errorf("node: sandbox: %w", err)
	}
	last, h := w.Last()
	res.CheckpointIndex, res.CheckpointHash = last, fmt.Sprintf("%x", h)
	res.VerifiedFrom, res.VerifiedTo = w.First(), last
	if last > 0 {
		if err := w.Verify(w.First(), last); err != nil {
			return res, fmt.Errorf("node: sandbox: the clone's WAL does not verify: %w", err)
		}
	}
	res.ChainVerified = true
	digest, keys, err := replicator.StateDigest(db)
	if err != nil {
		return res, fmt.Errorf("node: sandbox: %w", err)
	}
	res.StateDigest, res.StateKeys = fmt.Sprintf("%x", digest), keys

	// Promote the clone, isolated.
	promote := time.Now()
	kr, err := sandboxKeyring(n.cfg, dir)
	if err != nil {
		return res, err
	}
	if err := replicator.ResetApplied(db); err != nil {
		return res, err
	}
	rs, err := raftstore.New(db, raftstore.Options{Sync: true, Logger: logger})
	if err != nil {
		return res, fmt.Errorf("node: sandbox: raft store: %w", err)
	}
	// No node may connect to the clone: it holds a copy of the data.
	alone, err := transport.NewMembers(n.mat.Identity, nil, nil)
	if err != nil {
		return res, fmt.Errorf("node: sandbox: %w", err)
	}
	tc := transport.DefaultConfig()
	tc.Listen = "127.0.0.1:0"
	tc.TLS = n.mat
	tc.Logger = logger
	tc.Members = alone
	tc.Resolve = func(peer string) (string, error) {
		return "", fmt.Errorf("node: sandbox: %s is isolated: it resolves no peer (asked for %q)", n.cfg.Node.Name, peer)
	}
	ep, err := transport.Listen(tc)
	if err != nil {
		return res, fmt.Errorf("node: sandbox: %w", err)
	}
	defer ep.Close()
	res.Isolation = "loopback endpoint " + ep.Addr().String() + " resolving no peer; keyring copy; epoch never stored"
	cc := n.cfg.cellConfig()
	cc.Peers, cc.Bootstrap = []string{n.cfg.Node.Name}, true
	cc.SnapshotDir = filepath.Join(dir, "snapshots")
	cc.Epoch = n.fo.store.State().Epoch + 1
	cc.Ship.Twin, cc.Ship.Replicas, cc.Ship.RetainRecords = "", nil, 0
	cell, err := replicator.Open(cc, replicator.Deps{
		DB: db, WAL: w, LogStore: rs, StableStore: rs, Endpoint: ep, Keys: kr,
		Logger: logger, RaftLog: io.Discard, Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		return res, fmt.Errorf("node: sandbox: start the clone's cell: %w", err)
	}
	defer cell.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := cell.Put(pctx, "jumeau-sandbox", "probe", []byte("live drill "+start.UTC().Format(time.RFC3339Nano)), replicator.DurabilityCell)
		cancel()
		if err == nil {
			res.PromoteMS = time.Since(promote).Milliseconds()
			res.ProbeIndex = r.WALIndex
			break
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("node: sandbox: the clone took no write: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	v, err := cell.Get(ctx, "jumeau-sandbox", "probe", replicator.Linearizable)
	res.ProbeReadBack = err == nil && len(v) > 0
	if nl, _ := w.Last(); nl > last {
		if err := w.Verify(last, nl); err != nil {
			return res, fmt.Errorf("node: sandbox: the clone's chain broke at its first write: %w", err)
		}
	}
	res.TwinIndexAfter, _ = n.wal.Last()
	res.TotalMS = time.Since(start).Milliseconds()
	logger.Info("live drill: clone promoted in isolation and discarded", "checkpoint_index", last, "promote_ms", res.PromoteMS,
		"keys", keys, "twin_index_before", res.TwinIndexBefore, "twin_index_after", res.TwinIndexAfter)
	return res, nil
}

// sandboxKeyring opens a copy of the node's keyring in dir, so that the
// clone's writes never add a key to the real one.
func sandboxKeyring(cfg Config, dir string) (*keyring.Keyring, error) {
	b, err := os.ReadFile(cfg.Keyring.File)
	if err != nil {
		return nil, fmt.Errorf("node: sandbox: read the keyring: %w", err)
	}
	cp := filepath.Join(dir, "keyring.json")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		return nil, fmt.Errorf("node: sandbox: copy the keyring: %w", err)
	}
	kek, err := keyring.LoadKEK(cfg.Keyring.KEKFile, cfg.Keyring.KEKEnv)
	if err != nil {
		return nil, fmt.Errorf("node: sandbox: %w", err)
	}
	kr, err := keyring.Open(cp, kek)
	if err != nil {
		return nil, fmt.Errorf("node: sandbox: %w", err)
	}
	return kr, nil
}
