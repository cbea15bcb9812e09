// Package disktest gives tests a real, small filesystem to fill: a tmpfs
// mounted for the test (Linux, as root, as in CI), a way to fill it to a
// chosen free space, and a reader of the guard's metrics.
package disktest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/diskspace"
)

// Fill creates a file in dir that leaves about leave bytes free on dir's
// filesystem, and returns its path (remove it to free the room again).
func Fill(tb testing.TB, dir string, leave uint64) string {
	tb.Helper()
	u, err := diskspace.Statfs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if u.Free <= leave {
		tb.Fatalf("fill %s: only %d bytes free, cannot leave %d", dir, u.Free, leave)
	}
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := allocate(f, int64(u.Free-leave)); err != nil {
		tb.Fatalf("fill %s with %d bytes: %v", dir, u.Free-leave, err)
	}
	return path
}

// Metric returns the value of the gauge or counter name whose labels
// include labelPairs (name, value, ...), and whether it exists.
func Metric(tb testing.TB, g prometheus.Gatherer, name string, labelPairs ...string) (float64, bool) {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labelPairs); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labelPairs[i] && lp.GetValue() == labelPairs[i+1])
				}
				if !found {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
