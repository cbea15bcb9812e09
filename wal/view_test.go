package wal

import (
	"errors"
	"testing"
)

// TestIterIn checks that a view taken before retention still reads the
// records, anchor and tip it held, while the live log has moved on.
func TestIterIn(t *testing.T) {
	db, _ := openDB(t)
	l := openLog(t, db)
	recs := appendN(t, l, 20)
	snap := db.NewSnapshot()
	defer snap.Close()
	if err := l.TruncateBefore(11); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5)

	if got, want := l.First(), uint64(11); got != want {
		t.Fatalf("live First: got %d, want %d", got, want)
	}
	if _, err := l.Get(3); !errors.Is(err, ErrCompacted) {
		t.Fatalf("live Get(3): got %v, want ErrCompacted", err)
	}
	anchor, _, err := AnchorIn(snap)
	if err != nil || anchor != 0 {
		t.Fatalf("AnchorIn: got %d, %v, want 0", anchor, err)
	}
	tip, tipHash, err := TipIn(snap)
	if err != nil || tip != 20 || tipHash != recs[19].Hash {
		t.Fatalf("TipIn: got %d %x, %v, want 20 %x", tip, tipHash[:6], err, recs[19].Hash[:6])
	}
	it := IterIn(snap, 1)
	defer it.Close()
	var n uint64
	for it.Next() {
		n++
		if got := it.Record(); got.Index != n || got.Hash != recs[n-1].Hash {
			t.Fatalf("record %d: got index %d hash %x", n, got.Index, got.Hash[:6])
		}
	}
	if err := it.Err(); err != nil || n != 20 {
		t.Fatalf("IterIn: read %d records, err %v; want 20, nil", n, err)
	}
	if liveTip, _, err := TipIn(db); err != nil || liveTip != 25 {
		t.Fatalf("TipIn(live): got %d, %v, want 25", liveTip, err)
	}
	if a, _, err := AnchorIn(db); err != nil || a != 10 {
		t.Fatalf("AnchorIn(live): got %d, %v, want 10", a, err)
	}
}
