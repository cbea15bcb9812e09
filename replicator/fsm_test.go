package replicator

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/wal"
)

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic("pebble fatal: " + format)
}

// openFaultyFSM opens an FSM over a Pebble whose file writes fail while
// the returned toggle is on.
func openFaultyFSM(tb testing.TB) (*FSM, *errorfs.Toggle, *pebble.DB) {
	tb.Helper()
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})}
	fs := errorfs.Wrap(vfs.Default, toggle)
	db, err := pebble.Open(filepath.Join(tb.TempDir(), "db"), &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	w, err := wal.Open(db, wal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := NewFSM(db, w, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return f, toggle, db
}

func putLog(index uint64, key string) *raft.Log {
	c := command{Op: wal.OpPut, Epoch: 1, Time: int64(index), Namespace: "ns", Key: key, Payload: []byte("v")}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: marshalBatch([]*command{&c})}
}

func TestFSM_ApplyBatch(t *testing.T) {
	f, _, _ := openFaultyFSM(t)
	t.Run("applies and skips replays", func(t *testing.T) {
		out := f.ApplyBatch([]*raft.Log{putLog(1, "a"), putLog(2, "b")})
		if r := out[1].(ApplyResult); r.Err != nil || len(r.Ops) != 1 || r.Ops[0].WALIndex != 2 {
			t.Fatalf("got %+v, want WAL index 2", r)
		}
		// A replay of the same Raft indices after a restart is a no-op.
		f.ApplyBatch([]*raft.Log{putLog(1, "a"), putLog(2, "b")})
		if got, _ := f.wal.Last(); got != 2 {
			t.Fatalf("got WAL last %d after replay, want 2", got)
		}
		if got := f.Applied(); got != 2 {
			t.Fatalf("got applied %d, want 2", got)
		}
	})
	t.Run("batch of three", func(t *testing.T) {
		cs := []*command{
			{Op: wal.OpPut, Epoch: 1, Namespace: "ns", Key: "x", Payload: []byte("1")},
			{Op: wal.OpDelete, Epoch: 1, Namespace: "ns", Key: "a"},
			{Op: wal.OpPut, Epoch: 1, Namespace: "ns", Key: "y", Payload: []byte("2")},
		}
		out := f.ApplyBatch([]*raft.Log{{Index: 3, Term: 1, Type: raft.LogCommand, Data: marshalBatch(cs)}})
		r := out[0].(ApplyResult)
		if r.Err != nil || len(r.Ops) != 3 || r.Ops[0].WALIndex != 3 || r.Ops[2].WALIndex != 5 {
			t.Fatalf("got %+v, want WAL indices 3..5", r)
		}
	})
	t.Run("undecodable command", func(t *testing.T) {
		out := f.ApplyBatch([]*raft.Log{{Index: 4, Term: 1, Type: raft.LogCommand, Data: []byte{9, 9}}})
		if r := out[0].(ApplyResult); !errors.Is(r.Err, ErrBadCommand) {
			t.Fatalf("got %v, want ErrBadCommand", r.Err)
		}
		if got := f.Applied(); got != 4 {
			t.Fatalf("got applied %d, want 4 (skipped identically on every replica)", got)
		}
	})
}

// TestFSM_DiskWriteFailure: the disk fails while entries are applied. The
// failure must surface at the next synced write (Raft's next log append,
// which the cell's guardedLogStore turns into a stop), and after a restart
// the replayed entries must rebuild exactly the same WAL chain.
func TestFSM_DiskWriteFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})}
	open := func(fs vfs.FS) (*FSM, *pebble.DB) {
		t.Helper()
		db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: quietLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		w, err := wal.Open(db, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFSM(db, w, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return f, db
	}
	logs := []*raft.Log{putLog(1, "a"), putLog(2, "b"), putLog(3, "c")}

	// Reference: the same entries on a healthy disk.
	ref, refDB := open(vfs.Default)
	ref.ApplyBatch(logs)
	wantIdx, wantHash := ref.wal.Last()
	if err := refDB.Close(); err != nil {
		t.Fatal(err)
	}
	if err := removeAll(dir); err != nil {
		t.Fatal(err)
	}

	f, db := open(errorfs.Wrap(vfs.Default, toggle))
	f.ApplyBatch(logs[:1])
	if err := db.LogData(nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	toggle.On()
	// Pebble does not go on after a failed write of its own WAL: it
	// calls its logger's Fatalf (the node's logger stops the process; the
	// test's panics). Either the apply or the next synced write (Raft's
	// next log append) hits it.
	stopped := func() (fatal any) {
		defer func() { fatal = recover() }()
		f.ApplyBatch(logs[1:])
		_ = db.LogData(nil, pebble.Sync)
		return nil
	}()
	toggle.Off()
	if stopped == nil {
		t.Fatal("disk write failure: Pebble went on, want it to stop the site")
	}
	// The site is gone as after a crash: restart from a copy of its files
	// as they are on disk (the dead instance still holds the lock).
	crashed := dir + "-restart"
	if err := copyDir(dir, crashed); err != nil {
		t.Fatal(err)
	}
	dir = crashed
	f, db = open(vfs.Default)
	defer db.Close()
	if got := f.Applied(); got < 1 || got > 3 {
		t.Fatalf("got applied %d after restart, want 1..3", got)
	}
	f.ApplyBatch(logs)
	gotIdx, gotHash := f.wal.Last()
	if gotIdx != wantIdx || gotHash != wantHash {
		t.Fatalf("got WAL tip %d %x, want %d %x", gotIdx, gotHash[:6], wantIdx, wantHash[:6])
	}
	if err := f.wal.Verify(1, gotIdx); err != nil {
		t.Fatal(err)
	}
}

func TestGuardedLogStore(t *testing.T) {
	var got error
	g := &guardedLogStore{LogStore: failingStore{raft.NewInmemStore()}, onFail: func(err error) { got = err }}
	if err := g.StoreLogs([]*raft.Log{{Index: 1}}); err == nil {
		t.Fatal("got nil, want the store's error")
	}
	if !errors.Is(got, ErrFSMHalted) || !errors.Is(got, errDisk) {
		t.Fatalf("got onFail(%v), want ErrFSMHalted wrapping the disk error", got)
	}
}

var errDisk = errors.New("disk on fire")

type failingStore struct{ *raft.InmemStore }

func (failingStore) StoreLogs([]*raft.Log) error { return errDisk }

func removeAll(dir string) error { return os.RemoveAll(dir) }

func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func TestMapRaftErr(t *testing.T) {
	cases := []struct {
		in   error
		want error
	}{
		{raft.ErrNotLeader, ErrNotLeader},                    // never appended: retry is safe
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader}, // never appended
		{raft.ErrLeadershipLost, ErrTimeout},                 // appended, may commit: outcome unknown
		{raft.ErrEnqueueTimeout, ErrTimeout},
		{raft.ErrRaftShutdown, ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.in.Error(), func(t *testing.T) {
			got := mapRaftErr(tc.in)
			if !errors.Is(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if tc.want == ErrTimeout && errors.Is(got, ErrNotLeader) {
				t.Fatalf("got %v: an ambiguous outcome must not look retryable", got)
			}
		})
	}
}
