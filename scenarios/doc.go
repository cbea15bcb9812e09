// Package scenarios describes SRE drills as YAML timelines
// (docs/drills.md): the topology, a write load, faults and attacks at offsets
// from the start, and the expectations the measured outcome must meet.
// This package parses, validates and encodes them; a runner executes
// them (jumeau drill run) and measures, never assumes, the outcome.
//
// Parse (and Load, Builtin) returns a Scenario with every default filled
// in, or every problem found, each an *Error naming the file, the line
// and the field path, e.g.
//
//	scenarios: quake.yaml:14: faults[2].at: "90x": not a duration (use 1s, 500ms)
//
// List indexes in paths count from 0. Unknown fields, fields given twice
// and values of the wrong type are errors. YAML encodes a Scenario back,
// every default written out; Parse of it returns an equal Scenario.
//
// # Format
//
// One YAML document. Durations are Go duration strings ("500ms", "12s",
// "1m30s"); offsets are durations from the start of the drill.
//
//	name: earthquake-total         # required: lower-case letters, digits, '-' (at most 63)
//	description: Every Monaco site is destroyed at once   # required: one line, at most 300 bytes
//	duration: 20s                  # required: the whole drill, > 0, at most 24h
//	topology:                      # optional; these are the defaults
//	  sites: 3                     # Monaco sites, 1 to 9: site-a, site-b, ...
//	  twin: true                   # the Luxembourg twin, lux-1
//	  witness: true                # the witness, witness-1
//	  wan_rtt: 12ms                # round trip of a Monaco<->Luxembourg link (only with twin)
//	load:                          # required
//	  rate: 200                    # required: writes per second, > 0
//	  value_size: 256              # bytes per value, 1 to 8 MiB (default 256)
//	  clients: 4                   # concurrent clients (default 4)
//	  durability: {cell: 0.8, twin: 0.2}  # share of writes per durability, summing to 1 (default {cell: 1})
//	  namespaces: [drill]          # written round robin, each write a new key (default [drill])
//	  start: 0s                    # the load runs from start (default 0s)
//	  stop: 20s                    # to stop (default: the duration)
//	faults:                        # optional list of steps
//	  - at: 6s
//	    kill: all-sites
//	attacks:                       # optional list of steps
//	  - at: 8s
//	    ransomware: {namespace: drill, keys: 300}
//	expect:                        # required: at least one check
//	  rto: "<= 10s"
//	  acked_writes_lost: {twin: "== 0"}
//
// A scenario has at least one fault or attack, and every offset (at) is
// at least 0 and below the duration; 0 <= start < stop <= duration.
//
// # Steps
//
// Each element of faults and attacks has at and exactly one action. Steps
// need not be in order; Timeline sorts them by offset (ties: file order,
// faults before attacks).
//
// Faults on nodes (the value is one selector or a list of them):
//
//	kill: NODES      SIGKILL: a crash (power loss, a destroyed site)
//	pause: NODES     SIGSTOP: a hung machine
//	resume: NODES    SIGCONT the paused ones
//	restart: NODES   start the killed ones again, on their data (running ones are left alone)
//
// Node selectors: a node name (site-a ... site-i, lux-1, witness-1, as the
// lab names them), or
//
//	leader      the cell leader when the step runs
//	follower    the first site, in name order, that is up and not the leader
//	sites:N     N sites: the leader first, then the followers that are up, in name order
//	all-sites   every Monaco site
//	twin        the twin
//	witness     the witness
//
// resume and restart take names, all-sites, twin and witness only: a node
// that is down has no role in the cell. Topology.Resolve implements these
// rules.
//
// Faults on links: link names the links; its parameters sit beside it in
// the step:
//
//	faults:
//	- at: 4s
//	  link: wan          # wan: every site<->twin link, both directions
//	                     # witness: every link to or from the witness
//	                     # cell: every site-to-site link
//	                     # FROM->TO: one link, the one carrying what FROM dials to TO (site-a->lux-1)
//	  delay: 156ms       # one way, in each direction: a round trip gains twice this
//	  jitter: 50ms       # delay spread uniformly over delay±jitter
//	  loss: 0.3          # probability a datagram is dropped, in each direction
//	  bandwidth: 1250000 # bytes per second, each direction; absent: no cap
//	- at: 8s
//	  link: wan
//	  blackhole: true    # drop everything
//	- at: 13s
//	  link: wan
//	  heal: true         # the links get back the faults they had when the drill started
//
// A link step replaces the faults of the links: a parameter left out is no
// fault (a wan link's baseline delay, wan_rtt/2, is gone unless given
// again). heal and blackhole stand alone; a step changes something. The
// parameters are faultlink.Params (delay and jitter up to 1m, loss 0 to 1).
// Topology.Links lists the links a selector names.
//
// Attacks (the value is a mapping of parameters; defaults in brackets):
//
//	ransomware: {namespace: NS [the load's first], keys: N, delete: F [0.5]}
//	    With a valid client certificate, overwrite N keys the load wrote in
//	    NS (one of load.namespaces) with random bytes, deleting a share F of
//	    them instead. The report names the last clean WAL index and time.
//	forged-records: {from: SITE [leader], records: N [1], kind: K [altered]}
//	    The site SITE (leader, follower or a site's name), compromised, sends
//	    N forged WAL records to the twin with its own certificate. K:
//	    altered (payload changed, hash kept), rehashed (payload changed, hash
//	    recomputed: only the chain and the signed checkpoints catch it),
//	    stale-epoch (records of an older epoch).
//	stolen-cert: {kind: revoked|foreign, tries: [join, write] [both], target: NODE [leader]}
//	    A certificate of this cluster's CA that was revoked, or one of
//	    another CA carrying a valid-looking identity, tries to join NODE as a
//	    peer (QUIC, mutual TLS) and to write through its API.
//	replay: {frames: N [10], target: NODE [twin]}
//	    N datagrams captured on their way to NODE are sent to it again,
//	    verbatim.
//	rogue-peer: {identities: [ID...] [site/monaco/site-z, site/luxembourg/rogue],
//	             raft: SITE [leader], forward: [SITE...] [leader, follower],
//	             namespace: NS [the load's first], for: D [3s], every: P [150ms]}
//	    A certificate issued by the deployment's own CA for each identity
//	    ID (role/region/name, a node role; not a node of the topology, whose
//	    sites are in region monaco, the twin in luxembourg, the witness in
//	    witness) tries what a member of the cell does: a Raft AppendEntries
//	    of a term far above the cell's to SITE every P for D (at most 1000
//	    RPCs), then on Forward streams to each of the forward sites a list
//	    and a get of NS and a write of a new key. The drill's report gets
//	    one check per piece of evidence (attempts refused, refusals counted
//	    by the targets, leader and term unchanged, no epoch moved, no value
//	    received, the write absent); tamper_detected holds when all pass.
//
// NODE is one node: leader, follower, twin, witness or a name. Counts are
// 1 to 1000000.
//
// # Expectations
//
// Each key of expect is a measured quantity and its value a comparison,
// "OP VALUE" with OP one of <=, <, ==, !=, >=, > (quote it when it starts
// with !). Parse returns them in this order, which is the report's:
//
//	rpo: "<= 0"               acknowledged writes missing on the primary after the
//	rpo: "<= 5s"              drill: a whole number compares their count, a duration
//	                          the commit-time window they span
//	rto: "<= 10s"             the longest time from a fault to the first write the
//	                          (new) primary accepts after it
//	acked_writes_lost: "== 0" acknowledged writes missing on the primary afterwards;
//	acked_writes_lost: {cell: "<= 100", twin: "== 0"}   or per durability
//	split_brain: "== 0"       moments two writers accepted writes in one epoch
//	promotions: "== 1"        promotions of the twin (region epoch bumps)
//	integrity: verified       chain, signatures and state digests all check out
//	tamper_detected: true     every forged, stolen, replayed or rogue attempt refused, with an alarm
//
// Parse refuses a check that cannot fail: acked_writes_lost for a
// durability the load never uses, tamper_detected: true without a
// forged-records, stolen-cert, replay or rogue-peer attack, rto without a
// kill, pause or link fault, promotions without a twin. Expectation.Check compares a
// measured value (see its documentation for the Go types) and
// Expectation.String prints the check for the report: "rto <= 10s".
//
// # Built-ins
//
// Builtins lists the scenarios embedded from builtin/*.yaml (each file
// starts with a comment saying what it simulates and what it proves);
// BuiltinSource returns one as written, Builtin parses it.
package scenarios
