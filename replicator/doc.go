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
// # Names
//
// A namespace is 1 to 64 bytes of a-z, 0-9, '.', '_' and '-'
// (ValidateNamespace). A key is 1 to 1024 bytes of valid UTF-8 without
// control characters: no C0 (U+0000-U+001F, so no NUL, TAB, CR or LF), no
// DEL (U+007F), no C1 (U+0080-U+009F) (ValidateKey). Keys leave the daemon
// as JSON strings and as lines of `jumeau ls`, which could not carry
// invalid UTF-8 or line breaks without loss; a binary name must be encoded
// (hex, base64url) by the application. Writes, reads and deletes refuse
// other keys with a bad-request error naming the byte offset. Records
// already in a WAL are applied whatever their key (every replica must
// apply the same log).
//
// # Forwarding (QUIC streams of kind Forward, transport frames)
//
// A follower sends frame type 1 (request: op put/del/get/list, namespace,
// key, value, prefix, limit, after, byte budget, deadline) and reads frame
// type 2 (response: code, message, raft index, WAL index, key-values,
// next), then reuses the stream. Codes: 0 ok, 1 not leader, 2 no leader,
// 3 not found, 4 bad request, 5 timeout (a write's outcome is unknown), 6
// internal, 7 twin unconfirmed, 8 RPO exceeded, 9 no twin, 10 lease
// expired, 11 fenced, 12 no space (the leader's free disk space is below
// disk.refuse_free: the write was refused, not proposed), 13 read timeout
// (a read changed nothing), 14 busy (the leader's list budget is full).
//
// A forwarded read that gets no answer is a read timeout (or no leader,
// when the cell elected another one meanwhile), never a timeout: a read
// changes nothing, so retrying it is safe.
//
// # Lists
//
// A list is served one page at a time (ListQuery, ListPage): in key order,
// after the key a previous page ended with (its Next), at most Limit keys
// and MaxBytes bytes of items counted as ItemSize (the JSON the client
// API sends, which is larger than the raw key and value; default 4 MiB, at
// most 8 MiB). A page stops before the item that would take it over its
// budget, but holds its first item however large (a value is at most 16
// MiB), so a page is bounded and always fits one forward frame (17 MiB).
// The budget is checked with the sealed value's length before the value is
// read. Values are unsealed and handed to the caller one at a time as they
// are read (the client API writes each one to the response at once).
//
// Through a follower, a linearizable page is read by the leader (after a
// read barrier), sent back in one response frame, checked against the
// query (order, prefix, limit, next) and emitted. Each node works on at
// most MaxConcurrentLists pages at once (local, served to a follower, or
// forwarded to the leader) and refuses one more at once with ErrBusy:
// lists never queue up holding memory, and the CPU and memory that Raft
// needs on the same node stay its own.
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
//
// # Region replication: the Ship stream (QUIC stream of kind Ship)
//
// The cell leader opens one Ship stream to the twin (shipper.go); the
// twin (twin.go) accepts it only from a site certificate of the primary
// region whose name is one of the cell's sites. Frames are transport
// frames (version byte, type, length, msgpack body); every body is a map
// with short keys:
//
//	1 hello     leader->twin  {v: version 1, s: sender name, e: epoch, t: Raft term, f: first WAL index held, l: last,
//	                           hb: heartbeat interval (ns), ha: true to have heartbeats answered}
//	2 resume    twin->leader  {i: last durable WAL index, h: its hash (32 B), e: twin's epoch,
//	                           ha: true if the twin answers heartbeats}
//	3 records   leader->twin  {e: epoch, f: first index, n: count, c: codec (0 none, 1 zstd),
//	                           r: decompressed length, d: n x ([uvarint len][wal record encoding]),
//	                           l: leader's last WAL index, t: leader clock (unix ns)}
//	4 heartbeat leader->twin  {l: leader's last WAL index, t: leader clock}
//	5 ack       twin->leader  {i: last durable index, h: its hash} (after records, a snapshot, or a heartbeat)
//	6 snapshot begin   leader->twin {i: anchor index, h: anchor hash, e: epoch}
//	7 snapshot chunk   leader->twin {d: bytes of the snapshot stream above (no WAL records)}
//	8 snapshot end     leader->twin {}
//	9 error     either way    {c: 1 refused, 2 diverged, 3 stale leader, 4 receiver failure; m: reason}, then close
//
// Handshake: hello, then resume. The leader checks the twin's (index, hash)
// against its own WAL (or anchor) and stops with "diverged" on a mismatch;
// if the index is below its WAL retention it sends a state snapshot
// anchored at its current tip, and the twin acks that anchor. Then the
// leader streams records from index+1, keeping at most twin.window_bytes
// unacknowledged, and sends heartbeats when idle.
//
// The twin refuses (error 1, alarm in log, metric and status) a stream
// from an unknown sender, a hello or frame of an older epoch, and any
// group of records frames holding a record that is not exactly the
// successor of its tip (a replayed or reordered frame), does not link to
// it, does not hash to its Hash, or has an epoch outside twin epoch..frame
// epoch. Records frames already received are stored together: one Pebble
// batch (WAL records and their state changes) committed with fsync, then
// one ack of the last index; a refused group leaves nothing behind. A
// hello of a newer or equal Raft term replaces the current stream; an
// older term is answered with error 3 (not an alarm: a deposed leader).
//
// Liveness: when the hello asks (ha) and the twin agrees in its resume,
// the twin answers every heartbeat with an ack of its tip, which is the
// index the leader last had acknowledged, with the same hash (an ack that
// releases nothing; any other such ack is a divergence). Each end calls
// the link connected only while the stream is up and a frame from the
// other end arrived within max(3 x heartbeat, 1 s): the leader uses its
// twin.heartbeat, the twin the hb of the hello (10 s, the largest allowed,
// so a 30 s bound, from a sender that states none). A blackholed link thus
// stops being connected within that bound, long before QUIC's idle
// timeout ends the session; status reports the age as last_heard_ms. The
// fields are optional both ways: against a twin that does not set ha the
// leader calls the link connected while the stream is up, and an older
// leader that does not ask gets no extra acks.
//
// The leader counts lag from the twin's last ack: records after it, their
// bytes, and the age of the oldest (its leader-clock time); durability=twin
// writes wait for the ack of their WAL index, and the RPO guard acts on the
// age (see ShipConfig).
package replicator
