package diskspace_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/diskspace/disktest"
)

// tmpfsConfig watches dir (a small tmpfs): warn below 1 MiB, refuse below
// 512 KiB.
func tmpfsConfig(dir string, ballast diskspace.Bytes) diskspace.Config {
	c := diskspace.DefaultConfig()
	c.Node, c.Path, c.BallastBytes = "site-a", dir, ballast
	c.Warn = diskspace.Threshold{Bytes: diskspace.MiB}
	c.Refuse = diskspace.Threshold{Bytes: 512 * diskspace.KiB}
	return c
}

func realGuard(tb testing.TB, c diskspace.Config, reg prometheus.Registerer) *diskspace.Guard {
	tb.Helper()
	g, err := diskspace.New(c, diskspace.Deps{Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return g
}

func check(tb testing.TB, g *diskspace.Guard, want diskspace.Level) {
	tb.Helper()
	if err := g.Check(); err != nil {
		tb.Fatal(err)
	}
	if got := g.Level(); got != want {
		tb.Fatalf("got level %s (status %+v), want %s", got, g.Status(), want)
	}
}

func ballastSize(tb testing.TB, dir string) (int64, bool) {
	tb.Helper()
	fi, err := os.Stat(filepath.Join(dir, diskspace.BallastFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false
	}
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size(), true
}

func TestStatfs(t *testing.T) {
	dir := disktest.Tmpfs(t, "8m")
	u, err := diskspace.Statfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Total, 8*mib; got != want {
		t.Fatalf("got total %d, want %d", got, want)
	}
	if u.Free > u.Total || u.Free < 7*mib {
		t.Fatalf("got free %d of an empty 8 MiB tmpfs, want about 8 MiB", u.Free)
	}
	if _, err := diskspace.Statfs(filepath.Join(dir, "missing")); !errors.Is(err, diskspace.ErrStat) {
		t.Fatalf("missing directory: got %v, want ErrStat", err)
	}
}

// TestGuard_Check_Tmpfs fills a real filesystem: the guard refuses, then
// admits again once the room is freed.
func TestGuard_Check_Tmpfs(t *testing.T) {
	dir := disktest.Tmpfs(t, "8m")
	reg := prometheus.NewRegistry()
	g := realGuard(t, tmpfsConfig(dir, 0), reg)
	check(t, g, diskspace.LevelOK)
	filler := disktest.Fill(t, dir, 256*kib)
	check(t, g, diskspace.LevelRefuse)
	if err := g.Admit(); !errors.Is(err, diskspace.ErrNoSpace) {
		t.Fatalf("got %v, want ErrNoSpace", err)
	}
	if v, _ := disktest.Metric(t, reg, "jumeau_disk_alarm", "level", "refuse"); v != 1 {
		t.Fatalf("got jumeau_disk_alarm{level=refuse} %v, want 1", v)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	check(t, g, diskspace.LevelOK)
	if err := g.Admit(); err != nil {
		t.Fatalf("after freeing the room: got %v, want nil", err)
	}
}

func TestNew_Ballast(t *testing.T) {
	t.Run("created, and deleting it frees the room", func(t *testing.T) {
		dir := disktest.Tmpfs(t, "8m")
		reg := prometheus.NewRegistry()
		g := realGuard(t, tmpfsConfig(dir, 2*diskspace.MiB), reg)
		if got, ok := ballastSize(t, dir); !ok || got != int64(2*mib) {
			t.Fatalf("got ballast of %d bytes (exists %v), want %d", got, ok, 2*mib)
		}
		st := g.Status()
		if st.BallastBytes != 2*mib || st.FreeBytes > 6*mib {
			t.Fatalf("got status %+v, want a 2 MiB ballast taking real room", st)
		}
		if v, _ := disktest.Metric(t, reg, "jumeau_disk_ballast_bytes"); v != float64(2*mib) {
			t.Fatalf("got jumeau_disk_ballast_bytes %v, want %d", v, 2*mib)
		}
		disktest.Fill(t, dir, 256*kib)
		check(t, g, diskspace.LevelRefuse)
		if alarm := g.Status().Alarm; !strings.Contains(alarm, diskspace.BallastFile) {
			t.Fatalf("alarm %q does not name the ballast file to delete", alarm)
		}
		if err := os.Remove(filepath.Join(dir, diskspace.BallastFile)); err != nil {
			t.Fatal(err)
		}
		check(t, g, diskspace.LevelOK)
	})
	t.Run("not re-created on a nearly full volume", func(t *testing.T) {
		dir := disktest.Tmpfs(t, "8m")
		disktest.Fill(t, dir, 2*mib+256*kib)
		g := realGuard(t, tmpfsConfig(dir, 2*diskspace.MiB), nil)
		if got, ok := ballastSize(t, dir); ok {
			t.Fatalf("got a ballast of %d bytes, want none: it would leave less than the warn threshold free", got)
		}
		if got := g.Status().BallastBytes; got != 0 {
			t.Fatalf("got ballast_bytes %d, want 0", got)
		}
	})
	t.Run("resized and removed as configured", func(t *testing.T) {
		dir := disktest.Tmpfs(t, "8m")
		realGuard(t, tmpfsConfig(dir, 2*diskspace.MiB), nil).Close()
		realGuard(t, tmpfsConfig(dir, 3*diskspace.MiB), nil).Close()
		if got, _ := ballastSize(t, dir); got != int64(3*mib) {
			t.Fatalf("grown: got %d bytes, want %d", got, 3*mib)
		}
		realGuard(t, tmpfsConfig(dir, diskspace.MiB), nil).Close()
		if got, _ := ballastSize(t, dir); got != int64(mib) {
			t.Fatalf("shrunk: got %d bytes, want %d", got, mib)
		}
		realGuard(t, tmpfsConfig(dir, 0), nil).Close()
		if got, ok := ballastSize(t, dir); ok {
			t.Fatalf("disk.ballast_bytes 0: got a ballast of %d bytes, want none", got)
		}
	})
}
