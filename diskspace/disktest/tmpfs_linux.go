package disktest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of size (mount's syntax: "8m") on a new temporary
// directory, unmounted at cleanup, and returns the directory. It fails
// the test when mounting is not permitted: these tests attack a full disk
// and must run (as root, like CI), never be skipped.
func Tmpfs(tb testing.TB, size string) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		tb.Fatalf("mount a %s tmpfs on %s: %v: this test fills a real small filesystem and needs to mount one; run it as root (as CI does), e.g. sudo go test", size, dir, err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			// Still busy: detach it so that the temporary directory can go.
			tb.Errorf("unmount tmpfs %s: %v (detaching it)", dir, err)
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

func allocate(f *os.File, size int64) error { return unix.Fallocate(int(f.Fd()), 0, 0, size) }
