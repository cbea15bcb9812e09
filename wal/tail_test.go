package wal

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func exportTail(tb testing.TB, l *Log, fork uint64, forkHash [32]byte) (TailHeader, []byte) {
	tb.Helper()
	var buf bytes.Buffer
	hdr, err := l.ExportTail(&buf, TailHeader{Node: "site-a", Region: "monaco", Epoch: 2, NewPrimary: "lux-1", ForkIndex: fork, Exported: time.Unix(1, 0)}, forkHash)
	if err != nil {
		tb.Fatalf("ExportTail: %v", err)
	}
	return hdr, buf.Bytes()
}

func TestLog_ExportTail(t *testing.T) {
	db, _ := openDB(t)
	l := openLog(t, db)
	recs := appendN(t, l, 10)
	for _, tc := range []struct {
		name      string
		fork      uint64
		hash      [32]byte
		wantFirst uint64
		wantN     int
		wantMatch bool
	}{
		{"tail of 3", 7, recs[6].Hash, 8, 3, true},
		{"nothing forked", 10, recs[9].Hash, 0, 0, true},
		{"whole log", 0, [32]byte{}, 1, 10, true},
		{"chains parted", 7, [32]byte{1}, 8, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, b := exportTail(t, l, tc.fork, tc.hash)
			if hdr.ForkMatch != tc.wantMatch || hdr.First != tc.wantFirst {
				t.Fatalf("header: got match %v first %d, want %v %d", hdr.ForkMatch, hdr.First, tc.wantMatch, tc.wantFirst)
			}
			got, gotRecs, err := ReadTail(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("ReadTail: %v", err)
			}
			if got.Node != "site-a" || got.Epoch != 2 || len(gotRecs) != tc.wantN {
				t.Fatalf("got %+v with %d records, want %d", got, len(gotRecs), tc.wantN)
			}
			for i, r := range gotRecs {
				if want := recs[int(tc.fork)+i]; r.Hash != want.Hash || r.Key != want.Key {
					t.Fatalf("record %d: got %d/%s, want %d/%s", i, r.Index, r.Key, want.Index, want.Key)
				}
			}
		})
	}
}

// Every damaged byte is refused, never read as a shorter tail.
func TestReadTail_Corrupt(t *testing.T) {
	db, _ := openDB(t)
	l := openLog(t, db)
	recs := appendN(t, l, 4)
	_, b := exportTail(t, l, 1, recs[0].Hash)
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x20
		if _, _, err := ReadTail(bytes.NewReader(bad)); !errors.Is(err, ErrBadTail) {
			t.Fatalf("byte %d of %d flipped: got %v, want ErrBadTail", i, len(b), err)
		}
	}
	for _, n := range []int{0, 5, len(b) / 2, len(b) - 1} {
		if _, _, err := ReadTail(bytes.NewReader(b[:n])); !errors.Is(err, ErrBadTail) {
			t.Fatalf("truncated to %d bytes: got %v, want ErrBadTail", n, err)
		}
	}
	if _, _, err := ReadTail(bytes.NewReader(append(bytes.Clone(b), 0))); !errors.Is(err, ErrBadTail) {
		t.Fatalf("trailing byte: got %v, want ErrBadTail", err)
	}
}

func FuzzReadTail(f *testing.F) {
	db, _ := openDB(f)
	l := openLog(f, db)
	recs := appendN(f, l, 3)
	_, b := exportTail(f, l, 1, recs[0].Hash)
	f.Add(b)
	_, b = exportTail(f, l, 3, recs[2].Hash)
	f.Add(b)
	f.Add([]byte(tailMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, recs, err := ReadTail(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadTail) {
				t.Fatalf("error does not wrap ErrBadTail: %v", err)
			}
			return
		}
		// An accepted file re-encodes to the same records.
		var buf bytes.Buffer
		tw, err := NewTailWriter(&buf, hdr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if err := tw.Add(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		_, again, err := ReadTail(&buf)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-encoded tail: %d records, %v; want %d", len(again), err, len(recs))
		}
	})
}
