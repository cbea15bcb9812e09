// Package drill runs a scenario (package scenarios) on a lab of real
// jumeau processes and measures its outcome into a report (package
// report): `jumeau drill run` (docs/drills.md).
//
// Run creates the lab in Options.Dir if it has none (the scenario's
// topology, gate logs on), waits until the cell leader holds the primary
// lease, then, from the drill's start (offset 0):
//
//   - a load generator writes new keys "<run id>-<8-digit sequence>" in
//     the scenario's namespaces (round robin) at the scenario's rate,
//     values of value_size bytes derived from the key (so a read-back
//     proves the bytes), durabilities drawn from the mix; each write goes
//     to the node that last acknowledged one (a Monaco site forwards to
//     its leader) and moves to the next data node on an error, so that it
//     finds the twin once it is promoted. Every write is recorded (history)
//     with its send and acknowledgement times and outcome;
//   - the timeline runs: kill (SIGKILL), pause (SIGSTOP), resume, restart
//     of the nodes the selectors name when the step runs, link faults
//     through the lab's fault links, attacks through the attack
//     executors (attack.go; rogue-peer in rogue.go);
//   - every 250 ms a sample records the acknowledged and failed writes per
//     second and the twin's lag as the cell leader reports it
//     (cell.ship.lag_seconds), and the status of every node marks events:
//     a new cell leader (election), a new region epoch at the witness
//     (promotion), a refusal counted by the twin (alarm).
//
// When the timeline ends the load stops, paused nodes are resumed, links
// healed and killed nodes restarted; probe writes find the primary. Then
// it measures, never assumes:
//
//   - RPO: every acknowledged write is read back from the final primary
//     (linearizable lists); the missing ones (or holding other bytes) are
//     lost: their count, bytes and the span of their acknowledgement
//     times, per durability too. Keys a ransomware step overwrote or
//     deleted (at most its keys count, acknowledged before it ended, in
//     its namespace) are not counted as lost;
//   - RTO: for each disruptive fault (a kill or pause that hit the cell
//     leader or the primary, a cut of cell or witness links), the time
//     from the fault to the first write sent after it that a node
//     acknowledged; the report's RTO is the longest. After each such fault
//     the runner also sends probe writes (durability=cell, 64 bytes,
//     every 25 ms) until one is acknowledged, so that the RTO does not
//     depend on the load's mix: a promoted twin cannot acknowledge
//     durability=twin writes while it has no twin of its own. Probes are
//     load writes for every count of the report (and are read back);
//   - split brain: the gate logs of the nodes (every write-gate pass with
//     its epoch) against the epochs the witness started
//     (history.SplitBrain);
//   - promotions: region epochs the witness started during the drill;
//   - integrity: after the nodes converge, every data node holds the same
//     last WAL index and hash (the chain of each is checked by the node
//     itself as it stores records);
//   - tamper_detected: every forged-records, stolen-cert, replay and
//     rogue-peer step reported its attempts refused.
//
// The scenario's expectations are checked against these (report.Check),
// followed by the attack steps' own checks (AttackResult.Checks, named
// "attacks[N].ACTION.CHECK"): a rogue-peer step checks from its evidence
// that every attempt was refused, that each target counted a refused
// non-member connection per attacker connection
// (jumeau_transport_peers_refused_total{kind="connection",
// reason="not_member"}), that the leader, its term and every node's epoch
// did not move, that no value reached the attacker and that its write is
// not on the cell. The report passes only if every check passes. The
// samples and events fill the report's timeline, and the lab's
// processes are stopped unless Options.Keep.
//
// The report also carries its provenance and evidence: the SHA-256 of
// Options.ScenarioSource (the scenario as read) and the scale, the
// operator (the identity of the lab's client certificate the load writes
// with, OperatorFromCert, else OperatorFromOS), each data node's last WAL
// index and hash as the integrity check last read them, and the failed
// writes counted by FailureCause (the API's error code when a node
// answered, else what the client saw), with the first error of each.
//
// # Live drill
//
// RunLive is the non-disruptive drill on a running deployment: the twin
// (LiveTwin) clones its store, verifies and promotes the clone in
// isolation and throws it away (POST /v1/drill/sandbox). While it does,
// and at least 10 times, a marker key is written every 50 ms in
// MarkerNamespace through the primary (LivePrimary, the next one after an
// error); then every acknowledged marker is read back from the twin
// (stale reads) for at most LiveOptions.MarkerWait. replication_continued
// passes only when at least one marker was acknowledged and the twin
// returned every acknowledged one with its bytes: a twin whose index did
// not move, or that lacks one marker, fails it. Without a primary the
// check is not made and a finding says so. The scenario's rto and
// integrity expectations are checked against the clone.
package drill
