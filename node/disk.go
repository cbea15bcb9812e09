package node

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/internal/ratelog"
)

// DiskConfig is the free-space guard on node.data_dir's filesystem (see
// the diskspace package): below the warn threshold an alarm (status, log,
// metrics), below the refuse threshold new client writes are refused
// until there is room again. Each threshold is the smaller of its bytes
// and its percentage of the volume's size; 0 leaves that part unset, both
// 0 turn the level off.
type DiskConfig struct {
	WarnFreeBytes     diskspace.Bytes `mapstructure:"warn_free_bytes"`
	WarnFreePercent   float64         `mapstructure:"warn_free_percent"`
	RefuseFreeBytes   diskspace.Bytes `mapstructure:"refuse_free_bytes"`
	RefuseFreePercent float64         `mapstructure:"refuse_free_percent"`
	// CheckEvery is how often the free space is read.
	CheckEvery time.Duration `mapstructure:"check_every"`
	// BallastBytes is the size of the emergency ballast file created in
	// node.data_dir (0: none, and an existing one is removed).
	BallastBytes diskspace.Bytes `mapstructure:"ballast_bytes"`
}

func defaultDiskConfig() DiskConfig {
	d := diskspace.DefaultConfig()
	return DiskConfig{
		WarnFreeBytes: d.Warn.Bytes, WarnFreePercent: d.Warn.Percent,
		RefuseFreeBytes: d.Refuse.Bytes, RefuseFreePercent: d.Refuse.Percent,
		CheckEvery: d.CheckEvery, BallastBytes: d.BallastBytes,
	}
}

// diskConfig is the guard's configuration (disk.*).
func (c Config) diskConfig() diskspace.Config {
	d := diskspace.DefaultConfig()
	d.Node, d.Path = c.Node.Name, c.Node.DataDir
	d.Warn = diskspace.Threshold{Bytes: c.Disk.WarnFreeBytes, Percent: c.Disk.WarnFreePercent}
	d.Refuse = diskspace.Threshold{Bytes: c.Disk.RefuseFreeBytes, Percent: c.Disk.RefuseFreePercent}
	d.CheckEvery = c.Disk.CheckEvery
	d.BallastBytes = c.Disk.BallastBytes
	return d
}

func (c Config) validateDisk() error {
	if err := c.diskConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// startDisk starts the free-space guard on the data directory (it exists
// by now): its ballast is made before Pebble takes the room.
func (n *Node) startDisk() error {
	g, err := diskspace.New(n.cfg.diskConfig(), diskspace.Deps{Logger: n.logger, Registerer: n.reg})
	if err != nil {
		return fmt.Errorf("node: disk guard: %w", err)
	}
	n.disk = g
	g.Start()
	st := g.Status()
	n.logger.Info("disk guard started", "path", st.Path, "free_bytes", st.FreeBytes, "total_bytes", st.TotalBytes,
		"warn_free_bytes", st.WarnFreeBytes, "refuse_free_bytes", st.RefuseFreeBytes, "ballast_bytes", st.BallastBytes)
	return nil
}

// admit is the cell's Admit hook: the disk guard's verdict.
func (n *Node) admit() error { return n.disk.Admit() }

// pebbleErrorLogEvery is the least time between two log lines of Pebble
// errors: on a full disk, compactions fail over and over (1,239 errors in
// 20 s were seen), and each line would say the same.
const pebbleErrorLogEvery = 10 * time.Second

// pebbleLog routes Pebble's messages to slog, with its errors (background
// errors: failed compactions and flushes; and the others it logs)
// rate-limited and counted. Fatalf keeps Pebble's own contract (it must
// not return: Pebble calls it on unrecoverable corruption or a failed
// commit), so it logs and then defers to Pebble's default logger.
type pebbleLog struct {
	l      *slog.Logger
	lim    *ratelog.Limiter
	errors prometheus.Counter
	now    func() time.Time
}

// newPebbleLog returns Pebble's logger; reg, if not nil, receives
// jumeau_pebble_errors_total.
func newPebbleLog(l *slog.Logger, reg prometheus.Registerer) *pebbleLog {
	p := &pebbleLog{l: l, lim: ratelog.New(pebbleErrorLogEvery), now: time.Now, errors: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jumeau_pebble_errors_total",
		Help: "Errors Pebble reported (failed background compactions and flushes among them); the log shows at most one per 10 s.",
	})}
	if reg != nil {
		_ = reg.Register(p.errors) // a registry of this node alone: no clash
	}
	return p
}

// events is Pebble's event listener: background errors go through the
// rate-limited error log.
func (p *pebbleLog) events() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) { p.Errorf("background error: %s", err) },
	}
}

func (p *pebbleLog) Infof(format string, args ...interface{}) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p *pebbleLog) Errorf(format string, args ...interface{}) {
	p.errors.Inc()
	if ok, held := p.lim.Allow("", p.now()); ok {
		// held_back: errors not logged since the previous line.
		p.l.Error(fmt.Sprintf(format, args...), "held_back", held)
	}
}

func (p *pebbleLog) Fatalf(format string, args ...interface{}) {
	p.l.Error("fatal: " + fmt.Sprintf(format, args...))
	pebble.DefaultLogger.Fatalf(format, args...)
}
