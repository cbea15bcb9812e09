package replicator

import "errors"

// Errors returned by the cell. Callers match them with errors.Is.
var (
	// ErrNotLeader means the operation needs the cell leader and this node
	// is not it; the caller may retry on the leader.
	ErrNotLeader = errors.New("replicator: not the cell leader")
	// ErrNoLeader means the cell has no leader right now (election under
	// way or quorum lost); retry after a short wait.
	ErrNoLeader = errors.New("replicator: no cell leader (election in progress or quorum lost)")
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("replicator: key not found")
	// ErrBadCommand means a Raft log entry does not decode as a command.
	ErrBadCommand = errors.New("replicator: malformed command")
	// ErrBadRequest means the caller's input is invalid (empty or
	// over-long namespace or key, value too large).
	ErrBadRequest = errors.New("replicator: bad request")
	// ErrTimeout means the write was not committed in time; it may still
	// commit later.
	ErrTimeout = errors.New("replicator: timed out waiting for commit (the write may still be committed)")
	// ErrClosed means the cell is shut down.
	ErrClosed = errors.New("replicator: cell closed")
	// ErrFSMHalted means the site stopped making progress after a storage
	// failure; it must be restarted (it replays what it missed).
	ErrFSMHalted = errors.New("replicator: halted after a storage failure (restart this site)")
	// ErrBadSnapshot means a snapshot stream is malformed.
	ErrBadSnapshot = errors.New("replicator: malformed snapshot")
)
