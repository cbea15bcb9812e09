//go:build !linux

package disktest

import (
	"os"
	"testing"
)

// Tmpfs fails the test: mounting a tmpfs needs Linux.
func Tmpfs(tb testing.TB, size string) string {
	tb.Helper()
	tb.Fatalf("mount a %s tmpfs: needs Linux (run these tests on Linux as root, as CI does)", size)
	return ""
}

func allocate(f *os.File, size int64) error {
	_, err := f.WriteAt(make([]byte, size), 0)
	return err
}
