package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/raftstore"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Errors of starting a node and of its mode changes.
var (
	// ErrStaleSite means a site's store belongs to an older incarnation
	// of its region's cell (it was away through a promotion and a
	// failback): it refuses to start until it is reseeded.
	ErrStaleSite = errors.New("node: this site's store belongs to an older cell")
	// ErrDataDirPermissions means node.data_dir is accessible to its
	// group or others.
	ErrDataDirPermissions = errors.New("node: data directory is accessible to group or others")
)

// A node's mode follows from its role and the region epoch it knows:
//
//	site, its region primary      cell     a member of the primary cell
//	site, another region primary  replica  a read-only copy fed by the
//	                                        primary (reverse replication)
//	twin, its region primary      primary  a cell of one, shipping to the
//	                                        sites of the region it replaced
//	twin, another region primary  twin     the receiver of the primary's WAL
//	witness                       witness
//
// A newer epoch that changes the mode restarts the node in the new mode
// (Node.Restarts): the store is reopened from the data directory, where
// marker files say what it holds.
const (
	modeCell    = "cell"
	modeReplica = "replica"
	modePrimary = "primary"
	modeTwin    = "twin"
	modeWitness = "witness"
)

// Marker files in the data directory (their content is the epoch they
// were written in, for operators).
const (
	// replicaMarker: this site's store is a replica of another region's
	// primary: no Raft state, the WAL and state as shipped.
	replicaMarker = "replica"
	// primaryMarker: this twin ran a primary cell on its store; the Raft
	// state it left must be wiped when it steps down.
	primaryMarker = "primary"
)

// modeFor returns the mode of a node of cfg in epoch state st.
func modeFor(cfg Config, st failover.State) string {
	switch cfg.Node.Role {
	case "witness":
		return modeWitness
	case "twin":
		if st.PrimaryRegion == cfg.Node.Region && (st.PrimaryNode == "" || st.PrimaryNode == cfg.Node.Name) {
			return modePrimary
		}
		return modeTwin
	default:
		if st.PrimaryRegion == cfg.Node.Region {
			return modeCell
		}
		return modeReplica
	}
}

func markerPath(cfg Config, name string) string { return filepath.Join(cfg.Node.DataDir, name) }

func hasMarker(cfg Config, name string) bool {
	_, err := os.Stat(markerPath(cfg, name))
	return err == nil
}

func writeMarker(cfg Config, name string, epoch uint64) error {
	if err := writeFileSynced(markerPath(cfg, name), []byte(strconv.FormatUint(epoch, 10)+"\n")); err != nil {
		return fmt.Errorf("node: write %s marker: %w", name, err)
	}
	return nil
}

func removeMarker(cfg Config, name string) error {
	if err := os.Remove(markerPath(cfg, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: remove %s marker: %w", name, err)
	}
	return syncDir(cfg.Node.DataDir)
}

// writeFileSynced replaces path with data durably (temp file, fsync,
// rename, fsync of the directory).
func writeFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ForkedTailPath is where a site demoted in epoch e writes its forked tail.
func ForkedTailPath(dataDir string, epoch uint64) string {
	return filepath.Join(dataDir, fmt.Sprintf("forked-tail-e%d.jtail", epoch))
}

// demoteStore turns a former primary site's store into a replica store
// for epoch st, before the store is opened. Records it holds beyond the
// epoch's start (its forked tail: writes the new primary never received)
// are exported to ForkedTailPath; the store is then moved aside whole
// (pebble.fork-eN, kept for forensics) and the site starts empty, to be
// rebuilt by the new primary. A site with no forked tail keeps its store
// and only drops its Raft state. Every step is idempotent, so a crash
// half-way is finished at the next start.
//
// aside moves the store aside even without a forked tail: a stale site
// (staleCell), whose records may fork from an earlier epoch's start.
func demoteStore(cfg Config, st failover.State, logger *slog.Logger, aside bool) error {
	dir := cfg.Node.DataDir
	pebbleDir := filepath.Join(dir, "pebble")
	asideDir := filepath.Join(dir, fmt.Sprintf("pebble.fork-e%d", st.Epoch))
	if exists(pebbleDir) && !exists(asideDir) {
		db, err := openPebble(pebbleDir, logger.With("component", "pebble"))
		if err != nil {
			return err
		}
		fromRaft, err := applyRaftTail(cfg, db, logger)
		if err != nil {
			db.Close()
			return err
		}
		forked, err := exportTail(cfg, db, st, fromRaft, logger)
		forked = forked || aside
		if err == nil && !forked {
			// Nothing beyond the start: keep the WAL and the state, which
			// the new primary resumes from (its handshake checks them).
			err = errors.Join(raftstore.Wipe(db), replicator.ResetApplied(db))
		}
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("node: demote: close store: %w", cerr)
		}
		if err != nil {
			return err
		}
		if forked {
			if err := os.Rename(pebbleDir, asideDir); err != nil {
				return fmt.Errorf("node: demote: move the forked store aside: %w", err)
			}
			logger.Warn("DEMOTED: the store holding the forked tail was moved aside; this site is rebuilt from the new primary", "kept_at", asideDir)
		}
	}
	if snaps := filepath.Join(dir, "snapshots"); exists(snaps) {
		to := filepath.Join(dir, fmt.Sprintf("snapshots.fork-e%d", st.Epoch))
		_ = os.RemoveAll(to)
		if err := os.Rename(snaps, to); err != nil {
			return fmt.Errorf("node: demote: move the Raft snapshots aside: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("node: demote: %w", err)
	}
	return writeMarker(cfg, replicaMarker, st.Epoch)
}

// confirmEpoch asks the witness (then, on a site, the twin) for the
// region epoch, bounded by the request timeout each, and stores a newer
// one. Unreachable: the node goes on with the epoch it has (and learns a
// newer one from its epoch poll).
func confirmEpoch(cfg Config, store *failover.Store, net failover.Net, logger *slog.Logger) {
	if cfg.Failover.Witness == "" || cfg.Node.Role == "witness" {
		return
	}
	fc := cfg.failoverConfig()
	sources := []string{cfg.Failover.Witness}
	if cfg.Node.Role == "site" && cfg.Twin.Name != "" {
		sources = append(sources, cfg.Twin.Name)
	}
	for _, peer := range sources {
		ctx, cancel := context.WithTimeout(context.Background(), fc.RequestTimeout)
		rep, err := net.AskStatus(ctx, peer)
		cancel()
		if err != nil {
			logger.Debug("epoch at start: no answer", "peer", peer, "err", err)
			continue
		}
		if cur := store.State(); rep.State.Epoch > cur.Epoch {
			if err := store.Save(rep.State); err != nil {
				logger.Error("could not store the newer epoch", "epoch", rep.State.Epoch, "err", err)
				return
			}
			logger.Warn("new region epoch learned at start", "epoch", rep.State.Epoch, "primary_region", rep.State.PrimaryRegion,
				"primary_node", rep.State.PrimaryNode, "from", peer, "was", cur.Epoch)
		}
		return
	}
	logger.Warn("epoch at start: neither the witness nor the twin answered; going on with the stored epoch", "epoch", store.State().Epoch)
}

// staleCell reports whether this site's store belongs to an older
// incarnation of its region's cell: the epoch began at a WAL position
// (a failback re-formed the cell there) that this site's WAL does not
// hold. Such a site was away for a whole promotion and failback; its Raft
// state must never rejoin the new cell (it could win an election with its
// old log), so it is moved aside, and the site refuses to start until it
// is reseeded (see the error at the rejoin check).
func staleCell(cfg Config, st failover.State, logger *slog.Logger) (bool, error) {
	pebbleDir := filepath.Join(cfg.Node.DataDir, "pebble")
	if st.StartIndex == 0 || !exists(pebbleDir) {
		return false, nil
	}
	db, err := openPebble(pebbleDir, logger.With("component", "pebble"))
	if err != nil {
		return false, err
	}
	defer db.Close()
	w, err := wal.Open(db, wal.Options{Logger: logger})
	if err != nil {
		return false, fmt.Errorf("node: open wal: %w", err)
	}
	if w.First() > st.StartIndex {
		return false, nil // retention dropped it: a member for long
	}
	if a, ah := w.Anchor(); a == st.StartIndex {
		return ah != st.StartHash, nil
	}
	rec, err := w.Get(st.StartIndex)
	if err != nil {
		logger.Warn("STALE: this site's WAL does not reach the start of the current epoch: it missed a promotion and a failback",
			"epoch", st.Epoch, "start_index", st.StartIndex)
		return true, nil
	}
	if rec.Hash != st.StartHash {
		logger.Warn("STALE: this site's WAL parts from the current epoch's start: it missed a promotion and a failback",
			"epoch", st.Epoch, "start_index", st.StartIndex)
		return true, nil
	}
	return false, nil
}

// exportTail writes the records of db's WAL beyond st.StartIndex to
// ForkedTailPath (always, even when empty: the file says so) and reports
// whether there were any.
func exportTail(cfg Config, db *pebble.DB, st failover.State, fromRaft int, logger *slog.Logger) (bool, error) {
	w, err := wal.Open(db, wal.Options{Logger: logger})
	if err != nil {
		return false, fmt.Errorf("node: demote: open wal: %w", err)
	}
	path := ForkedTailPath(cfg.Node.DataDir, st.Epoch)
	f, err := os.OpenFile(path+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, fmt.Errorf("node: demote: %w", err)
	}
	hdr, err := w.ExportTail(f, wal.TailHeader{
		Node: cfg.Node.Name, Region: cfg.Node.Region, Epoch: st.Epoch,
		NewPrimary: strings.Trim(st.PrimaryRegion+"/"+st.PrimaryNode, "/"), ForkIndex: st.StartIndex, Exported: time.Now().UTC(),
		FromRaftLog: fromRaft,
	}, st.StartHash)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err != nil {
		return false, fmt.Errorf("node: demote: export the forked tail to %s: %w", path, err)
	}
	n := uint64(0)
	if hdr.Last != 0 {
		n = hdr.Last - hdr.First + 1
	}
	logger.Warn("DEMOTED: another region is primary; exported this site's forked tail (records the new primary never received)",
		"epoch", st.Epoch, "primary", hdr.NewPrimary, "fork_index", st.StartIndex, "fork_match", hdr.ForkMatch,
		"records", n, "first", hdr.First, "last", hdr.Last, "from_raft_log", fromRaft, "file", path,
		"inspect", "jumeau failover tail "+path)
	return n > 0, nil
}

// applyRaftTail applies, offline, the entries of the site's Raft log
// beyond its state machine's applied index before the store is demoted: a
// write the cell committed and acknowledged may be in the Raft log of a
// quorum without being applied yet when the region is lost, and the
// forked tail must hold it. Entries past the commit index (unknown here)
// are applied too: the tail then holds writes that may never have been
// acknowledged, which reconciliation can tell from the others by the
// header's count. It returns how many command entries it applied.
func applyRaftTail(cfg Config, db *pebble.DB, logger *slog.Logger) (int, error) {
	rs, err := raftstore.New(db, raftstore.Options{Sync: true, Logger: logger})
	if err != nil {
		return 0, fmt.Errorf("node: demote: raft store: %w", err)
	}
	last, _ := rs.LastIndex()
	if last == 0 {
		return 0, nil
	}
	w, err := wal.Open(db, wal.Options{Logger: logger})
	if err != nil {
		return 0, fmt.Errorf("node: demote: open wal: %w", err)
	}
	kek, err := keyring.LoadKEK(cfg.Keyring.KEKFile, cfg.Keyring.KEKEnv)
	if err != nil {
		return 0, fmt.Errorf("node: demote: %w", err)
	}
	keys, err := keyring.Open(cfg.Keyring.File, kek)
	if err != nil {
		return 0, fmt.Errorf("node: demote: %w", err)
	}
	fsm, err := replicator.NewFSM(db, w, keys, logger)
	if err != nil {
		return 0, fmt.Errorf("node: demote: %w", err)
	}
	var logs []*raft.Log
	commands := 0
	for i := fsm.Applied() + 1; i <= last; i++ {
		l := new(raft.Log)
		if err := rs.GetLog(i, l); err != nil {
			return 0, fmt.Errorf("node: demote: read raft entry %d: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			commands++
		}
		logs = append(logs, l)
	}
	if len(logs) == 0 {
		return 0, nil
	}
	for _, r := range fsm.ApplyBatch(logs) {
		if ar, ok := r.(replicator.ApplyResult); ok && ar.Err != nil {
			logger.Warn("demote: a Raft entry beyond the applied index did not apply", "raft_index", ar.RaftIndex, "err", ar.Err)
		}
	}
	if err := fsm.Failed(); err != nil {
		return 0, fmt.Errorf("node: demote: apply the Raft log's tail: %w", err)
	}
	logger.Warn("demote: applied the Raft log beyond the last applied entry, so the forked tail holds every write this site may have acknowledged",
		"entries", len(logs), "commands", commands, "raft_last", last)
	return commands, nil
}

// wipeRaftState drops the Raft state a twin's primary cell left in its
// store when it steps down to receiver again.
func (n *Node) wipeRaftState() error {
	if err := errors.Join(raftstore.Wipe(n.db), replicator.ResetApplied(n.db)); err != nil {
		return fmt.Errorf("node: step down: %w", err)
	}
	snaps := filepath.Join(n.cfg.Node.DataDir, "snapshots")
	if err := os.RemoveAll(snaps); err != nil {
		return fmt.Errorf("node: step down: remove %s: %w", snaps, err)
	}
	return removeMarker(n.cfg, primaryMarker)
}

// requestRestart asks the program to restart the node (Restarts).
func (n *Node) requestRestart(reason string) {
	select {
	case n.restart <- reason:
		n.logger.Warn("restarting in a new mode", "reason", reason)
	default:
	}
}

// Restarts delivers a reason when the node must be restarted from its
// data directory (a newer epoch changed its mode). The program closes
// the node and starts it again with the same configuration.
func (n *Node) Restarts() <-chan string { return n.restart }

// Mode returns the node's mode (cell, replica, primary, twin, witness).
func (n *Node) Mode() string {
	m, _ := n.mode.Load().(string)
	return m
}

// setMode records the node's mode, and with it the Raft cell whose voters
// may open Raft and Forward streams to it.
func (n *Node) setMode(m string) {
	n.mode.Store(m)
	if n.members != nil {
		n.members.SetCell(n.cfg.cellFor(m))
	}
}

// adoptEpoch stores a newer epoch learned from a grantor, the witness or
// a switchover, and restarts the node if its mode changes.
func (f *regionFailover) adoptEpoch(st failover.State, how string) {
	cur := f.store.State()
	if st.Epoch <= cur.Epoch {
		return
	}
	if err := f.store.Save(st); err != nil {
		f.logger.Error("could not store the newer epoch", "epoch", st.Epoch, "err", err)
		return
	}
	f.m.epochChanges.Inc()
	f.logger.Warn("new region epoch", "epoch", st.Epoch, "primary_region", st.PrimaryRegion, "primary_node", st.PrimaryNode,
		"start_index", st.StartIndex, "learned", how)
	newMode := modeFor(f.n.cfg, st)
	// A cell that learns a newer epoch of its own region missed at least
	// two changes (every epoch moves the primary role to another region):
	// restart, so the start-up check (staleCell) sees whether its cell is
	// the current one.
	missed := newMode == modeCell && f.n.Mode() == modeCell
	if missed || newMode != f.n.Mode() || (newMode == modeReplica && st.PrimaryNode != cur.PrimaryNode) {
		f.n.requestRestart(fmt.Sprintf("epoch %d: %s/%s is primary: %s -> %s", st.Epoch, st.PrimaryRegion, st.PrimaryNode, f.n.Mode(), newMode))
	}
}

// watchEpoch asks the witness for the epoch every EpochPoll, so that a
// node that holds no lease (a follower site, a replica, the twin) learns
// promotions and switchovers.
func (f *regionFailover) watchEpoch() {
	f.go_(func() {
		t := time.NewTicker(epochPoll)
		defer t.Stop()
		for {
			select {
			case <-f.ctx.Done():
				return
			case <-t.C:
			}
			// The witness holds the epoch; the twin learns it at once too
			// (it is the promoted primary, or votes with the witness), so
			// a site asks it when the witness does not answer.
			var rep failover.StatusReply
			var err error
			for _, peer := range f.epochSources() {
				ctx, cancel := context.WithTimeout(f.ctx, f.cfg.RequestTimeout)
				rep, err = f.net.AskStatus(ctx, peer)
				cancel()
				if err == nil {
					break
				}
			}
			if err != nil || rep.State.Epoch <= f.store.State().Epoch {
				continue
			}
			// The twin's own promotion adopts the epoch itself.
			if !f.promoMu.TryLock() {
				continue
			}
			f.adoptEpoch(rep.State, "epoch poll")
			f.promoMu.Unlock()
		}
	})
}

// epochSources are the nodes watchEpoch asks, in order.
func (f *regionFailover) epochSources() []string {
	out := []string{f.witness}
	if t := f.n.cfg.Twin.Name; f.n.cfg.Node.Role == "site" && t != "" {
		out = append(out, t)
	}
	return out
}

// epochPoll is how often a node asks the witness for the epoch.
const epochPoll = time.Second

// holdOff refuses writes until every lease of the previous epoch has run
// out (a switchover: LeaseDuration + ClockSkewMargin from now, which is
// after the epoch changed).
func (f *regionFailover) holdOff() {
	f.mu.Lock()
	f.notBefore = time.Now().Add(f.cfg.LeaseDuration + f.cfg.ClockSkewMargin)
	f.mu.Unlock()
}

// SwitchResult is the answer of a switchover.
type SwitchResult struct {
	Epoch      uint64 `json:"epoch"`
	From       string `json:"from"`
	To         string `json:"to"`
	ToNode     string `json:"to_node,omitempty"`
	StartIndex uint64 `json:"start_index"`
	DrainMS    int64  `json:"drain_ms"`
}

// Switchover hands the primary role to region to (planned failover or
// failback): this node must be the primary's writer (the cell leader, or
// the promoted twin). It drains writes, waits until every replica holds
// the whole WAL, asks the witness to start the next epoch at that tip,
// and then restarts as a replica (sites) or receiver (twin). If anything
// fails before the witness agreed, writes resume here.
func (n *Node) Switchover(ctx context.Context, to string) (SwitchResult, error) {
	f := n.fo
	if f.witness == "" {
		return SwitchResult{}, fmt.Errorf("%w: no witness configured (failover.witness): a switchover needs its vote", failover.ErrRefused)
	}
	st := f.store.State()
	cell := n.Cell()
	if cell == nil || (n.Mode() != modeCell && n.Mode() != modePrimary) {
		return SwitchResult{}, fmt.Errorf("%w: %s is not the primary (mode %s; primary %s/%s in epoch %d): run the switchover against the primary",
			failover.ErrRefused, n.cfg.Node.Name, n.Mode(), st.PrimaryRegion, st.PrimaryNode, st.Epoch)
	}
	if !cell.IsLeader() {
		return SwitchResult{}, fmt.Errorf("%w: %s is not the cell leader (leader: %s): run the switchover against the leader", failover.ErrRefused, n.cfg.Node.Name, cell.Leader())
	}
	if to == n.cfg.Node.Region {
		return SwitchResult{}, fmt.Errorf("%w: %s is already the primary region", failover.ErrRefused, to)
	}
	toNode := ""
	if n.Mode() == modeCell {
		// A cell hands over to the twin: check it is in region to.
		if n.cfg.Twin.Name == "" {
			return SwitchResult{}, fmt.Errorf("%w: no twin configured (twin.name): nothing to switch over to", failover.ErrRefused)
		}
		sctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
		ts, err := f.net.AskStatus(sctx, n.cfg.Twin.Name)
		cancel()
		if err != nil {
			return SwitchResult{}, fmt.Errorf("%w: twin %s unreachable: %v", failover.ErrRefused, n.cfg.Twin.Name, err)
		}
		if ts.Region != to {
			return SwitchResult{}, fmt.Errorf("%w: the twin %s is in region %q, not %q: use --to %s", failover.ErrRefused, n.cfg.Twin.Name, ts.Region, to, ts.Region)
		}
		toNode = n.cfg.Twin.Name
	} else if to != n.cfg.Twin.PrimaryRegion {
		return SwitchResult{}, fmt.Errorf("%w: this twin's sites are in region %q, not %q: use --to %s", failover.ErrRefused, n.cfg.Twin.PrimaryRegion, to, n.cfg.Twin.PrimaryRegion)
	}
	f.promoMu.Lock()
	defer f.promoMu.Unlock()
	start := time.Now()
	tip, tipHash, err := cell.Drain(ctx)
	if err == nil {
		err = cell.WaitShipped(ctx, tip)
	}
	if err != nil {
		cell.Undrain()
		return SwitchResult{}, fmt.Errorf("%w: switchover to %s abandoned, writes resume here: %v", failover.ErrRefused, to, err)
	}
	drained := time.Since(start)
	req := failover.SwitchRequest{Epoch: st.Epoch, To: to, ToNode: toNode, TipIndex: tip, TipHash: tipHash}
	rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	rep, err := f.net.AskSwitch(rctx, f.witness, req)
	cancel()
	if err != nil {
		// The witness may have switched without us hearing it: find out
		// before writes resume (they must not, if it did).
		next, known := f.askEpoch(ctx)
		if !known {
			return SwitchResult{}, fmt.Errorf("%w: the witness did not answer the switchover (%v) and its epoch is unknown: this node stays drained; "+
				"check `jumeau failover status` and retry", failover.ErrRefused, err)
		}
		if next.Epoch == st.Epoch {
			cell.Undrain()
			return SwitchResult{}, fmt.Errorf("%w: witness %s unreachable: %v (writes resume here)", failover.ErrRefused, f.witness, err)
		}
		rep = failover.Reply{State: next}
	} else if rep.State.Epoch <= st.Epoch {
		cell.Undrain()
		return SwitchResult{}, fmt.Errorf("%w: witness: %s (writes resume here)", failover.ErrRefused, rep.Reason)
	}
	if rep.State.PrimaryRegion != to || rep.State.StartIndex != tip {
		// Another epoch began meanwhile (a promotion): never resume.
		f.adoptEpoch(rep.State, "witness")
		return SwitchResult{}, fmt.Errorf("%w: the witness moved to epoch %d with %s/%s as primary, not this switchover", failover.ErrRefused, rep.State.Epoch, rep.State.PrimaryRegion, rep.State.PrimaryNode)
	}
	f.m.switchovers.Inc()
	f.logger.Warn("SWITCHOVER: primary role handed over", "epoch", rep.State.Epoch, "to", to, "to_node", toNode, "start_index", tip, "drain", drained)
	f.adoptEpoch(rep.State, "switchover")
	return SwitchResult{Epoch: rep.State.Epoch, From: n.cfg.Node.Region, To: to, ToNode: toNode, StartIndex: tip, DrainMS: drained.Milliseconds()}, nil
}

// askEpoch polls the witness's epoch for up to a lease duration.
func (f *regionFailover) askEpoch(ctx context.Context) (failover.State, bool) {
	deadline := time.Now().Add(f.cfg.LeaseDuration)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
		rep, err := f.net.AskStatus(sctx, f.witness)
		cancel()
		if err == nil {
			return rep.State, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return failover.State{}, false
}
