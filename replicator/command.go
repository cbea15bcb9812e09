package replicator

import (
	"encoding/binary"
	"fmt"

	"github.com/monaco-sovereign/jumeau/wal"
)

// commandVersion is the first byte of every encoded command.
const commandVersion = 1

// Bounds on decoded command fields: a Raft log entry is bytes from disk and
// from the wire, so the decoder trusts none of its lengths.
const (
	maxNameLen    = 1024
	maxPayloadLen = 16 << 20
)

// command is what the cell leader puts in a Raft log entry. It carries the
// already sealed payload, the leader's clock and the epoch, so that every
// replica derives byte-identical WAL records from it.
type command struct {
	Op        wal.Op
	Epoch     uint64
	Time      int64 // unix nanoseconds, leader's clock
	Namespace string
	Key       string
	Payload   []byte
}

// Encoding (see doc.go):
//
//	[version u8][op u8][epoch u64][time i64]
//	[uvarint len][namespace][uvarint len][key][uvarint len][payload]
func (c *command) marshal() []byte {
	n := 2 + 16 + 3*binary.MaxVarintLen64 + len(c.Namespace) + len(c.Key) + len(c.Payload)
	b := make([]byte, 0, n)
	b = append(b, commandVersion, byte(c.Op))
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time))
	b = binary.AppendUvarint(b, uint64(len(c.Namespace)))
	b = append(b, c.Namespace...)
	b = binary.AppendUvarint(b, uint64(len(c.Key)))
	b = append(b, c.Key...)
	b = binary.AppendUvarint(b, uint64(len(c.Payload)))
	b = append(b, c.Payload...)
	return b
}

func (c *command) unmarshal(b []byte) error {
	if len(b) < 18 {
		return fmt.Errorf("%w: %d bytes, need at least 18", ErrBadCommand, len(b))
	}
	if b[0] != commandVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadCommand, b[0], commandVersion)
	}
	c.Op = wal.Op(b[1])
	switch c.Op {
	case wal.OpPut, wal.OpDelete, wal.OpKey:
	default:
		return fmt.Errorf("%w: unknown op %d", ErrBadCommand, b[1])
	}
	c.Epoch = binary.BigEndian.Uint64(b[2:])
	c.Time = int64(binary.BigEndian.Uint64(b[10:]))
	rest := b[18:]
	field := func(name string, max int) ([]byte, error) {
		l, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad %s length", ErrBadCommand, name)
		}
		if l > uint64(max) || l > uint64(len(rest)-n) {
			return nil, fmt.Errorf("%w: %s length %d out of bounds", ErrBadCommand, name, l)
		}
		v := rest[n : n+int(l)]
		rest = rest[n+int(l):]
		return v, nil
	}
	ns, err := field("namespace", maxNameLen)
	if err != nil {
		return err
	}
	key, err := field("key", maxNameLen)
	if err != nil {
		return err
	}
	payload, err := field("payload", maxPayloadLen)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, len(rest))
	}
	c.Namespace, c.Key = string(ns), string(key)
	c.Payload = append([]byte(nil), payload...)
	return nil
}
