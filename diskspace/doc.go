// Package diskspace guards the free space of a node's data directory, so
// that a filling disk is reported early and new writes stop before the
// store runs out of room.
//
// # Why
//
// Pebble treats a failed commit as fatal: when its volume is full the
// process exits (the cell goes on without it), and after a restart on a
// nearly full volume its compactions fail over and over. The guard turns
// that into a warning long before, and a clean refusal of new client
// writes shortly before, while Raft and the state machine keep applying
// what the cell already committed (refusing those would halt the node)
// and reads keep working.
//
// # Levels
//
// A Guard reads the filesystem's free space (statfs: the blocks available
// to the process, as df shows them) once at New and then every
// Config.CheckEvery, and keeps the reading; Admit, asked before every new
// write, only reads the kept level. Two thresholds give three levels:
//
//	ok      free >= warn threshold
//	warn    free <  warn threshold (disk.warn_free_*): an alarm in status,
//	        in the metrics and in the log; writes go on
//	refuse  free <  refuse threshold (disk.refuse_free_*): also, new client
//	        writes are refused with ErrNoSpace, and resume by themselves
//	        at the first reading back above the threshold
//
// A Threshold is a number of bytes and a percentage of the filesystem's
// size, whichever is smaller (a zero part is unset; both zero disable the
// level). The default refuse threshold, 256 MiB or 1 %, keeps room for
// Pebble to flush its memtables and compact on any volume above 25 GiB,
// and only scales down on small volumes, where 256 MiB would be a large
// share. The default warn threshold is 1 GiB or 5 %. Neither trips on a
// development machine or a CI runner with a few GiB free.
//
// Writes that arrive between two readings are not checked against the
// disk itself: size the refuse threshold for what the node can write in
// Config.CheckEvery (plus a memtable flush), not for one write.
//
// When a reading fails (statfs error), the last good reading and its
// level are kept, the error is counted and logged (rate-limited) and shown
// in the status; a failure of the first reading fails New.
//
// # Ballast
//
// With Config.BallastBytes set, New creates BallastFile in the data
// directory: a file of that size, allocated (fallocate) so that it holds
// real blocks. It is emergency room for an operator: when the volume is
// full, deleting it frees that much at once (writes resume by themselves
// once free space is back above the refuse threshold). The ballast is
// created, or grown to the configured size, only when the filesystem keeps
// at least the warn threshold free afterwards; so a node restarted after
// its ballast was deleted on a still nearly full volume starts without it
// (and logs so) instead of taking the room back.
//
// # Logging
//
// Level changes are logged (warn and refuse at levels Warn and Error,
// recovery at Info), at most one line per Config.LogEvery; a line names
// how many changes happened since the previous one. While the level is not
// ok, a reminder is logged every Config.RemindEvery. internal/ratelog does the
// same for floods of identical errors elsewhere (the node uses it for
// Pebble's background errors).
//
// # Metrics
//
// Present from the start:
//
//	jumeau_disk_free_bytes                 free space at the last reading
//	jumeau_disk_total_bytes                the filesystem's size
//	jumeau_disk_threshold_bytes{level}     the warn and refuse thresholds in bytes
//	jumeau_disk_alarm{level}               1 while free < that level's threshold
//	                                       (level="warn" is also 1 at refuse)
//	jumeau_disk_writes_refused_total       writes refused by Admit
//	jumeau_disk_stat_errors_total          failed readings
//	jumeau_disk_ballast_bytes              size of the ballast file in place
package diskspace
