package diskspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ensureBallast makes the ballast file Config.BallastBytes long: it
// removes it at 0, shrinks a larger one, and creates or grows it only if
// the filesystem (u) keeps at least the warn and refuse thresholds free
// afterwards; otherwise it logs why and leaves the file as it is.
func (g *Guard) ensureBallast(u Usage) error {
	want := uint64(g.cfg.BallastBytes)
	var have uint64
	fi, err := os.Stat(g.ballast)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if want == 0 {
			return nil
		}
	case err != nil:
		return fmt.Errorf("%w: %w", ErrBallast, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file: move it away", ErrBallast, g.ballast)
	default:
		have = uint64(fi.Size())
	}
	switch {
	case want == have:
		return nil
	case want == 0:
		if err := os.Remove(g.ballast); err != nil {
			return fmt.Errorf("%w: remove it (disk.ballast_bytes is 0): %w", ErrBallast, err)
		}
		g.logger.Info("ballast file removed: disk.ballast_bytes is 0", "ballast", g.ballast, "freed_bytes", have)
		return nil
	case want < have:
		if err := os.Truncate(g.ballast, int64(want)); err != nil {
			return fmt.Errorf("%w: shrink it to disk.ballast_bytes %s: %w", ErrBallast, Bytes(want), err)
		}
		g.logger.Info("ballast file shrunk to disk.ballast_bytes", "ballast", g.ballast, "bytes", want)
		return nil
	}
	need := want - have
	keep := max(g.cfg.Warn.Limit(u.Total), g.cfg.Refuse.Limit(u.Total))
	if u.Free < need || u.Free-need < keep {
		g.logger.Warn("ballast file not created: the volume has too little room; it is created at a later start with more room",
			"ballast", g.ballast, "ballast_bytes", want, "in_place_bytes", have, "free_bytes", u.Free, "keep_free_bytes", keep)
		return nil
	}
	f, err := os.OpenFile(g.ballast, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBallast, err)
	}
	err = allocate(f, int64(have), int64(want))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Give the room back: a half-made ballast helps nobody.
		if have == 0 {
			_ = os.Remove(g.ballast)
		} else {
			_ = os.Truncate(g.ballast, int64(have))
		}
		return fmt.Errorf("%w: allocate %s: %w", ErrBallast, Bytes(want), err)
	}
	g.logger.Info("ballast file in place: delete it to free its room at once when the volume is full",
		"ballast", g.ballast, "bytes", want)
	return nil
}

// writeZeros extends f from size from to size to by writing zeros (for
// filesystems without fallocate).
func writeZeros(f *os.File, from, to int64) error {
	buf := make([]byte, 1<<20)
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
