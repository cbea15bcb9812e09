package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Key prefixes owned by this package in the node's shared Pebble database
// (the project-wide map is in doc.go).
const (
	prefixRecord byte = 0x03
	prefixMeta   byte = 0x04
)

var (
	recordLower = []byte{prefixRecord}
	recordUpper = []byte{prefixRecord + 1}
	viewUpper   = []byte{prefixMeta + 1} // iterators see records and metadata
	anchorKey   = []byte{prefixMeta, 'a'}
)

const (
	recordKeyLen  = 9
	anchorVersion = 1
	anchorLen     = 1 + 8 + 32
)

func recordKey(index uint64) []byte {
	k := make([]byte, recordKeyLen)
	k[0] = prefixRecord
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

// parseRecordKey returns the index of a record key.
func parseRecordKey(k []byte) (uint64, error) {
	if len(k) != recordKeyLen || k[0] != prefixRecord {
		return 0, fmt.Errorf("%w: malformed record key %x", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

func encodeAnchor(index uint64, hash [32]byte) []byte {
	b := make([]byte, 0, anchorLen)
	b = append(b, anchorVersion)
	b = binary.BigEndian.AppendUint64(b, index)
	return append(b, hash[:]...)
}

func decodeAnchor(b []byte) (index uint64, hash [32]byte, err error) {
	if len(b) != anchorLen {
		return 0, hash, fmt.Errorf("%w: anchor is %d bytes, want %d", ErrCorrupt, len(b), anchorLen)
	}
	if b[0] != anchorVersion {
		return 0, hash, fmt.Errorf("%w: anchor version %d, want %d", ErrCorrupt, b[0], anchorVersion)
	}
	copy(hash[:], b[9:])
	return binary.BigEndian.Uint64(b[1:]), hash, nil
}

// Options configures a Log.
type Options struct {
	// Logger receives state changes (open, truncation, reset). Nil
	// discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the default options.
func DefaultOptions() Options { return Options{} }

// Validate reports whether the options are usable. Every combination is
// currently valid; it exists so callers validate configuration uniformly.
func (o Options) Validate() error { return nil }

// Log is the hash-chained write-ahead log stored under its prefixes of a
// shared Pebble database.
//
// Stage, StageVerified and Reset must be called from one goroutine (the
// FSM), which commits the batches it passes in, or calls Reload when a
// commit fails or a batch is dropped. Last, First, Anchor, Get, Iter and
// Verify may be called from any goroutine. TruncateBefore may run
// concurrently with Stage, but not between a Reset and the commit of its
// batch: callers pause retention while a snapshot is being restored.
type Log struct {
	db     *pebble.DB
	logger *slog.Logger

	truncMu sync.Mutex // serializes TruncateBefore and Reset

	mu         sync.RWMutex
	anchorIdx  uint64 // last compacted index; records start at anchorIdx+1
	anchorHash [32]byte
	tipIdx     uint64 // last staged index (== anchorIdx when empty)
	tipHash    [32]byte
}

// Open loads the anchor, the first and the last record of the log stored
// in db, checks that the first record links to the anchor and that the last
// record's hash is valid, and returns the log positioned at that tip. A
// log that fails these checks is not opened (ErrGap, ErrChainBroken or
// ErrCorrupt, naming the index): run Verify from a replica's copy instead.
func Open(db *pebble.DB, opts Options) (*Log, error) {
	if db == nil {
		return nil, errors.New("wal: open: nil *pebble.DB")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{db: db, logger: logger}
	if err := l.Reload(); err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	l.logger.Info("wal opened", "first", l.First(), "last", l.tipIdx, "anchor", l.anchorIdx)
	return l, nil
}

// state is the durable position of the log as read from Pebble.
type state struct {
	anchorIdx  uint64
	anchorHash [32]byte
	tipIdx     uint64
	tipHash    [32]byte
}

// newView returns an iterator over records and metadata: Pebble iterators
// read a consistent point-in-time view.
func (l *Log) newView() (*pebble.Iterator, error) {
	return l.db.NewIter(&pebble.IterOptions{LowerBound: recordLower, UpperBound: viewUpper})
}

// viewAnchor reads the anchor from a view.
func viewAnchor(it *pebble.Iterator) (uint64, [32]byte, error) {
	if !it.SeekGE(anchorKey) || string(it.Key()) != string(anchorKey) {
		if err := it.Error(); err != nil {
			return 0, [32]byte{}, fmt.Errorf("wal: read anchor: %w", err)
		}
		return 0, [32]byte{}, nil
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, [32]byte{}, fmt.Errorf("wal: read anchor: %w", err)
	}
	idx, h, err := decodeAnchor(v)
	if err != nil {
		return 0, [32]byte{}, fmt.Errorf("wal: read anchor: %w", err)
	}
	return idx, h, nil
}

// viewRecord decodes the record the view is positioned at. Errors wrap
// ErrCorrupt or a Pebble error and name the index.
func viewRecord(op string, it *pebble.Iterator, rec *Record) error {
	idx, err := parseRecordKey(it.Key())
	if err != nil {
		return fmt.Errorf("wal: %s: %w", op, err)
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return indexErr(op, idx, err)
	}
	if err := decodeRecord(v, rec); err != nil {
		return indexErr(op, idx, err)
	}
	if rec.Index != idx {
		return indexErr(op, idx, fmt.Errorf("%w: record stored under index %d says %d", ErrCorrupt, idx, rec.Index))
	}
	return nil
}

func (l *Log) loadState() (state, error) {
	var s state
	it, err := l.newView()
	if err != nil {
		return s, fmt.Errorf("wal: load: %w", err)
	}
	defer it.Close()
	if s.anchorIdx, s.anchorHash, err = viewAnchor(it); err != nil {
		return s, err
	}
	s.tipIdx, s.tipHash = s.anchorIdx, s.anchorHash
	if !it.SeekLT(recordUpper) || it.Key()[0] != prefixRecord {
		return s, it.Error()
	}
	var last Record
	if err := viewRecord("load", it, &last); err != nil {
		return s, err
	}
	// Seek straight to where the first record must be: a seek from the
	// start of the prefix would step over every truncated range.
	if !it.SeekGE(recordKey(s.anchorIdx + 1)) {
		return s, fmt.Errorf("wal: load: record %d vanished: %w", last.Index, it.Error())
	}
	var first Record
	if err := viewRecord("load", it, &first); err != nil {
		return s, err
	}
	if first.Index != s.anchorIdx+1 {
		return s, indexErr("load", s.anchorIdx+1, fmt.Errorf("%w: first stored record is %d, anchor is %d", ErrGap, first.Index, s.anchorIdx))
	}
	if first.PrevHash != s.anchorHash {
		return s, indexErr("load", first.Index, fmt.Errorf("%w: first record does not link to the anchor", ErrChainBroken))
	}
	s.tipIdx, s.tipHash = last.Index, last.Hash
	return s, nil
}

// Reload re-reads the log's position from Pebble, dropping what was staged
// in batches that were not committed. Call it after a failed commit.
func (l *Log) Reload() error {
	s, err := l.loadState()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.anchorIdx, l.anchorHash = s.anchorIdx, s.anchorHash
	l.tipIdx, l.tipHash = s.tipIdx, s.tipHash
	l.mu.Unlock()
	l.logger.Debug("wal reloaded", "anchor", s.anchorIdx, "last", s.tipIdx)
	return nil
}

// First returns the lowest index the log can hold: the anchor's index + 1
// (1 for a log never truncated). The log holds no record when First is
// above the Last index.
func (l *Log) First() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.anchorIdx + 1
}

// Last returns the index and hash of the tip: the last staged record, or
// the anchor when the log holds no record (0 and the zero hash for a new
// log). It counts records staged in a batch the caller has not committed
// yet; Get and Iter only see committed records.
func (l *Log) Last() (index uint64, hash [32]byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tipIdx, l.tipHash
}

// Anchor returns the index and hash of the last record removed by
// retention or replaced by a snapshot; the first record held links to it.
// It is 0 and the zero hash for a log never truncated.
func (l *Log) Anchor() (index uint64, hash [32]byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.anchorIdx, l.anchorHash
}

// put encodes rec into b under its key. With seal, it computes the hash
// from the encoding and stores it (and returns it); else rec.Hash is
// stored as is.
func put(b *pebble.Batch, rec *Record, seal bool) ([32]byte, error) {
	n := rec.encodedLen()
	op := b.SetDeferred(recordKeyLen, n)
	op.Key[0] = prefixRecord
	binary.BigEndian.PutUint64(op.Key[1:], rec.Index)
	enc := rec.appendTo(op.Value[:0])
	if len(enc) != n || &enc[0] != &op.Value[0] {
		// Unreachable: encodedLen and appendTo agree. Fail loudly
		// rather than commit a record that was not written in place.
		return [32]byte{}, indexErr("stage", rec.Index, fmt.Errorf("%w: encoded %d bytes, sized %d", ErrInvalidRecord, len(enc), n))
	}
	h := rec.Hash
	if seal {
		h = hashEncoded(enc)
		copy(enc[n-32:], h[:])
	}
	return h, op.Finish()
}

// Stage assigns rec the next index and links it to the tip (setting
// rec.Index, rec.PrevHash and rec.Hash), adds it to the caller's batch and
// advances the tip. The caller commits b (with its own state changes, in
// one atomic write); if that commit fails or b is dropped, the caller must
// call Reload. Stage fails with ErrInvalidRecord for an unknown op or an
// over-long field, leaving rec, b and the tip unchanged.
func (l *Log) Stage(b *pebble.Batch, rec *Record) error {
	if b == nil || rec == nil {
		return errors.New("wal: stage: nil batch or record")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := rec.validate(); err != nil {
		return indexErr("stage", l.tipIdx+1, err)
	}
	rec.Index, rec.PrevHash = l.tipIdx+1, l.tipHash
	h, err := put(b, rec, true)
	if err != nil {
		return err
	}
	rec.Hash = h
	l.tipIdx, l.tipHash = rec.Index, h
	return nil
}

// StageVerified adds a record produced elsewhere (by the primary, or read
// from a snapshot) to the caller's batch after checking that it extends
// the tip: its Index must be Last+1 (else ErrGap), its PrevHash the tip's
// hash (else ErrChainBroken), and its Hash the hash of its fields (else
// ErrCorrupt). Errors name the record's index; on error b and the tip are
// unchanged. The commit contract is Stage's.
func (l *Log) StageVerified(b *pebble.Batch, rec Record) error {
	if b == nil {
		return errors.New("wal: stage verified: nil batch")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec.Index != l.tipIdx+1 {
		return indexErr("stage", rec.Index, fmt.Errorf("%w: got index %d, want %d", ErrGap, rec.Index, l.tipIdx+1))
	}
	if rec.PrevHash != l.tipHash {
		return indexErr("stage", rec.Index, fmt.Errorf("%w: prev hash %x is not the tip's %x", ErrChainBroken, rec.PrevHash[:8], l.tipHash[:8]))
	}
	if err := rec.validate(); err != nil {
		return indexErr("stage", rec.Index, fmt.Errorf("%w: %w", ErrCorrupt, err))
	}
	if rec.ComputeHash() != rec.Hash {
		return indexErr("stage", rec.Index, fmt.Errorf("%w: hash mismatch", ErrCorrupt))
	}
	if _, err := put(b, &rec, false); err != nil {
		return err
	}
	l.tipIdx, l.tipHash = rec.Index, rec.Hash
	return nil
}

// Append stages recs in a batch of its own and commits it, with an fsync
// if sync is set. On failure nothing is committed and the tip is reloaded
// (recs may already carry the indexes and hashes they were given).
func (l *Log) Append(sync bool, recs ...*Record) error {
	if len(recs) == 0 {
		return nil
	}
	b := l.db.NewBatch()
	defer b.Close()
	err := func() error {
		for _, rec := range recs {
			if err := l.Stage(b, rec); err != nil {
				return err
			}
		}
		wo := pebble.NoSync
		if sync {
			wo = pebble.Sync
		}
		return b.Commit(wo)
	}()
	if err != nil {
		if rerr := l.Reload(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("wal: append %d records: %w", len(recs), err)
	}
	return nil
}

// Get returns the committed record at index, verified (hash and index).
// It fails with ErrCompacted at or below the anchor, ErrNotFound above the
// committed tip, ErrCorrupt for a damaged record; errors name the index.
func (l *Log) Get(index uint64) (Record, error) {
	var rec Record
	if index == 0 {
		return rec, indexErr("get", index, ErrNotFound)
	}
	l.mu.RLock()
	anchor, tip := l.anchorIdx, l.tipIdx
	l.mu.RUnlock()
	if index <= anchor {
		return rec, indexErr("get", index, fmt.Errorf("%w: first held is %d", ErrCompacted, anchor+1))
	}
	if index > tip {
		return rec, indexErr("get", index, fmt.Errorf("%w: last is %d", ErrNotFound, tip))
	}
	v, closer, err := l.db.Get(recordKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		// Truncated since we looked, or staged but not committed yet.
		if a, _ := l.Anchor(); index <= a {
			return rec, indexErr("get", index, fmt.Errorf("%w: first held is %d", ErrCompacted, a+1))
		}
		return rec, indexErr("get", index, ErrNotFound)
	}
	if err != nil {
		return rec, indexErr("get", index, err)
	}
	defer closer.Close()
	if err := decodeRecord(v, &rec); err != nil {
		return Record{}, indexErr("get", index, err)
	}
	if rec.Index != index {
		return Record{}, indexErr("get", index, fmt.Errorf("%w: record stored under index %d says %d", ErrCorrupt, index, rec.Index))
	}
	return rec, nil
}

// Verify re-reads the committed records from..to (inclusive; from 0 means
// First), checking each record's hash, that indexes are dense and that
// each record links to the one before it; the first one is checked
// against its predecessor, or the anchor. The error is an *IndexError
// naming the first bad index: ErrCorrupt, ErrChainBroken, ErrGap,
// ErrNotFound (a record of the range is missing at the end) or
// ErrCompacted (from is below First). An empty range (to < from) is valid.
func (l *Log) Verify(from, to uint64) error {
	if from == 0 {
		from = l.First()
	}
	if to < from {
		return nil
	}
	it := l.Iter(from)
	defer it.Close()
	next := from
	for next <= to && it.Next() {
		next = it.Record().Index + 1
	}
	if err := it.Err(); err != nil {
		var ie *IndexError
		if errors.As(err, &ie) {
			return indexErr("verify", ie.Index, ie.Err)
		}
		return fmt.Errorf("wal: verify %d..%d: %w", from, to, err)
	}
	if next <= to {
		return indexErr("verify", next, ErrNotFound)
	}
	return nil
}

// TruncateBefore is retention: it deletes the records below index and
// makes record index-1 the anchor (its index and hash are kept in the
// metadata, so First and chain verification still work). It never moves
// the anchor past the last committed record: a larger index is clamped to
// Last+1 (every record deleted, the anchor holding the tip). The deletion
// is committed with an fsync. It fails if record index-1 does not verify.
func (l *Log) TruncateBefore(index uint64) error {
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	it, err := l.newView()
	if err != nil {
		return fmt.Errorf("wal: truncate before %d: %w", index, err)
	}
	defer it.Close()
	anchor, _, err := viewAnchor(it)
	if err != nil {
		return fmt.Errorf("wal: truncate before %d: %w", index, err)
	}
	if index == 0 || index-1 <= anchor {
		return nil
	}
	// The new anchor is the last committed record at or below index-1.
	if !it.SeekLT(recordKey(index)) || it.Key()[0] != prefixRecord {
		return it.Error()
	}
	var rec Record
	if err := viewRecord("truncate", it, &rec); err != nil {
		return err
	}
	if rec.Index <= anchor {
		return nil
	}
	b := l.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(recordLower, recordKey(rec.Index+1), nil); err != nil {
		return indexErr("truncate", rec.Index, err)
	}
	if err := b.Set(anchorKey, encodeAnchor(rec.Index, rec.Hash), nil); err != nil {
		return indexErr("truncate", rec.Index, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return indexErr("truncate", rec.Index, err)
	}
	l.mu.Lock()
	if rec.Index > l.anchorIdx {
		l.anchorIdx, l.anchorHash = rec.Index, rec.Hash
	}
	l.mu.Unlock()
	l.logger.Debug("wal truncated", "anchor", rec.Index, "requested", index)
	return nil
}

// Reset adds to b the removal of every record and a new anchor, and moves
// the tip to that anchor: the next record staged must be anchorIndex+1 and
// link to anchorHash. It is used when a snapshot is restored, followed by
// StageVerified for the snapshot's records; the commit contract is
// Stage's.
func (l *Log) Reset(b *pebble.Batch, anchorIndex uint64, anchorHash [32]byte) error {
	if b == nil {
		return errors.New("wal: reset: nil batch")
	}
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := b.DeleteRange(recordLower, recordUpper, nil); err != nil {
		return indexErr("reset", anchorIndex, err)
	}
	if err := b.Set(anchorKey, encodeAnchor(anchorIndex, anchorHash), nil); err != nil {
		return indexErr("reset", anchorIndex, err)
	}
	l.anchorIdx, l.anchorHash = anchorIndex, anchorHash
	l.tipIdx, l.tipHash = anchorIndex, anchorHash
	l.logger.Info("wal reset", "anchor", anchorIndex)
	return nil
}

// TipIn returns the index and hash of the last record held in r, or of
// the anchor when r holds no record. r is a consistent view of the
// database the log lives in, typically a *pebble.Snapshot taken by a
// caller that also reads state from it.
func TipIn(r pebble.Reader) (uint64, [32]byte, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: recordLower, UpperBound: viewUpper})
	if err != nil {
		return 0, [32]byte{}, fmt.Errorf("wal: tip: %w", err)
	}
	defer it.Close()
	anchorIdx, anchorHash, err := viewAnchor(it)
	if err != nil {
		return 0, [32]byte{}, err
	}
	if !it.SeekLT(recordUpper) || it.Key()[0] != prefixRecord {
		if err := it.Error(); err != nil {
			return 0, [32]byte{}, fmt.Errorf("wal: tip: %w", err)
		}
		return anchorIdx, anchorHash, nil
	}
	var rec Record
	if err := viewRecord("tip", it, &rec); err != nil {
		return 0, [32]byte{}, err
	}
	return rec.Index, rec.Hash, nil
}

// AnchorIn returns the anchor (index and hash of the last record removed
// by retention or a restore; 0 for a log never truncated) as of r, a
// consistent view of the database the log lives in.
func AnchorIn(r pebble.Reader) (uint64, [32]byte, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: recordLower, UpperBound: viewUpper})
	if err != nil {
		return 0, [32]byte{}, fmt.Errorf("wal: anchor: %w", err)
	}
	defer it.Close()
	return viewAnchor(it)
}
