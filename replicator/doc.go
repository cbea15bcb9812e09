// Package replicator is the primary cell: hashicorp/raft over the node's
// QUIC endpoint, an FSM that applies each committed command to the state
// and to the WAL in one Pebble batch, write forwarding from followers to
// the leader, and linearizable or stale reads.
//
// # Shared Pebble key space
//
// Each node has one Pebble database; the first key byte says who owns a key:
//
//	0x01 raft log (raftstore)        0x02 raft stable store (raftstore)
//	0x03 WAL records (wal)           0x04 WAL metadata (wal)
//	0x10 state: ns 0x00 key -> sealed value (this package)
//	0x11 FSM metadata (this package): 0x11 'a' -> u64 BE last applied Raft index
//	                                  0x11 'k' '/' ns -> wrapped data key of ns
//
// One database means one Pebble WAL: the FSM commits its batches without
// fsync because the Raft log entry it applies was already synced in the
// same ordered WAL, and the next synced write (or the sync taken before a
// snapshot) makes it durable. After a crash, Raft replays the entries above
// the last snapshot and the FSM skips those at or below its applied index.
//
// # Command (a Raft log entry's data)
//
//	[version u8 = 1][op u8: 1 put, 2 delete, 3 namespace key]
//	[epoch u64 BE][time i64 BE, unix ns of the leader's clock]
//	[uvarint len][namespace][uvarint len][key][uvarint len][payload]
//
// The payload is the value sealed by the leader (AES-256-GCM, data key of
// the namespace, additional data "ns\x00key"), or for op 3 the namespace's
// data key wrapped by the key-encryption key. Each replica turns a command
// at Raft index i and term t into the WAL record {epoch, t, time, ns, key,
// op, payload}, chained on its previous record, so every replica computes
// the same record hash.
//
// # Forwarding (QUIC streams of kind Forward, transport frames)
//
// A follower sends frame type 1 (request: op put/del/get/list, namespace,
// key, value, prefix, limit, deadline) and reads frame type 2 (response:
// code, message, raft index, WAL index, key-values), then reuses the
// stream. Codes: 0 ok, 1 not leader, 2 no leader, 3 not found, 4 bad
// request, 5 timeout, 6 internal.
//
// # Snapshot stream
//
//	header: [version u8 = 1][applied Raft index u64][WAL anchor index u64][WAL anchor hash 32 B]
//	entries: [tag u8][uvarint len][bytes]
//	    tag 1 state key (ns 0x00 key) then tag 2 its value
//	    tag 4 namespace then tag 2 its wrapped data key
//	    tag 3 a WAL record (wal encoding), in index order
//	trailer: [tag 0][SHA-256 of every byte before it, tag 0 included]
//
// Restore verifies every WAL record's chain and the trailer before it
// commits anything, then replaces the state and the WAL in one synced batch.
package replicator
