package faultlink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// MaxDelay is the largest Delay and the largest Jitter a link accepts.
const MaxDelay = time.Minute

// Params are the faults of a link. They apply to each direction on its own:
// a link with Delay 10ms adds 20ms to a round trip, and Bandwidth caps each
// direction separately. The zero Params is a clean pass-through.
type Params struct {
	// Delay is the one-way latency added to every datagram.
	Delay time.Duration
	// Jitter spreads the delay uniformly over [Delay-Jitter, Delay+Jitter],
	// clamped at 0. Datagrams are delivered in order of their delivery times,
	// so jitter larger than the gap between two datagrams reorders them.
	Jitter time.Duration
	// Loss is the probability, 0 to 1, that a datagram is dropped.
	Loss float64
	// Bandwidth is the capacity in bytes per second; 0 is unlimited.
	// Datagrams queue behind each other at this rate, and are dropped (tail
	// drop) when the queue holds more than one second or MaxQueueBytes.
	Bandwidth int64
	// Blackhole drops every datagram, including those already queued.
	Blackhole bool
}

// Validate reports whether p is usable, naming the field and the fix.
func (p Params) Validate() error {
	switch {
	case p.Delay < 0 || p.Delay > MaxDelay:
		return fmt.Errorf("delay %v: %w (fix: use a duration from 0 to %v)", p.Delay, ErrInvalidParams, MaxDelay)
	case p.Jitter < 0 || p.Jitter > MaxDelay:
		return fmt.Errorf("jitter %v: %w (fix: use a duration from 0 to %v)", p.Jitter, ErrInvalidParams, MaxDelay)
	case math.IsNaN(p.Loss) || p.Loss < 0 || p.Loss > 1:
		return fmt.Errorf("loss %v: %w (fix: use a probability from 0 to 1)", p.Loss, ErrInvalidParams)
	case p.Bandwidth < 0:
		return fmt.Errorf("bandwidth %d: %w (fix: use bytes per second, or 0 for unlimited)", p.Bandwidth, ErrInvalidParams)
	}
	return nil
}

// String returns the faults in a compact form for logs.
func (p Params) String() string {
	return fmt.Sprintf("delay=%v jitter=%v loss=%g bandwidth=%d blackhole=%t", p.Delay, p.Jitter, p.Loss, p.Bandwidth, p.Blackhole)
}

// paramsJSON is the wire form of Params: durations as Go duration strings.
type paramsJSON struct {
	Delay     string  `json:"delay"`
	Jitter    string  `json:"jitter"`
	Loss      float64 `json:"loss"`
	Bandwidth int64   `json:"bandwidth"`
	Blackhole bool    `json:"blackhole"`
}

// MarshalJSON encodes p as {"delay":"12ms","jitter":"0s","loss":0,"bandwidth":0,"blackhole":false}.
func (p Params) MarshalJSON() ([]byte, error) {
	if math.IsNaN(p.Loss) || math.IsInf(p.Loss, 0) {
		return nil, fmt.Errorf("marshal params: loss %v: %w", p.Loss, ErrInvalidParams)
	}
	return json.Marshal(paramsJSON{
		Delay:     p.Delay.String(),
		Jitter:    p.Jitter.String(),
		Loss:      p.Loss,
		Bandwidth: p.Bandwidth,
		Blackhole: p.Blackhole,
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes. Missing fields are zero;
// unknown fields are an error. Durations are Go duration strings ("12ms",
// "1.5s"); an empty string is 0. It does not call Validate.
func (p *Params) UnmarshalJSON(b []byte) error {
	var j paramsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("unmarshal params: %v: %w (fix: send {\"delay\":\"12ms\",\"jitter\":\"2ms\",\"loss\":0.01,\"bandwidth\":1000000,\"blackhole\":false})", err, ErrInvalidParams)
	}
	delay, err := parseDuration("delay", j.Delay)
	if err != nil {
		return err
	}
	jitter, err := parseDuration("jitter", j.Jitter)
	if err != nil {
		return err
	}
	*p = Params{Delay: delay, Jitter: jitter, Loss: j.Loss, Bandwidth: j.Bandwidth, Blackhole: j.Blackhole}
	return nil
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("unmarshal params: %s %q: %w (fix: use a Go duration string like \"12ms\")", field, s, ErrInvalidParams)
	}
	return d, nil
}
