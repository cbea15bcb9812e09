package history

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"

	"github.com/monaco-sovereign/jumeau/api"
)

// Classify names the kind of a failed write for Write.Err, so that
// summaries group them: an api sentinel, a lost or refused connection,
// else the message (key, if given, replaced by KEY), cut at 120 bytes.
func Classify(err error, key string) string {
	for _, s := range []error{api.ErrReadOnly, api.ErrLeaseExpired, api.ErrFenced, api.ErrUnavailable, api.ErrTimeout,
		api.ErrTwinUnconfirmed, api.ErrRPOExceeded, api.ErrNoTwin, api.ErrSwitching, api.ErrServer, context.DeadlineExceeded} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (node down)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection lost"
	}
	msg := err.Error()
	if key != "" {
		msg = strings.ReplaceAll(msg, key, "KEY")
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return "other: " + msg
}
