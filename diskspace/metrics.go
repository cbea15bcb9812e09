package diskspace

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg                  prometheus.Registerer
	cols                 []prometheus.Collector
	free, total, ballast prometheus.Gauge
	threshold, alarm     *prometheus.GaugeVec
	refused, statErrors  prometheus.Counter
}

// alarmLevels are the label values of jumeau_disk_alarm and
// jumeau_disk_threshold_bytes.
var alarmLevels = []Level{LevelWarn, LevelRefuse}

func newMetrics() *metrics {
	m := &metrics{
		free: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jumeau_disk_free_bytes",
			Help: "Free space (available to the process) on the data directory's filesystem at the last reading.",
		}),
		total: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jumeau_disk_total_bytes",
			Help: "Size of the data directory's filesystem.",
		}),
		ballast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jumeau_disk_ballast_bytes",
			Help: "Size of the ballast file in the data directory (0: none; deleting it frees this much).",
		}),
		threshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jumeau_disk_threshold_bytes",
			Help: "Free-space thresholds on this volume, by level (warn: alarm; refuse: new writes refused below it).",
		}, []string{"level"}),
		alarm: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jumeau_disk_alarm",
			Help: "1 while free space is below the level's threshold (warn is also 1 at refuse).",
		}, []string{"level"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jumeau_disk_writes_refused_total",
			Help: "Writes refused because free space was below the refuse threshold.",
		}),
		statErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jumeau_disk_stat_errors_total",
			Help: "Failed readings of the data directory's free space (the last good reading is kept).",
		}),
	}
	for _, l := range alarmLevels {
		m.alarm.WithLabelValues(l.String()).Set(0)
		m.threshold.WithLabelValues(l.String()).Set(0)
	}
	m.cols = []prometheus.Collector{m.free, m.total, m.ballast, m.threshold, m.alarm, m.refused, m.statErrors}
	return m
}

// register registers every collector, or none.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for i, c := range m.cols {
		if err := reg.Register(c); err != nil {
			for _, done := range m.cols[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("diskspace: register metric: %w", err)
		}
	}
	m.reg = reg
	return nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.cols {
		m.reg.Unregister(c)
	}
	m.reg = nil
}

func (m *metrics) update(r *reading) {
	m.free.Set(float64(r.usage.Free))
	m.total.Set(float64(r.usage.Total))
	m.ballast.Set(float64(r.ballast))
	m.threshold.WithLabelValues(LevelWarn.String()).Set(float64(r.warn))
	m.threshold.WithLabelValues(LevelRefuse.String()).Set(float64(r.refuse))
	for _, l := range alarmLevels {
		v := 0.0
		if r.level >= l {
			v = 1
		}
		m.alarm.WithLabelValues(l.String()).Set(v)
	}
}
