package replicator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/monaco-sovereign/jumeau/transport"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Ship stream protocol (QUIC stream of kind Ship, opened by the cell
// leader to the twin; transport frames with msgpack bodies). The format is
// documented in doc.go.
const (
	shipVersion = 1

	frameShipHello     uint8 = 1 // leader -> twin
	frameShipResume    uint8 = 2 // twin -> leader
	frameShipRecords   uint8 = 3 // leader -> twin
	frameShipHeartbeat uint8 = 4 // leader -> twin
	frameShipAck       uint8 = 5 // twin -> leader
	frameShipSnapBegin uint8 = 6 // leader -> twin
	frameShipSnapChunk uint8 = 7 // leader -> twin
	frameShipSnapEnd   uint8 = 8 // leader -> twin
	frameShipError     uint8 = 9 // either way, then the stream closes

	// Error codes of frameShipError.
	shipErrRefused  uint8 = 1 // records or stream refused (alarm on the twin)
	shipErrDiverged uint8 = 2 // the WALs disagree
	shipErrStale    uint8 = 3 // a leader of a newer term is shipping
	shipErrInternal uint8 = 4 // the receiver failed (disk); retry later

	codecNone uint8 = 0
	codecZstd uint8 = 1

	// maxShipFrame bounds every ship frame on the wire.
	maxShipFrame = 16 << 20
	// maxShipRaw bounds a records frame's decompressed size.
	maxShipRaw = 16 << 20
	// maxShipRecords bounds the records of one frame.
	maxShipRecords = 1 << 16
	// snapChunk is the size of snapshot chunk frames.
	snapChunk = 256 << 10
)

type shipHello struct {
	Version uint8  `codec:"v"`
	Sender  string `codec:"s"`
	Epoch   uint64 `codec:"e"`
	Term    uint64 `codec:"t"`
	First   uint64 `codec:"f"`
	Last    uint64 `codec:"l"`
	// Heartbeat is the sender's heartbeat interval (ns): the twin calls
	// the link up while it hears a frame within linkBound of it. Zero
	// from a sender that predates the field.
	Heartbeat int64 `codec:"hb"`
	// HeartbeatAcks asks the twin to answer every heartbeat with an ack
	// of its tip, so the sender hears the twin on an idle link. A twin
	// that predates the field never sees it and never sends such acks.
	HeartbeatAcks bool `codec:"ha"`
}

type shipResume struct {
	Index uint64 `codec:"i"`
	Hash  []byte `codec:"h"`
	Epoch uint64 `codec:"e"`
	// HeartbeatAcks is true when the twin will answer heartbeats (the
	// sender asked and the twin knows how); false from an older twin.
	HeartbeatAcks bool `codec:"ha"`
}

type shipRecords struct {
	Epoch uint64 `codec:"e"`
	First uint64 `codec:"f"`
	Count uint32 `codec:"n"`
	Codec uint8  `codec:"c"`
	// RawLen is the length of Data once decompressed.
	RawLen uint32 `codec:"r"`
	// Data is Count records, each [uvarint length][wal encoding].
	Data        []byte `codec:"d"`
	PrimaryLast uint64 `codec:"l"`
	Sent        int64  `codec:"t"`
	// LagRecords and LagAge are the leader's lag measure when it sent
	// the frame (the twin's loss bound for an automatic promotion).
	LagRecords uint64 `codec:"g"`
	LagAge     int64  `codec:"a"` // ns
}

type shipHeartbeat struct {
	PrimaryLast uint64 `codec:"l"`
	Sent        int64  `codec:"t"`
	LagRecords  uint64 `codec:"g"`
	LagAge      int64  `codec:"a"` // ns
}

type shipAck struct {
	Index uint64 `codec:"i"`
	Hash  []byte `codec:"h"`
}

type shipSnapBegin struct {
	Index uint64 `codec:"i"`
	Hash  []byte `codec:"h"`
	Epoch uint64 `codec:"e"`
}

type shipSnapChunk struct {
	Data []byte `codec:"d"`
}

type shipError struct {
	Code uint8  `codec:"c"`
	Msg  string `codec:"m"`
}

func hash32(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) != 32 {
		return h, fmt.Errorf("hash of %d bytes, want 32", len(b))
	}
	copy(h[:], b)
	return h, nil
}

// appendRecord appends [uvarint len][encoding] of rec to b.
func appendRecord(b []byte, rec *wal.Record) ([]byte, error) {
	enc, err := rec.MarshalBinary()
	if err != nil {
		return b, err
	}
	b = binary.AppendUvarint(b, uint64(len(enc)))
	return append(b, enc...), nil
}

// errBadBatch is wrapped by decodeRecords' errors.
var errBadBatch = errors.New("malformed records frame")

// decodeRecords decodes exactly count records from data (its bytes are
// not retained: records own their fields).
func decodeRecords(data []byte, count uint32) ([]wal.Record, error) {
	if count == 0 || count > maxShipRecords {
		return nil, fmt.Errorf("%w: %d records (want 1..%d)", errBadBatch, count, maxShipRecords)
	}
	recs := make([]wal.Record, 0, min(int(count), len(data)/16+1))
	for i := uint32(0); i < count; i++ {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return nil, fmt.Errorf("%w: record %d of %d: bad length", errBadBatch, i+1, count)
		}
		var rec wal.Record
		if err := rec.UnmarshalBinary(data[k : k+int(n)]); err != nil {
			return nil, fmt.Errorf("%w: record %d of %d: %w", errBadBatch, i+1, count, err)
		}
		recs = append(recs, rec)
		data = data[k+int(n):]
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after %d records", errBadBatch, len(data), count)
	}
	return recs, nil
}

// zstd coders are safe for concurrent EncodeAll/DecodeAll; one of each
// serves every stream of the process.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCoders() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxShipRaw), zstd.WithDecoderConcurrency(1))
	})
	return zstdEnc, zstdDec, zstdErr
}

// unpackRecords returns the decompressed records of a frame.
func unpackRecords(m *shipRecords) ([]wal.Record, error) {
	if m.RawLen > maxShipRaw {
		return nil, fmt.Errorf("%w: %d raw bytes exceed %d", errBadBatch, m.RawLen, maxShipRaw)
	}
	data := m.Data
	switch m.Codec {
	case codecNone:
		if uint32(len(data)) != m.RawLen {
			return nil, fmt.Errorf("%w: %d bytes, header says %d", errBadBatch, len(data), m.RawLen)
		}
	case codecZstd:
		_, dec, err := zstdCoders()
		if err != nil {
			return nil, err
		}
		out, err := dec.DecodeAll(data, make([]byte, 0, m.RawLen))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", errBadBatch, err)
		}
		if uint32(len(out)) != m.RawLen {
			return nil, fmt.Errorf("%w: %d bytes decompressed, header says %d", errBadBatch, len(out), m.RawLen)
		}
		data = out
	default:
		return nil, fmt.Errorf("%w: unknown codec %d", errBadBatch, m.Codec)
	}
	return decodeRecords(data, m.Count)
}

// chunkWriter turns a byte stream (a snapshot) into chunk frames.
type chunkWriter struct{ enc *transport.Encoder }

func (w chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), snapChunk)]
		if err := w.enc.Encode(frameShipSnapChunk, &shipSnapChunk{Data: c}); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}
