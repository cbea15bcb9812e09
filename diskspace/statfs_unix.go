//go:build unix && !linux

package diskspace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Statfs reads the size of the filesystem holding path and the space
// available to this process (f_bavail: without the blocks reserved for
// root, as df shows it).
func Statfs(path string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Usage{}, fmt.Errorf("%w: statfs %s: %w", ErrStat, path, err)
	}
	unit := uint64(st.Bsize)
	return Usage{Free: uint64(st.Bavail) * unit, Total: uint64(st.Blocks) * unit}, nil
}
