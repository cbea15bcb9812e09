package replicator

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/wal"
)

// moveAway makes writes into dir fail, even for root (an atomic write's
// temporary file cannot be created in a directory that is gone). The
// returned function puts dir back.
func moveAway(tb testing.TB, dir string) (restore func()) {
	tb.Helper()
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		tb.Fatal(err)
	}
	done := false
	restore = func() {
		if !done {
			done = true
			if err := os.Rename(away, dir); err != nil {
				tb.Fatal(err)
			}
		}
	}
	tb.Cleanup(restore)
	return restore
}

func keyLog(index uint64, ns string, wrapped []byte) *raft.Log {
	c := command{Op: wal.OpKey, Epoch: 1, Time: int64(index), Namespace: ns, Payload: wrapped}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: marshalBatch([]*command{&c})}
}

// TestFSM_ApplyBatch_KeyringWriteFails applies a committed namespace key
// while the keyring file cannot be written: the FSM goes on (the key is
// usable and in Pebble), and an FSM opened again on the same store with
// the keyring file left behind installs the key and writes the file.
func TestFSM_ApplyBatch_KeyringWriteFails(t *testing.T) {
	kek, err := keyring.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "keyring")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keyring.json")
	keys, err := keyring.Open(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(filepath.Join(t.TempDir(), "db"), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := wal.Open(db, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFSM(db, w, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := keys.Generate("ns")
	if err != nil {
		t.Fatal(err)
	}
	sealed := func(k *keyring.Keyring, key string) []byte {
		t.Helper()
		b, err := k.Seal("ns", aad("ns", key), []byte("v-"+key))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	restore := moveAway(t, dir)
	out := f.ApplyBatch([]*raft.Log{keyLog(1, "ns", wrapped)})
	if r := out[0].(ApplyResult); r.Err != nil {
		t.Fatalf("apply the key: got %v, want nil", r.Err)
	}
	if err := f.Failed(); err != nil {
		t.Fatalf("Failed after a keyring write failure: got %v, want nil (the site must keep applying)", err)
	}
	if !keys.Has("ns") || !keys.Stale() {
		t.Fatalf("Has, Stale: got %v, %v, want true, true", keys.Has("ns"), keys.Stale())
	}
	put := command{Op: wal.OpPut, Epoch: 1, Time: 2, Namespace: "ns", Key: "k", Payload: sealed(keys, "k")}
	out = f.ApplyBatch([]*raft.Log{{Index: 2, Term: 1, Type: raft.LogCommand, Data: marshalBatch([]*command{&put})}})
	if r := out[0].(ApplyResult); r.Err != nil || f.Applied() != 2 {
		t.Fatalf("apply a put after it: got %v, applied %d, want nil, 2", r.Err, f.Applied())
	}
	restore()

	// A restart: the keyring file on disk still lacks the key.
	stale, err := keyring.Open(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	if stale.Has("ns") {
		t.Fatal("the keyring file has the key: the write did not fail, the test proves nothing")
	}
	if _, err := NewFSM(db, w, stale, nil); err != nil {
		t.Fatal(err)
	}
	v, err := readSealed(db, "ns", "k")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stale.Unseal("ns", aad("ns", "k"), v); err != nil || string(got) != "v-k" {
		t.Fatalf("unseal after restart: got %q, %v, want v-k", got, err)
	}
	again, err := keyring.Open(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Namespaces(), []string{"ns"}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("keyring file after restart: got %q, want %q", got, want)
	}
}

// TestReinstallKeys_WriteFails opens an FSM whose keyring file lacks a key
// and cannot be written: the site starts, serving the key from Pebble.
func TestReinstallKeys_WriteFails(t *testing.T) {
	kek, err := keyring.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "keyring")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keyring.json")
	keys, err := keyring.Open(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := keys.Generate("ns")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(filepath.Join(t.TempDir(), "db"), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Set(metaKeyFor("ns"), wrapped, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	w, err := wal.Open(db, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	moveAway(t, dir)
	if _, err := NewFSM(db, w, keys, nil); err != nil {
		t.Fatalf("NewFSM with an unwritable keyring file: got %v, want nil", err)
	}
	if !keys.Has("ns") || !keys.Stale() {
		t.Fatalf("Has, Stale: got %v, %v, want true, true", keys.Has("ns"), keys.Stale())
	}
	if err := keys.Flush(); !errors.Is(err, keyring.ErrPersist) {
		t.Fatalf("Flush: got %v, want ErrPersist", err)
	}
}
