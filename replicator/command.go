package replicator

import (
	"encoding/binary"
	"fmt"

	"github.com/monaco-sovereign/jumeau/wal"
)

// commandVersion is the first byte of every encoded command, and
// batchVersion the first byte of a Raft entry's data (a batch of commands).
const (
	commandVersion = 1
	batchVersion   = 2
	// maxBatchOps bounds the commands of one Raft entry.
	maxBatchOps = 4096
)

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
		l, n := uvarint(rest)
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

// marshalBatch encodes the commands of one Raft entry (see doc.go):
//
//	[version u8 = 2][uvarint n] n x ([uvarint len][command])
func marshalBatch(cmds []*command) []byte {
	encs := make([][]byte, len(cmds))
	n := 1 + binary.MaxVarintLen64
	for i, c := range cmds {
		encs[i] = c.marshal()
		n += binary.MaxVarintLen64 + len(encs[i])
	}
	b := make([]byte, 0, n)
	b = append(b, batchVersion)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, e := range encs {
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return b
}

// unmarshalBatch decodes a Raft entry's data into its commands.
func unmarshalBatch(b []byte) ([]command, error) {
	if len(b) < 2 || b[0] != batchVersion {
		return nil, fmt.Errorf("%w: entry does not start with batch version %d", ErrBadCommand, batchVersion)
	}
	n, k := uvarint(b[1:])
	if k <= 0 || n == 0 || n > maxBatchOps {
		return nil, fmt.Errorf("%w: batch of %d commands (want 1..%d)", ErrBadCommand, n, maxBatchOps)
	}
	rest := b[1+k:]
	cmds := make([]command, n)
	for i := range cmds {
		l, k := uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: command %d of %d: bad length", ErrBadCommand, i, n)
		}
		if err := cmds[i].unmarshal(rest[k : k+int(l)]); err != nil {
			return nil, fmt.Errorf("command %d of %d: %w", i, n, err)
		}
		rest = rest[k+int(l):]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after %d commands", ErrBadCommand, len(rest), n)
	}
	return cmds, nil
}

// uvarint is binary.Uvarint accepting only the shortest encoding, so that
// every decoded command has exactly one byte form.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, n
}
