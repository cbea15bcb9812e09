// Package faultlink is a fault-injecting UDP relay that sits between jumeau
// nodes in tests and lab drills. QUIC runs over UDP, so a
// link between two nodes can add latency, jitter, loss, a bandwidth cap, or
// cut them off entirely, without the nodes knowing.
//
// # Relaying
//
// A [Link] listens on a local UDP address. Each client address that sends to
// it gets a session: an upstream UDP socket connected to the target. Datagrams
// from the client go out through that socket, and what the target sends back
// to that socket is relayed to the client from the listening address. To the
// target, each client looks like a distinct peer (the upstream socket's
// address). A session closes after [DefaultSessionIdle] without traffic
// either way; at most [MaxSessions] sessions are open at once.
//
// A link runs one goroutine reading the listening socket, one per session
// reading its upstream socket, and one scheduler per direction: no goroutine
// per datagram. A datagram that needs no delay is written by the reading
// goroutine at once; a delayed one is copied into a pooled buffer and put on
// the direction's delivery heap, ordered by delivery time.
//
// # Faults
//
// [Params] apply to each direction on its own (client to target, target to
// client), in this order, when a datagram arrives:
//
//  1. Blackhole: drop.
//  2. Loss: drop with probability Loss.
//  3. Bandwidth: the datagram queues behind earlier ones on a virtual
//     transmitter sending Bandwidth bytes per second; it leaves when its last
//     byte is sent. If that is more than [MaxQueueDelay] from now, or the
//     queue would hold more than [MaxQueueBytes], it is dropped (tail drop,
//     as a router does), unless the transmitter is idle.
//  4. Delay and jitter: it is delivered Delay ± a uniform random Jitter later
//     (never earlier than it left the transmitter). Delivery follows delivery
//     times, so jitter can reorder datagrams, as real networks do.
//
// Delivery times are kept to the resolution of Go timers (about a millisecond
// on a busy Linux host): a datagram is never delivered early, and may be that
// much late. A direction holds at most 32 MiB of buffers and 16384 datagrams; beyond
// that, datagrams that would wait are dropped and counted as overflowed.
// Loss and jitter draw from a per-direction PCG generator; [Link.Seed] makes
// them repeatable in tests.
//
// [Link.Set] changes the faults at run time, for the next datagram; queued
// datagrams keep their delivery time, but turning the blackhole on drops them
// at once, so nothing crosses a cut link after Set returns (except datagrams
// a goroutine was writing at that instant).
//
// A partition is a set of blackholed links: with one link per ordered pair of
// nodes, [Set.Partition] blackholes those its function selects and [Set.Heal]
// clears every blackhole, leaving the other faults in place.
//
// # Control API
//
// [Set.Handler] serves JSON over HTTP. Params are written
//
//	{"delay": "12ms", "jitter": "2ms", "loss": 0.01, "bandwidth": 1000000, "blackhole": false}
//
// with durations as Go duration strings and bandwidth in bytes per second;
// missing fields are zero and unknown fields are refused. A link is written
//
//	{"name": "a->b", "listen": "127.0.0.1:40001", "target": "127.0.0.1:7001",
//	 "params": {...}, "baseline": {...},
//	 "stats": {"to_target": {...}, "to_client": {...}, "sessions": 1}}
//
// where each direction's stats are {"packets", "bytes", "dropped", "lost",
// "blackholed", "overflowed", "errors", "queued"} (counters since creation).
//
//	GET  /links               all links, sorted by name
//	GET  /links/{name}        one link
//	PUT  /links/{name}        body: Params; replaces the link's faults; returns the link
//	POST /links/{name}/reset  restores the link's baseline (the Params it was created with)
//	POST /partition           body: {"links": ["a->b", ...]}; blackholes those links; returns {"cut": [...]}
//	POST /heal                clears every blackhole; returns {"healed": true}
//
// Errors are {"error": "..."}, with a message that names the fix, and status
// 400 (bad body or params), 404 (unknown link or route), 405 (wrong method,
// with an Allow header) or 413 (body over 64 KiB).
package faultlink
