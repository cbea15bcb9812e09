//go:build !unix

package diskspace

import (
	"errors"
	"fmt"
)

// Statfs is not implemented on this system: a node's disk guard needs a
// Unix statfs.
func Statfs(path string) (Usage, error) {
	return Usage{}, fmt.Errorf("%w: %s: %w", ErrStat, path, errors.ErrUnsupported)
}
