// Package raftstore stores hashicorp/raft's log and stable state in the
// node's shared Pebble database: Store implements raft.LogStore and
// raft.StableStore.
//
// # Key layout
//
// The database is shared; the first key byte says who owns a key (0x01
// raft log, 0x02 raft stable store, 0x03/0x04 WAL, 0x10/0x11 replicator).
// This package reads and writes only:
//
//	0x01 | index u64 big-endian   (9 bytes)   → log entry encoding (below)
//	0x02 | key bytes as given by Raft          → value bytes as given by Raft
//
// Big-endian indexes sort numerically, so FirstIndex and LastIndex are the
// first and last keys of the 0x01 prefix; they are read once by New and
// then cached (atomics), updated by StoreLogs and, after DeleteRange, by
// one seek just past the deleted range. DeleteRange is one batch: a Pebble
// range deletion, or point deletions when it concerns at most 256 stored
// entries (see pointDeleteMax: many small range tombstones in a memtable
// make every later read re-fragment them all). SetUint64 stores
// 8 bytes big-endian under the same 0x02 key space as Set (as raft-boltdb
// does), so GetUint64 of a key written by Set with another length is
// ErrCorrupt.
//
// # Log entry encoding (version 1)
//
// Hand-written rather than msgpack: it is compact, canonical (one encoding
// per entry, which the fuzz target checks) and cheap to decode without
// reflection. Integers are fixed-width big-endian; lengths are unsigned
// LEB128 varints in their shortest form.
//
//	offset  size  field
//	0       1     version = 0x01
//	1       8     index        (u64)
//	9       8     term         (u64)
//	17      1     type         (raft.LogType; any value is kept as is)
//	18      8     appended_at  seconds since the Unix epoch (i64)
//	26      4     appended_at  nanoseconds (u32, < 1e9)
//	30      v     len(data)        (uvarint)
//	        n     data
//	        v     len(extensions)  (uvarint)
//	        n     extensions
//	        4     CRC-32C (Castagnoli) of every preceding byte (u32)
//
// A zero AppendedAt is stored as seconds -62135596800, nanoseconds 0 and
// decodes back to the zero time.Time; others decode in UTC (the same
// instant; location and monotonic reading are not stored). Empty Data and
// Extensions decode as nil. The decoder rejects, as ErrCorrupt: fewer
// than 36 bytes, a checksum mismatch, another version, nanoseconds out of
// range, unreadable, non-shortest or truncated lengths, trailing bytes; and
// GetLog rejects an entry whose index is not its key's. Pebble's own block
// checksums catch damaged files; the CRC catches a value damaged or
// misplaced above Pebble.
//
// # What Raft relies on (checked against hashicorp/raft v1.8)
//
//   - GetLog of a missing index returns raft.ErrLogNotFound itself, not a
//     wrapped copy: replication.go compares it with ==.
//   - Get and GetUint64 of a key never set return an error whose Error()
//     is exactly "not found" (ErrKeyNotFound), as raft-boltdb does; Raft's
//     NewRaft, HasExistingState and vote handling compare the text.
//   - FirstIndex and LastIndex return 0 for an empty log; StoreLogs may
//     leave gaps (after a snapshot install) and DeleteRange may remove a
//     prefix, a suffix (conflict truncation) or everything.
//
// # Interfaces deliberately not implemented
//
// raft.MonotonicLogStore: reporting IsMonotonic()=true makes Raft delete
// the whole log after restoring a snapshot (user restore or
// InstallSnapshot) instead of relying on a gap. It exists for stores that
// cannot represent gaps; this one can (its bounds come from key order, not
// from counting), so it would only add a range deletion and gain nothing.
//
// raft.CommitTrackingLogStore: only useful with Config.RestoreCommittedLogs,
// which jumeau does not use (the FSM is idempotent by Raft index).
package raftstore
