package diskspace

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/internal/ratelog"
)

// BallastFile is the name of the ballast file in the data directory.
const BallastFile = "EMERGENCY_BALLAST"

// Level is how low the free space is.
type Level uint8

// The levels, from best to worst.
const (
	// LevelOK: free space is at or above the warn threshold.
	LevelOK Level = iota
	// LevelWarn: free space is below the warn threshold (an alarm; writes
	// go on).
	LevelWarn
	// LevelRefuse: free space is below the refuse threshold; new writes
	// are refused.
	LevelRefuse
)

// String returns ok, warn or refuse.
func (l Level) String() string {
	switch l {
	case LevelOK:
		return "ok"
	case LevelWarn:
		return "warn"
	case LevelRefuse:
		return "refuse"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// MarshalText writes the level as String does (status documents).
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads ok, warn or refuse.
func (l *Level) UnmarshalText(b []byte) error {
	for _, v := range []Level{LevelOK, LevelWarn, LevelRefuse} {
		if string(b) == v.String() {
			*l = v
			return nil
		}
	}
	return fmt.Errorf("%w: level %q: want ok, warn or refuse", ErrConfig, b)
}

// Threshold is a free-space limit: Bytes, or Percent of the filesystem's
// size, whichever is smaller. A zero field is unset; a Threshold with
// both zero is off.
type Threshold struct {
	Bytes   Bytes
	Percent float64
}

// Limit is the threshold in bytes on a filesystem of total bytes (0: off).
func (t Threshold) Limit(total uint64) uint64 {
	lim, set := uint64(t.Bytes), t.Bytes > 0
	if t.Percent > 0 {
		if p := uint64(float64(total) * t.Percent / 100); !set || p < lim {
			lim = p
		}
	}
	return lim
}

// String describes the threshold: "256 MiB or 1% of the volume, whichever
// is smaller".
func (t Threshold) String() string {
	pct := strconv.FormatFloat(t.Percent, 'f', -1, 64) + "% of the volume"
	switch {
	case t.Bytes > 0 && t.Percent > 0:
		return t.Bytes.String() + " or " + pct + ", whichever is smaller"
	case t.Bytes > 0:
		return t.Bytes.String()
	case t.Percent > 0:
		return pct
	}
	return "off"
}

// Usage is a filesystem's size and the space free for this process, in
// bytes.
type Usage struct {
	Free  uint64
	Total uint64
}

// StatFunc reads the Usage of the filesystem holding path.
type StatFunc func(path string) (Usage, error)

// Config configures a Guard. Its fields are the node's disk.* keys; error
// messages name those keys.
type Config struct {
	// Node is this node's name, for messages.
	Node string
	// Path is the data directory: its filesystem is watched and the
	// ballast file lives in it.
	Path string
	// Warn is disk.warn_free_bytes and disk.warn_free_percent.
	Warn Threshold
	// Refuse is disk.refuse_free_bytes and disk.refuse_free_percent.
	Refuse Threshold
	// CheckEvery is how often the free space is read (disk.check_every).
	CheckEvery time.Duration
	// LogEvery is the least time between two log lines about the level,
	// and between two about failed readings.
	LogEvery time.Duration
	// RemindEvery is how often the log repeats a warn or refuse level.
	RemindEvery time.Duration
	// BallastBytes is the size of the ballast file (disk.ballast_bytes); 0:
	// no ballast, and an existing one is removed.
	BallastBytes Bytes
}

// DefaultConfig returns the defaults (the package doc explains the
// thresholds); Node and Path must still be set.
func DefaultConfig() Config {
	return Config{
		Warn:        Threshold{Bytes: GiB, Percent: 5},
		Refuse:      Threshold{Bytes: 256 * MiB, Percent: 1},
		CheckEvery:  time.Second,
		LogEvery:    10 * time.Second,
		RemindEvery: time.Minute,
	}
}

// Bounds of Config.CheckEvery.
const (
	MinCheckEvery = 10 * time.Millisecond
	MaxCheckEvery = time.Minute
)

// Validate reports the first invalid setting, naming its key and the fix.
func (c Config) Validate() error {
	if c.Path == "" {
		return fmt.Errorf("%w: no data directory to watch: set node.data_dir", ErrConfig)
	}
	for _, p := range []struct {
		key string
		v   float64
	}{{"disk.warn_free_percent", c.Warn.Percent}, {"disk.refuse_free_percent", c.Refuse.Percent}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v >= 100 {
			return fmt.Errorf("%w: %s %v: use a percentage of the volume's size from 0 to below 100 (0 leaves only the byte threshold)", ErrConfig, p.key, p.v)
		}
	}
	if c.Warn.Bytes > 0 && c.Refuse.Bytes > c.Warn.Bytes {
		return fmt.Errorf("%w: disk.refuse_free_bytes %s is above disk.warn_free_bytes %s: the warning must come before writes are refused; lower the first or raise the second",
			ErrConfig, c.Refuse.Bytes, c.Warn.Bytes)
	}
	if c.Warn.Percent > 0 && c.Refuse.Percent > c.Warn.Percent {
		return fmt.Errorf("%w: disk.refuse_free_percent %v is above disk.warn_free_percent %v: the warning must come before writes are refused; lower the first or raise the second",
			ErrConfig, c.Refuse.Percent, c.Warn.Percent)
	}
	if c.CheckEvery < MinCheckEvery || c.CheckEvery > MaxCheckEvery {
		return fmt.Errorf("%w: disk.check_every %s: use %s .. %s (example: 1s)", ErrConfig, c.CheckEvery, MinCheckEvery, MaxCheckEvery)
	}
	if c.LogEvery <= 0 || c.RemindEvery <= 0 {
		return fmt.Errorf("%w: LogEvery %s and RemindEvery %s must be > 0 (start from DefaultConfig)", ErrConfig, c.LogEvery, c.RemindEvery)
	}
	return nil
}

// Deps are what a Guard uses besides its configuration.
type Deps struct {
	// Stat reads the free space; nil: Statfs.
	Stat StatFunc
	// Logger receives the level changes and failed readings; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics (package doc); nil skips them.
	Registerer prometheus.Registerer
	// Now is the clock of the log rate limits; nil: time.Now.
	Now func() time.Time
}

// Status is the guard's view, for the node's status document.
type Status struct {
	Path  string `json:"path"`
	Level Level  `json:"level"`
	// Alarm says what is wrong and what to do (empty at level ok).
	Alarm      string `json:"alarm,omitempty"`
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
	// WarnFreeBytes and RefuseFreeBytes are the thresholds on this volume.
	WarnFreeBytes   uint64 `json:"warn_free_bytes"`
	RefuseFreeBytes uint64 `json:"refuse_free_bytes"`
	// Since is when the level was entered; CheckedAt the last reading.
	Since         time.Time `json:"since"`
	CheckedAt     time.Time `json:"checked_at"`
	WritesRefused uint64    `json:"writes_refused"`
	BallastBytes  uint64    `json:"ballast_bytes"`
	// StatError is the last failed reading's error, cleared by the next
	// good one (the values above are then from the last good reading).
	StatError string `json:"stat_error,omitempty"`
}

// reading is one good reading and what it means; it is replaced whole.
type reading struct {
	usage         Usage
	warn, refuse  uint64
	level         Level
	since, at     time.Time
	ballast       uint64
	statErr       string
	ballastExists bool
}

// Guard watches the free space of a data directory's filesystem. Its
// methods are safe for concurrent use.
type Guard struct {
	cfg     Config
	deps    Deps
	logger  *slog.Logger
	ballast string
	last    atomic.Pointer[reading]
	refused atomic.Uint64
	m       *metrics
	statLog *ratelog.Limiter

	mu       sync.Mutex // serialises Check; guards the fields below
	logged   Level
	loggedAt time.Time
	changes  int

	startOnce, closeOnce sync.Once
	stop, done           chan struct{}
}

// New reads the free space once (an error then fails New), creates,
// resizes or removes the ballast file (Config.BallastBytes; a failure is
// logged, not returned) and returns a guard at that reading. Start begins
// the periodic readings.
func New(cfg Config, deps Deps) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Stat == nil {
		deps.Stat = Statfs
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	g := &Guard{
		cfg: cfg, deps: deps, logger: deps.Logger.With("component", "diskspace", "path", cfg.Path),
		ballast: filepath.Join(cfg.Path, BallastFile), statLog: ratelog.New(cfg.LogEvery),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	u, err := g.stat()
	if err != nil {
		return nil, fmt.Errorf("%w (is node.data_dir %s readable by this process?)", err, cfg.Path)
	}
	if err := g.ensureBallast(u); err != nil {
		g.logger.Error("ballast file not in place; the node runs without its emergency room", "err", err)
	}
	g.m = newMetrics()
	if err := g.m.register(deps.Registerer); err != nil {
		return nil, err
	}
	if err := g.Check(); err != nil {
		g.m.unregister()
		return nil, fmt.Errorf("%w (is node.data_dir %s readable by this process?)", err, cfg.Path)
	}
	return g, nil
}

// Start begins reading the free space every Config.CheckEvery, until
// Close. Later calls do nothing.
func (g *Guard) Start() {
	g.startOnce.Do(func() {
		go g.run()
	})
}

func (g *Guard) run() {
	defer close(g.done)
	t := time.NewTicker(g.cfg.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			_ = g.Check() // counted, logged and kept in the status
		}
	}
}

// Close stops the periodic readings and removes the metrics. Later calls
// do nothing.
func (g *Guard) Close() {
	g.closeOnce.Do(func() {
		close(g.stop)
		started := true
		g.startOnce.Do(func() { started = false })
		if started {
			<-g.done
		}
		g.m.unregister()
	})
}

func (g *Guard) stat() (Usage, error) {
	u, err := g.deps.Stat(g.cfg.Path)
	if err != nil && !errors.Is(err, ErrStat) {
		err = fmt.Errorf("%w: %s: %w", ErrStat, g.cfg.Path, err)
	}
	return u, err
}

// Check reads the free space now and updates the level, the metrics and
// the log. A failed reading keeps the last good one (and its level) and
// returns the error, which wraps ErrStat.
func (g *Guard) Check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.deps.Now()
	prev := g.last.Load()
	u, err := g.stat()
	if err != nil {
		g.m.statErrors.Inc()
		if prev != nil {
			r := *prev
			r.statErr = err.Error()
			g.last.Store(&r)
		}
		if ok, held := g.statLog.Allow("", now); ok {
			g.logger.Warn("cannot read the free disk space; keeping the last reading", "err", err, "held_back", held)
		}
		return err
	}
	r := &reading{usage: u, warn: g.cfg.Warn.Limit(u.Total), refuse: g.cfg.Refuse.Limit(u.Total), at: now, since: now}
	r.level = levelOf(u.Free, r.warn, r.refuse)
	if fi, err := os.Stat(g.ballast); err == nil {
		r.ballast, r.ballastExists = uint64(fi.Size()), true
	}
	if prev != nil {
		if prev.level == r.level {
			r.since = prev.since
		} else {
			g.changes++
		}
	}
	g.last.Store(r)
	g.m.update(r)
	g.logLevel(r, now)
	return nil
}

func levelOf(free, warn, refuse uint64) Level {
	switch {
	case free < refuse:
		return LevelRefuse
	case free < warn:
		return LevelWarn
	}
	return LevelOK
}

// logLevel logs a level change, or a reminder of a warn or refuse level,
// at most once per LogEvery. Called with mu held.
func (g *Guard) logLevel(r *reading, now time.Time) {
	due := r.level != g.logged || (r.level != LevelOK && now.Sub(g.loggedAt) >= g.cfg.RemindEvery)
	if !due || (!g.loggedAt.IsZero() && now.Sub(g.loggedAt) < g.cfg.LogEvery) {
		return
	}
	attrs := []any{
		"level", r.level.String(), "free_bytes", r.usage.Free, "total_bytes", r.usage.Total,
		"warn_free_bytes", r.warn, "refuse_free_bytes", r.refuse, "level_changes", g.changes,
	}
	switch r.level {
	case LevelRefuse:
		g.logger.Error(g.alarm(r), attrs...)
	case LevelWarn:
		g.logger.Warn(g.alarm(r), attrs...)
	default:
		g.logger.Info("free disk space is back above the thresholds", attrs...)
	}
	g.logged, g.loggedAt, g.changes = r.level, now, 0
}

// alarm says what is wrong at r's level and what to do ("" at ok).
func (g *Guard) alarm(r *reading) string {
	var s string
	switch r.level {
	case LevelRefuse:
		s = fmt.Sprintf("node %s: only %s free on %s (below disk.refuse_free %s): new writes are refused; free space or grow the volume; writes resume by themselves",
			g.cfg.Node, Bytes(r.usage.Free), g.cfg.Path, Bytes(r.refuse))
	case LevelWarn:
		s = fmt.Sprintf("node %s: only %s free on %s (below disk.warn_free %s; writes are refused below %s): free space or grow the volume",
			g.cfg.Node, Bytes(r.usage.Free), g.cfg.Path, Bytes(r.warn), Bytes(r.refuse))
	default:
		return ""
	}
	if r.ballastExists && r.ballast > 0 {
		s += fmt.Sprintf("; deleting the ballast file %s frees %s at once", g.ballast, Bytes(r.ballast))
	}
	return s
}

// Admit is asked before every new write: it returns an error wrapping
// ErrNoSpace at level refuse, and nil otherwise. It only reads the last
// reading.
func (g *Guard) Admit() error {
	r := g.last.Load()
	if r.level != LevelRefuse {
		return nil
	}
	g.refused.Add(1)
	g.m.refused.Inc()
	return fmt.Errorf("%w: %s", ErrNoSpace, g.alarm(r))
}

// Level returns the level of the last reading.
func (g *Guard) Level() Level { return g.last.Load().level }

// Status returns the last reading and what it means.
func (g *Guard) Status() Status {
	r := g.last.Load()
	return Status{
		Path: g.cfg.Path, Level: r.level, Alarm: g.alarm(r),
		FreeBytes: r.usage.Free, TotalBytes: r.usage.Total, WarnFreeBytes: r.warn, RefuseFreeBytes: r.refuse,
		Since: r.since, CheckedAt: r.at, WritesRefused: g.refused.Load(), BallastBytes: r.ballast, StatError: r.statErr,
	}
}
