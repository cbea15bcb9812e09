package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// FuzzDecodeLog feeds arbitrary bytes to the log entry decoder: it must
// never panic, must reject with ErrCorrupt, and whatever it accepts must
// encode back to the very same bytes. Each input is also tried with its
// last 4 bytes replaced by the right CRC, so that the fuzzer reaches the
// field parsing behind the checksum.
func FuzzDecodeLog(f *testing.F) {
	for _, l := range []*raft.Log{
		sampleLog(1),
		{},
		{Index: 1<<64 - 1, Term: 9, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{1}, 200)},
		{Index: 3, Extensions: []byte("x"), AppendedAt: time.Unix(-1, 999_999_999)},
	} {
		enc := appendLog(nil, l)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
	}
	// Extreme appended_at seconds (time.Unix must round-trip them).
	for _, sec := range []int64{1<<63 - 1, -1 << 63, -62135596800} {
		enc := appendLog(nil, &raft.Log{Index: 1})
		binary.BigEndian.PutUint64(enc[offSec:], uint64(sec))
		binary.BigEndian.PutUint32(enc[offNsec:], nanosPerSec-1)
		body := enc[:len(enc)-crcLen]
		binary.BigEndian.PutUint32(enc[len(body):], crc32.Checksum(body, castagnoli))
		f.Add(enc)
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, minLogLen))

	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeLog(t, data)
		if len(data) >= crcLen {
			fixed := append([]byte(nil), data...)
			body := fixed[:len(fixed)-crcLen]
			binary.BigEndian.PutUint32(fixed[len(body):], crc32.Checksum(body, castagnoli))
			checkDecodeLog(t, fixed)
		}
	})
}

func checkDecodeLog(t *testing.T, data []byte) {
	t.Helper()
	var l raft.Log
	if err := decodeLog(data, &l); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode error %v is not ErrCorrupt", err)
		}
		return
	}
	if got := encodedLogLen(&l); got != len(data) {
		t.Fatalf("encodedLogLen = %d, input is %d bytes", got, len(data))
	}
	if enc := appendLog(nil, &l); !bytes.Equal(enc, data) {
		t.Fatalf("round trip changed the bytes:\n got %x\nwant %x", enc, data)
	}
}
