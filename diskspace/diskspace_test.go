package diskspace_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/diskspace/disktest"
)

const (
	kib = uint64(diskspace.KiB)
	mib = uint64(diskspace.MiB)
	gib = uint64(diskspace.GiB)
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want diskspace.Bytes
	}{
		{"268435456", 256 * diskspace.MiB},
		{"256MiB", 256 * diskspace.MiB},
		{" 256 mib ", 256 * diskspace.MiB},
		{"1.5GiB", 3 * diskspace.GiB / 2},
		{"10GB", 10_000_000_000},
		{"512KiB", 512 * diskspace.KiB},
		{"2TiB", 2 * diskspace.TiB},
		{"7B", 7},
		{"0", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := diskspace.ParseBytes(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	for _, in := range []string{"", "MiB", "-1", "1XB", "1.2.3", "1 k", "99999999TiB", "18446744073709551616"} {
		t.Run("invalid "+in, func(t *testing.T) {
			if got, err := diskspace.ParseBytes(in); !errors.Is(err, diskspace.ErrBytes) {
				t.Fatalf("got %d, %v; want ErrBytes", got, err)
			}
		})
	}
}

func TestBytes_String(t *testing.T) {
	for _, tc := range []struct {
		in   diskspace.Bytes
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {diskspace.KiB, "1 KiB"}, {256 * diskspace.MiB, "256 MiB"},
		{3 * diskspace.GiB / 2, "1.5 GiB"}, {diskspace.MiB + 1, "1 MiB"}, {5 * diskspace.TiB, "5 TiB"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%d: got %q, want %q", uint64(tc.in), got, tc.want)
		}
	}
}

func TestThreshold_Limit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		th    diskspace.Threshold
		total uint64
		want  uint64
	}{
		{"bytes smaller", diskspace.Threshold{Bytes: 256 * diskspace.MiB, Percent: 1}, 100 * gib, 256 * mib},
		{"percent smaller", diskspace.Threshold{Bytes: 256 * diskspace.MiB, Percent: 1}, 10 * gib, 10 * gib / 100},
		{"bytes only", diskspace.Threshold{Bytes: 256 * diskspace.MiB}, 10 * gib, 256 * mib},
		{"percent only", diskspace.Threshold{Percent: 5}, 100 * gib, 5 * gib},
		{"off", diskspace.Threshold{}, 100 * gib, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.th.Limit(tc.total); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// The defaults must not trip on a development machine or a CI runner.
func TestDefaultConfig_Thresholds(t *testing.T) {
	c := diskspace.DefaultConfig()
	c.Path = "/data"
	for _, tc := range []struct {
		name        string
		free, total uint64
	}{
		{"CI runner, 14 GiB free of 84 GiB", 14 * gib, 84 * gib},
		{"laptop, 5 GiB free of 1 TiB", 5 * gib, 1024 * gib},
		{"small volume, 2 GiB free of 8 GiB", 2 * gib, 8 * gib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, c, &fakeStat{u: diskspace.Usage{Free: tc.free, Total: tc.total}}, nil)
			if got, want := g.Level(), diskspace.LevelOK; got != want {
				t.Fatalf("got level %s, want %s", got, want)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := diskspace.DefaultConfig()
	ok.Path = "/data"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*diskspace.Config)
	}{
		{"no path", func(c *diskspace.Config) { c.Path = "" }},
		{"negative percent", func(c *diskspace.Config) { c.Warn.Percent = -1 }},
		{"percent 100", func(c *diskspace.Config) { c.Refuse.Percent = 100 }},
		{"refuse bytes above warn", func(c *diskspace.Config) { c.Refuse.Bytes = 2 * diskspace.GiB }},
		{"refuse percent above warn", func(c *diskspace.Config) { c.Refuse.Percent = 6 }},
		{"check too often", func(c *diskspace.Config) { c.CheckEvery = time.Millisecond }},
		{"check too rarely", func(c *diskspace.Config) { c.CheckEvery = time.Hour }},
		{"no log interval", func(c *diskspace.Config) { c.LogEvery = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if err := c.Validate(); !errors.Is(err, diskspace.ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
		})
	}
}

// fakeStat is an injected statfs: it returns u, or err when set.
type fakeStat struct {
	mu    sync.Mutex
	u     diskspace.Usage
	err   error
	calls int
}

func (f *fakeStat) set(free uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.u.Free, f.err = free, err
}

func (f *fakeStat) stat(string) (diskspace.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.u, f.err
}

// clock is an injected clock, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logs records log lines.
type logs struct {
	mu  sync.Mutex
	got []slog.Record
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r.Clone())
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

// lines returns the messages logged at level lv or above.
func (l *logs) lines(lv slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.got {
		if r.Level >= lv {
			out = append(out, r.Message)
		}
	}
	return out
}

// attr returns attribute key of the last line logged.
func (l *logs) attr(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v string
	if len(l.got) > 0 {
		l.got[len(l.got)-1].Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value.String()
			}
			return true
		})
	}
	return v
}

// testConfig: warn below 100 MiB, refuse below 10 MiB, on a 1 GiB volume.
func testConfig() diskspace.Config {
	c := diskspace.DefaultConfig()
	c.Node, c.Path = "site-a", "/data"
	c.Warn = diskspace.Threshold{Bytes: 100 * diskspace.MiB}
	c.Refuse = diskspace.Threshold{Bytes: 10 * diskspace.MiB}
	return c
}

type env struct {
	stat *fakeStat
	clk  *clock
	logs *logs
	reg  *prometheus.Registry
}

func newEnv(free uint64) *env {
	return &env{
		stat: &fakeStat{u: diskspace.Usage{Free: free, Total: gib}},
		clk:  &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		logs: &logs{},
		reg:  prometheus.NewRegistry(),
	}
}

func newGuard(tb testing.TB, c diskspace.Config, st *fakeStat, e *env) *diskspace.Guard {
	tb.Helper()
	d := diskspace.Deps{Stat: st.stat}
	if e != nil {
		d.Logger, d.Registerer, d.Now = slog.New(e.logs), e.reg, e.clk.Now
	}
	g, err := diskspace.New(c, d)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return g
}

func metric(tb testing.TB, e *env, name string, labels ...string) float64 {
	tb.Helper()
	v, ok := disktest.Metric(tb, e.reg, name, labels...)
	if !ok {
		tb.Fatalf("metric %s%v is missing", name, labels)
	}
	return v
}

func TestGuard_Check(t *testing.T) {
	t.Run("levels", func(t *testing.T) {
		e := newEnv(500 * mib)
		g := newGuard(t, testConfig(), e.stat, e)
		for _, tc := range []struct {
			free uint64
			want diskspace.Level
		}{
			{500 * mib, diskspace.LevelOK},
			{100 * mib, diskspace.LevelOK}, // at the threshold is enough
			{100*mib - 1, diskspace.LevelWarn},
			{10 * mib, diskspace.LevelWarn},
			{10*mib - 1, diskspace.LevelRefuse},
			{0, diskspace.LevelRefuse},
			{200 * mib, diskspace.LevelOK}, // resumes by itself
		} {
			e.stat.set(tc.free, nil)
			if err := g.Check(); err != nil {
				t.Fatal(err)
			}
			if got := g.Level(); got != tc.want {
				t.Fatalf("free %d: got level %s, want %s", tc.free, got, tc.want)
			}
			warn, refuse := 0.0, 0.0
			if tc.want >= diskspace.LevelWarn {
				warn = 1
			}
			if tc.want == diskspace.LevelRefuse {
				refuse = 1
			}
			if got := metric(t, e, "jumeau_disk_alarm", "level", "warn"); got != warn {
				t.Fatalf("free %d: got jumeau_disk_alarm{level=warn} %v, want %v", tc.free, got, warn)
			}
			if got := metric(t, e, "jumeau_disk_alarm", "level", "refuse"); got != refuse {
				t.Fatalf("free %d: got jumeau_disk_alarm{level=refuse} %v, want %v", tc.free, got, refuse)
			}
			if got, want := metric(t, e, "jumeau_disk_free_bytes"), float64(tc.free); got != want {
				t.Fatalf("got jumeau_disk_free_bytes %v, want %v", got, want)
			}
		}
	})
	t.Run("percent threshold", func(t *testing.T) {
		c := testConfig()
		c.Refuse = diskspace.Threshold{Bytes: 10 * diskspace.MiB, Percent: 0.5} // 0.5% of 1 GiB: 5.1 MiB
		e := newEnv(8 * mib)
		g := newGuard(t, c, e.stat, e)
		if got, want := g.Level(), diskspace.LevelWarn; got != want {
			t.Fatalf("got %s, want %s (the smaller of the two thresholds applies)", got, want)
		}
		if got, want := g.Status().RefuseFreeBytes, gib/200; got != want {
			t.Fatalf("got refuse threshold %d, want %d", got, want)
		}
	})
	t.Run("stat error keeps the last reading", func(t *testing.T) {
		e := newEnv(mib) // refuse
		g := newGuard(t, testConfig(), e.stat, e)
		boom := errors.New("input/output error")
		e.stat.set(500*mib, boom)
		err := g.Check()
		if !errors.Is(err, diskspace.ErrStat) || !errors.Is(err, boom) {
			t.Fatalf("got %v, want ErrStat wrapping the cause", err)
		}
		if got, want := g.Level(), diskspace.LevelRefuse; got != want {
			t.Fatalf("got level %s, want %s (the last good reading)", got, want)
		}
		if err := g.Admit(); !errors.Is(err, diskspace.ErrNoSpace) {
			t.Fatalf("admit: got %v, want ErrNoSpace", err)
		}
		st := g.Status()
		if st.StatError == "" || st.FreeBytes != mib {
			t.Fatalf("got status %+v, want the stat error and the last free bytes", st)
		}
		if got, want := metric(t, e, "jumeau_disk_stat_errors_total"), 1.0; got != want {
			t.Fatalf("got jumeau_disk_stat_errors_total %v, want %v", got, want)
		}
		e.stat.set(500*mib, nil)
		if err := g.Check(); err != nil {
			t.Fatal(err)
		}
		if st := g.Status(); st.StatError != "" || st.Level != diskspace.LevelOK {
			t.Fatalf("got status %+v, want the error cleared and level ok", st)
		}
	})
	t.Run("stat errors are logged rate-limited", func(t *testing.T) {
		e := newEnv(500 * mib)
		g := newGuard(t, testConfig(), e.stat, e)
		e.stat.set(0, errors.New("input/output error"))
		for range 100 {
			_ = g.Check()
			e.clk.add(time.Second / 10)
		}
		// 10 s of failed readings at 10 per second: the first line, and one
		// after LogEvery (10 s) naming the 99 held back.
		_ = g.Check()
		if got, want := len(e.logs.lines(slog.LevelWarn)), 2; got != want {
			t.Fatalf("got %d log lines, want %d: %q", got, want, e.logs.lines(slog.LevelWarn))
		}
		if got, want := e.logs.attr("held_back"), "99"; got != want {
			t.Fatalf("got held_back %s, want %s", got, want)
		}
	})
}

func TestNew_StatError(t *testing.T) {
	st := &fakeStat{err: errors.New("no such file or directory")}
	_, err := diskspace.New(testConfig(), diskspace.Deps{Stat: st.stat})
	if !errors.Is(err, diskspace.ErrStat) {
		t.Fatalf("got %v, want ErrStat", err)
	}
}

func TestGuard_Admit(t *testing.T) {
	e := newEnv(50 * mib)
	g := newGuard(t, testConfig(), e.stat, e)
	if err := g.Admit(); err != nil {
		t.Fatalf("at level warn: got %v, want nil", err)
	}
	e.stat.set(3*mib, nil)
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		err := g.Admit()
		if !errors.Is(err, diskspace.ErrNoSpace) {
			t.Fatalf("got %v, want ErrNoSpace", err)
		}
		// The message says which node, how much is free where, and what to do.
		for _, want := range []string{"node site-a", "only 3 MiB free on /data", "disk.refuse_free 10 MiB", "grow the volume", "resume by themselves"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("message %q does not say %q", err, want)
			}
		}
		if got, want := metric(t, e, "jumeau_disk_writes_refused_total"), float64(i+1); got != want {
			t.Fatalf("got jumeau_disk_writes_refused_total %v, want %v", got, want)
		}
	}
	if got, want := g.Status().WritesRefused, uint64(3); got != want {
		t.Fatalf("got writes_refused %d, want %d", got, want)
	}
	// Admit reads the kept level: it never reads the disk itself.
	before := e.stat.calls
	_ = g.Admit()
	if got := e.stat.calls; got != before {
		t.Fatalf("admit read the disk: %d statfs calls, want %d", got, before)
	}
}

func TestGuard_Metrics(t *testing.T) {
	e := newEnv(500 * mib)
	newGuard(t, testConfig(), e.stat, e)
	// Every series exists from the start, before any event.
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jumeau_disk_free_bytes", nil, float64(500 * mib)},
		{"jumeau_disk_total_bytes", nil, float64(gib)},
		{"jumeau_disk_alarm", []string{"level", "warn"}, 0},
		{"jumeau_disk_alarm", []string{"level", "refuse"}, 0},
		{"jumeau_disk_threshold_bytes", []string{"level", "warn"}, float64(100 * mib)},
		{"jumeau_disk_threshold_bytes", []string{"level", "refuse"}, float64(10 * mib)},
		{"jumeau_disk_writes_refused_total", nil, 0},
		{"jumeau_disk_stat_errors_total", nil, 0},
		{"jumeau_disk_ballast_bytes", nil, 0},
	} {
		if got := metric(t, e, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v: got %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}

func TestGuard_Close(t *testing.T) {
	e := newEnv(500 * mib)
	g, err := diskspace.New(testConfig(), diskspace.Deps{Stat: e.stat.stat, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	g.Start()
	g.Close()
	g.Close()
	if _, ok := disktest.Metric(t, e.reg, "jumeau_disk_free_bytes"); ok {
		t.Fatal("got jumeau_disk_free_bytes after Close, want it unregistered")
	}
	// A new guard can take the metrics over (a node restarting in place).
	newGuard(t, testConfig(), e.stat, e)
}

func TestGuard_Start(t *testing.T) {
	c := testConfig()
	c.CheckEvery = diskspace.MinCheckEvery
	e := newEnv(500 * mib)
	g := newGuard(t, c, e.stat, nil)
	g.Start()
	e.stat.set(mib, nil)
	deadline := time.Now().Add(10 * time.Second)
	for g.Level() != diskspace.LevelRefuse {
		if time.Now().After(deadline) {
			t.Fatalf("got level %s after 10 s of periodic readings, want refuse", g.Level())
		}
		time.Sleep(c.CheckEvery)
	}
}

func TestGuard_Log(t *testing.T) {
	t.Run("level changes at most once per LogEvery", func(t *testing.T) {
		e := newEnv(500 * mib)
		g := newGuard(t, testConfig(), e.stat, e)
		if got := e.logs.lines(slog.LevelInfo); len(got) != 0 {
			t.Fatalf("got %q at level ok, want nothing", got)
		}
		// Free space flaps around the refuse threshold for 5 s.
		for i := range 50 {
			e.stat.set(map[bool]uint64{true: 5 * mib, false: 50 * mib}[i%2 == 0], nil)
			if err := g.Check(); err != nil {
				t.Fatal(err)
			}
			e.clk.add(time.Second / 10)
		}
		got := e.logs.lines(slog.LevelInfo)
		if len(got) != 1 || !strings.Contains(got[0], "new writes are refused") {
			t.Fatalf("got %q, want one line, the refusal", got)
		}
		e.clk.add(10 * time.Second)
		e.stat.set(50*mib, nil) // ends at warn
		if err := g.Check(); err != nil {
			t.Fatal(err)
		}
		got = e.logs.lines(slog.LevelInfo)
		if len(got) != 2 || !strings.Contains(got[1], "below disk.warn_free") {
			t.Fatalf("got %q, want a second line at level warn", got)
		}
		if got, want := e.logs.attr("level_changes"), "49"; got != want {
			t.Fatalf("got level_changes %s, want %s", got, want)
		}
	})
	t.Run("reminder while alarmed", func(t *testing.T) {
		e := newEnv(5 * mib)
		g := newGuard(t, testConfig(), e.stat, e)
		for range 120 {
			e.clk.add(time.Second)
			if err := g.Check(); err != nil {
				t.Fatal(err)
			}
		}
		// At start, then each RemindEvery (1 min) of the 2 min.
		if got, want := len(e.logs.lines(slog.LevelError)), 3; got != want {
			t.Fatalf("got %d lines, want %d: %q", got, want, e.logs.lines(slog.LevelError))
		}
		e.stat.set(500*mib, nil)
		e.clk.add(10 * time.Second) // LogEvery after the last reminder
		if err := g.Check(); err != nil {
			t.Fatal(err)
		}
		got := e.logs.lines(slog.LevelInfo)
		if last := got[len(got)-1]; !strings.Contains(last, "back above") {
			t.Fatalf("got last line %q, want the recovery", last)
		}
	})
}

func TestThreshold_String(t *testing.T) {
	for _, tc := range []struct {
		th   diskspace.Threshold
		want string
	}{
		{diskspace.Threshold{Bytes: 256 * diskspace.MiB, Percent: 1}, "256 MiB or 1% of the volume, whichever is smaller"},
		{diskspace.Threshold{Bytes: diskspace.GiB}, "1 GiB"},
		{diskspace.Threshold{Percent: 2.5}, "2.5% of the volume"},
		{diskspace.Threshold{}, "off"},
	} {
		if got := tc.th.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.th, got, tc.want)
		}
	}
}
