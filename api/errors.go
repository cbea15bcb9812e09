package api

import "errors"

// Errors returned by the client (mapped from the server's error codes) and
// by the server.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("api: not found")
	// ErrBadRequest: the request is invalid; the message says what to fix.
	ErrBadRequest = errors.New("api: bad request")
	// ErrUnauthenticated: the client certificate was refused.
	ErrUnauthenticated = errors.New("api: client certificate refused")
	// ErrForbidden: the certificate's role may not do this.
	ErrForbidden = errors.New("api: forbidden")
	// ErrUnavailable: the cell has no leader right now; retry.
	ErrUnavailable = errors.New("api: cell unavailable (no leader)")
	// ErrTimeout: the server timed out; a write may still commit.
	ErrTimeout = errors.New("api: timed out (a write may still be committed)")
	// ErrReadTimeout: a read did not complete in time; it changed
	// nothing, so retrying it is safe.
	ErrReadTimeout = errors.New("api: read timed out (a read changes nothing: retry it)")
	// ErrBusy: the node serves as many lists as it allows at once; retry
	// shortly (Client.ListEach does).
	ErrBusy = errors.New("api: node busy with other lists (retry shortly)")
	// ErrNotImplemented: the feature is not available in this version or topology.
	ErrNotImplemented = errors.New("api: not implemented")
	// ErrReadOnly: the node is a replica of the primary region (the twin,
	// or a site demoted by a region failover); writes go to the primary.
	ErrReadOnly = errors.New("api: node is a read-only replica (the twin, or a site demoted by a failover)")
	// ErrTwinUnconfirmed: a durability=twin write committed in the cell but
	// the twin did not confirm it in time; it may still reach the twin.
	ErrTwinUnconfirmed = errors.New("api: twin did not confirm the write (committed in the cell; it may still reach the twin)")
	// ErrRPOExceeded: the RPO guard (block) refuses writes while the twin
	// lags past sla.rpo.
	ErrRPOExceeded = errors.New("api: write refused: twin lag exceeds the RPO budget")
	// ErrNoTwin: durability=twin on a cell with no twin configured.
	ErrNoTwin = errors.New("api: durability=twin needs a twin (none configured)")
	// ErrLeaseExpired: the primary lost its lease (no majority of regions
	// reachable) and refuses writes until it renews.
	ErrLeaseExpired = errors.New("api: write refused: primary lease expired (self-fenced)")
	// ErrFenced: another region was promoted; this node takes no writes.
	ErrFenced = errors.New("api: write refused: fenced by a newer epoch")
	// ErrSwitching: the primary is handing over (planned switchover);
	// retry on the new primary.
	ErrSwitching = errors.New("api: write refused: switchover in progress")
	// ErrRefused: a failover request was refused; the message says why.
	ErrRefused = errors.New("api: failover request refused")
	// ErrServer: any other server-side failure.
	ErrServer = errors.New("api: server error")
	// ErrTooLarge: the request body is over MaxValueSize.
	ErrTooLarge = errors.New("api: value too large")
	// ErrNoSpace: the cell leader's disk is below its refuse threshold
	// (HTTP 507, code nospace); writes resume once space is freed.
	ErrNoSpace = errors.New("api: write refused: not enough disk space")
	// ErrMethodNotAllowed: the route exists but not with this method;
	// the message names the allowed ones.
	ErrMethodNotAllowed = errors.New("api: method not allowed")
	// ErrInvalidLimits: a connection limit or timeout is out of bounds
	// (Limits.Validate); the message names the key and its range.
	ErrInvalidLimits = errors.New("api: invalid limits")
)
