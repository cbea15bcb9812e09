package replicator

import (
	"context"
	"errors"
	"fmt"
)

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
	// ErrReadTimeout means a read (a get or a list page) did not complete
	// before its deadline. A read changes nothing: retry it. It matches
	// context.DeadlineExceeded too.
	ErrReadTimeout = fmt.Errorf("replicator: read timed out (a read changes nothing: retry it): %w", context.DeadlineExceeded)
	// ErrBusy means the node already works on as many list pages as its
	// list budget allows (MaxConcurrentLists), so that lists cannot take
	// the CPU and memory consensus needs; retry shortly.
	ErrBusy = errors.New("replicator: busy: this node already serves as many lists as it allows at once (retry shortly)")
	// ErrClosed means the cell is shut down.
	ErrClosed = errors.New("replicator: cell closed")
	// ErrFSMHalted means the site stopped making progress after a storage
	// failure; it must be restarted (it replays what it missed).
	ErrFSMHalted = errors.New("replicator: halted after a storage failure (restart this site)")
	// ErrBadSnapshot means a snapshot stream is malformed.
	ErrBadSnapshot = errors.New("replicator: malformed snapshot")
)

// Errors of region replication (shipper, twin receiver, durability and
// the RPO guard).
var (
	// ErrReadOnly means this node is a replica of the primary region (the
	// twin, or a site demoted by a region failover): it serves reads
	// (stale, from its own copy) and refuses writes until it is promoted.
	ErrReadOnly = errors.New("replicator: this node is a read-only replica: it serves stale reads only; send writes to the current primary")
	// ErrNoTwin means a durability=twin write reached a cell with no twin
	// configured (twin.name is empty).
	ErrNoTwin = errors.New("replicator: durability=twin needs a twin: set twin.name on every site")
	// ErrTwinUnconfirmed means a durability=twin write committed in the
	// cell but the twin did not acknowledge it before the deadline; the
	// write is not lost on the cell and may still reach the twin.
	ErrTwinUnconfirmed = errors.New("replicator: the twin did not confirm the write in time (it is committed in the cell and may still reach the twin)")
	// ErrRPOExceeded means the twin's lag is past sla.rpo and the guard
	// is "block": the cell refuses writes until the twin catches up.
	ErrRPOExceeded = errors.New("replicator: twin lag exceeds the RPO budget (sla.rpo_guard is block): writes resume when the twin catches up")
	// ErrDiverged means the twin's WAL and the primary's disagree at the
	// twin's last index (same index, different hash): shipping stops and
	// an operator must reconcile.
	ErrDiverged = errors.New("replicator: the twin's WAL diverges from the primary's")
	// ErrRefused means the twin refused shipped records (broken chain,
	// wrong epoch, unknown sender, replayed or out-of-order frame);
	// nothing of the refused batch was stored.
	ErrRefused = errors.New("replicator: twin refused shipped records")
	// ErrSwitching means the primary is handing over to another region
	// (planned switchover): it takes no writes; send them to the new
	// primary once `jumeau failover status` shows it.
	ErrSwitching = errors.New("replicator: switchover in progress: this primary takes no more writes")
)
