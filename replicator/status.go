package replicator

import "time"

// ShipStatus is the leader's view of shipping to the twin (Status.Ship).
// Lag is measured from the twin's last acknowledged (durable) record:
// LagSeconds is the age of the oldest committed record the twin has not
// acknowledged (0 when it has them all).
type ShipStatus struct {
	Twin string `json:"twin"`
	// Active is true on the cell leader, which is the one that ships.
	Active bool `json:"active"`
	// Connected is true while a ship session is up and the twin was heard
	// (an ack, or the answer to a heartbeat) within max(3 x
	// twin.heartbeat, 1 s): a blackholed link stops being connected
	// within that bound, long before QUIC gives the session up.
	Connected bool `json:"connected"`
	// LastHeardMs is how long ago the twin was last heard, in ms (-1 if
	// never since this process started).
	LastHeardMs int64 `json:"last_heard_ms"`
	// AckKnown is false until the twin told this leader its position;
	// until then lag is counted from the first record this site holds
	// (an upper bound).
	AckKnown   bool    `json:"ack_known"`
	AckedIndex uint64  `json:"acked_index"`
	SentIndex  uint64  `json:"sent_index"`
	LastIndex  uint64  `json:"last_index"`
	LagRecords uint64  `json:"lag_records"`
	LagBytes   uint64  `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	RPOSeconds float64 `json:"rpo_seconds"`
	RPOGuard   string  `json:"rpo_guard"`
	// RPOBudgetUsed is LagSeconds / RPOSeconds (1 means at the budget).
	RPOBudgetUsed float64 `json:"rpo_budget_used"`
	// AckedBytes counts record bytes the twin acknowledged since this site
	// became leader.
	AckedBytes    uint64 `json:"acked_bytes"`
	SnapshotsSent uint64 `json:"snapshots_sent"`
	LastError     string `json:"last_error,omitempty"`
	// Diverged is set when the twin's WAL disagrees with this leader's; shipping
	// is stopped until an operator reconciles.
	Diverged string `json:"diverged,omitempty"`
}

// TwinStatus is the twin's view of what it receives.
type TwinStatus struct {
	Name          string `json:"name"`
	PrimaryRegion string `json:"primary_region"`
	Epoch         uint64 `json:"epoch"`
	// Connected is true while a ship stream is up and a frame from the
	// primary arrived within max(3 x the sender's heartbeat, 1 s) (the
	// sender states its heartbeat when it opens the stream; 30 s when an
	// older sender does not).
	Connected bool `json:"connected"`
	// LastHeardMs is how long ago the primary's last frame arrived, in ms
	// (-1 if never since this process started).
	LastHeardMs int64 `json:"last_heard_ms"`
	// Sender is the cell site that ships to this twin now (or last did).
	Sender   string `json:"sender,omitempty"`
	WALFirst uint64 `json:"wal_first_index"`
	WALLast  uint64 `json:"wal_last_index"`
	WALHash  string `json:"wal_last_hash"`
	// PrimaryLastIndex and PrimaryTime come from the shipper's frames
	// (the leader's last WAL index and clock when it sent them).
	PrimaryLastIndex uint64    `json:"primary_last_index"`
	PrimaryTime      time.Time `json:"primary_time,omitzero"`
	LagRecords       uint64    `json:"lag_records"`
	LastReceived     time.Time `json:"last_received,omitzero"`
	// ReceivedBytes counts record bytes stored since the process started.
	ReceivedBytes     uint64 `json:"received_bytes"`
	SnapshotsRestored uint64 `json:"snapshots_restored"`
	// Refused counts batches refused (forged, replayed, wrong epoch or
	// sender); Alarm describes the last one and stays set.
	Refused   uint64    `json:"refused"`
	Alarm     string    `json:"alarm,omitempty"`
	AlarmTime time.Time `json:"alarm_time,omitzero"`
	FSMError  string    `json:"error,omitempty"`
}
