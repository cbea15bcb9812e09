// Package failover decides which region may take writes: the primary
// lease, the region epoch and promotions (docs/architecture.md, "Failover").
//
// # Leases
//
// The primary region's writer (the cell leader; after a promotion, the
// twin) renews a lease every RenewEvery with the grantors of the other
// two regions (the twin or the sites, and the witness). A grantor backs it
// when the request's epoch is its own and the requester is in the
// epoch's primary region, and promises to vote for no promotion until
// that lease has run out plus ClockSkewMargin, on its own clock. The
// holder counts the lease from before it sent the requests, on its own
// clock, and needs one grantor (2 regions of 3): it refuses writes once
// the lease runs out (self-fencing). Clocks are only compared with
// themselves; ClockSkewMargin covers rate differences.
//
// # Promotion
//
// The twin promotes itself when it has heard nothing from the primary for
// DetectAfter and the lease it granted ran out plus the margin
// (Grantor.BeginPromotion, after which it grants no lease), and its last
// known lag is within the loss bound (or an operator forces it). It then
// asks the witness, which applies the same checks under the lock its
// lease grants take, writes epoch+1 with the twin's region as primary
// (fsync), and answers. Every later lease request of the old epoch is
// answered "stale" with the new state: the old primary learns it is
// fenced.
//
// # Switchover
//
// A planned switchover (failback) is asked by the primary itself: it
// stops taking writes, waits until its replicas hold its whole WAL, and
// asks the witness (Grantor.Switch), which writes epoch+1 with the target
// region as primary, starting at the drained tip. The new primary waits
// LeaseDuration + ClockSkewMargin after it learns the epoch before taking
// writes, so no lease of the old epoch can still run.
//
// # Wire format (QUIC streams of kind Lease, transport frames)
//
// One request frame and one reply frame per stream; bodies are msgpack
// maps:
//
//	1 lease request   {e: epoch, d: lease duration ns}
//	2 lease reply     {c: code, r: reason, s: state}
//	3 promote request {e: epoch the requester knows, f: force, i: tip index, t: tip hash}
//	4 promote reply   {c: code, r: reason, s: state after the request}
//	5 status request  {}
//	6 status reply    {s: state, h: ns since the primary was heard (lease requests and shipping), l: ns of granted lease left, n: node, g: region}
//	7 switch request  {e: epoch, r: target region, n: target node ("" = a cell), i: tip index, t: tip hash}
//	8 switch reply    {c: code, r: reason, s: state after the request}
//
// state: {Epoch, PrimaryRegion, PrimaryNode, Changed, start_index, start_hash}.
//
// codes: 0 granted, 1 stale epoch (the requester is fenced), 2 epoch
// unknown to this node, 3 not the primary region, 4 too early (the primary
// may still hold a lease or was heard recently), 5 no vote.
//
// # Epoch file (on disk, replaced atomically with fsync)
//
//	[version u8 = 2][epoch u64 BE][len u8][primary region][len u8][primary node]
//	[changed i64 BE, unix ns; 0 = unknown]
//	[start index u64 BE][start hash 32 bytes]
//	[CRC-32C u32 BE of every byte before it]
//
// Version 1 files (written before the start position was kept) have no
// start index and hash; they are read as start 0 and rewritten as
// version 2 at the next change.
package failover
