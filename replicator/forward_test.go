package replicator

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/failover"
)

// TestErrOf checks that a forwarded error keeps its sentinel for
// errors.Is and says the leader's reason once.
func TestErrOf(t *testing.T) {
	for _, base := range []error{ErrNotLeader, ErrNoLeader, ErrNotFound, ErrBadRequest, ErrTimeout, ErrTwinUnconfirmed, ErrRPOExceeded, ErrNoTwin, failover.ErrLeaseExpired, failover.ErrFenced, diskspace.ErrNoSpace} {
		sent := fmt.Errorf("WAL index 7: %w", base)
		got := errOf("site-b", &fwdResponse{Code: codeOf(sent), Msg: sent.Error()})
		if !errors.Is(got, base) {
			t.Fatalf("%v: got %v, want it to match", base, got)
		}
		if n := strings.Count(got.Error(), base.Error()); n != 1 {
			t.Fatalf("%v: message %q repeats the reason %d times", base, got, n)
		}
		if !strings.HasPrefix(got.Error(), "leader site-b: ") {
			t.Fatalf("message %q does not name the leader", got)
		}
	}
}
