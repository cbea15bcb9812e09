package replicator

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Key prefixes owned by this package in the node's shared Pebble database
// (the full map is in doc.go).
const (
	prefixState byte = 0x10
	prefixMeta  byte = 0x11
)

var (
	metaApplied = []byte{prefixMeta, 'a'}      // u64: last Raft index applied
	metaKeyPfx  = []byte{prefixMeta, 'k', '/'} // + namespace: wrapped data key
)

func stateKey(ns, key string) []byte {
	b := make([]byte, 0, 2+len(ns)+len(key))
	b = append(b, prefixState)
	b = append(b, ns...)
	b = append(b, 0)
	return append(b, key...)
}

func metaKeyFor(ns string) []byte {
	return append(append([]byte(nil), metaKeyPfx...), ns...)
}

// KeyInstaller installs a wrapped namespace data key replicated through the
// log (implemented by *keyring.Keyring).
type KeyInstaller interface {
	Install(ns string, wrapped []byte) error
}

// ApplyResult is what the FSM returns for each applied Raft entry.
type ApplyResult struct {
	RaftIndex uint64
	// Ops holds one result per command of the entry, in order.
	Ops []OpResult
	Err error
}

// OpResult is the WAL record one command became.
type OpResult struct {
	WALIndex uint64
	Hash     [32]byte
}

// FSM applies committed commands to the replicated state and to the WAL in
// one Pebble batch per Raft batch. It is idempotent by Raft index: entries at
// or below the persisted applied index are skipped, so a restarted site does
// not re-apply what it holds.
type FSM struct {
	db     *pebble.DB
	wal    *wal.Log
	keys   KeyInstaller
	logger *slog.Logger

	applied atomic.Uint64 // last Raft index applied
	failed  atomic.Pointer[error]

	mu     sync.Mutex
	notify chan struct{} // closed and replaced after every apply

	// OnFail, if set, is called once when the FSM halts (see Failed).
	OnFail func(error)

	keyLog keyWriteLog
}

// Failed returns the error that halted the FSM, or nil. A halted FSM
// applies nothing more: its applied index stays where the state on disk
// is, so a restart of the site replays the entries it could not apply.
func (f *FSM) Failed() error {
	if p := f.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *FSM) fail(err error) {
	err = fmt.Errorf("%w: %w", ErrFSMHalted, err)
	if f.failed.CompareAndSwap(nil, &err) {
		f.logger.Error("state machine halted: restart this site (it will replay what it could not apply)", "err", err)
		if f.OnFail != nil {
			f.OnFail(err)
		}
	}
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// NewFSM loads the applied index from db.
func NewFSM(db *pebble.DB, w *wal.Log, keys KeyInstaller, logger *slog.Logger) (*FSM, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &FSM{db: db, wal: w, keys: keys, logger: logger, notify: make(chan struct{})}
	v, closer, err := db.Get(metaApplied)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("fsm: read applied index: %w", err)
	default:
		if len(v) != 8 {
			closer.Close()
			return nil, fmt.Errorf("fsm: applied index has %d bytes, want 8: %w", len(v), ErrBadSnapshot)
		}
		f.applied.Store(binary.BigEndian.Uint64(v))
		closer.Close()
	}
	if err := reinstallKeys(f.db, f.keys); err != nil {
		return nil, err
	}
	if st, ok := f.keys.(interface{ Stale() bool }); ok && st.Stale() {
		f.logger.Warn("the keyring file could not be written: namespace keys are served from the replicated state; the next keyring write or start tries again")
	}
	return f, nil
}

// reinstallKeys makes sure the keyring holds every namespace key the
// replicated state holds (a keyring file lost, left behind by a failed
// write or restored from an older backup is rebuilt from the cell's own
// record of the wrapped keys). A key installed in memory whose file write
// failed (keyring.ErrPersist) does not stop it: the keyring reports its
// file stale, and the next write or start tries again.
func reinstallKeys(db *pebble.DB, keys KeyInstaller) error {
	if keys == nil {
		return nil
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: metaKeyPfx, UpperBound: prefixEnd(metaKeyPfx)})
	if err != nil {
		return fmt.Errorf("fsm: read namespace keys: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		ns := string(it.Key()[len(metaKeyPfx):])
		if err := keys.Install(ns, append([]byte(nil), it.Value()...)); err != nil && !errors.Is(err, keyring.ErrPersist) {
			return fmt.Errorf("fsm: install key of namespace %s from the replicated state: %w", ns, err)
		}
	}
	return nil
}

// Applied returns the last Raft index applied to the state.
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// Changed returns a channel closed at the next apply.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notify
}

func (f *FSM) signal() {
	f.mu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	if err := f.Failed(); err != nil {
		for i := range out {
			out[i] = ApplyResult{RaftIndex: logs[i].Index, Err: err}
		}
		return out
	}
	b := f.db.NewBatch()
	defer b.Close()
	applied := f.applied.Load()
	last := applied
	var keys []command
	keySeen := map[string]bool{}
	for i, l := range logs {
		if l.Index <= applied {
			out[i] = ApplyResult{RaftIndex: l.Index, Err: nil}
			continue
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			out[i] = ApplyResult{RaftIndex: l.Index}
			continue
		}
		cmds, err := unmarshalBatch(l.Data)
		if err != nil {
			// An entry the leader accepted but we cannot decode: record
			// nothing for it (every replica decodes identically, so they
			// stay in agreement) and report it.
			f.logger.Error("skipping undecodable raft entry", "raft_index", l.Index, "err", err)
			out[i] = ApplyResult{RaftIndex: l.Index, Err: err}
			continue
		}
		r := ApplyResult{RaftIndex: l.Index, Ops: make([]OpResult, len(cmds))}
		for j := range cmds {
			c := &cmds[j]
			rec := wal.Record{
				Epoch: c.Epoch, Term: l.Term, Time: c.Time,
				Namespace: c.Namespace, Key: c.Key, Op: c.Op, Payload: c.Payload,
			}
			if err := f.wal.Stage(b, &rec); err != nil {
				// Every replica would fail alike only on a bug; skipping the
				// record here could fork the chain, so halt instead.
				f.fail(fmt.Errorf("stage wal record for raft index %d: %w", l.Index, err))
				if rerr := f.wal.Reload(); rerr != nil {
					f.logger.Error("wal reload failed", "err", rerr)
				}
				return f.ApplyBatch(logs)
			}
			if stageState(b, &rec, keySeen, f.hasNSKey) {
				keys = append(keys, *c)
			}
			r.Ops[j] = OpResult{WALIndex: rec.Index, Hash: rec.Hash}
		}
		out[i] = r
	}
	if last == applied {
		return out
	}
	var ab [8]byte
	binary.BigEndian.PutUint64(ab[:], last)
	_ = b.Set(metaApplied, ab[:], nil)
	// NoSync: the Raft log lives in the same Pebble database and is
	// written with Sync before an entry can be applied, and Pebble's WAL
	// is ordered, so the next synced write makes this batch durable too;
	// after a crash Raft replays entries above the snapshot index and the
	// idempotence check above skips what survived.
	if err := b.Commit(pebble.NoSync); err != nil {
		if rerr := f.wal.Reload(); rerr != nil {
			f.logger.Error("wal reload failed", "err", rerr)
		}
		f.fail(fmt.Errorf("commit raft entries %d..%d: %w", logs[0].Index, last, err))
		return f.ApplyBatch(logs)
	}
	f.applied.Store(last)
	for _, c := range keys {
		if f.keys == nil {
			continue
		}
		err := f.keys.Install(c.Namespace, c.Payload)
		switch {
		case err == nil:
		case errors.Is(err, keyring.ErrPersist):
			// The key is installed in memory and committed in Pebble
			// (metaKeyFor), its durable home: only the keyring file,
			// a copy, lacks it, and it is written again by the next
			// successful keyring write or at the next start
			// (reinstallKeys). Halting here would stop a site over a
			// file it does not need to serve.
			f.keyWriteFailed(c.Namespace, err)
		default:
			// This site cannot unseal the namespace: stop applying; at
			// restart it retries from the replicated state (and refuses to
			// start with the reason if it still cannot).
			f.fail(fmt.Errorf("install data key of namespace %s: %w", c.Namespace, err))
		}
	}
	f.signal()
	return out
}

// stageState adds to b the state change of one WAL record (the FSM and the
// twin apply records alike). It reports whether the record is a namespace
// key to install once b is committed: the first key committed for a
// namespace wins on every replica (two leaders in a row may each have
// proposed one); later ones stay in the WAL but are not installed.
// keySeen tracks keys staged in b and not yet visible to has.
func stageState(b *pebble.Batch, rec *wal.Record, keySeen map[string]bool, has func(ns string) bool) bool {
	switch rec.Op {
	case wal.OpPut:
		_ = b.Set(stateKey(rec.Namespace, rec.Key), rec.Payload, nil)
	case wal.OpDelete:
		_ = b.Delete(stateKey(rec.Namespace, rec.Key), nil)
	case wal.OpKey:
		if !keySeen[rec.Namespace] && !has(rec.Namespace) {
			keySeen[rec.Namespace] = true
			_ = b.Set(metaKeyFor(rec.Namespace), rec.Payload, nil)
			return true
		}
	}
	return false
}

func (f *FSM) hasNSKey(ns string) bool {
	return hasNSKey(f.db, ns)
}

func hasNSKey(db *pebble.DB, ns string) bool {
	_, closer, err := db.Get(metaKeyFor(ns))
	if err != nil {
		return false
	}
	closer.Close()
	return true
}

// Snapshot implements raft.FSM. It is called on the FSM goroutine, so the
// Pebble snapshot and the WAL tip it records are consistent.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	// A halted FSM is behind Raft's applied index: a snapshot labelled with
	// Raft's index would hide the entries it never applied.
	if err := f.Failed(); err != nil {
		return nil, fmt.Errorf("fsm: no snapshot while halted: %w", err)
	}
	// Make everything applied so far durable before Raft may compact the
	// log behind this snapshot (the FSM writes with NoSync).
	if err := f.db.LogData(nil, pebble.Sync); err != nil {
		return nil, fmt.Errorf("fsm: sync before snapshot: %w", err)
	}
	// The anchor and tip come from the snapshot's own view, so that
	// retention running meanwhile cannot make them disagree with it.
	snap := f.db.NewSnapshot()
	walLast, _, err := wal.TipIn(snap)
	if err != nil {
		_ = snap.Close()
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	anchorIdx, anchorHash, err := wal.AnchorIn(snap)
	if err != nil {
		_ = snap.Close()
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	return &fsmSnapshot{
		snap:       snap,
		applied:    f.applied.Load(),
		walFirst:   anchorIdx + 1,
		walLast:    walLast,
		anchorIdx:  anchorIdx,
		anchorHash: anchorHash,
	}, nil
}

// Snapshot stream format (see doc.go):
//
//	header: [version u8][applied u64][anchor index u64][anchor hash 32]
//	entries: [tag u8][uvarint len][bytes]...   tag 1: state key, followed by a value entry (tag 2)
//	                                           tag 3: WAL record (wal encoding)
//	                                           tag 4: namespace key entry name, followed by value (tag 2)
//	trailer: [tag 0][sha256 of everything before it, the tag 0 included]
const (
	snapVersion  = 1
	tagEnd       = 0
	tagStateKey  = 1
	tagValue     = 2
	tagWAL       = 3
	tagNSKey     = 4
	maxSnapEntry = 32 << 20
)

type fsmSnapshot struct {
	snap       *pebble.Snapshot
	applied    uint64
	walFirst   uint64
	walLast    uint64
	anchorIdx  uint64
	anchorHash [32]byte
}

type snapWriter struct {
	w   *bufio.Writer
	h   hash.Hash
	err error
	buf [binary.MaxVarintLen64 + 1]byte
}

func (s *snapWriter) raw(b []byte) {
	if s.err != nil {
		return
	}
	s.h.Write(b)
	_, s.err = s.w.Write(b)
}

func (s *snapWriter) entry(tag byte, b []byte) {
	s.buf[0] = tag
	n := binary.PutUvarint(s.buf[1:], uint64(len(b)))
	s.raw(s.buf[:1+n])
	s.raw(b)
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.persist(sink)
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) persist(out io.Writer) error {
	sw := &snapWriter{w: bufio.NewWriterSize(out, 256<<10), h: sha256.New()}
	hdr := make([]byte, 0, 49)
	hdr = append(hdr, snapVersion)
	hdr = binary.BigEndian.AppendUint64(hdr, s.applied)
	hdr = binary.BigEndian.AppendUint64(hdr, s.anchorIdx)
	hdr = append(hdr, s.anchorHash[:]...)
	sw.raw(hdr)

	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixState}, UpperBound: []byte{prefixMeta + 1}})
	if err != nil {
		return fmt.Errorf("fsm snapshot: iterate state: %w", err)
	}
	for it.First(); it.Valid() && sw.err == nil; it.Next() {
		k := it.Key()
		switch {
		case k[0] == prefixState:
			sw.entry(tagStateKey, k[1:])
			sw.entry(tagValue, it.Value())
		case len(k) > len(metaKeyPfx) && string(k[:len(metaKeyPfx)]) == string(metaKeyPfx):
			sw.entry(tagNSKey, k[len(metaKeyPfx):])
			sw.entry(tagValue, it.Value())
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("fsm snapshot: iterate state: %w", err)
	}
	if s.walLast >= s.walFirst {
		// Read the records from the snapshot's own view: retention may
		// truncate the live log while this runs.
		wit := wal.IterIn(s.snap, s.walFirst)
		for wit.Next() && sw.err == nil {
			rec := wit.Record()
			if rec.Index > s.walLast {
				break
			}
			b, err := rec.MarshalBinary()
			if err != nil {
				wit.Close()
				return fmt.Errorf("fsm snapshot: encode wal record %d: %w", rec.Index, err)
			}
			sw.entry(tagWAL, b)
		}
		if err := wit.Err(); err != nil {
			wit.Close()
			return fmt.Errorf("fsm snapshot: read wal: %w", err)
		}
		wit.Close()
	}
	sw.raw([]byte{tagEnd})
	sum := sw.h.Sum(nil)
	if sw.err == nil {
		_, sw.err = sw.w.Write(sum)
	}
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return fmt.Errorf("fsm snapshot: write: %w", sw.err)
	}
	return nil
}

func (s *fsmSnapshot) Release() { _ = s.snap.Close() }

// hashReader hashes exactly the bytes its callers consume.
type hashReader struct {
	r *bufio.Reader
	h hash.Hash
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	return n, err
}

func (hr *hashReader) ReadByte() (byte, error) {
	c, err := hr.r.ReadByte()
	if err == nil {
		hr.h.Write([]byte{c})
	}
	return c, err
}

// Restore implements raft.FSM: it replaces the whole state and WAL with the
// snapshot's, in one synced batch, only after the snapshot's checksum is
// verified.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b := f.db.NewBatch()
	defer b.Close()
	applied, nsKeys, err := readSnapshot(rc, b, f.wal, func(applied uint64) bool {
		// This site already holds everything the snapshot does (raft
		// restores the newest snapshot at every start).
		return applied <= f.Applied()
	})
	if errors.Is(err, errSnapshotHeld) {
		f.logger.Debug("snapshot already applied, skipping restore", "applied", f.Applied())
		return nil
	}
	fail := func(err error) error {
		if rerr := f.wal.Reload(); rerr != nil {
			f.logger.Error("wal reload after failed restore", "err", rerr)
		}
		return err
	}
	if err != nil {
		return fail(fmt.Errorf("fsm restore: %w", err))
	}
	return f.finishRestore(b, applied, nsKeys, fail)
}

// errSnapshotHeld is readSnapshot's answer when skip says the snapshot is
// already held; nothing was staged.
var errSnapshotHeld = errors.New("snapshot already held")

// readSnapshot reads a snapshot stream (format in doc.go) into b: it
// deletes the state and FSM metadata, resets the WAL to the snapshot's
// anchor and stages every entry, verifying WAL records and the trailer.
// skip, called with the snapshot's applied index after the header, may
// decline the snapshot (errSnapshotHeld). On any other error the caller
// drops b and reloads w. It returns the applied index and the namespace
// keys to install once b is committed.
func readSnapshot(rd io.Reader, b *pebble.Batch, w *wal.Log, skip func(applied uint64) bool) (uint64, [][2][]byte, error) {
	br := bufio.NewReaderSize(rd, 256<<10)
	r := &hashReader{r: br, h: sha256.New()}
	hdr := make([]byte, 49)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, nil, fmt.Errorf("header: %w: %v", ErrBadSnapshot, err)
	}
	if hdr[0] != snapVersion {
		return 0, nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, hdr[0])
	}
	applied := binary.BigEndian.Uint64(hdr[1:])
	if skip != nil && skip(applied) {
		return applied, nil, errSnapshotHeld
	}
	anchorIdx := binary.BigEndian.Uint64(hdr[9:])
	var anchorHash [32]byte
	copy(anchorHash[:], hdr[17:])

	_ = b.DeleteRange([]byte{prefixState}, []byte{prefixMeta + 1}, nil)
	if err := w.Reset(b, anchorIdx, anchorHash); err != nil {
		return 0, nil, fmt.Errorf("reset wal: %w", err)
	}
	readEntry := func() (byte, []byte, error) {
		tag, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		if tag == tagEnd {
			return tag, nil, nil
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, nil, err
		}
		if n > maxSnapEntry {
			return 0, nil, fmt.Errorf("entry of %d bytes exceeds %d", n, maxSnapEntry)
		}
		buf := make([]byte, n)
		_, err = io.ReadFull(r, buf)
		return tag, buf, err
	}
	var nsKeys [][2][]byte
	for {
		tag, body, err := readEntry()
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		switch tag {
		case tagEnd:
			want := r.h.Sum(nil)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != string(want) {
				return 0, nil, fmt.Errorf("%w: checksum mismatch or truncated trailer", ErrBadSnapshot)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return 0, nil, fmt.Errorf("%w: trailing bytes after the checksum", ErrBadSnapshot)
			}
			return applied, nsKeys, nil
		case tagStateKey, tagNSKey:
			vtag, val, err := readEntry()
			if err != nil || vtag != tagValue {
				return 0, nil, fmt.Errorf("%w: key without value", ErrBadSnapshot)
			}
			if tag == tagStateKey {
				_ = b.Set(append([]byte{prefixState}, body...), val, nil)
			} else {
				_ = b.Set(metaKeyFor(string(body)), val, nil)
				nsKeys = append(nsKeys, [2][]byte{body, val})
			}
		case tagWAL:
			var rec wal.Record
			if err := rec.UnmarshalBinary(body); err != nil {
				return 0, nil, err
			}
			if err := w.StageVerified(b, rec); err != nil {
				return 0, nil, err
			}
		default:
			return 0, nil, fmt.Errorf("%w: unknown tag %d", ErrBadSnapshot, tag)
		}
	}
}

func (f *FSM) finishRestore(b *pebble.Batch, applied uint64, nsKeys [][2][]byte, fail func(error) error) error {
	var ab [8]byte
	binary.BigEndian.PutUint64(ab[:], applied)
	_ = b.Set(metaApplied, ab[:], nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fail(fmt.Errorf("fsm restore: commit: %w", err))
	}
	for _, kv := range nsKeys {
		if f.keys != nil {
			if err := f.keys.Install(string(kv[0]), kv[1]); err != nil {
				f.logger.Error("installing namespace key from snapshot", "namespace", string(kv[0]), "err", err)
			}
		}
	}
	f.applied.Store(applied)
	f.signal()
	return nil
}

// newStateSnapshot takes a consistent view of db for a twin's catch-up:
// the state and namespace keys, anchored at that view's WAL tip, with no
// WAL records (the twin receives the records after the tip by shipping).
// The caller must Release it.
func newStateSnapshot(db *pebble.DB) (*fsmSnapshot, error) {
	snap := db.NewSnapshot()
	tip, tipHash, err := wal.TipIn(snap)
	if err != nil {
		_ = snap.Close()
		return nil, fmt.Errorf("state snapshot: %w", err)
	}
	var applied uint64
	v, closer, err := snap.Get(metaApplied)
	switch {
	case err == nil:
		if len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		_ = snap.Close()
		return nil, fmt.Errorf("state snapshot: read applied index: %w", err)
	}
	return &fsmSnapshot{
		snap: snap, applied: applied,
		walFirst: tip + 1, walLast: tip, anchorIdx: tip, anchorHash: tipHash,
	}, nil
}

// ResetApplied clears the FSM's applied Raft index in db (synced). The twin
// calls it when it is promoted: the index it holds came from the old
// cell's Raft log, which the new cell it starts does not continue.
func ResetApplied(db *pebble.DB) error {
	if err := db.Delete(metaApplied, pebble.Sync); err != nil {
		return fmt.Errorf("replicator: reset applied index: %w", err)
	}
	return nil
}
