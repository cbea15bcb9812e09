package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// quietLogger keeps Pebble's informational chatter out of test output.
type quietLogger struct{ tb testing.TB }

func (quietLogger) Infof(string, ...any)           {}
func (l quietLogger) Errorf(f string, args ...any) { l.tb.Logf("pebble: "+f, args...) }
func (quietLogger) Fatalf(f string, args ...any)   { panic(fmt.Sprintf("pebble: "+f, args...)) }

// dbClosers holds one close function per open test database, so a test
// may close a database early (to reopen it) and the cleanup not again.
var dbClosers sync.Map // *pebble.DB → func() error

// openDBAt opens the Pebble database in dir, closed when the test ends.
func openDBAt(tb testing.TB, dir string) *pebble.DB {
	tb.Helper()
	return openDBOn(tb, dir, nil)
}

// openDBOn opens the Pebble database in dir on fs (nil: the OS).
func openDBOn(tb testing.TB, dir string, fs vfs.FS) *pebble.DB {
	tb.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{tb}, FS: fs})
	if err != nil {
		tb.Fatalf("pebble.Open: %v", err)
	}
	dbClosers.Store(db, sync.OnceValue(db.Close))
	tb.Cleanup(func() { _ = closeDB(db) })
	return db
}

// openDB opens a Pebble database in a fresh temporary directory.
func openDB(tb testing.TB) (*pebble.DB, string) {
	tb.Helper()
	dir := tb.TempDir()
	return openDBAt(tb, dir), dir
}

// closeDB closes db once; later calls return the first result.
func closeDB(db *pebble.DB) error {
	f, ok := dbClosers.Load(db)
	if !ok {
		return fmt.Errorf("closeDB: unknown database")
	}
	return f.(func() error)()
}

func openLog(tb testing.TB, db *pebble.DB) *Log {
	tb.Helper()
	l, err := Open(db, DefaultOptions())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return l
}

// newRecord returns an unsealed record whose fields depend on i.
func newRecord(i int) *Record {
	return &Record{
		Epoch: 1, Term: uint64(1 + i/100), Time: int64(1_700_000_000_000_000_000 + i),
		Namespace: "ns", Key: fmt.Sprintf("key-%d", i), Op: OpPut,
		Payload: []byte(fmt.Sprintf("sealed-%d", i)),
	}
}

// appendN appends n records committed with one batch each.
func appendN(tb testing.TB, l *Log, n int) []Record {
	tb.Helper()
	out := make([]Record, 0, n)
	for i := 0; i < n; i++ {
		r := newRecord(i)
		if err := l.Append(false, r); err != nil {
			tb.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, *r)
	}
	return out
}

// wantIndexErr checks that err is target and names index.
func wantIndexErr(tb testing.TB, err, target error, index uint64) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("err = %v, want %v", err, target)
	}
	var ie *IndexError
	if !errors.As(err, &ie) {
		tb.Fatalf("err = %v does not name an index", err)
	}
	if got, want := ie.Index, index; got != want {
		tb.Fatalf("error names index %d, want %d (err %v)", got, want, err)
	}
}

// rawValue reads the stored bytes of record index.
func rawValue(tb testing.TB, db *pebble.DB, index uint64) []byte {
	tb.Helper()
	v, c, err := db.Get(recordKey(index))
	if err != nil {
		tb.Fatalf("raw get %d: %v", index, err)
	}
	defer c.Close()
	return append([]byte(nil), v...)
}

func rawSet(tb testing.TB, db *pebble.DB, key, value []byte) {
	tb.Helper()
	if err := db.Set(key, value, pebble.Sync); err != nil {
		tb.Fatalf("raw set %x: %v", key, err)
	}
}

func TestOpen(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		if got, want := l.First(), uint64(1); got != want {
			t.Errorf("First = %d, want %d", got, want)
		}
		if idx, h := l.Last(); idx != 0 || h != ([32]byte{}) {
			t.Errorf("Last = %d, %x, want 0, zero", idx, h)
		}
		if idx, h := l.Anchor(); idx != 0 || h != ([32]byte{}) {
			t.Errorf("Anchor = %d, %x, want 0, zero", idx, h)
		}
	})

	t.Run("nil db", func(t *testing.T) {
		if _, err := Open(nil, DefaultOptions()); err == nil {
			t.Fatal("Open(nil) succeeded")
		}
	})

	t.Run("reopen finds the tip", func(t *testing.T) {
		db, dir := openDB(t)
		l := openLog(t, db)
		recs := appendN(t, l, 5)
		if err := closeDB(db); err != nil { // no Flush: Pebble's WAL replays
			t.Fatal(err)
		}
		db2 := openDBAt(t, dir)
		l2 := openLog(t, db2)
		idx, h := l2.Last()
		if got, want := idx, uint64(5); got != want {
			t.Fatalf("Last = %d, want %d", got, want)
		}
		if h != recs[4].Hash {
			t.Fatalf("tip hash = %x, want %x", h, recs[4].Hash)
		}
	})

	for _, tc := range []struct {
		name   string
		damage func(tb testing.TB, db *pebble.DB, recs []Record)
		target error
		index  uint64
	}{
		{"corrupt tip", func(tb testing.TB, db *pebble.DB, _ []Record) {
			v := rawValue(tb, db, 4)
			v[len(v)-40] ^= 1
			rawSet(tb, db, recordKey(4), v)
		}, ErrCorrupt, 4},
		{"corrupt first", func(tb testing.TB, db *pebble.DB, _ []Record) {
			v := rawValue(tb, db, 1)
			v[offEpoch] ^= 1
			rawSet(tb, db, recordKey(1), v)
		}, ErrCorrupt, 1},
		{"first record after the anchor missing", func(tb testing.TB, db *pebble.DB, recs []Record) {
			rawSet(tb, db, anchorKey, encodeAnchor(2, recs[1].Hash))
			if err := db.Delete(recordKey(3), pebble.Sync); err != nil {
				tb.Fatal(err)
			}
		}, ErrGap, 3},
		{"first does not link to anchor", func(tb testing.TB, db *pebble.DB, _ []Record) {
			if err := db.Delete(recordKey(1), pebble.Sync); err != nil {
				tb.Fatal(err)
			}
			rawSet(tb, db, anchorKey, encodeAnchor(1, [32]byte{0xEE}))
		}, ErrChainBroken, 2},
		{"record under the wrong key", func(tb testing.TB, db *pebble.DB, _ []Record) {
			rawSet(tb, db, recordKey(4), rawValue(tb, db, 3))
		}, ErrCorrupt, 4},
	} {
		t.Run("refuses/"+tc.name, func(t *testing.T) {
			db, _ := openDB(t)
			recs := appendN(t, openLog(t, db), 4)
			tc.damage(t, db, recs)
			_, err := Open(db, DefaultOptions())
			wantIndexErr(t, err, tc.target, tc.index)
		})
	}

	t.Run("records below the anchor are unreachable", func(t *testing.T) {
		db, _ := openDB(t)
		recs := appendN(t, openLog(t, db), 4)
		rawSet(t, db, anchorKey, encodeAnchor(2, recs[1].Hash))
		l := openLog(t, db)
		if got := l.First(); got != 3 {
			t.Fatalf("First = %d, want 3", got)
		}
		_, err := l.Get(2)
		wantIndexErr(t, err, ErrCompacted, 2)
		if err := l.Verify(0, 4); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refuses/corrupt anchor", func(t *testing.T) {
		db, _ := openDB(t)
		rawSet(t, db, anchorKey, []byte{anchorVersion, 1, 2})
		if _, err := Open(db, DefaultOptions()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
}

func TestLog_Append(t *testing.T) {
	t.Run("chain", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		recs := appendN(t, l, 10)
		var prev [32]byte
		for i, r := range recs {
			if got, want := r.Index, uint64(i+1); got != want {
				t.Fatalf("record %d: Index = %d, want %d", i, got, want)
			}
			if r.PrevHash != prev {
				t.Fatalf("record %d: PrevHash = %x, want %x", r.Index, r.PrevHash, prev)
			}
			if r.ComputeHash() != r.Hash {
				t.Fatalf("record %d not sealed", r.Index)
			}
			got, err := l.Get(r.Index)
			if err != nil {
				t.Fatalf("Get(%d): %v", r.Index, err)
			}
			assertRecordEqual(t, got, r)
			prev = r.Hash
		}
		if idx, h := l.Last(); idx != 10 || h != prev {
			t.Fatalf("Last = %d, %x, want 10, %x", idx, h, prev)
		}
		if err := l.Verify(1, 10); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})

	t.Run("several records in one batch", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		a, b, c := newRecord(0), newRecord(1), newRecord(2)
		if err := l.Append(true, a, b, c); err != nil {
			t.Fatal(err)
		}
		if a.Index != 1 || b.Index != 2 || c.Index != 3 || b.PrevHash != a.Hash || c.PrevHash != b.Hash {
			t.Fatalf("batch not chained: %d %d %d", a.Index, b.Index, c.Index)
		}
		if err := l.Verify(0, 3); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("invalid record commits nothing", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		appendN(t, l, 2)
		bad := newRecord(9)
		bad.Op = 0
		err := l.Append(false, newRecord(3), bad)
		if !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("err = %v, want ErrInvalidRecord", err)
		}
		if idx, _ := l.Last(); idx != 2 {
			t.Fatalf("Last = %d after failed Append, want 2", idx)
		}
		if _, err := l.Get(3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(3) err = %v, want ErrNotFound", err)
		}
	})
}

func TestLog_Stage(t *testing.T) {
	t.Run("with state in one batch", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		b := db.NewBatch()
		stateKey := []byte{0x10, 'k'}
		if err := b.Set(stateKey, []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
		r := newRecord(0)
		if err := l.Stage(b, r); err != nil {
			t.Fatal(err)
		}
		if idx, _ := l.Last(); idx != 1 {
			t.Fatalf("Last after Stage = %d, want 1", idx)
		}
		if _, err := l.Get(1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get before commit err = %v, want ErrNotFound", err)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		got, err := l.Get(1)
		if err != nil {
			t.Fatal(err)
		}
		assertRecordEqual(t, got, *r)
		if v, c, err := db.Get(stateKey); err != nil || string(v) != "v" {
			t.Fatalf("state key: %q, %v", v, err)
		} else {
			c.Close()
		}
	})

	t.Run("dropped batch then Reload", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		recs := appendN(t, l, 3)
		b := db.NewBatch()
		for i := 0; i < 2; i++ {
			if err := l.Stage(b, newRecord(10+i)); err != nil {
				t.Fatal(err)
			}
		}
		if idx, _ := l.Last(); idx != 5 {
			t.Fatalf("Last after Stage = %d, want 5", idx)
		}
		_ = b.Close() // never committed
		if err := l.Reload(); err != nil {
			t.Fatal(err)
		}
		if idx, h := l.Last(); idx != 3 || h != recs[2].Hash {
			t.Fatalf("Last after Reload = %d, want 3 with the hash of record 3", idx)
		}
		r := newRecord(20)
		if err := l.Append(false, r); err != nil {
			t.Fatal(err)
		}
		if r.Index != 4 || r.PrevHash != recs[2].Hash {
			t.Fatalf("record after Reload: index %d, linked %v", r.Index, r.PrevHash == recs[2].Hash)
		}
	})

	t.Run("invalid record", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		b := db.NewBatch()
		defer b.Close()
		r := newRecord(0)
		r.Key = string(make([]byte, MaxNameLen+1))
		wantIndexErr(t, l.Stage(b, r), ErrInvalidRecord, 1)
		if !b.Empty() || r.Index != 0 {
			t.Fatalf("failed Stage touched the batch or the record")
		}
		if idx, _ := l.Last(); idx != 0 {
			t.Fatalf("Last = %d, want 0", idx)
		}
	})
}

func TestLog_StageVerified(t *testing.T) {
	t.Run("replica is byte-identical", func(t *testing.T) {
		pdb, _ := openDB(t)
		primary := openLog(t, pdb)
		recs := appendN(t, primary, 20)
		tdb, _ := openDB(t)
		twin := openLog(t, tdb)
		for _, r := range recs {
			b := tdb.NewBatch()
			if err := twin.StageVerified(b, r); err != nil {
				t.Fatalf("StageVerified %d: %v", r.Index, err)
			}
			if err := b.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			_ = b.Close()
		}
		pi, ph := primary.Last()
		ti, th := twin.Last()
		if pi != ti || ph != th {
			t.Fatalf("twin tip %d %x, primary %d %x", ti, th, pi, ph)
		}
		for _, r := range recs {
			if got, want := rawValue(t, tdb, r.Index), rawValue(t, pdb, r.Index); !bytes.Equal(got, want) {
				t.Fatalf("record %d differs between primary and twin", r.Index)
			}
		}
	})

	db, _ := openDB(t)
	src := appendN(t, openLog(t, db), 3)
	for _, tc := range []struct {
		name   string
		rec    func() Record
		target error
		index  uint64
	}{
		{"gap", func() Record { return src[2] }, ErrGap, 3},
		{"duplicate", func() Record { return src[0] }, ErrGap, 1},
		{"chain broken", func() Record {
			r := src[1]
			r.PrevHash[0] ^= 1
			r.Seal()
			return r
		}, ErrChainBroken, 2},
		{"forged payload", func() Record {
			r := src[1]
			r.Payload = []byte("forged")
			return r
		}, ErrCorrupt, 2},
		{"invalid op", func() Record {
			r := src[1]
			r.Op = 7
			r.Seal()
			return r
		}, ErrCorrupt, 2},
	} {
		t.Run("refuses/"+tc.name, func(t *testing.T) {
			tdb, _ := openDB(t)
			twin := openLog(t, tdb)
			b := tdb.NewBatch()
			defer b.Close()
			if err := twin.StageVerified(b, src[0]); err != nil {
				t.Fatal(err)
			}
			before := b.Count()
			wantIndexErr(t, twin.StageVerified(b, tc.rec()), tc.target, tc.index)
			if b.Count() != before {
				t.Fatalf("refused record was added to the batch")
			}
			if idx, h := twin.Last(); idx != 1 || h != src[0].Hash {
				t.Fatalf("tip moved to %d after a refused record", idx)
			}
		})
	}
}

func TestLog_Get(t *testing.T) {
	db, _ := openDB(t)
	l := openLog(t, db)
	appendN(t, l, 6)
	if err := l.TruncateBefore(3); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index  uint64
		target error
	}{{0, ErrNotFound}, {1, ErrCompacted}, {2, ErrCompacted}, {7, ErrNotFound}, {1 << 63, ErrNotFound}} {
		t.Run(fmt.Sprintf("index %d", tc.index), func(t *testing.T) {
			_, err := l.Get(tc.index)
			wantIndexErr(t, err, tc.target, tc.index)
		})
	}
}

// tamperCase damages record 5 of a 10-record log directly in Pebble and
// says what every reader must report.
type tamperCase struct {
	name    string
	damage  func(tb testing.TB, db *pebble.DB)
	getErr  error  // Get(5); nil if record 5 still verifies on its own
	target  error  // Iter and Verify
	badIdx  uint64 // index they name
	okUntil uint64 // last record Iter yields before stopping
}

func tamperCases() []tamperCase {
	flip := func(off func(v []byte) int) func(tb testing.TB, db *pebble.DB) {
		return func(tb testing.TB, db *pebble.DB) {
			v := rawValue(tb, db, 5)
			v[off(v)] ^= 0x04
			rawSet(tb, db, recordKey(5), v)
		}
	}
	cases := []tamperCase{
		{name: "version byte", damage: flip(func([]byte) int { return 0 })},
		{name: "index field", damage: flip(func([]byte) int { return offIndex + 7 })},
		{name: "term", damage: flip(func([]byte) int { return offTerm + 3 })},
		{name: "time", damage: flip(func([]byte) int { return offTime + 7 })},
		{name: "op", damage: flip(func([]byte) int { return offOp })},
		{name: "namespace length", damage: flip(func([]byte) int { return headLen })},
		{name: "key byte", damage: flip(func([]byte) int { return headLen + 4 })},
		{name: "payload byte", damage: flip(func(v []byte) int { return len(v) - 65 })},
		{name: "prev hash", damage: flip(func(v []byte) int { return len(v) - 40 })},
		{name: "hash", damage: flip(func(v []byte) int { return len(v) - 1 })},
		{name: "truncated value", damage: func(tb testing.TB, db *pebble.DB) {
			v := rawValue(tb, db, 5)
			rawSet(tb, db, recordKey(5), v[:len(v)-1])
		}},
	}
	for i := range cases {
		cases[i].getErr, cases[i].target, cases[i].badIdx, cases[i].okUntil = ErrCorrupt, ErrCorrupt, 5, 4
	}
	return append(cases,
		tamperCase{
			// A forger who rewrites record 5 and reseals it is caught by
			// record 6, which still links to the original.
			name: "resealed forgery",
			damage: func(tb testing.TB, db *pebble.DB) {
				var r Record
				if err := r.UnmarshalBinary(rawValue(tb, db, 5)); err != nil {
					tb.Fatal(err)
				}
				r.Payload = []byte("forged")
				r.Seal()
				enc, _ := r.MarshalBinary()
				rawSet(tb, db, recordKey(5), enc)
			},
			getErr: nil, target: ErrChainBroken, badIdx: 6, okUntil: 5,
		},
		tamperCase{
			name: "deleted record",
			damage: func(tb testing.TB, db *pebble.DB) {
				if err := db.Delete(recordKey(5), pebble.Sync); err != nil {
					tb.Fatal(err)
				}
			},
			getErr: ErrNotFound, target: ErrGap, badIdx: 5, okUntil: 4,
		},
	)
}

func TestLog_Tamper(t *testing.T) {
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openDB(t)
			l := openLog(t, db)
			appendN(t, l, 10)
			tc.damage(t, db)

			_, err := l.Get(5)
			if tc.getErr == nil {
				if err != nil {
					t.Fatalf("Get(5): %v", err)
				}
			} else {
				wantIndexErr(t, err, tc.getErr, 5)
			}

			it := l.Iter(1)
			var last uint64
			for it.Next() {
				last = it.Record().Index
			}
			if last != tc.okUntil {
				t.Fatalf("Iter yielded up to %d, want %d", last, tc.okUntil)
			}
			wantIndexErr(t, it.Err(), tc.target, tc.badIdx)
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}

			wantIndexErr(t, l.Verify(1, 10), tc.target, tc.badIdx)
			// Verify of a range that does not reach the damage is clean.
			if err := l.Verify(1, tc.badIdx-2); err != nil {
				t.Fatalf("Verify before the damage: %v", err)
			}
		})
	}
}

func TestLog_Iter(t *testing.T) {
	db, _ := openDB(t)
	l := openLog(t, db)
	recs := appendN(t, l, 10)
	collect := func(tb testing.TB, from uint64) ([]uint64, error) {
		tb.Helper()
		it := l.Iter(from)
		defer it.Close()
		var got []uint64
		for it.Next() {
			r := it.Record()
			assertRecordEqual(tb, r, recs[r.Index-1])
			got = append(got, r.Index)
		}
		return got, it.Err()
	}
	for _, tc := range []struct {
		from        uint64
		first, last uint64 // 0, 0 for none
	}{{0, 1, 10}, {1, 1, 10}, {4, 4, 10}, {10, 10, 10}, {11, 0, 0}, {50, 0, 0}} {
		t.Run(fmt.Sprintf("from %d", tc.from), func(t *testing.T) {
			got, err := collect(t, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if tc.first == 0 {
				if len(got) != 0 {
					t.Fatalf("got %v, want nothing", got)
				}
				return
			}
			if len(got) == 0 || got[0] != tc.first || got[len(got)-1] != tc.last || len(got) != int(tc.last-tc.first+1) {
				t.Fatalf("got %v, want %d..%d", got, tc.first, tc.last)
			}
		})
	}

	t.Run("point in time view", func(t *testing.T) {
		it := l.Iter(9)
		defer it.Close()
		recs = append(recs, appendN(t, l, 1)...) // record 11, after the iterator was made
		var got []uint64
		for it.Next() {
			got = append(got, it.Record().Index)
		}
		if it.Err() != nil || len(got) != 2 || got[1] != 10 {
			t.Fatalf("got %v (err %v), want [9 10]", got, it.Err())
		}
	})

	t.Run("compacted", func(t *testing.T) {
		if err := l.TruncateBefore(4); err != nil {
			t.Fatal(err)
		}
		_, err := collect(t, 2)
		wantIndexErr(t, err, ErrCompacted, 2)
		got, err := collect(t, 0)
		if err != nil || len(got) == 0 || got[0] != 4 {
			t.Fatalf("from 0 after truncation: %v (err %v), want to start at 4", got, err)
		}
	})

	t.Run("close twice", func(t *testing.T) {
		it := l.Iter(0)
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if it.Next() {
			t.Fatal("Next after Close returned true")
		}
	})
}

func TestLog_TruncateBefore(t *testing.T) {
	t.Run("keeps an anchor", func(t *testing.T) {
		db, dir := openDB(t)
		l := openLog(t, db)
		recs := appendN(t, l, 10)
		if err := l.TruncateBefore(5); err != nil {
			t.Fatal(err)
		}
		if got, want := l.First(), uint64(5); got != want {
			t.Fatalf("First = %d, want %d", got, want)
		}
		if idx, h := l.Anchor(); idx != 4 || h != recs[3].Hash {
			t.Fatalf("Anchor = %d, want 4 with record 4's hash", idx)
		}
		if _, err := l.Get(4); !errors.Is(err, ErrCompacted) {
			t.Fatalf("Get(4) err = %v, want ErrCompacted", err)
		}
		if _, _, err := db.Get(recordKey(4)); !errors.Is(err, pebble.ErrNotFound) {
			t.Fatalf("record 4 still stored (err %v)", err)
		}
		if err := l.Verify(0, 10); err != nil {
			t.Fatalf("Verify after truncation: %v", err)
		}
		if err := l.TruncateBefore(3); err != nil { // below the anchor: no-op
			t.Fatal(err)
		}
		if got := l.First(); got != 5 {
			t.Fatalf("First = %d after a lower TruncateBefore, want 5", got)
		}

		if err := closeDB(db); err != nil {
			t.Fatal(err)
		}
		db2 := openDBAt(t, dir)
		l2 := openLog(t, db2)
		if got := l2.First(); got != 5 {
			t.Fatalf("First after reopen = %d, want 5", got)
		}
		r := newRecord(99)
		if err := l2.Append(true, r); err != nil {
			t.Fatal(err)
		}
		if r.Index != 11 || r.PrevHash != recs[9].Hash {
			t.Fatalf("append after reopen: index %d", r.Index)
		}
		if err := l2.Verify(0, 11); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("clamped to the tip", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		recs := appendN(t, l, 4)
		if err := l.TruncateBefore(100); err != nil {
			t.Fatal(err)
		}
		if idx, h := l.Anchor(); idx != 4 || h != recs[3].Hash {
			t.Fatalf("Anchor = %d, want the tip 4", idx)
		}
		if idx, h := l.Last(); idx != 4 || h != recs[3].Hash {
			t.Fatalf("Last = %d, want 4 (kept by the anchor)", idx)
		}
		if got := l.First(); got != 5 {
			t.Fatalf("First = %d, want 5 (empty log)", got)
		}
		l2 := openLog(t, db)
		if idx, h := l2.Last(); idx != 4 || h != recs[3].Hash {
			t.Fatalf("reopened Last = %d, want 4", idx)
		}
		r := newRecord(5)
		if err := l2.Append(false, r); err != nil {
			t.Fatal(err)
		}
		if r.Index != 5 || r.PrevHash != recs[3].Hash {
			t.Fatalf("append after full truncation: index %d", r.Index)
		}
		if err := l2.Verify(0, 5); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ignores staged records", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		recs := appendN(t, l, 3)
		b := db.NewBatch()
		defer b.Close()
		if err := l.Stage(b, newRecord(3)); err != nil { // index 4, not committed
			t.Fatal(err)
		}
		if err := l.TruncateBefore(5); err != nil {
			t.Fatal(err)
		}
		if idx, h := l.Anchor(); idx != 3 || h != recs[2].Hash {
			t.Fatalf("Anchor = %d, want the last committed record 3", idx)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if err := l.Verify(0, 4); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refuses a corrupt anchor record", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		appendN(t, l, 5)
		v := rawValue(t, db, 3)
		v[offEpoch] ^= 1
		rawSet(t, db, recordKey(3), v)
		wantIndexErr(t, l.TruncateBefore(4), ErrCorrupt, 3)
		if got := l.First(); got != 1 {
			t.Fatalf("First = %d after refused truncation, want 1", got)
		}
	})
}

func TestLog_Reset(t *testing.T) {
	// The source: a primary whose log was truncated before 5.
	pdb, _ := openDB(t)
	primary := openLog(t, pdb)
	recs := appendN(t, primary, 10)
	if err := primary.TruncateBefore(5); err != nil {
		t.Fatal(err)
	}
	ai, ah := primary.Anchor()

	restore := func(tb testing.TB, l *Log, db *pebble.DB) *pebble.Batch {
		tb.Helper()
		b := db.NewBatch()
		if err := l.Reset(b, ai, ah); err != nil {
			tb.Fatal(err)
		}
		if idx, h := l.Last(); idx != ai || h != ah {
			tb.Fatalf("Last after Reset = %d, want the anchor %d", idx, ai)
		}
		for _, r := range recs[4:] {
			if err := l.StageVerified(b, r); err != nil {
				tb.Fatalf("StageVerified %d: %v", r.Index, err)
			}
		}
		return b
	}

	t.Run("replaces the log", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		for i := 0; i < 12; i++ { // a diverged log, longer than the snapshot's
			if err := l.Append(false, &Record{Op: OpDelete, Key: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		b := restore(t, l, db)
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		if err := l.Verify(0, 10); err != nil {
			t.Fatal(err)
		}
		for _, idx := range []uint64{11, 12} {
			if _, _, err := db.Get(recordKey(idx)); !errors.Is(err, pebble.ErrNotFound) {
				t.Fatalf("diverged record %d survived Reset (err %v)", idx, err)
			}
		}
		l2 := openLog(t, db)
		if idx, h := l2.Last(); idx != 10 || h != recs[9].Hash {
			t.Fatalf("reopened Last = %d, want 10", idx)
		}
		if got := l2.First(); got != 5 {
			t.Fatalf("reopened First = %d, want 5", got)
		}
	})

	t.Run("dropped batch then Reload", func(t *testing.T) {
		db, _ := openDB(t)
		l := openLog(t, db)
		own := appendN(t, l, 2)
		b := restore(t, l, db)
		_ = b.Close()
		if err := l.Reload(); err != nil {
			t.Fatal(err)
		}
		if idx, h := l.Last(); idx != 2 || h != own[1].Hash {
			t.Fatalf("Last after Reload = %d, want 2", idx)
		}
		if idx, _ := l.Anchor(); idx != 0 {
			t.Fatalf("Anchor after Reload = %d, want 0", idx)
		}
	})
}

func TestLog_Prefixes(t *testing.T) {
	db, _ := openDB(t)
	foreign := map[string]string{
		string([]byte{0x01, 0, 0, 0, 0, 0, 0, 0, 1}): "raft log",
		string([]byte{0x02, 'k'}):                    "raft stable",
		string([]byte{0x05}):                         "next prefix",
		string([]byte{0x10, 'a'}):                    "state",
		string([]byte{0x11, 'a'}):                    "fsm meta",
	}
	for k, v := range foreign {
		rawSet(t, db, []byte(k), []byte(v))
	}
	l := openLog(t, db)
	if idx, _ := l.Last(); idx != 0 {
		t.Fatalf("foreign keys seen as records: Last = %d", idx)
	}
	appendN(t, l, 5)
	if err := l.TruncateBefore(3); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	if err := l.Reset(b, 0, [32]byte{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	for k, want := range foreign {
		v, c, err := db.Get([]byte(k))
		if err != nil {
			t.Fatalf("%s key %x: %v", want, k, err)
		}
		if got := string(v); got != want {
			t.Fatalf("%s key %x = %q", want, k, got)
		}
		c.Close()
	}
}

func TestLog_Concurrent(t *testing.T) {
	db, _ := openDB(t)
	l := openLog(t, db)
	const batches, perBatch = 40, 5
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 8)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	// Readers: iterate and verify what is committed, with retention
	// moving the anchor underneath them.
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 10_000; round++ {
				select {
				case <-done:
					return
				default:
				}
				it := l.Iter(0)
				var last uint64
				for it.Next() {
					last = it.Record().Index
				}
				err := it.Err()
				_ = it.Close()
				if err != nil && !errors.Is(err, ErrCompacted) {
					report(fmt.Errorf("iter: %w", err))
					return
				}
				if last > 0 {
					if err := l.Verify(last, last); err != nil && !errors.Is(err, ErrCompacted) {
						report(fmt.Errorf("verify %d: %w", last, err))
						return
					}
				}
				_, _ = l.Last()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 0; round < 10_000; round++ {
			select {
			case <-done:
				return
			default:
			}
			last, _ := l.Last()
			if last > 10 {
				if err := l.TruncateBefore(last - 10); err != nil {
					report(fmt.Errorf("truncate: %w", err))
					return
				}
			}
		}
	}()

	// The single writer, like the FSM.
	for i := 0; i < batches; i++ {
		b := db.NewBatch()
		for j := 0; j < perBatch; j++ {
			if err := l.Stage(b, newRecord(i*perBatch+j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if idx, _ := l.Last(); idx != batches*perBatch {
		t.Fatalf("Last = %d, want %d", idx, batches*perBatch)
	}
	if err := l.Verify(0, batches*perBatch); err != nil {
		t.Fatal(err)
	}
}

func TestLog_CrashSafety(t *testing.T) {
	// The state of the disk at one instant as a power loss would leave it
	// (Pebble's crashable in-memory FS drops everything not fsynced),
	// without closing or flushing anything.
	t.Run("a synced append makes earlier unsynced ones durable", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		db := openDBOn(t, "db", fs)
		l := openLog(t, db)
		appendN(t, l, 3) // NoSync, like the FSM's batches
		r := newRecord(3)
		if err := l.Append(true, r); err != nil {
			t.Fatal(err)
		}
		if err := l.TruncateBefore(2); err != nil {
			t.Fatal(err)
		}
		crashed := openDBOn(t, "db", fs.CrashClone(vfs.CrashCloneCfg{}))
		l2 := openLog(t, crashed)
		if idx, h := l2.Last(); idx != 4 || h != r.Hash {
			t.Fatalf("Last after crash = %d, want 4", idx)
		}
		if got := l2.First(); got != 2 {
			t.Fatalf("First after crash = %d, want 2", got)
		}
		if err := l2.Verify(0, 4); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unsynced appends leave a consistent log", func(t *testing.T) {
		for seed := uint64(1); seed <= 4; seed++ {
			fs := vfs.NewCrashableMem()
			l := openLog(t, openDBOn(t, "db", fs))
			recs := appendN(t, l, 20)
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, seed))})
			l2 := openLog(t, openDBOn(t, "db", clone))
			idx, h := l2.Last()
			if idx > 0 && h != recs[idx-1].Hash {
				t.Fatalf("seed %d: tip %d has another hash than the record written", seed, idx)
			}
			if err := l2.Verify(0, idx); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
	})
}

func TestDecodeAnchor(t *testing.T) {
	h := [32]byte{1, 2, 3}
	enc := encodeAnchor(42, h)
	idx, got, err := decodeAnchor(enc)
	if err != nil || idx != 42 || got != h {
		t.Fatalf("decodeAnchor = %d, %x, %v; want 42, %x", idx, got, err, h)
	}
	for _, bad := range [][]byte{nil, enc[:anchorLen-1], append(append([]byte(nil), enc...), 0), append([]byte{9}, enc[1:]...)} {
		if _, _, err := decodeAnchor(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeAnchor(%x) err = %v, want ErrCorrupt", bad, err)
		}
	}
	if got := binary.BigEndian.Uint64(recordKey(258)[1:]); got != 258 {
		t.Fatalf("recordKey round trip = %d", got)
	}
}
