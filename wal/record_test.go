package wal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// sampleRecord returns a sealed record with every field set.
func sampleRecord() Record {
	r := Record{
		Index:     7,
		Epoch:     3,
		Term:      2,
		Time:      1_700_000_000_123_456_789,
		Namespace: "civil-registry",
		Key:       "person/42",
		Op:        OpPut,
		Payload:   []byte("sealed-value"),
	}
	for i := range r.PrevHash {
		r.PrevHash[i] = byte(i)
	}
	r.Seal()
	return r
}

// rawEncoding encodes r without checking bounds and reseals the result, so
// that a test can build a well-hashed encoding with exactly one defect.
func rawEncoding(tb testing.TB, r Record) []byte {
	tb.Helper()
	enc := r.appendTo(nil)
	h := hashEncoded(enc)
	copy(enc[len(enc)-32:], h[:])
	return enc
}

// reseal recomputes the hash of an already encoded (possibly malformed) record.
func reseal(tb testing.TB, enc []byte) []byte {
	tb.Helper()
	out := append([]byte(nil), enc...)
	h := hashEncoded(out)
	copy(out[len(out)-32:], h[:])
	return out
}

func TestOp_String(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{{OpPut, "put"}, {OpDelete, "delete"}, {OpKey, "key"}, {0, "op(0)"}, {9, "op(9)"}} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(tc.op), got, tc.want)
		}
	}
}

func TestRecord_MarshalBinary(t *testing.T) {
	full := sampleRecord()
	empty := Record{Op: OpDelete}
	empty.Seal()
	big := Record{
		Index: 1<<64 - 1, Epoch: 1<<64 - 1, Term: 1<<64 - 1, Time: -1,
		Namespace: strings.Repeat("n", MaxNameLen), Key: strings.Repeat("k", MaxNameLen),
		Op: OpKey, Payload: bytes.Repeat([]byte{0xAB}, MaxPayloadLen),
	}
	big.Seal()
	for _, tc := range []struct {
		name string
		rec  Record
	}{{"full", full}, {"empty fields", empty}, {"max bounds", big}} {
		t.Run("round trip/"+tc.name, func(t *testing.T) {
			enc, err := tc.rec.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if got, want := len(enc), tc.rec.encodedLen(); got != want {
				t.Fatalf("len(encoding) = %d, want %d", got, want)
			}
			app, err := tc.rec.AppendBinary([]byte("prefix"))
			if err != nil || !bytes.Equal(app[6:], enc) {
				t.Fatalf("AppendBinary differs from MarshalBinary (err %v)", err)
			}
			var got Record
			if err := got.UnmarshalBinary(enc); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			assertRecordEqual(t, got, tc.rec)
		})
	}

	t.Run("invalid", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mut  func(*Record)
		}{
			{"unknown op", func(r *Record) { r.Op = 4 }},
			{"zero op", func(r *Record) { r.Op = 0 }},
			{"long namespace", func(r *Record) { r.Namespace = strings.Repeat("n", MaxNameLen+1) }},
			{"long key", func(r *Record) { r.Key = strings.Repeat("k", MaxNameLen+1) }},
			{"long payload", func(r *Record) { r.Payload = make([]byte, MaxPayloadLen+1) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := sampleRecord()
				tc.mut(&r)
				_, err := r.MarshalBinary()
				if !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("MarshalBinary err = %v, want ErrInvalidRecord", err)
				}
				if _, err := r.AppendBinary(nil); !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("AppendBinary err = %v, want ErrInvalidRecord", err)
				}
			})
		}
	})
}

func assertRecordEqual(tb testing.TB, got, want Record) {
	tb.Helper()
	if got.Index != want.Index || got.Epoch != want.Epoch || got.Term != want.Term ||
		got.Time != want.Time || got.Namespace != want.Namespace || got.Key != want.Key ||
		got.Op != want.Op || !bytes.Equal(got.Payload, want.Payload) ||
		got.PrevHash != want.PrevHash || got.Hash != want.Hash {
		tb.Fatalf("record mismatch:\n got %+v\nwant %+v", brief(got), brief(want))
	}
}

// brief is a printable record with a short payload.
func brief(r Record) Record {
	if len(r.Payload) > 16 {
		r.Payload = r.Payload[:16]
	}
	if len(r.Namespace) > 16 {
		r.Namespace = r.Namespace[:16] + "..."
	}
	if len(r.Key) > 16 {
		r.Key = r.Key[:16] + "..."
	}
	return r
}

func TestRecord_ComputeHash(t *testing.T) {
	t.Run("golden", func(t *testing.T) {
		// Pinned bytes and hash: a change here is a format change that
		// breaks every stored chain and every replica. Bump the version.
		r := sampleRecord()
		enc, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		wantEnc := "01" + "0000000000000007" + "0000000000000003" + "0000000000000002" +
			"17979cfe3d85cd15" + "01" +
			"0e" + hex.EncodeToString([]byte("civil-registry")) +
			"09" + hex.EncodeToString([]byte("person/42")) +
			"0c" + hex.EncodeToString([]byte("sealed-value")) +
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		if got := hex.EncodeToString(enc[:len(enc)-32]); got != wantEnc {
			t.Fatalf("encoding\n got %s\nwant %s", got, wantEnc)
		}
		if got, want := hex.EncodeToString(r.Hash[:]), goldenHash; got != want {
			t.Fatalf("hash = %s, want %s", got, want)
		}
	})

	t.Run("definition", func(t *testing.T) {
		// Recompute from the definition in doc.go, independently of the
		// streaming implementation.
		r := sampleRecord()
		enc, _ := r.MarshalBinary()
		want := sha256.Sum256(append([]byte("jumeau-wal-record-v1\x00"), enc[:len(enc)-32]...))
		if got := r.ComputeHash(); got != want {
			t.Fatalf("ComputeHash = %x, want %x", got, want)
		}
		if got := [32]byte(enc[len(enc)-32:]); got != want {
			t.Fatalf("encoded hash = %x, want %x", got, want)
		}
	})

	t.Run("covers every field", func(t *testing.T) {
		base0 := sampleRecord()
		base := base0.ComputeHash()
		for _, tc := range []struct {
			name string
			mut  func(*Record)
		}{
			{"index", func(r *Record) { r.Index++ }},
			{"epoch", func(r *Record) { r.Epoch++ }},
			{"term", func(r *Record) { r.Term++ }},
			{"time", func(r *Record) { r.Time++ }},
			{"namespace", func(r *Record) { r.Namespace += "x" }},
			{"key", func(r *Record) { r.Key += "x" }},
			{"op", func(r *Record) { r.Op = OpDelete }},
			{"payload", func(r *Record) { r.Payload[0] ^= 1 }},
			{"prev hash", func(r *Record) { r.PrevHash[31] ^= 1 }},
			// Length prefixes keep field boundaries unambiguous.
			{"boundary", func(r *Record) { r.Namespace, r.Key = "civil-registryp", "erson/42" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := sampleRecord()
				tc.mut(&r)
				if got := r.ComputeHash(); got == base {
					t.Fatalf("hash unchanged after changing %s", tc.name)
				}
			})
		}
		r := sampleRecord()
		r.Hash = [32]byte{1}
		if got := r.ComputeHash(); got != base {
			t.Fatalf("hash depends on the Hash field itself")
		}
	})
}

// goldenHash is the hash of sampleRecord (see TestRecord_ComputeHash/golden).
const goldenHash = "0ab9987cb7fc3a89bdc1f94d40d816d800d6068cd7c50ac7c22bda9531a1d34d"

func TestRecord_UnmarshalBinary(t *testing.T) {
	valid := sampleRecord()
	enc, err := valid.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("does not alias input", func(t *testing.T) {
		buf := append([]byte(nil), enc...)
		var got Record
		if err := got.UnmarshalBinary(buf); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = 0
		}
		assertRecordEqual(t, got, valid)
	})

	t.Run("every flipped byte", func(t *testing.T) {
		for i := range enc {
			bad := append([]byte(nil), enc...)
			bad[i] ^= 0x01
			var got Record
			err := got.UnmarshalBinary(bad)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip byte %d: err = %v, want ErrCorrupt", i, err)
			}
			if got.Index != 0 || got.Hash != ([32]byte{}) {
				t.Fatalf("flip byte %d: record modified on error", i)
			}
		}
	})

	// Each case is resealed: the hash is right, only the format is wrong.
	longNS := valid
	longNS.Namespace = strings.Repeat("n", MaxNameLen+1)
	longKey := valid
	longKey.Key = strings.Repeat("k", MaxNameLen+1)
	longPayload := valid
	longPayload.Payload = make([]byte, MaxPayloadLen+1)
	badOp := valid
	badOp.Op = 0xFF
	nonCanonical := func() []byte {
		r := valid
		r.Namespace = ""
		e := r.appendTo(nil)
		// Replace the 1-byte namespace length 0x00 by the 2-byte 0x80 0x00.
		out := append([]byte(nil), e[:headLen]...)
		out = append(out, 0x80, 0x00)
		out = append(out, e[headLen+1:]...)
		return reseal(t, out)
	}()
	for _, tc := range []struct {
		name      string
		enc       []byte
		wantIndex bool // the error names the index
	}{
		{"empty", nil, false},
		{"short", enc[:offEpoch-1], false},
		{"header only", enc[:minRecLen-1], true},
		{"truncated", enc[:len(enc)-1], true},
		{"trailing byte", reseal(t, append(append(append([]byte(nil), enc[:len(enc)-64]...), 0), enc[len(enc)-64:]...)), true},
		{"bad version", reseal(t, append([]byte{2}, enc[1:]...)), false},
		{"unknown op", rawEncoding(t, badOp), true},
		{"long namespace", rawEncoding(t, longNS), true},
		{"long key", rawEncoding(t, longKey), true},
		{"long payload", rawEncoding(t, longPayload), true},
		{"non-canonical length", nonCanonical, true},
		{"overflowing length", reseal(t, append(append(append([]byte(nil), enc[:headLen]...), bytes.Repeat([]byte{0xFF}, 10)...), enc[headLen:]...)), true},
		{"hash mismatch", append(append([]byte(nil), enc[:len(enc)-1]...), enc[len(enc)-1]^0x80), true},
	} {
		t.Run("rejects/"+tc.name, func(t *testing.T) {
			var got Record
			err := got.UnmarshalBinary(tc.enc)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			var ie *IndexError
			if gotIndex := errors.As(err, &ie); gotIndex != tc.wantIndex {
				t.Fatalf("error names an index = %v, want %v (err %v)", gotIndex, tc.wantIndex, err)
			}
			if tc.wantIndex && ie.Index != valid.Index {
				t.Fatalf("error names index %d, want %d", ie.Index, valid.Index)
			}
		})
	}
}

func TestRecord_Seal(t *testing.T) {
	t.Run("deterministic", func(t *testing.T) {
		a, b := sampleRecord(), sampleRecord()
		ea, _ := a.MarshalBinary()
		eb, _ := b.MarshalBinary()
		if !bytes.Equal(ea, eb) || a.Hash != b.Hash {
			t.Fatalf("same fields gave different bytes or hashes")
		}
	})
	t.Run("time is two's complement", func(t *testing.T) {
		r := sampleRecord()
		r.Time = -2
		r.Seal()
		enc, _ := r.MarshalBinary()
		if got, want := binary.BigEndian.Uint64(enc[offTime:]), uint64(1<<64-2); got != want {
			t.Fatalf("time field = %#x, want %#x", got, want)
		}
		var back Record
		if err := back.UnmarshalBinary(enc); err != nil || back.Time != -2 {
			t.Fatalf("round trip time = %d (err %v), want -2", back.Time, err)
		}
	})
}
