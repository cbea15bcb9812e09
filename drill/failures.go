package drill

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/report"
)

// FailureCause is the class of a failed write, as the report groups them
// (report.Load.Failures): the API's error code when the node answered,
// else what the client saw.
type FailureCause string

// Failure causes.
const (
	CauseNoLeader        FailureCause = "no_leader"          // the cell had no leader
	CauseReadOnly        FailureCause = "read_only"          // a twin, not promoted
	CauseLeaseExpired    FailureCause = "lease_expired"      // a primary that lost its lease
	CauseFenced          FailureCause = "fenced"             // a node fenced by a newer epoch
	CauseSwitching       FailureCause = "switching"          // a switchover in progress
	CauseTwinUnconfirmed FailureCause = "twin_unconfirmed"   // durability=twin: the twin did not confirm in time
	CauseRPOExceeded     FailureCause = "rpo_exceeded"       // the RPO guard refused it
	CauseNoTwin          FailureCause = "no_twin"            // durability=twin without a twin
	CauseServerTimeout   FailureCause = "server_timeout"     // the node timed out (it may still commit)
	CauseServerError     FailureCause = "server_error"       // any other error the node answered
	CauseRefusedCert     FailureCause = "unauthenticated"    // the client certificate was refused
	CauseForbidden       FailureCause = "forbidden"          // the certificate's role may not write
	CauseBadRequest      FailureCause = "bad_request"        // the node refused the request itself
	CauseClientTimeout   FailureCause = "client_timeout"     // no answer within the write's timeout
	CauseConnRefused     FailureCause = "connection_refused" // nothing listened: the node was down
	CauseConnLost        FailureCause = "connection_lost"    // the connection broke mid-request
	CauseOther           FailureCause = "other"              // anything else (the example says what)
)

// causeOf classifies a failed write's error.
func causeOf(err error) FailureCause {
	for _, c := range []struct {
		err   error
		cause FailureCause
	}{
		{api.ErrUnavailable, CauseNoLeader}, {api.ErrReadOnly, CauseReadOnly}, {api.ErrLeaseExpired, CauseLeaseExpired},
		{api.ErrFenced, CauseFenced}, {api.ErrSwitching, CauseSwitching}, {api.ErrTwinUnconfirmed, CauseTwinUnconfirmed},
		{api.ErrRPOExceeded, CauseRPOExceeded}, {api.ErrNoTwin, CauseNoTwin}, {api.ErrTimeout, CauseServerTimeout},
		{api.ErrUnauthenticated, CauseRefusedCert}, {api.ErrForbidden, CauseForbidden}, {api.ErrBadRequest, CauseBadRequest},
		{api.ErrServer, CauseServerError}, {context.DeadlineExceeded, CauseClientTimeout},
		{syscall.ECONNREFUSED, CauseConnRefused}, {syscall.ECONNRESET, CauseConnLost}, {syscall.EPIPE, CauseConnLost},
		{io.EOF, CauseConnLost}, {io.ErrUnexpectedEOF, CauseConnLost},
	} {
		if errors.Is(err, c.err) {
			return c.cause
		}
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return CauseClientTimeout
	}
	return CauseOther
}

// maxExampleLen bounds the example error message kept per cause.
const maxExampleLen = 200

// failureTally counts failed writes by cause, keeping the first error of
// each as its example. The zero value is ready.
type failureTally struct {
	mu      sync.Mutex
	counts  map[FailureCause]int64
	example map[FailureCause]string
}

// add counts one failed write.
func (f *failureTally) add(err error) {
	c := causeOf(err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts, f.example = map[FailureCause]int64{}, map[FailureCause]string{}
	}
	f.counts[c]++
	if _, ok := f.example[c]; !ok {
		msg := strings.ToValidUTF8(err.Error(), "?")
		if len(msg) > maxExampleLen {
			cut := maxExampleLen
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = msg[:cut] + "…"
		}
		f.example[c] = msg
	}
}

// report returns the causes for report.Load.Failures: most frequent
// first, then by name.
func (f *failureTally) report() []report.FailureCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []report.FailureCount
	for c, n := range f.counts {
		out = append(out, report.FailureCount{Cause: string(c), Count: n, Example: f.example[c]})
	}
	slices.SortFunc(out, func(a, b report.FailureCount) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return cmp.Compare(a.Cause, b.Cause)
	})
	return out
}
