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
	// ErrNotImplemented: the feature is not available in this version or topology.
	ErrNotImplemented = errors.New("api: not implemented")
	// ErrServer: any other server-side failure.
	ErrServer = errors.New("api: server error")
)
