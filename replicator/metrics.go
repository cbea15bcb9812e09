package replicator

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/wal"
)

type metrics struct {
	reg           prometheus.Registerer
	cols          []prometheus.Collector
	commitLatency *prometheus.HistogramVec
	writes        *prometheus.CounterVec
	leaderChanges prometheus.Counter
	forwarded     prometheus.Counter
	batchOps      prometheus.Histogram
}

func newMetrics(c *Cell, reg prometheus.Registerer) *metrics {
	m := &metrics{
		reg: reg,
		commitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jumeau_cell_commit_latency_seconds",
			Help:    "Time from a write's arrival at this site to its commit by a quorum of the cell (forwarding included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jumeau_cell_writes_total",
			Help: "Writes handled by this site, by op (put, delete, key) and result (ok, not_leader, no_leader, timeout, bad_request, twin_unconfirmed, rpo_exceeded, error).",
		}, []string{"op", "result"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jumeau_cell_leader_changes_total",
			Help: "Leader changes observed by this site (elections won by anyone, and leader loss).",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jumeau_cell_forwarded_total",
			Help: "Requests this site forwarded to the cell leader.",
		}),
		batchOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jumeau_cell_batch_writes",
			Help:    "Writes packed into one Raft entry by the leader's group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	for _, op := range writeOps() {
		m.commitLatency.WithLabelValues(op.String())
		for _, r := range writeResults() {
			m.writes.WithLabelValues(op.String(), string(r))
		}
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.cols = []prometheus.Collector{
		m.commitLatency, m.writes, m.leaderChanges, m.forwarded, m.batchOps,
		gauge("jumeau_cell_is_leader", "1 if this site is the cell leader.", func() float64 {
			if c.raft.State() == raft.Leader {
				return 1
			}
			return 0
		}),
		gauge("jumeau_fsm_halted", "1 if this site's state machine halted after a storage failure (restart the site).", func() float64 {
			if c.fsm.Failed() != nil {
				return 1
			}
			return 0
		}),
		gauge("jumeau_cell_term", "Current Raft term.", func() float64 { return float64(c.raft.CurrentTerm()) }),
		gauge("jumeau_cell_commit_index", "Raft commit index.", func() float64 { return float64(c.raft.CommitIndex()) }),
		gauge("jumeau_cell_applied_index", "Raft index applied to this site's state.", func() float64 { return float64(c.fsm.Applied()) }),
		gauge("jumeau_wal_last_index", "Last WAL record index on this site.", func() float64 {
			i, _ := c.deps.WAL.Last()
			return float64(i)
		}),
		gauge("jumeau_wal_first_index", "First WAL record index retained on this site.", func() float64 { return float64(c.deps.WAL.First()) }),
	}
	if reg != nil {
		for _, col := range m.cols {
			_ = reg.Register(col)
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, col := range m.cols {
		m.reg.Unregister(col)
	}
}

func (m *metrics) observeWrite(op wal.Op, start time.Time, err error) {
	result := writeOK
	switch {
	case err == nil:
		m.commitLatency.WithLabelValues(op.String()).Observe(time.Since(start).Seconds())
	case errors.Is(err, ErrNotLeader):
		result = writeNotLeader
	case errors.Is(err, ErrNoLeader):
		result = writeNoLeader
	case errors.Is(err, ErrTimeout):
		result = writeTimeout
	case errors.Is(err, ErrBadRequest):
		result = writeBadRequest
	case errors.Is(err, ErrTwinUnconfirmed):
		result = writeTwinUnconfirmed
	case errors.Is(err, ErrRPOExceeded):
		result = writeRPOExceeded
	default:
		result = writeError
	}
	m.writes.WithLabelValues(op.String(), string(result)).Inc()
}

// The label values of the replicator's metric vectors. Every series of
// every known value exists from the start (at 0), so that rates and
// alert rules see it before the first event.

// writeResult is the result label of jumeau_cell_writes_total.
type writeResult string

// Results of a write.
const (
	writeOK              writeResult = "ok"
	writeNotLeader       writeResult = "not_leader"
	writeNoLeader        writeResult = "no_leader"
	writeTimeout         writeResult = "timeout"
	writeBadRequest      writeResult = "bad_request"
	writeTwinUnconfirmed writeResult = "twin_unconfirmed"
	writeRPOExceeded     writeResult = "rpo_exceeded"
	writeError           writeResult = "error"
)

func writeResults() []writeResult {
	return []writeResult{writeOK, writeNotLeader, writeNoLeader, writeTimeout, writeBadRequest, writeTwinUnconfirmed, writeRPOExceeded, writeError}
}

// writeOps are the op label values of jumeau_cell_writes_total and
// jumeau_cell_commit_latency_seconds.
func writeOps() []wal.Op { return []wal.Op{wal.OpPut, wal.OpDelete, wal.OpKey} }

// sessionEnd is the reason label of jumeau_ship_session_errors_total.
type sessionEnd string

// Why a ship stream ended.
const (
	sessionError          sessionEnd = "error"
	sessionRefused        sessionEnd = "refused"
	sessionDiverged       sessionEnd = "diverged"
	sessionLeadershipLost sessionEnd = "leadership_lost"
)

func sessionEnds() []sessionEnd {
	return []sessionEnd{sessionError, sessionRefused, sessionDiverged, sessionLeadershipLost}
}

// guardAction is the action label of jumeau_rpo_guard_actions_total.
type guardAction string

// What the RPO guard did to a write.
const (
	guardAlerted   guardAction = "alerted"
	guardThrottled guardAction = "throttled"
	guardBlocked   guardAction = "blocked"
)

func guardActionValues() []guardAction {
	return []guardAction{guardAlerted, guardThrottled, guardBlocked}
}

// refusalReason is the reason label of jumeau_twin_refused_total.
type refusalReason string

// Why the twin refused shipped data.
const (
	refusedChain    refusalReason = "chain"
	refusedCorrupt  refusalReason = "corrupt"
	refusedGap      refusalReason = "gap"
	refusedEpoch    refusalReason = "epoch"
	refusedSender   refusalReason = "sender"
	refusedProtocol refusalReason = "protocol"
	refusedSnapshot refusalReason = "snapshot"
)

func refusalReasons() []refusalReason {
	return []refusalReason{refusedChain, refusedCorrupt, refusedGap, refusedEpoch, refusedSender, refusedProtocol, refusedSnapshot}
}

// collectors registers and unregisters a set of collectors.
type collectors struct {
	reg  prometheus.Registerer
	cols []prometheus.Collector
}

func (c *collectors) add(cols ...prometheus.Collector) {
	c.cols = append(c.cols, cols...)
	if c.reg != nil {
		for _, col := range cols {
			_ = c.reg.Register(col)
		}
	}
}

func (c *collectors) unregister() {
	if c.reg == nil {
		return
	}
	for _, col := range c.cols {
		c.reg.Unregister(col)
	}
}

func gaugeFunc(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

// shipMetrics are the leader's view of region replication.
type shipMetrics struct {
	collectors
	shippedRecords, shippedBytes, wireBytes prometheus.Counter
	snapshots, twinUnconfirmed              prometheus.Counter
	sessionErrors, guardActions             *prometheus.CounterVec
	ackLatency, twinWait                    prometheus.Histogram
	ackedIndex, diverged                    prometheus.Gauge
}

func newShipMetrics(s *shipper, reg prometheus.Registerer) *shipMetrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &shipMetrics{
		collectors:      collectors{reg: reg},
		shippedRecords:  counter("jumeau_ship_records_total", "WAL records shipped to the twin by this site (as leader)."),
		shippedBytes:    counter("jumeau_ship_bytes_total", "WAL record bytes shipped to the twin by this site (before compression)."),
		wireBytes:       counter("jumeau_ship_wire_bytes_total", "Record bytes put on the wire to the twin (after compression)."),
		snapshots:       counter("jumeau_ship_snapshots_total", "State snapshots sent to a twin behind the WAL retention."),
		twinUnconfirmed: counter("jumeau_ship_twin_unconfirmed_total", "durability=twin writes the twin did not confirm in time."),
		sessionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jumeau_ship_session_errors_total",
			Help: "Ship streams that ended, by reason (error, refused, diverged, leadership_lost).",
		}, []string{"reason"}),
		guardActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jumeau_rpo_guard_actions_total",
			Help: "Writes the RPO guard acted on, by action (alerted, throttled, blocked).",
		}, []string{"action"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jumeau_ship_ack_latency_seconds",
			Help:    "Time from sending a batch to the twin to its durable ack (WAN RTT + twin fsync).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		twinWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jumeau_ship_twin_wait_seconds",
			Help:    "Extra wait of durability=twin writes after the cell committed them.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		ackedIndex: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jumeau_ship_acked_index", Help: "Last WAL index the twin acknowledged as durable."}),
		diverged:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "jumeau_ship_diverged", Help: "1 if the twin's WAL diverges from this leader's (shipping stopped)."}),
	}
	for _, r := range sessionEnds() {
		m.sessionErrors.WithLabelValues(string(r))
	}
	for _, a := range guardActionValues() {
		m.guardActions.WithLabelValues(string(a))
	}
	active := func(f func(lagInfo) float64) func() float64 {
		return func() float64 {
			s.mu.Lock()
			on := s.active
			s.mu.Unlock()
			if !on {
				return 0
			}
			return f(s.lag())
		}
	}
	m.add(m.shippedRecords, m.shippedBytes, m.wireBytes, m.snapshots, m.twinUnconfirmed, m.sessionErrors,
		m.guardActions, m.ackLatency, m.twinWait, m.ackedIndex, m.diverged,
		gaugeFunc("jumeau_twin_lag_records", "Committed WAL records the twin has not acknowledged (0 on followers).",
			active(func(l lagInfo) float64 { return float64(l.records) })),
		gaugeFunc("jumeau_twin_lag_bytes", "Bytes of committed WAL records the twin has not acknowledged (0 on followers).",
			active(func(l lagInfo) float64 { return float64(l.bytes) })),
		gaugeFunc("jumeau_twin_lag_seconds", "Age of the oldest committed record the twin has not acknowledged (0 on followers).",
			active(func(l lagInfo) float64 { return l.seconds })),
		gaugeFunc("jumeau_rpo_budget_used_ratio", "Twin lag in seconds over sla.rpo (1 = at the budget; 0 on followers).",
			active(func(l lagInfo) float64 { return l.seconds / s.cfg.RPO.Seconds() })),
		gaugeFunc("jumeau_ship_connected", "1 if this site (as leader) has a ship stream to the twin and heard it within max(3 x twin.heartbeat, 1 s).", func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			if up, _ := s.linkUp(time.Now()); up {
				return 1
			}
			return 0
		}),
	)
	return m
}

// twinMetrics are the twin receiver's.
type twinMetrics struct {
	collectors
	records, bytes, snapshots prometheus.Counter
	refused                   *prometheus.CounterVec
	commitLatency             prometheus.Histogram
}

func newTwinMetrics(t *Twin, reg prometheus.Registerer) *twinMetrics {
	m := &twinMetrics{
		collectors: collectors{reg: reg},
		records:    prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_twin_received_records_total", Help: "WAL records the twin verified and stored."}),
		bytes:      prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_twin_received_bytes_total", Help: "WAL record bytes the twin verified and stored."}),
		snapshots:  prometheus.NewCounter(prometheus.CounterOpts{Name: "jumeau_twin_snapshots_restored_total", Help: "State snapshots the twin restored (catch-up after a long cut or a wiped disk)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jumeau_twin_refused_total",
			Help: "Shipped batches or streams the twin refused, by reason (chain, corrupt, gap, epoch, sender, protocol, snapshot).",
		}, []string{"reason"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jumeau_twin_commit_latency_seconds",
			Help:    "Time to verify, store and fsync one group of received batches on the twin.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
	}
	for _, r := range refusalReasons() {
		m.refused.WithLabelValues(string(r))
	}
	m.add(m.records, m.bytes, m.snapshots, m.refused, m.commitLatency,
		gaugeFunc("jumeau_twin_alarm", "1 once the twin refused shipped data (see status; stays set until restart).", func() float64 {
			if t.Status().Alarm != "" {
				return 1
			}
			return 0
		}),
		gaugeFunc("jumeau_twin_wal_last_index", "Last WAL index durable on the twin.", func() float64 {
			i, _ := t.deps.WAL.Last()
			return float64(i)
		}),
		gaugeFunc("jumeau_twin_primary_lag_records", "Records the primary reported that the twin does not hold yet.", func() float64 {
			return float64(t.Status().LagRecords)
		}),
		gaugeFunc("jumeau_twin_connected", "1 while a primary site ships to the twin and a frame arrived within max(3 x its heartbeat, 1 s).", func() float64 {
			if t.Status().Connected {
				return 1
			}
			return 0
		}),
	)
	return m
}
