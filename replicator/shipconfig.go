package replicator

import (
	"errors"
	"fmt"
	"time"
)

// ShipConfig tunes the leader's WAL shipper and the RPO guard. A zero
// Twin disables shipping (a cell with no twin).
type ShipConfig struct {
	// Twin is the twin's node name (resolved by the endpoint).
	Twin string
	// Replicas are further ship targets: a promoted twin ships to every
	// site of the region it replaced (reverse replication). Each has its
	// own stream; durability=twin waits for any one of them, and lag is
	// that of the best one.
	Replicas []string
	// StartDown presumes the targets unreachable when this site starts
	// leading (a promoted twin: the region it replaced was just lost), so
	// durability=twin writes fail at once until one connects, instead of
	// each waiting out WriteTimeout first.
	StartDown bool
	// BatchBytes is the most record bytes packed into one frame.
	BatchBytes int
	// WindowBytes is how many shipped bytes may await the twin's ack: at
	// least bandwidth x RTT of the WAN (1 Gbit/s x 12 ms = 1.5 MB).
	WindowBytes int
	// Compression is "none" or "zstd" (per frame).
	Compression string
	// Heartbeat is how often an idle shipper tells the twin the leader's
	// commit index and clock.
	Heartbeat time.Duration
	// WriteTimeout bounds the wait for the twin's ack of a
	// durability=twin write when the caller's context has no deadline.
	WriteTimeout time.Duration
	// RPO is the SLA's recovery point objective: the most committed
	// history (by age) the twin may lack.
	RPO time.Duration
	// RPOGuard is what the leader does as the lag nears RPO.
	RPOGuard RPOGuard
	// RetainRecords is how many of the newest WAL records every site keeps
	// (0 keeps everything). A twin cut off for longer is rebuilt from a
	// state snapshot.
	RetainRecords uint64
	// RetainEvery is how often retention runs.
	RetainEvery time.Duration
}

// DefaultShipConfig returns defaults sized for the Monaco-Luxembourg link.
func DefaultShipConfig() ShipConfig {
	return ShipConfig{
		BatchBytes:    256 << 10,
		WindowBytes:   8 << 20,
		Compression:   "none",
		Heartbeat:     100 * time.Millisecond,
		WriteTimeout:  5 * time.Second,
		RPO:           5 * time.Second,
		RPOGuard:      GuardAlert,
		RetainRecords: 1 << 20,
		RetainEvery:   5 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c ShipConfig) Validate() error {
	switch {
	case c.BatchBytes < 4<<10 || c.BatchBytes > 4<<20:
		return errors.New("ship config: twin.batch_bytes must be within 4KiB..4MiB")
	case c.WindowBytes < c.BatchBytes || c.WindowBytes > 1<<30:
		return errors.New("ship config: twin.window_bytes must be >= twin.batch_bytes and <= 1GiB")
	case c.Compression != "none" && c.Compression != "zstd":
		return fmt.Errorf("ship config: twin.compression %q: use none or zstd", c.Compression)
	case c.Heartbeat < time.Millisecond || c.Heartbeat > 10*time.Second:
		return errors.New("ship config: twin.heartbeat must be within 1ms..10s")
	case c.WriteTimeout <= 0:
		return errors.New("ship config: twin.write_timeout must be > 0")
	case c.RPO <= 0:
		return errors.New("ship config: sla.rpo must be > 0 (example: 5s)")
	case c.RetainRecords != 0 && c.RetainRecords < 1024:
		return errors.New("ship config: wal.retain_records must be 0 (keep all) or >= 1024")
	case c.RetainRecords != 0 && c.RetainEvery <= 0:
		return errors.New("ship config: retention interval must be > 0")
	}
	if _, err := ParseRPOGuard(string(c.RPOGuard)); err != nil {
		return fmt.Errorf("ship config: sla.rpo_guard: %w", err)
	}
	return nil
}

// TwinConfig configures the Luxembourg twin's receiver.
type TwinConfig struct {
	// Name is the twin's node name.
	Name string
	// PrimaryRegion is the region whose sites may ship to this twin.
	PrimaryRegion string
	// Sites are the names of the nodes allowed to ship here: the primary
	// cell's sites, or for a demoted site the promoted twin.
	Sites []string
	// Epoch is the lowest region epoch accepted for records (they are
	// otherwise only checked to never go back).
	Epoch uint64
	// SenderEpoch is the lowest epoch a sender may be in: the region
	// epoch this node knows, so a fenced former primary cannot ship
	// (records of older epochs still replay: they are history).
	SenderEpoch uint64
	// MaxFrame bounds one received frame (compressed or not).
	MaxFrame int
}

// DefaultTwinConfig returns the twin's defaults.
func DefaultTwinConfig() TwinConfig {
	return TwinConfig{PrimaryRegion: "monaco", Epoch: 1, MaxFrame: 16 << 20}
}

// Validate reports the first invalid field.
func (c TwinConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("twin config: name is empty: set node.name")
	case c.PrimaryRegion == "":
		return errors.New("twin config: twin.primary_region is empty (the region whose sites ship to this twin, e.g. monaco)")
	case len(c.Sites) == 0:
		return errors.New("twin config: cell.sites is empty: list the primary cell's sites (the only senders this twin accepts)")
	case c.Epoch == 0:
		return errors.New("twin config: epoch must be >= 1")
	case c.MaxFrame < 64<<10:
		return errors.New("twin config: max frame must be >= 64KiB")
	}
	return nil
}
