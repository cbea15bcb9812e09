package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// quietLogger keeps Pebble's informational chatter out of test output.
type quietLogger struct{ tb testing.TB }

func (quietLogger) Infof(string, ...any)           {}
func (l quietLogger) Errorf(f string, args ...any) { l.tb.Logf("pebble: "+f, args...) }
func (quietLogger) Fatalf(f string, args ...any)   { panic(fmt.Sprintf("pebble: "+f, args...)) }

// dbClosers holds one close function per open test database, so a test
// may close a database early (to reopen it) and the cleanup not again.
var dbClosers sync.Map // *pebble.DB → func() error

// openDBAt opens the Pebble database in dir (on fs, if not nil), closed
// when the test ends.
func openDBAt(tb testing.TB, dir string, fs vfs.FS) *pebble.DB {
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
	return openDBAt(tb, dir, nil), dir
}

// closeDB closes db once; later calls return the first result.
func closeDB(db *pebble.DB) error {
	f, ok := dbClosers.Load(db)
	if !ok {
		return fmt.Errorf("closeDB: unknown database")
	}
	return f.(func() error)()
}

func newStore(tb testing.TB, db *pebble.DB) *Store {
	tb.Helper()
	s, err := New(db, DefaultOptions())
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

// sampleLog returns an entry with every field set from i.
func sampleLog(i uint64) *raft.Log {
	return &raft.Log{
		Index:      i,
		Term:       1 + i/10,
		Type:       raft.LogCommand,
		Data:       []byte(fmt.Sprintf("command-%d", i)),
		Extensions: []byte{byte(i), 0xEE},
		AppendedAt: time.Unix(1_700_000_000+int64(i), int64(i)*1000).In(time.FixedZone("MCO", 3600)),
	}
}

func sampleLogs(lo, hi uint64) []*raft.Log {
	var out []*raft.Log
	for i := lo; i <= hi; i++ {
		out = append(out, sampleLog(i))
	}
	return out
}

func storeLogs(tb testing.TB, s *Store, logs []*raft.Log) {
	tb.Helper()
	if err := s.StoreLogs(logs); err != nil {
		tb.Fatalf("StoreLogs: %v", err)
	}
}

func logsEqual(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt) && a.AppendedAt.IsZero() == b.AppendedAt.IsZero()
}

// wantBounds checks FirstIndex and LastIndex.
func wantBounds(tb testing.TB, s *Store, first, last uint64) {
	tb.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		tb.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		tb.Fatal(err)
	}
	if f != first || l != last {
		tb.Fatalf("FirstIndex, LastIndex = %d, %d, want %d, %d", f, l, first, last)
	}
}

// wantPresent checks which indexes in lo..hi GetLog finds.
func wantPresent(tb testing.TB, s *Store, lo, hi uint64, present func(uint64) bool) {
	tb.Helper()
	for i := lo; i <= hi; i++ {
		var got raft.Log
		err := s.GetLog(i, &got)
		switch {
		case present(i) && err != nil:
			tb.Fatalf("GetLog(%d): %v", i, err)
		case present(i) && !logsEqual(&got, sampleLog(i)):
			tb.Fatalf("GetLog(%d) = %+v, want %+v", i, got, *sampleLog(i))
		case !present(i) && err != raft.ErrLogNotFound:
			tb.Fatalf("GetLog(%d) err = %v, want raft.ErrLogNotFound", i, err)
		}
	}
}

func rawSet(tb testing.TB, db *pebble.DB, key, value []byte) {
	tb.Helper()
	if err := db.Set(key, value, pebble.Sync); err != nil {
		tb.Fatalf("raw set %x: %v", key, err)
	}
}

func TestNew(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		db, _ := openDB(t)
		wantBounds(t, newStore(t, db), 0, 0)
	})
	t.Run("nil db", func(t *testing.T) {
		if _, err := New(nil, DefaultOptions()); err == nil {
			t.Fatal("New(nil) succeeded")
		}
	})
	t.Run("malformed log key", func(t *testing.T) {
		db, _ := openDB(t)
		rawSet(t, db, []byte{prefixLog, 0xFF}, []byte("x"))
		if _, err := New(db, DefaultOptions()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("New err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("defaults sync", func(t *testing.T) {
		if !DefaultOptions().Sync {
			t.Fatal("DefaultOptions().Sync = false, want true")
		}
		if err := DefaultOptions().Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStore_StoreLogs(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		db, _ := openDB(t)
		s := newStore(t, db)
		logs := []*raft.Log{
			sampleLog(1),
			{Index: 2, Term: 1, Type: raft.LogNoop}, // no data, zero time
			{Index: 3, Term: 2, Type: raft.LogConfiguration, Data: []byte{0}}, // one byte
			{Index: 4, Term: 1<<64 - 1, Type: raft.LogType(200), Data: bytes.Repeat([]byte{7}, 70_000),
				AppendedAt: time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)},
			{Index: 5, Term: 3, Extensions: []byte("ext only"), AppendedAt: time.Unix(-5, 1)},
		}
		storeLogs(t, s, logs)
		wantBounds(t, s, 1, 5)
		for _, want := range logs {
			var got raft.Log
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatalf("GetLog(%d): %v", want.Index, err)
			}
			if !logsEqual(&got, want) {
				t.Fatalf("GetLog(%d) = %+v, want %+v", want.Index, got, *want)
			}
		}
		var got raft.Log
		if err := s.GetLog(2, &got); err != nil || got.Data != nil || !got.AppendedAt.IsZero() {
			t.Fatalf("empty entry decoded as %+v (err %v), want nil data and zero time", got, err)
		}
	})

	t.Run("bounds", func(t *testing.T) {
		db, _ := openDB(t)
		s := newStore(t, db)
		storeLogs(t, s, sampleLogs(5, 10))
		wantBounds(t, s, 5, 10)
		if err := s.StoreLog(sampleLog(3)); err != nil {
			t.Fatal(err)
		}
		wantBounds(t, s, 3, 10)
		storeLogs(t, s, []*raft.Log{sampleLog(20)}) // a gap, as after a snapshot install
		wantBounds(t, s, 3, 20)
		wantPresent(t, s, 1, 21, func(i uint64) bool { return i == 3 || (i >= 5 && i <= 10) || i == 20 })
	})

	t.Run("overwrite", func(t *testing.T) {
		db, _ := openDB(t)
		s := newStore(t, db)
		storeLogs(t, s, sampleLogs(1, 3))
		repl := sampleLog(2)
		repl.Term, repl.Data = 99, []byte("new leader")
		storeLogs(t, s, []*raft.Log{repl})
		var got raft.Log
		if err := s.GetLog(2, &got); err != nil || !logsEqual(&got, repl) {
			t.Fatalf("GetLog(2) = %+v (err %v), want the replacement", got, err)
		}
	})

	t.Run("nil entry", func(t *testing.T) {
		db, _ := openDB(t)
		s := newStore(t, db)
		if err := s.StoreLogs([]*raft.Log{sampleLog(1), nil}); err == nil {
			t.Fatal("StoreLogs with a nil entry succeeded")
		}
		wantBounds(t, s, 0, 0)
	})

	t.Run("does not alias caller's data", func(t *testing.T) {
		db, _ := openDB(t)
		s := newStore(t, db)
		l := sampleLog(1)
		storeLogs(t, s, []*raft.Log{l})
		l.Data[0] ^= 0xFF
		var got raft.Log
		if err := s.GetLog(1, &got); err != nil || !logsEqual(&got, sampleLog(1)) {
			t.Fatalf("stored entry changed with the caller's slice (err %v)", err)
		}
		got.Data[0] ^= 0xFF
		var again raft.Log
		if err := s.GetLog(1, &again); err != nil || !logsEqual(&again, sampleLog(1)) {
			t.Fatalf("stored entry changed with a returned slice (err %v)", err)
		}
	})
}

func TestStore_GetLog(t *testing.T) {
	db, _ := openDB(t)
	s := newStore(t, db)
	storeLogs(t, s, sampleLogs(1, 3))

	t.Run("missing is raft.ErrLogNotFound itself", func(t *testing.T) {
		var got raft.Log
		if err := s.GetLog(4, &got); err != raft.ErrLogNotFound {
			t.Fatalf("err = %v, want raft.ErrLogNotFound", err)
		}
	})

	for _, tc := range []struct {
		name  string
		value func() []byte
	}{
		{"flipped byte", func() []byte {
			v := appendLog(nil, sampleLog(2))
			v[offTerm] ^= 1
			return v
		}},
		{"truncated", func() []byte { return appendLog(nil, sampleLog(2))[:20] }},
		{"garbage", func() []byte { return []byte("definitely not a raft log entry") }},
		{"entry of another index", func() []byte { return appendLog(nil, sampleLog(3)) }},
	} {
		t.Run("corrupt/"+tc.name, func(t *testing.T) {
			rawSet(t, db, logKey(2), tc.value())
			prev := *sampleLog(9)
			got := prev
			err := s.GetLog(2, &got)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), "log 2:") {
				t.Fatalf("error %q does not name index 2", err)
			}
			if !logsEqual(&got, &prev) {
				t.Fatalf("GetLog modified its argument on error")
			}
		})
	}
}

func TestStore_DeleteRange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stored      [][2]uint64 // ranges stored
		min, max    uint64
		first, last uint64
		present     func(uint64) bool
	}{
		{"prefix", [][2]uint64{{1, 10}}, 1, 4, 5, 10, func(i uint64) bool { return i >= 5 && i <= 10 }},
		{"prefix below first", [][2]uint64{{5, 10}}, 0, 6, 7, 10, func(i uint64) bool { return i >= 7 && i <= 10 }},
		{"suffix", [][2]uint64{{1, 10}}, 7, 10, 1, 6, func(i uint64) bool { return i >= 1 && i <= 6 }},
		{"suffix to max", [][2]uint64{{1, 10}}, 7, 1<<64 - 1, 1, 6, func(i uint64) bool { return i >= 1 && i <= 6 }},
		{"middle", [][2]uint64{{1, 10}}, 4, 6, 1, 10, func(i uint64) bool { return i <= 3 || (i >= 7 && i <= 10) }},
		{"everything", [][2]uint64{{1, 10}}, 1, 10, 0, 0, func(uint64) bool { return false }},
		{"whole key space", [][2]uint64{{1, 10}}, 0, 1<<64 - 1, 0, 0, func(uint64) bool { return false }},
		{"inverted is a no-op", [][2]uint64{{1, 10}}, 6, 5, 1, 10, func(i uint64) bool { return i >= 1 && i <= 10 }},
		{"outside", [][2]uint64{{1, 10}}, 20, 30, 1, 10, func(i uint64) bool { return i >= 1 && i <= 10 }},
		{"prefix before a gap", [][2]uint64{{1, 3}, {10, 12}}, 1, 3, 10, 12, func(i uint64) bool { return i >= 10 && i <= 12 }},
		{"suffix after a gap", [][2]uint64{{1, 3}, {10, 12}}, 10, 12, 1, 3, func(i uint64) bool { return i <= 3 }},
		// Over pointDeleteMax stored indexes: one range deletion.
		{"large prefix", [][2]uint64{{1, 600}}, 0, 500, 501, 600, func(i uint64) bool { return i >= 501 && i <= 600 }},
		{"large suffix", [][2]uint64{{1, 600}}, 100, 1<<64 - 1, 1, 99, func(i uint64) bool { return i >= 1 && i <= 99 }},
		{"large middle", [][2]uint64{{1, 600}}, 100, 499, 1, 600, func(i uint64) bool { return i < 100 || (i >= 500 && i <= 600) }},
		{"large everything", [][2]uint64{{1, 600}}, 1, 600, 0, 0, func(uint64) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openDB(t)
			s := newStore(t, db)
			for _, r := range tc.stored {
				storeLogs(t, s, sampleLogs(r[0], r[1]))
			}
			if err := s.DeleteRange(tc.min, tc.max); err != nil {
				t.Fatal(err)
			}
			wantBounds(t, s, tc.first, tc.last)
			top := tc.stored[len(tc.stored)-1][1] + 2
			wantPresent(t, s, 0, top, func(i uint64) bool { return i > 0 && tc.present(i) })
			// The cache agrees with what a fresh store reads from disk.
			wantBounds(t, newStore(t, db), tc.first, tc.last)
		})
	}

	t.Run("then store again", func(t *testing.T) {
		db, _ := openDB(t)
		s := newStore(t, db)
		storeLogs(t, s, sampleLogs(1, 5))
		if err := s.DeleteRange(1, 5); err != nil {
			t.Fatal(err)
		}
		storeLogs(t, s, sampleLogs(100, 101))
		wantBounds(t, s, 100, 101)
	})
}

func TestStore_Stable(t *testing.T) {
	db, _ := openDB(t)
	s := newStore(t, db)

	t.Run("missing keys say not found", func(t *testing.T) {
		v, err := s.Get([]byte("absent"))
		if v != nil || !errors.Is(err, ErrKeyNotFound) || err.Error() != "not found" {
			t.Fatalf("Get = %v, %v; want nil, \"not found\"", v, err)
		}
		n, err := s.GetUint64([]byte("absent"))
		if n != 0 || !errors.Is(err, ErrKeyNotFound) || err.Error() != "not found" {
			t.Fatalf("GetUint64 = %d, %v; want 0, \"not found\"", n, err)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		for _, kv := range []struct{ k, v string }{{"LastVoteCand", "node-b"}, {"", "empty key"}, {"k\x00\xff", "binary key"}} {
			if err := s.Set([]byte(kv.k), []byte(kv.v)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get([]byte(kv.k))
			if err != nil || string(got) != kv.v {
				t.Fatalf("Get(%q) = %q, %v; want %q", kv.k, got, err, kv.v)
			}
		}
		for _, n := range []uint64{0, 1, 1<<64 - 1} {
			if err := s.SetUint64([]byte("CurrentTerm"), n); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetUint64([]byte("CurrentTerm"))
			if err != nil || got != n {
				t.Fatalf("GetUint64 = %d, %v; want %d", got, err, n)
			}
		}
	})

	t.Run("empty value is found", func(t *testing.T) {
		if err := s.Set([]byte("e"), nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get([]byte("e"))
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Get = %v, %v; want a non-nil empty value", got, err)
		}
	})

	t.Run("returned value is a copy", func(t *testing.T) {
		if err := s.Set([]byte("c"), []byte("abc")); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get([]byte("c"))
		got[0] = 'X'
		again, _ := s.Get([]byte("c"))
		if string(again) != "abc" {
			t.Fatalf("stored value changed to %q", again)
		}
	})

	t.Run("corrupt uint64", func(t *testing.T) {
		if err := s.Set([]byte("short"), []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUint64([]byte("short")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})

	t.Run("raft sees no existing state", func(t *testing.T) {
		db, _ := openDB(t)
		fresh := newStore(t, db)
		has, err := raft.HasExistingState(fresh, fresh, raft.NewInmemSnapshotStore())
		if err != nil || has {
			t.Fatalf("HasExistingState = %v, %v; want false, nil", has, err)
		}
		if err := fresh.SetUint64([]byte("CurrentTerm"), 3); err != nil {
			t.Fatal(err)
		}
		has, err = raft.HasExistingState(fresh, fresh, raft.NewInmemSnapshotStore())
		if err != nil || !has {
			t.Fatalf("HasExistingState = %v, %v; want true, nil", has, err)
		}
	})
}

func TestStore_Reopen(t *testing.T) {
	db, dir := openDB(t)
	s := newStore(t, db)
	storeLogs(t, s, sampleLogs(1, 20))
	if err := s.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	// Close without Flush: everything is in Pebble's WAL, not in tables.
	if err := closeDB(db); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, openDBAt(t, dir, nil))
	wantBounds(t, s2, 6, 20)
	wantPresent(t, s2, 1, 21, func(i uint64) bool { return i >= 6 && i <= 20 })
	if n, err := s2.GetUint64([]byte("CurrentTerm")); err != nil || n != 7 {
		t.Fatalf("CurrentTerm = %d, %v; want 7", n, err)
	}
	if v, err := s2.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Fatalf("LastVoteCand = %q, %v; want n2", v, err)
	}
}

func TestStore_CrashSafety(t *testing.T) {
	// Write, then take the state of the disk at that instant as a power
	// loss would leave it (Pebble's crashable in-memory FS drops
	// everything not fsynced), without closing or flushing anything.
	write := func(tb testing.TB, sync bool) *vfs.MemFS {
		tb.Helper()
		fs := vfs.NewCrashableMem()
		db := openDBAt(tb, "db", fs)
		s, err := New(db, Options{Sync: sync})
		if err != nil {
			tb.Fatal(err)
		}
		for lo := uint64(1); lo <= 50; lo += 10 {
			storeLogs(tb, s, sampleLogs(lo, lo+9))
		}
		if err := s.DeleteRange(1, 10); err != nil {
			tb.Fatal(err)
		}
		if err := s.SetUint64([]byte("CurrentTerm"), 4); err != nil {
			tb.Fatal(err)
		}
		return fs
	}

	t.Run("synced writes survive", func(t *testing.T) {
		crashed := write(t, true).CrashClone(vfs.CrashCloneCfg{})
		s := newStore(t, openDBAt(t, "db", crashed))
		wantBounds(t, s, 11, 50)
		wantPresent(t, s, 1, 51, func(i uint64) bool { return i >= 11 && i <= 50 })
		if n, err := s.GetUint64([]byte("CurrentTerm")); err != nil || n != 4 {
			t.Fatalf("CurrentTerm = %d, %v; want 4", n, err)
		}
	})

	t.Run("unsynced writes leave a consistent prefix", func(t *testing.T) {
		for seed := uint64(1); seed <= 4; seed++ {
			fs := write(t, false)
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, seed))})
			s := newStore(t, openDBAt(t, "db", crashed))
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if first == 0 {
				if last != 0 {
					t.Fatalf("seed %d: FirstIndex 0 with LastIndex %d", seed, last)
				}
				continue
			}
			// Whatever survived is a prefix of the write sequence, so it
			// is contiguous from first to last and decodes.
			wantPresent(t, s, first, last, func(uint64) bool { return true })
			var l raft.Log
			if err := s.GetLog(last+1, &l); err != raft.ErrLogNotFound {
				t.Fatalf("seed %d: GetLog(last+1) err = %v", seed, err)
			}
		}
	})
}

func TestStore_Prefixes(t *testing.T) {
	db, _ := openDB(t)
	foreign := map[string]string{
		string([]byte{0x00, 'x'}):                    "below",
		string([]byte{0x03, 0, 0, 0, 0, 0, 0, 0, 1}): "wal record",
		string([]byte{0x04, 'a'}):                    "wal meta",
		string([]byte{0x10, 'k'}):                    "state",
	}
	for k, v := range foreign {
		rawSet(t, db, []byte(k), []byte(v))
	}
	s := newStore(t, db)
	wantBounds(t, s, 0, 0)
	storeLogs(t, s, sampleLogs(1, 5))
	if err := s.Set([]byte("k"), []byte("stable")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(0, 1<<64-1); err != nil {
		t.Fatal(err)
	}
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
	if v, err := s.Get([]byte("k")); err != nil || string(v) != "stable" {
		t.Fatalf("stable key after DeleteRange = %q, %v", v, err)
	}
}

func TestStore_Concurrent(t *testing.T) {
	// Raft's main loop stores entries while its snapshot goroutine
	// compacts the prefix; the cached bounds must stay consistent.
	db, _ := openDB(t)
	s, err := New(db, Options{Sync: false})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			last, _ := s.LastIndex()
			if last > 20 {
				if err := s.DeleteRange(0, last-20); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	for i := uint64(1); i <= n; i++ {
		storeLogs(t, s, []*raft.Log{sampleLog(i)})
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	first, _ := s.FirstIndex()
	wantBounds(t, s, first, n)
	wantBounds(t, newStore(t, db), first, n)
	wantPresent(t, s, first, n, func(uint64) bool { return true })
}
