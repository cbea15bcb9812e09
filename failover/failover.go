package failover

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by this package. Callers match them with errors.Is.
var (
	// ErrLeaseExpired means this primary could not renew its lease with a
	// majority of the regions in time: it fences itself and refuses
	// writes until it renews.
	ErrLeaseExpired = errors.New("failover: primary lease expired (no majority of regions reachable): writes refused until it renews")
	// ErrFenced means a newer epoch exists: another region was promoted
	// and this node must not take writes.
	ErrFenced = errors.New("failover: fenced by a newer epoch (another region is primary)")
	// ErrRefused means a lease or promotion request was refused; the
	// reply says why.
	ErrRefused = errors.New("failover: request refused")
	// ErrCorruptState means the epoch file does not decode.
	ErrCorruptState = errors.New("failover: corrupt epoch file")
)

// Clock reads time. Leases are measured on the local monotonic clock of
// each node (time.Now carries one); tests inject skewed or stepping
// clocks.
type Clock interface {
	Now() time.Time
}

// SystemClock is the process clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Config tunes leases and promotion. The same values must be used by
// every region (the lease duration travels in each request; the margins
// are local).
type Config struct {
	// LeaseDuration is how long one renewal lets the primary take writes.
	LeaseDuration time.Duration
	// RenewEvery is how often the primary renews (well below the duration).
	RenewEvery time.Duration
	// DetectAfter is how long the twin and the witness must both have
	// heard nothing from the primary before an automatic promotion.
	DetectAfter time.Duration
	// ClockSkewMargin is added to every lease expiry a grantor waits for:
	// it covers clock rate differences and scheduling delays.
	ClockSkewMargin time.Duration
	// MaxLossRecords and MaxLossAge bound the loss an automatic promotion
	// may accept (the twin's last known lag); past either, the twin raises
	// an alarm and waits for an operator (`jumeau failover promote`).
	MaxLossRecords uint64
	MaxLossAge     time.Duration
	// RequestTimeout bounds one lease or promotion request.
	RequestTimeout time.Duration
}

// DefaultConfig returns the defaults: a primary that loses the other two
// regions stops writing after 2 s; the twin promotes itself about 5 s
// after losing every Monaco site.
func DefaultConfig() Config {
	return Config{
		LeaseDuration:   2 * time.Second,
		RenewEvery:      500 * time.Millisecond,
		DetectAfter:     3 * time.Second,
		ClockSkewMargin: 500 * time.Millisecond,
		MaxLossRecords:  100000,
		MaxLossAge:      30 * time.Second,
		RequestTimeout:  time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.LeaseDuration < 100*time.Millisecond:
		return errors.New("failover config: failover.lease must be >= 100ms")
	case c.RenewEvery <= 0 || c.RenewEvery*2 > c.LeaseDuration:
		return fmt.Errorf("failover config: failover.renew_every %s must be > 0 and at most half of failover.lease %s", c.RenewEvery, c.LeaseDuration)
	case c.DetectAfter < c.LeaseDuration:
		return fmt.Errorf("failover config: failover.detect_after %s must be >= failover.lease %s", c.DetectAfter, c.LeaseDuration)
	case c.ClockSkewMargin < 0:
		return errors.New("failover config: failover.clock_skew_margin must be >= 0")
	case c.RequestTimeout <= 0 || c.RequestTimeout > c.LeaseDuration:
		return errors.New("failover config: request timeout must be > 0 and <= failover.lease")
	case c.MaxLossAge < 0:
		return errors.New("failover config: failover.max_loss_for_auto_promote age must be >= 0")
	}
	return nil
}
