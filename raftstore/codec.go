package raftstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"time"

	"github.com/hashicorp/raft"
)

// logVersion is the first byte of every encoded log entry.
const logVersion = 1

const (
	offVersion  = 0
	offIndex    = 1
	offTerm     = 9
	offType     = 17
	offSec      = 18
	offNsec     = 26
	logHeadLen  = 30
	crcLen      = 4
	minLogLen   = logHeadLen + 1 + 1 + crcLen
	nanosPerSec = 1_000_000_000
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// encodedLogLen is the length of l's encoding.
func encodedLogLen(l *raft.Log) int {
	return logHeadLen +
		uvarintLen(uint64(len(l.Data))) + len(l.Data) +
		uvarintLen(uint64(len(l.Extensions))) + len(l.Extensions) +
		crcLen
}

// appendLog appends the encoding of l (see doc.go) to b.
func appendLog(b []byte, l *raft.Log) []byte {
	start := len(b)
	b = append(b, logVersion)
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(l.AppendedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(l.AppendedAt.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	b = append(b, l.Extensions...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// decodeLog decodes b into l. It accepts only canonical encodings with a
// matching checksum; errors wrap ErrCorrupt. Data and Extensions do not
// alias b (they share one allocation); empty ones are nil. AppendedAt is in
// UTC (the zero time stays the zero time). On error l is unchanged.
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < minLogLen {
		return fmt.Errorf("%w: %d bytes, need at least %d", ErrCorrupt, len(b), minLogLen)
	}
	body := b[:len(b)-crcLen]
	if got, want := binary.BigEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); got != want {
		return fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorrupt, got, want)
	}
	if v := b[offVersion]; v != logVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, logVersion)
	}
	nsec := binary.BigEndian.Uint32(b[offNsec:])
	if nsec >= nanosPerSec {
		return fmt.Errorf("%w: appended_at nanoseconds %d out of range", ErrCorrupt, nsec)
	}
	rest := body[logHeadLen:]
	field := func(name string) ([]byte, error) {
		n, w := binary.Uvarint(rest)
		if w <= 0 {
			return nil, fmt.Errorf("%w: unreadable %s length", ErrCorrupt, name)
		}
		if w != uvarintLen(n) {
			return nil, fmt.Errorf("%w: non-canonical %s length", ErrCorrupt, name)
		}
		if n > uint64(len(rest)-w) {
			return nil, fmt.Errorf("%w: %s of %d bytes is truncated", ErrCorrupt, name, n)
		}
		v := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return v, nil
	}
	data, err := field("data")
	if err != nil {
		return err
	}
	ext, err := field("extensions")
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(rest))
	}
	out := raft.Log{
		Index:      binary.BigEndian.Uint64(b[offIndex:]),
		Term:       binary.BigEndian.Uint64(b[offTerm:]),
		Type:       raft.LogType(b[offType]),
		AppendedAt: time.Unix(int64(binary.BigEndian.Uint64(b[offSec:])), int64(nsec)).UTC(),
	}
	if n := len(data) + len(ext); n > 0 {
		buf := make([]byte, n)
		copy(buf, data)
		copy(buf[len(data):], ext)
		if len(data) > 0 {
			out.Data = buf[:len(data):len(data)]
		}
		if len(ext) > 0 {
			out.Extensions = buf[len(data):]
		}
	}
	*l = out
	return nil
}
