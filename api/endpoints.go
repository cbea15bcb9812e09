package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/monaco-sovereign/jumeau/pki"
)

// Errors of a client with several endpoints.
var (
	// ErrBadEndpoint: an endpoint is not host:port or https://host:port,
	// or none was given.
	ErrBadEndpoint = errors.New("api: bad endpoint")
	// ErrOutcomeUnknown: a write was sent to a node but no answer came
	// (the client's timeout, or the connection lost after sending): it
	// may or may not be committed. The client does not send it to
	// another node; read the key back before writing it again.
	ErrOutcomeUnknown = errors.New("api: the write was sent but no answer came (timeout or connection lost): its outcome is unknown, it may be committed: read the key back before retrying")
)

// NewMultiClient returns a client for several nodes of one deployment
// (sites and twin), authenticated with mat. Each request goes first to the
// node that answered the previous one (at first, endpoints[0]); it moves
// on to the next node, in order, when that is safe:
//
//   - the node cannot be reached, or closed the connection before the
//     request was sent (any request);
//   - the connection failed after the request was sent, for a read (GET);
//   - the node refused the request without applying it: no leader in its
//     cell, read-only (the twin, or a site demoted by a region failover),
//     fenced by a newer epoch, its lease expired, or a switchover in
//     progress. This is how the client follows the primary across a
//     failover without being told.
//
// A write sent to a node that gives no answer (timeout, or the connection
// lost after the request was written) is not retried on another node: its
// outcome is unknown (ErrOutcomeUnknown). When every
// node failed, the error names each endpoint tried and what it answered,
// and wraps each of their errors (errors.Is finds any of them).
func NewMultiClient(endpoints []string, mat *pki.Material, opts ClientOptions) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoint given: pass at least one host:port", ErrBadEndpoint)
	}
	c := &Client{mat: mat}
	for _, s := range endpoints {
		e, err := newEndpoint(s, mat, opts)
		if err != nil {
			return nil, err
		}
		c.eps = append(c.eps, e)
	}
	return c, nil
}

// Endpoints returns the client's endpoints as they were given, in order.
func (c *Client) Endpoints() []string {
	out := make([]string, len(c.eps))
	for i, e := range c.eps {
		out[i] = e.name
	}
	return out
}

// Current returns the endpoint the next request goes to first: the one
// that answered last.
func (c *Client) Current() string { return c.eps[c.cur.Load()].name }

// attempt is one endpoint tried for a request, and its failure.
type attempt struct {
	endpoint string
	err      error
}

// endpointsError is the failure of a request every endpoint it was tried
// on refused or could not take.
type endpointsError struct {
	method, path string
	total        int
	tries        []attempt
}

func (e *endpointsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "api: %s %s: tried %d of %d endpoints, none took the request:", e.method, e.path, len(e.tries), e.total)
	for _, t := range e.tries {
		fmt.Fprintf(&b, " [%s: %v]", t.endpoint, t.err)
	}
	if len(e.tries) < e.total {
		b.WriteString(" (the others were not tried: retrying elsewhere was not safe, or time ran out)")
	}
	return b.String()
}

func (e *endpointsError) Unwrap() []error {
	out := make([]error, len(e.tries))
	for i, t := range e.tries {
		out[i] = t.err
	}
	return out
}

// do sends a request to the endpoint that answered last, then to the
// others in order while it is safe to (NewMultiClient).
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	n := int64(len(c.eps))
	start := c.cur.Load()
	var tries []attempt
	for i := range n {
		idx := (start + i) % n
		e := c.eps[idx]
		b, sent, answered, err := c.doOne(ctx, e, method, path, body)
		if err == nil {
			c.cur.Store(idx)
			return b, nil
		}
		if !answered && sent && isWrite(method) {
			err = fmt.Errorf("%w: %s %s on %s: %w", ErrOutcomeUnknown, method, path, e.name, err)
		}
		tries = append(tries, attempt{endpoint: e.name, err: err})
		if ctx.Err() != nil || !retryElsewhere(method, sent, answered, err) {
			break
		}
	}
	if len(tries) == 1 && n == 1 {
		return nil, tries[0].err
	}
	return nil, &endpointsError{method: method, path: path, total: len(c.eps), tries: tries}
}

// isWrite reports whether a request of this method changes state.
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// isTimeout reports whether err is a deadline passing (the client's
// timeout, or its context's).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// notApplied are the answers by which a node refuses a request without
// applying it, where another node may take it.
var notApplied = []error{ErrUnavailable, ErrReadOnly, ErrFenced, ErrLeaseExpired, ErrSwitching}

// retryElsewhere reports whether a request that failed with err may be
// sent to another node without risk of applying it twice.
func retryElsewhere(method string, sent, answered bool, err error) bool {
	if answered {
		for _, r := range notApplied {
			if errors.Is(err, r) {
				return true
			}
		}
		// A read that timed out on the node changed nothing.
		return errors.Is(err, ErrReadTimeout)
	}
	if errors.Is(err, ErrUnauthenticated) {
		// Our certificate is refused; every node of the deployment
		// would refuse it the same way.
		return false
	}
	return !sent || !isWrite(method)
}
