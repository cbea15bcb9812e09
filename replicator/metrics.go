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
			Help: "Writes handled by this site, by op and result (ok, not_leader, no_leader, timeout, bad_request, error).",
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
	result := "ok"
	switch {
	case err == nil:
		m.commitLatency.WithLabelValues(op.String()).Observe(time.Since(start).Seconds())
	case errors.Is(err, ErrNotLeader):
		result = "not_leader"
	case errors.Is(err, ErrNoLeader):
		result = "no_leader"
	case errors.Is(err, ErrTimeout):
		result = "timeout"
	case errors.Is(err, ErrBadRequest):
		result = "bad_request"
	default:
		result = "error"
	}
	m.writes.WithLabelValues(op.String(), result).Inc()
}
