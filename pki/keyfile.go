package pki

import (
	"fmt"
	"io"
	"os"
)

// maxKeyFileSize bounds what readPrivateKeyFile reads: a PEM private key
// is a few hundred bytes, a key file with a chain a few kilobytes.
const maxKeyFileSize = 1 << 20

// readPrivateKeyFile returns the contents of a private key file after
// checking, on the open file (so a swap between check and read cannot
// slip through), that it is a regular file no one but its owner may
// access: a key its group or others can read is refused with
// ErrKeyPermissions, naming the file, its mode and the fix.
func readPrivateKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("private key %s: %w: not a regular file (mode %s)", path, ErrBadPEM, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("private key %s has mode %04o: %w (fix: chmod 600 %s)", path, perm, ErrKeyPermissions, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("private key %s: %w: larger than %d bytes", path, ErrBadPEM, maxKeyFileSize)
	}
	return data, nil
}
