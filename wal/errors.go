package wal

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Callers match them with errors.Is; the
// index a failure concerns is carried by an *IndexError wrapping them.
var (
	// ErrCorrupt means stored or received bytes do not decode as a record
	// (bad version, truncated, over-long field, unknown op, trailing bytes)
	// or the record's Hash does not match the hash recomputed from its
	// fields. The record must not be trusted; restore it from a replica.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrChainBroken means a record's PrevHash is not the Hash of the
	// record (or anchor) before it: the chain was altered or a foreign
	// record was offered.
	ErrChainBroken = errors.New("wal: hash chain broken")
	// ErrGap means a record's index is not the successor of the previous
	// one: a record is missing, or one was offered out of order.
	ErrGap = errors.New("wal: index gap")
	// ErrNotFound means no record with that index has been committed (it
	// is above the tip, or staged in a batch not yet committed).
	ErrNotFound = errors.New("wal: record not found")
	// ErrCompacted means the index is at or below the anchor: retention
	// (TruncateBefore) or a snapshot restore (Reset) removed it.
	ErrCompacted = errors.New("wal: record compacted")
	// ErrInvalidRecord means a record handed to Stage or MarshalBinary
	// cannot be encoded: unknown op or a field over its bound
	// (MaxNameLen, MaxPayloadLen). It is a caller bug, not corruption.
	ErrInvalidRecord = errors.New("wal: invalid record")
	// ErrBadTail means a forked-tail file does not decode: wrong magic,
	// truncated, a record out of sequence or off the chain, or its
	// checksum does not match. Do not reconcile from it.
	ErrBadTail = errors.New("wal: malformed forked-tail file")
)

// IndexError reports a failure concerning one WAL index. It wraps one of
// the sentinel errors above (or a Pebble error); use errors.As to learn the
// index, errors.Is to learn the kind.
type IndexError struct {
	Op    string // operation: "get", "iter", "verify", "decode", "stage", ...
	Index uint64 // the WAL index concerned (the first bad one for Verify)
	Err   error
}

// Error implements error.
func (e *IndexError) Error() string {
	return fmt.Sprintf("wal: %s index %d: %v", e.Op, e.Index, e.Err)
}

// Unwrap returns the underlying error.
func (e *IndexError) Unwrap() error { return e.Err }

func indexErr(op string, index uint64, err error) error {
	return &IndexError{Op: op, Index: index, Err: err}
}
