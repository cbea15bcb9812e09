// Package wal is jumeau's own write-ahead log: a dense, SHA-256 hash-chained
// sequence of records stored in the node's shared Pebble database.
//
// Every member of a cell derives byte-identical records from the Raft log
// (same index ⇒ same bytes ⇒ same hash); the cell leader ships them to the
// twin, which appends them with StageVerified after checking the chain. The
// FSM stages records in the same Pebble batch as the state they change, so
// state and WAL commit atomically. Retention (TruncateBefore) is driven by
// the twin's acknowledgements and the point-in-time-recovery window, not by
// Raft's log compaction.
//
// # Key layout
//
// The database is shared; the first key byte says who owns a key:
//
//	0x01  raft log            (raftstore)
//	0x02  raft stable store   (raftstore)
//	0x03  WAL records         (this package)
//	0x04  WAL metadata        (this package)
//	0x10  replicated state    (replicator)
//	0x11  FSM metadata        (replicator)
//
// This package reads and writes only keys starting with 0x03 and 0x04:
//
//	0x03 | index u64 big-endian          (9 bytes)  → record encoding (below)
//	0x04 | 'a' (0x61)                    (2 bytes)  → anchor (below)
//
// Big-endian indexes sort numerically, so a Pebble iteration over the 0x03
// prefix yields records in index order.
//
// # Record encoding (version 1)
//
// All integers are fixed-width big-endian; lengths are unsigned LEB128
// varints (encoding/binary uvarint) in their shortest form, anything longer
// is rejected so the encoding stays canonical.
//
//	offset  size  field
//	0       1     version = 0x01
//	1       8     index      (u64, dense WAL index, 1-based)
//	9       8     epoch      (u64)
//	17      8     term       (u64, Raft term)
//	25      8     time       (i64 two's complement, unix nanoseconds)
//	33      1     op         (0x01 put, 0x02 delete, 0x03 key)
//	34      v     len(namespace) (uvarint, ≤ 1024)
//	        n     namespace bytes
//	        v     len(key)       (uvarint, ≤ 1024)
//	        n     key bytes
//	        v     len(payload)   (uvarint, ≤ 16 MiB = 16777216)
//	        n     payload bytes
//	        32    prev_hash  (hash of the record index-1, or the anchor hash)
//	        32    hash
//
// The shortest record (empty namespace, key and payload) is 101 bytes. A
// decoder rejects, as ErrCorrupt: a length below that, another version, an
// unknown op, a non-shortest or over-bound or truncated length, trailing
// bytes, and a hash that does not match.
//
// # Hash
//
//	hash = SHA-256( "jumeau-wal-record-v1" || 0x00 || encoding[0 : len-32] )
//
// that is, the 21-byte domain-separation tag followed by the record's
// encoding up to and including prev_hash (every field except hash itself).
// The first record of a new log has index 1 and prev_hash all zeros.
//
// # Anchor
//
// The anchor is the (index, hash) of the last record removed by retention,
// or the position a restored snapshot starts from; the first record held
// is anchor.index+1 and its prev_hash is anchor.hash. Without an anchor
// key the anchor is (0, 32 zero bytes).
//
//	offset  size  field
//	0       1     version = 0x01
//	1       8     index (u64)
//	9       32    hash
//
// # Atomicity
//
// TruncateBefore deletes the records below the new anchor with one range
// deletion and writes the anchor in the same synced batch; Reset does the
// same for every record in the caller's batch. So on disk the records are
// always exactly anchor.index+1 ... last, which Open checks (first record
// and its link to the anchor, last record's hash). Verify and Iter check
// everything in between. No reader ever looks below the anchor.
//
// # Forked-tail file
//
// A former primary that learns a newer epoch exports the records it holds
// beyond the new epoch's start (its forked tail: writes the new primary
// never received) to a file for reconciliation (WriteTail, ReadTail):
//
//	"JMTAIL01"                        8-byte magic
//	[len u32 BE][header JSON]         TailHeader, at most 64 KiB
//	repeated: [len u32 BE][record]    record encoding above, in index order
//	[0xFFFFFFFF][count u64 BE][SHA-256 of every byte before the hash]
//
// The first record's PrevHash is the header's ForkHash when ForkMatch is
// set (the node's chain reached the new primary's start position), and
// every later record links to the one before it.
package wal
