package wal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRecordDecode feeds arbitrary bytes to the record decoder: it must never
// panic, must reject with ErrCorrupt, and whatever it accepts must encode
// back to the very same bytes with a valid hash. Each input is also tried
// with its last 32 bytes replaced by the right hash, so that the fuzzer
// reaches the field parsing behind the hash check.
func FuzzRecordDecode(f *testing.F) {
	full := sampleRecord()
	empty := Record{Index: 1, Op: OpDelete}
	empty.Seal()
	key := Record{Index: 2, Epoch: 9, Op: OpKey, Namespace: "ns", Payload: bytes.Repeat([]byte{7}, 300)}
	key.Seal()
	for _, r := range []Record{full, empty, key} {
		enc, err := r.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		f.Add(append(append([]byte(nil), enc...), 0))
	}
	f.Add([]byte{})
	f.Add([]byte{recordVersion})
	f.Add(bytes.Repeat([]byte{0xFF}, minRecLen))

	f.Fuzz(func(t *testing.T, data []byte) {
		checkRecordDecode(t, data)
		if len(data) >= 32 {
			checkRecordDecode(t, reseal(t, data))
		}
	})
}

func checkRecordDecode(t *testing.T, data []byte) {
	t.Helper()
	var r Record
	if err := r.UnmarshalBinary(data); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode error %v is not ErrCorrupt", err)
		}
		return
	}
	enc, err := r.MarshalBinary()
	if err != nil {
		t.Fatalf("re-encode of a decoded record: %v", err)
	}
	if !bytes.Equal(enc, data) {
		t.Fatalf("round trip changed the bytes:\n got %x\nwant %x", enc, data)
	}
	if r.ComputeHash() != r.Hash {
		t.Fatalf("accepted a record whose hash does not verify")
	}
}

// FuzzAnchorDecode does the same for the anchor metadata value.
func FuzzAnchorDecode(f *testing.F) {
	f.Add(encodeAnchor(0, [32]byte{}))
	f.Add(encodeAnchor(1<<64-1, [32]byte{0xAA, 0xBB}))
	f.Add([]byte{anchorVersion})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		idx, h, err := decodeAnchor(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v is not ErrCorrupt", err)
			}
			return
		}
		if enc := encodeAnchor(idx, h); !bytes.Equal(enc, data) {
			t.Fatalf("round trip changed the bytes:\n got %x\nwant %x", enc, data)
		}
	})
}
