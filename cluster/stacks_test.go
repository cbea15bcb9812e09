package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestStackSummary(t *testing.T) {
	block := make(chan struct{})
	started := make(chan struct{}, 3)
	for range 3 {
		go func() {
			started <- struct{}{}
			<-block
		}()
	}
	for range 3 {
		<-started
	}
	defer close(block)

	// A goroutine that has sent on started may not be parked on block
	// yet ("runnable"): poll until all three are, or the deadline.
	want := "   3 [chan receive"
	var got, line string
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = StackSummary(50)
		line = ""
		for l := range strings.Lines(got) {
			if strings.Contains(l, "TestStackSummary.func1 at stacks_test.go:") {
				line = l
			}
		}
		if strings.HasPrefix(line, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !strings.HasPrefix(line, want) {
		t.Errorf("StackSummary: the 3 blocked goroutines: got line %q, want it to start with %q; summary:\n%s", line, want, got)
	}
	if strings.Contains(got, " cluster.StackSummary at") {
		t.Errorf("StackSummary lists itself:\n%s", got)
	}
	if got := StackSummary(0); !strings.HasPrefix(got, "... and ") {
		t.Errorf("StackSummary(0) = %q, want only the count of places left out", got)
	}
}
