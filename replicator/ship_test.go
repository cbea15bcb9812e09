package replicator

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/monaco-sovereign/jumeau/wal"
)

func testRecords(tb testing.TB, n int) []wal.Record {
	tb.Helper()
	var prev [32]byte
	out := make([]wal.Record, n)
	for i := range out {
		out[i] = wal.Record{Index: uint64(i + 1), Epoch: 1, Term: 1, Time: int64(i), Namespace: "ns", Key: "k", Op: wal.OpPut, Payload: bytes.Repeat([]byte{byte(i)}, 100), PrevHash: prev}
		out[i].Seal()
		prev = out[i].Hash
	}
	return out
}

func packRecords(tb testing.TB, recs []wal.Record, codec uint8) *shipRecords {
	tb.Helper()
	var buf []byte
	for i := range recs {
		var err error
		if buf, err = appendRecord(buf, &recs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	m := &shipRecords{Epoch: 1, First: recs[0].Index, Count: uint32(len(recs)), RawLen: uint32(len(buf)), Data: buf}
	if codec == codecZstd {
		enc, _, err := zstdCoders()
		if err != nil {
			tb.Fatal(err)
		}
		m.Codec, m.Data = codecZstd, enc.EncodeAll(buf, nil)
	}
	return m
}

func TestUnpackRecords(t *testing.T) {
	recs := testRecords(t, 20)
	for _, codec := range []uint8{codecNone, codecZstd} {
		m := packRecords(t, recs, codec)
		got, err := unpackRecords(m)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if len(got) != len(recs) || got[19].Hash != recs[19].Hash || !bytes.Equal(got[3].Payload, recs[3].Payload) {
			t.Fatalf("codec %d: records differ", codec)
		}
	}
	bad := []struct {
		name string
		edit func(m *shipRecords)
	}{
		{"count too high", func(m *shipRecords) { m.Count++ }},
		{"count too low", func(m *shipRecords) { m.Count-- }},
		{"zero count", func(m *shipRecords) { m.Count = 0 }},
		{"raw length lies", func(m *shipRecords) { m.RawLen-- }},
		{"raw length too large", func(m *shipRecords) { m.RawLen = maxShipRaw + 1 }},
		{"unknown codec", func(m *shipRecords) { m.Codec = 7 }},
		{"truncated", func(m *shipRecords) { m.Data = m.Data[:len(m.Data)-1]; m.RawLen-- }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			m := packRecords(t, recs, codecNone)
			tc.edit(m)
			if _, err := unpackRecords(m); !errors.Is(err, errBadBatch) {
				t.Fatalf("got %v, want errBadBatch", err)
			}
		})
	}
}

// FuzzUnpackRecords feeds arbitrary frame payloads (as received from the
// wire) to the twin's decoder: it must never panic nor over-allocate, and
// whatever it accepts must re-encode to the same bytes.
func FuzzUnpackRecords(f *testing.F) {
	recs := testRecords(f, 3)
	for _, codec := range []uint8{codecNone, codecZstd} {
		m := packRecords(f, recs, codec)
		f.Add(m.Data, m.Count, m.RawLen, codec)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, uint32(1), uint32(5), codecNone)
	f.Fuzz(func(t *testing.T, data []byte, count, rawLen uint32, codec uint8) {
		got, err := unpackRecords(&shipRecords{Data: data, Count: count, RawLen: rawLen, Codec: codec % 3})
		if err != nil {
			return
		}
		if uint32(len(got)) != count {
			t.Fatalf("decoded %d records, count %d", len(got), count)
		}
		if codec%3 == codecNone {
			var buf []byte
			for i := range got {
				if buf, err = appendRecord(buf, &got[i]); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(buf, data) {
				t.Fatalf("accepted bytes do not re-encode identically")
			}
		}
	})
}

// FuzzReadSnapshot feeds arbitrary snapshot streams (as a twin receives
// them from the wire) to the snapshot reader over an in-memory Pebble: it
// must never panic, and a stream it accepts must leave a WAL that reloads.
func FuzzReadSnapshot(f *testing.F) {
	db := openMemDB(f)
	w, err := wal.Open(db, wal.Options{})
	if err != nil {
		f.Fatal(err)
	}
	// A valid seed: the state snapshot of a small store.
	recs := testRecords(f, 3)
	b := db.NewBatch()
	for i := range recs {
		if err := w.StageVerified(b, recs[i]); err != nil {
			f.Fatal(err)
		}
		stageState(b, &recs[i], map[string]bool{}, func(string) bool { return false })
	}
	if err := b.Commit(pebble.Sync); err != nil {
		f.Fatal(err)
	}
	snap, err := newStateSnapshot(db)
	if err != nil {
		f.Fatal(err)
	}
	var seed bytes.Buffer
	if err := snap.persist(&seed); err != nil {
		f.Fatal(err)
	}
	snap.Release()
	f.Add(seed.Bytes())
	f.Add([]byte{snapVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		db := openMemDB(t)
		w, err := wal.Open(db, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b := db.NewBatch()
		defer b.Close()
		if _, _, err := readSnapshot(bytes.NewReader(data), b, w, nil); err != nil {
			return
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if err := w.Reload(); err != nil {
			t.Fatalf("accepted snapshot leaves a WAL that does not reload: %v", err)
		}
	})
}

func openMemDB(tb testing.TB) *pebble.DB {
	tb.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
