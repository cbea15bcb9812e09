package diskspace

import "errors"

// Errors of the guard. Callers match them with errors.Is.
var (
	// ErrNoSpace means a write was refused because the data directory's
	// filesystem has less free space than the refuse threshold
	// (disk.refuse_free_*). Writes resume by themselves once there is room
	// again; the message says how much is free and what to do.
	ErrNoSpace = errors.New("diskspace: not enough free disk space for new writes")
	// ErrStat means the free space of the data directory could not be read.
	ErrStat = errors.New("diskspace: cannot read the free space of the data directory")
	// ErrConfig means a setting of Config is invalid; the message names
	// the configuration key and the fix.
	ErrConfig = errors.New("diskspace: invalid setting")
	// ErrBytes means a byte size does not parse (see Bytes).
	ErrBytes = errors.New("diskspace: invalid byte size")
	// ErrBallast means the ballast file could not be created, resized or
	// removed.
	ErrBallast = errors.New("diskspace: ballast file")
)
