package wal

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"fmt"
	"hash"
	"math/bits"
	"sync"
)

// Bounds on record fields, enforced by the encoder and the decoder.
const (
	// MaxNameLen is the longest Namespace or Key, in bytes.
	MaxNameLen = 1024
	// MaxPayloadLen is the longest Payload, in bytes.
	MaxPayloadLen = 16 << 20
)

// recordVersion is the first byte of every encoded record.
const recordVersion = 1

// hashTag is the domain-separation prefix of the record hash (see doc.go).
const hashTag = "jumeau-wal-record-v1\x00"

const (
	headLen    = 34 // version, index, epoch, term, time, op
	hashesLen  = 64 // prev_hash, hash
	minRecLen  = headLen + 3 + hashesLen
	offVersion = 0
	offIndex   = 1
	offEpoch   = 9
	offTerm    = 17
	offTime    = 25
	offOp      = 33
)

// Op is what a record does to the replicated state.
type Op uint8

// Record operations. The numeric values are part of the on-disk format.
const (
	// OpPut sets Namespace/Key to Payload (a sealed value).
	OpPut Op = 1
	// OpDelete removes Namespace/Key; Payload is normally empty.
	OpDelete Op = 2
	// OpKey installs the data key of Namespace; Payload is the wrapped key.
	OpKey Op = 3
)

// String returns the op's name.
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpKey:
		return "key"
	default:
		return fmt.Sprintf("op(%d)", uint8(o))
	}
}

func (o Op) valid() bool { return o >= OpPut && o <= OpKey }

// Record is one entry of the write-ahead log. Every field but Hash is
// covered by Hash; PrevHash links it to the record before it, so the log is
// a hash chain. The encoding is canonical: the same fields give the same
// bytes, hence the same hash, on every replica.
type Record struct {
	Index     uint64 // dense WAL index: 1, 2, 3, ... (not the Raft index)
	Epoch     uint64 // region epoch the record was written in
	Term      uint64 // Raft term of the entry that produced it
	Time      int64  // unix nanoseconds, set by the leader
	Namespace string
	Key       string
	Op        Op
	Payload   []byte // sealed value, or the wrapped data key for OpKey
	PrevHash  [32]byte
	Hash      [32]byte
}

var (
	_ encoding.BinaryMarshaler   = (*Record)(nil)
	_ encoding.BinaryUnmarshaler = (*Record)(nil)
	_ encoding.BinaryAppender    = (*Record)(nil)
)

var hasherPool = sync.Pool{New: func() any { return sha256.New() }}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// encodedLen is the length of the record's encoding.
func (r *Record) encodedLen() int {
	return headLen +
		uvarintLen(uint64(len(r.Namespace))) + len(r.Namespace) +
		uvarintLen(uint64(len(r.Key))) + len(r.Key) +
		uvarintLen(uint64(len(r.Payload))) + len(r.Payload) +
		hashesLen
}

// validate checks the bounds the decoder enforces.
func (r *Record) validate() error {
	switch {
	case !r.Op.valid():
		return fmt.Errorf("%w: unknown op %d", ErrInvalidRecord, uint8(r.Op))
	case len(r.Namespace) > MaxNameLen:
		return fmt.Errorf("%w: namespace is %d bytes, max %d", ErrInvalidRecord, len(r.Namespace), MaxNameLen)
	case len(r.Key) > MaxNameLen:
		return fmt.Errorf("%w: key is %d bytes, max %d", ErrInvalidRecord, len(r.Key), MaxNameLen)
	case len(r.Payload) > MaxPayloadLen:
		return fmt.Errorf("%w: payload is %d bytes, max %d", ErrInvalidRecord, len(r.Payload), MaxPayloadLen)
	}
	return nil
}

// appendHead appends everything that precedes the payload bytes: the fixed
// fields, namespace, key and the payload length.
func (r *Record) appendHead(b []byte) []byte {
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, r.Index)
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = binary.BigEndian.AppendUint64(b, r.Term)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = append(b, byte(r.Op))
	b = binary.AppendUvarint(b, uint64(len(r.Namespace)))
	b = append(b, r.Namespace...)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	return binary.AppendUvarint(b, uint64(len(r.Payload)))
}

// appendTo appends the full encoding, Hash included, without validation.
func (r *Record) appendTo(b []byte) []byte {
	b = r.appendHead(b)
	b = append(b, r.Payload...)
	b = append(b, r.PrevHash[:]...)
	return append(b, r.Hash[:]...)
}

// hashParts returns SHA-256(hashTag || parts...).
func hashParts(parts ...[]byte) (sum [32]byte) {
	h := hasherPool.Get().(hash.Hash)
	h.Reset()
	_, _ = h.Write([]byte(hashTag))
	for _, p := range parts {
		_, _ = h.Write(p)
	}
	h.Sum(sum[:0])
	hasherPool.Put(h)
	return sum
}

// hashEncoded returns the hash of a full encoding (its last 32 bytes, the
// stored hash, are not hashed).
func hashEncoded(enc []byte) [32]byte { return hashParts(enc[:len(enc)-32]) }

// ComputeHash returns the hash of the record: SHA-256 over the domain tag
// followed by the record's encoding without its final Hash field (see
// doc.go). It does not check field bounds.
func (r *Record) ComputeHash() [32]byte {
	var stack [headLen + 3*binary.MaxVarintLen64 + 64]byte
	head := r.appendHead(stack[:0])
	return hashParts(head, r.Payload, r.PrevHash[:])
}

// Seal sets Hash to ComputeHash().
func (r *Record) Seal() { r.Hash = r.ComputeHash() }

// AppendBinary implements encoding.BinaryAppender: it appends the record's
// canonical encoding to b. It fails with ErrInvalidRecord for an unknown op
// or an over-long field. Hash is encoded as is: call Seal first.
func (r *Record) AppendBinary(b []byte) ([]byte, error) {
	if err := r.validate(); err != nil {
		return b, indexErr("encode", r.Index, err)
	}
	return r.appendTo(b), nil
}

// MarshalBinary implements encoding.BinaryMarshaler; see AppendBinary.
func (r *Record) MarshalBinary() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, indexErr("encode", r.Index, err)
	}
	return r.appendTo(make([]byte, 0, r.encodedLen())), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It accepts only the
// canonical encoding of a valid record whose Hash matches its fields;
// anything else is ErrCorrupt (wrapped in an *IndexError naming the index
// once the header is readable). On error r is left unchanged. The record
// does not alias b.
func (r *Record) UnmarshalBinary(b []byte) error {
	var rec Record
	if err := decodeRecord(b, &rec); err != nil {
		if len(b) >= offEpoch && b[offVersion] == recordVersion {
			return indexErr("decode", binary.BigEndian.Uint64(b[offIndex:]), err)
		}
		return fmt.Errorf("wal: decode record: %w", err)
	}
	*r = rec
	return nil
}

// decodeRecord decodes and verifies b into rec. Its errors wrap ErrCorrupt
// and do not name the index; callers do.
func decodeRecord(b []byte, rec *Record) error {
	if len(b) < minRecLen {
		return fmt.Errorf("%w: %d bytes, need at least %d", ErrCorrupt, len(b), minRecLen)
	}
	if v := b[offVersion]; v != recordVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, recordVersion)
	}
	rec.Index = binary.BigEndian.Uint64(b[offIndex:])
	rec.Epoch = binary.BigEndian.Uint64(b[offEpoch:])
	rec.Term = binary.BigEndian.Uint64(b[offTerm:])
	rec.Time = int64(binary.BigEndian.Uint64(b[offTime:]))
	rec.Op = Op(b[offOp])
	if !rec.Op.valid() {
		return fmt.Errorf("%w: unknown op %d", ErrCorrupt, b[offOp])
	}
	rest := b[headLen : len(b)-hashesLen]
	field := func(name string, max int) ([]byte, error) {
		l, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, fmt.Errorf("%w: unreadable %s length", ErrCorrupt, name)
		}
		if n != uvarintLen(l) {
			return nil, fmt.Errorf("%w: non-canonical %s length", ErrCorrupt, name)
		}
		if l > uint64(max) {
			return nil, fmt.Errorf("%w: %s is %d bytes, max %d", ErrCorrupt, name, l, max)
		}
		if l > uint64(len(rest)-n) {
			return nil, fmt.Errorf("%w: %s of %d bytes is truncated", ErrCorrupt, name, l)
		}
		v := rest[n : n+int(l)]
		rest = rest[n+int(l):]
		return v, nil
	}
	ns, err := field("namespace", MaxNameLen)
	if err != nil {
		return err
	}
	key, err := field("key", MaxNameLen)
	if err != nil {
		return err
	}
	payload, err := field("payload", MaxPayloadLen)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(rest))
	}
	tail := b[len(b)-hashesLen:]
	copy(rec.PrevHash[:], tail[:32])
	copy(rec.Hash[:], tail[32:])
	if hashEncoded(b) != rec.Hash {
		return fmt.Errorf("%w: hash mismatch", ErrCorrupt)
	}
	rec.Namespace = string(ns)
	rec.Key = string(key)
	rec.Payload = nil
	if len(payload) > 0 {
		rec.Payload = append([]byte(nil), payload...)
	}
	return nil
}
