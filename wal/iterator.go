package wal

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Iterator walks committed records in index order over a consistent
// point-in-time view of the log. It verifies as it goes: each record's
// hash, that indexes are dense, and that each record links to the one
// before it (the first one to its predecessor or the anchor). It stops at
// the first bad record and reports it in Err. An Iterator is not safe for
// concurrent use; Close it when done.
//
//	it := l.Iter(from)
//	defer it.Close()
//	for it.Next() {
//		rec := it.Record()
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	it        *pebble.Iterator
	next      uint64   // index the next record must have
	prev      [32]byte // hash the next record must link to
	seekFirst bool     // the first Next seeks to next; later ones step
	rec       Record
	err       error
	done      bool
}

// Iter returns an iterator over the committed records from index from
// (0 means First) to the end of the log as of this call. If from is
// compacted (at or below the anchor), Err reports ErrCompacted at once.
func (l *Log) Iter(from uint64) *Iterator {
	i := &Iterator{}
	i.it, i.err = l.newView()
	if i.err != nil {
		i.err = fmt.Errorf("wal: iter from %d: %w", from, i.err)
		i.done = true
		return i
	}
	i.init(from)
	if i.err != nil {
		i.done = true
	}
	return i
}

// IterIn is Iter over r, a consistent view of the database the log lives
// in (typically a *pebble.Snapshot also used to read state): records
// truncated or appended after the view was taken do not affect it.
func IterIn(r pebble.Reader, from uint64) *Iterator {
	i := &Iterator{}
	i.it, i.err = r.NewIter(&pebble.IterOptions{LowerBound: recordLower, UpperBound: viewUpper})
	if i.err != nil {
		i.err = fmt.Errorf("wal: iter from %d: %w", from, i.err)
		i.done = true
		return i
	}
	i.init(from)
	if i.err != nil {
		i.done = true
	}
	return i
}

func (i *Iterator) init(from uint64) {
	anchor, anchorHash, err := viewAnchor(i.it)
	if err != nil {
		i.err = err
		return
	}
	if from == 0 {
		from = anchor + 1
	}
	if from <= anchor {
		i.err = indexErr("iter", from, fmt.Errorf("%w: first held is %d", ErrCompacted, anchor+1))
		return
	}
	i.next = from
	if from-1 == anchor {
		i.prev = anchorHash
		i.seekFirst = true
		return
	}
	// Position on the predecessor, verified, to link the first record.
	if !i.it.SeekGE(recordKey(from-1)) || i.it.Key()[0] != prefixRecord {
		i.err = i.it.Error()
		i.done = true // nothing at or after from-1
		return
	}
	var pred Record
	if err := viewRecord("iter", i.it, &pred); err != nil {
		i.err = err
		return
	}
	if pred.Index != from-1 {
		i.err = indexErr("iter", from-1, fmt.Errorf("%w: next stored record is %d", ErrGap, pred.Index))
		return
	}
	i.prev = pred.Hash
}

// Next advances to the next record and reports whether there is one. It
// returns false at the end of the log or at a bad record (see Err).
func (i *Iterator) Next() bool {
	if i.done {
		return false
	}
	var ok bool
	if i.seekFirst {
		ok = i.it.SeekGE(recordKey(i.next))
		i.seekFirst = false
	} else {
		ok = i.it.Next()
	}
	if !ok || i.it.Key()[0] != prefixRecord {
		i.err = i.it.Error()
		i.done = true
		return false
	}
	var rec Record
	if idx, err := parseRecordKey(i.it.Key()); err != nil {
		return i.fail(indexErr("iter", i.next, err))
	} else if idx != i.next {
		return i.fail(indexErr("iter", i.next, fmt.Errorf("%w: next stored record is %d", ErrGap, idx)))
	}
	if err := viewRecord("iter", i.it, &rec); err != nil {
		return i.fail(err)
	}
	if rec.PrevHash != i.prev {
		return i.fail(indexErr("iter", rec.Index, fmt.Errorf("%w: record does not link to its predecessor", ErrChainBroken)))
	}
	i.rec = rec
	i.prev = rec.Hash
	i.next++
	return true
}

func (i *Iterator) fail(err error) bool {
	i.err = err
	i.done = true
	i.rec = Record{}
	return false
}

// Record returns the current record. It does not alias the database and
// stays valid after Next.
func (i *Iterator) Record() Record { return i.rec }

// Err returns the error that stopped the iterator, nil at a clean end. It
// is an *IndexError naming the bad index for ErrCorrupt, ErrGap,
// ErrChainBroken and ErrCompacted.
func (i *Iterator) Err() error { return i.err }

// Close releases the iterator's view. It is safe to call more than once.
func (i *Iterator) Close() error {
	i.done = true
	if i.it == nil {
		return nil
	}
	err := i.it.Close()
	i.it = nil
	if err != nil {
		return fmt.Errorf("wal: close iterator: %w", err)
	}
	return nil
}
