package node

import (
	"fmt"
	"os"
)

// checkDataDir refuses a data directory its group or others may enter.
// Pebble writes its files (the Raft log, the WAL and the state: sealed
// values, but namespace and key names in clear) with mode 0644, as the
// umask allows; they are private only because the directory that holds
// them is 0700, which Start creates it with. A directory made by someone
// else with a wider mode is refused, naming the fix.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("node: data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("node: node.data_dir %s is not a directory: point node.data_dir at a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("node: node.data_dir %s has mode %04o: %w (the Pebble files in it are 0644; fix: chmod 700 %s)", dir, perm, ErrDataDirPermissions, dir)
	}
	return nil
}
