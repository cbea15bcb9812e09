package replicator

import (
	"fmt"
	"time"
)

// Durability is how far a write must be replicated before it is
// acknowledged.
type Durability uint8

const (
	// DurabilityCell acknowledges a write once a quorum of the primary
	// cell has it (the default; RPO 0 for the loss of one site).
	DurabilityCell Durability = iota
	// DurabilityTwin also waits until the twin has the write durably
	// (RPO 0 even for the loss of the whole primary region; costs one
	// WAN round trip).
	DurabilityTwin
)

// ParseDurability parses "cell" (or "") and "twin".
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "", "cell":
		return DurabilityCell, nil
	case "twin":
		return DurabilityTwin, nil
	}
	return 0, fmt.Errorf("%w: durability %q: use cell or twin", ErrBadRequest, s)
}

func (d Durability) String() string {
	switch d {
	case DurabilityCell:
		return "cell"
	case DurabilityTwin:
		return "twin"
	}
	return fmt.Sprintf("durability(%d)", uint8(d))
}

// RPOGuard is what the leader does as the twin's lag nears sla.rpo.
type RPOGuard string

// RPO guard policies.
const (
	// GuardAlert only reports (status, metrics, a warning in the log).
	GuardAlert RPOGuard = "alert"
	// GuardThrottle delays new writes more and more as the lag passes
	// half the budget, up to MaxThrottle per write.
	GuardThrottle RPOGuard = "throttle"
	// GuardBlock refuses new writes (ErrRPOExceeded) while the lag is
	// past the budget.
	GuardBlock RPOGuard = "block"
)

// ParseRPOGuard parses alert, throttle or block.
func ParseRPOGuard(s string) (RPOGuard, error) {
	switch g := RPOGuard(s); g {
	case GuardAlert, GuardThrottle, GuardBlock:
		return g, nil
	}
	return "", fmt.Errorf("rpo guard %q: use alert, throttle or block", s)
}

// MaxThrottle is the longest delay the throttle guard adds to one write.
const MaxThrottle = 200 * time.Millisecond
