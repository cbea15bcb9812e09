package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// Key prefixes owned by this package in the node's shared Pebble database
// (the project-wide map is in doc.go).
const (
	prefixLog    byte = 0x01
	prefixStable byte = 0x02
)

var (
	logLower = []byte{prefixLog}
	logUpper = []byte{prefixLog + 1}
)

const logKeyLen = 9

// Errors returned by the store. Callers match them with errors.Is.
var (
	// ErrKeyNotFound is returned by Get and GetUint64 for a key never set.
	// Its text is exactly "not found", without the package prefix used
	// elsewhere, because hashicorp/raft recognises a missing stable key by
	// comparing err.Error() with "not found" (api.go, raft.go), as
	// raft-boltdb's ErrKeyNotFound does.
	ErrKeyNotFound = errors.New("not found")
	// ErrCorrupt means a stored value does not decode: a log entry with a
	// bad checksum, version, length or index, a malformed log key, or a
	// uint64 stable value that is not 8 bytes.
	ErrCorrupt = errors.New("raftstore: corrupt value")
)

// Options configures a Store. The zero value is not the default: use
// DefaultOptions.
type Options struct {
	// Sync makes every write (StoreLogs, DeleteRange, Set, SetUint64)
	// wait for an fsync. Raft's safety assumes durable log and vote
	// writes; turn it off only for tests and benchmarks.
	Sync bool
	// Logger receives open-time information. Nil discards it.
	Logger *slog.Logger
}

// DefaultOptions returns Options{Sync: true}.
func DefaultOptions() Options { return Options{Sync: true} }

// Validate reports whether the options are usable. Every combination is
// currently valid (Sync=false is logged as a warning by New).
func (o Options) Validate() error { return nil }

// Store is a raft.LogStore and raft.StableStore on a shared Pebble
// database. It does not own the database: closing it is the caller's job,
// after Raft has shut down. It is safe for concurrent use (Raft calls
// DeleteRange from its snapshot goroutine while the main loop stores
// logs).
type Store struct {
	db     *pebble.DB
	wo     *pebble.WriteOptions
	logger *slog.Logger

	writeMu sync.Mutex    // serializes log writes with the cache update
	first   atomic.Uint64 // cached FirstIndex, 0 when empty
	last    atomic.Uint64 // cached LastIndex, 0 when empty
}

var (
	_ raft.LogStore    = (*Store)(nil)
	_ raft.StableStore = (*Store)(nil)
)

// New returns a store over db, loading the first and last log index.
func New(db *pebble.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("raftstore: new: nil *pebble.DB")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{db: db, wo: pebble.NoSync, logger: opts.Logger}
	if opts.Sync {
		s.wo = pebble.Sync
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := s.loadIndexes(); err != nil {
		return nil, fmt.Errorf("raftstore: new: %w", err)
	}
	if !opts.Sync {
		s.logger.Warn("raft log writes are not synced: a crash can lose acknowledged entries and votes")
	}
	s.logger.Info("raft store opened", "first", s.first.Load(), "last", s.last.Load())
	return s, nil
}

// Wipe deletes every key this package owns in db (the Raft log and the
// stable store), synced. A node that leaves a cell for good (a promoted
// twin handing the primary role back, a site turned into a replica) wipes
// its Raft state so that a later cell starts from a clean bootstrap. No
// Store may be open on db.
func Wipe(db *pebble.DB) error {
	if err := db.DeleteRange([]byte{prefixLog}, []byte{prefixStable + 1}, pebble.Sync); err != nil {
		return fmt.Errorf("raftstore: wipe: %w", err)
	}
	return nil
}

func logKey(index uint64) []byte {
	k := make([]byte, logKeyLen)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

func parseLogKey(k []byte) (uint64, error) {
	if len(k) != logKeyLen || k[0] != prefixLog {
		return 0, fmt.Errorf("%w: malformed log key %x", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

func stableKey(k []byte) []byte {
	out := make([]byte, 1+len(k))
	out[0] = prefixStable
	copy(out[1:], k)
	return out
}

// loadIndexes reads the first and last log keys into the cache.
func (s *Store) loadIndexes() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logLower, UpperBound: logUpper})
	if err != nil {
		return fmt.Errorf("read log bounds: %w", err)
	}
	defer it.Close()
	var first, last uint64
	if it.First() {
		if first, err = parseLogKey(it.Key()); err != nil {
			return fmt.Errorf("read first log index: %w", err)
		}
		if !it.Last() {
			return fmt.Errorf("read last log index: %w", it.Error())
		}
		if last, err = parseLogKey(it.Key()); err != nil {
			return fmt.Errorf("read last log index: %w", err)
		}
	} else if err := it.Error(); err != nil {
		return fmt.Errorf("read log bounds: %w", err)
	}
	s.first.Store(first)
	s.last.Store(last)
	return nil
}

// FirstIndex implements raft.LogStore: the first index stored, 0 if none.
func (s *Store) FirstIndex() (uint64, error) { return s.first.Load(), nil }

// LastIndex implements raft.LogStore: the last index stored, 0 if none.
func (s *Store) LastIndex() (uint64, error) { return s.last.Load(), nil }

// GetLog implements raft.LogStore. A missing entry is raft.ErrLogNotFound
// itself (Raft compares it with ==); a damaged one wraps ErrCorrupt and
// names the index.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	v, closer, err := s.db.Get(logKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("raftstore: get log %d: %w", index, err)
	}
	defer closer.Close()
	var l raft.Log
	if err := decodeLog(v, &l); err != nil {
		return fmt.Errorf("raftstore: get log %d: %w", index, err)
	}
	if l.Index != index {
		return fmt.Errorf("raftstore: get log %d: %w: entry says index %d", index, ErrCorrupt, l.Index)
	}
	*log = l
	return nil
}

// StoreLog implements raft.LogStore.
func (s *Store) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs implements raft.LogStore: all entries are written in one
// Pebble batch (atomically, with one fsync when Options.Sync is set).
// Entries may leave gaps; an entry at an existing index replaces it.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	size := 0
	lo, hi := uint64(1<<64-1), uint64(0)
	for i, l := range logs {
		if l == nil {
			return fmt.Errorf("raftstore: store logs: entry %d of %d is nil", i, len(logs))
		}
		size += logKeyLen + encodedLogLen(l) + 16
		lo, hi = min(lo, l.Index), max(hi, l.Index)
	}
	b := s.db.NewBatchWithSize(size)
	defer b.Close()
	for _, l := range logs {
		n := encodedLogLen(l)
		op := b.SetDeferred(logKeyLen, n)
		op.Key[0] = prefixLog
		binary.BigEndian.PutUint64(op.Key[1:], l.Index)
		if enc := appendLog(op.Value[:0], l); len(enc) != n {
			// Unreachable: encodedLogLen and appendLog agree. Refuse
			// rather than commit an entry not written in place.
			return fmt.Errorf("raftstore: store log %d: encoded %d bytes, sized %d", l.Index, len(enc), n)
		}
		if err := op.Finish(); err != nil {
			return fmt.Errorf("raftstore: store log %d: %w", l.Index, err)
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := b.Commit(s.wo); err != nil {
		return fmt.Errorf("raftstore: store logs %d..%d: %w", lo, hi, err)
	}
	if f := s.first.Load(); f == 0 || lo < f {
		s.first.Store(lo)
	}
	if hi > s.last.Load() {
		s.last.Store(hi)
	}
	return nil
}

// pointDeleteMax is the largest number of stored indexes DeleteRange
// removes with point deletions rather than one range deletion. Pebble
// re-fragments every range tombstone of a memtable whenever one is added
// and the memtable is read again, so many small range deletions cost
// O(tombstones) each (measured: 1.7 ms per DeleteRange after ~10k of
// them in raft's bench); Raft's real deletions are either a snapshot's
// compaction (thousands of entries: one range deletion) or a short
// conflicting suffix (a few point deletions).
const pointDeleteMax = 256

// DeleteRange implements raft.LogStore: it deletes the entries from..to
// (inclusive) in one batch, with one range deletion, or point deletions
// when at most pointDeleteMax stored indexes are concerned. It then
// updates the cached bounds with at most one seek just outside the
// deleted range.
func (s *Store) DeleteRange(from, to uint64) error {
	if from > to {
		return nil
	}
	end := logUpper
	if to < 1<<64-1 {
		end = logKey(to + 1)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	first, last := s.first.Load(), s.last.Load()
	lo, hi := max(from, first), min(to, last) // the stored indexes concerned
	if (first != 0 || last != 0) && lo > hi {
		return nil // nothing stored in from..to
	}
	b := s.db.NewBatch()
	defer b.Close()
	if (first != 0 || last != 0) && hi-lo < pointDeleteMax {
		key := logKey(0)
		for i := lo; ; i++ {
			binary.BigEndian.PutUint64(key[1:], i)
			if err := b.Delete(key, nil); err != nil {
				return fmt.Errorf("raftstore: delete log %d: %w", i, err)
			}
			if i == hi {
				break
			}
		}
	} else if err := b.DeleteRange(logKey(from), end, nil); err != nil {
		return fmt.Errorf("raftstore: delete logs %d..%d: %w", from, to, err)
	}
	if err := b.Commit(s.wo); err != nil {
		return fmt.Errorf("raftstore: delete logs %d..%d: %w", from, to, err)
	}
	if err := s.boundsAfterDelete(from, to, end); err != nil {
		return fmt.Errorf("raftstore: delete logs %d..%d: %w", from, to, err)
	}
	return nil
}

// boundsAfterDelete updates the cached bounds after from..to was deleted;
// end is the exclusive key bound of the deletion. Called with writeMu.
func (s *Store) boundsAfterDelete(from, to uint64, end []byte) error {
	first, last := s.first.Load(), s.last.Load()
	if (first == 0 && last == 0) || to < first || from > last || (from > first && to < last) {
		return nil // empty, disjoint, or strictly inside: bounds unchanged
	}
	if from <= first && to >= last {
		s.first.Store(0)
		s.last.Store(0)
		return nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logLower, UpperBound: logUpper})
	if err != nil {
		return fmt.Errorf("read log bounds: %w", err)
	}
	defer it.Close()
	if from <= first { // a prefix: the new first is the next key after it
		if !it.SeekGE(end) {
			return fmt.Errorf("read first log index: entry %d vanished: %w", last, it.Error())
		}
		f, err := parseLogKey(it.Key())
		if err != nil {
			return fmt.Errorf("read first log index: %w", err)
		}
		s.first.Store(f)
		return nil
	}
	// A suffix: the new last is the key before it.
	if !it.SeekLT(logKey(from)) {
		return fmt.Errorf("read last log index: entry %d vanished: %w", first, it.Error())
	}
	l, err := parseLogKey(it.Key())
	if err != nil {
		return fmt.Errorf("read last log index: %w", err)
	}
	s.last.Store(l)
	return nil
}

// Set implements raft.StableStore.
func (s *Store) Set(key []byte, val []byte) error {
	if err := s.db.Set(stableKey(key), val, s.wo); err != nil {
		return fmt.Errorf("raftstore: set %q: %w", key, err)
	}
	return nil
}

// Get implements raft.StableStore. A key never set returns nil and
// ErrKeyNotFound, whose text is the "not found" Raft checks for.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(stableKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raftstore: get %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte{}, v...), nil
}

// SetUint64 implements raft.StableStore; the value is stored as 8 bytes,
// big-endian, in the same key space as Set.
func (s *Store) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 implements raft.StableStore. A key never set returns 0 and
// ErrKeyNotFound; a value that is not 8 bytes wraps ErrCorrupt.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftstore: get uint64 %q: %w: %d bytes, want 8", key, ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
