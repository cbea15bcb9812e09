// Package history records what happened during a fault test or a drill
// (writes sent to the nodes and their outcomes, every pass of a node's
// write gate, the epochs the witness started, the faults injected) and
// checks it afterwards (failover and drills, docs/architecture.md):
//
//   - [History.SplitBrain]: no two nodes let writes through at
//     overlapping times in different epochs. A pass in epoch e at or
//     after the start of any newer epoch (the witness's clock), or after
//     a pass of a newer epoch was already recorded, is a violation; so is
//     a pass in epoch e before e began, a pass by a node that is not a
//     writer of its epoch, and a pass in an epoch no witness ever started.
//   - [History.Lost]: which acknowledged writes a node no longer holds,
//     by durability level; the caller decides which losses are
//     violations (durability=twin: never; durability=cell: not while a
//     quorum of the primary cell survives).
//
// Times are wall-clock times of one machine (every lab process shares the
// clock); reports show them as offsets from the history's start.
//
// # Gate log (on disk)
//
// A node started with `serve --gate-log FILE` appends one line to FILE
// each time its write gate lets a write through (before the write is
// proposed, and again before it is acknowledged), with one unbuffered
// write(2) on a file opened O_APPEND, so every line the process wrote
// survives its SIGKILL:
//
//	<unix-nanos> SP <epoch> LF
//
// unix-nanos is the node's wall clock when the gate let the write
// through, in nanoseconds since 1970-01-01 UTC; epoch is the region epoch
// the write was accepted in. Both are unsigned decimal integers greater
// than zero, without sign or leading zeros, unix-nanos at most 19 digits
// and below 2^63. The file has no header; the node is the one whose
// directory holds it. A last line without its LF is a write torn by a
// crash: [DecodeGateLog] returns the complete lines and [ErrTornLine].
package history
