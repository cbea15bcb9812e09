package keyring_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/monaco-sovereign/jumeau/keyring"
)

// breakDir makes writes into dir fail, even for root: it moves dir away
// (creating the temporary file of an atomic write then fails). The
// returned function puts it back.
func breakDir(tb testing.TB, dir string) (restore func()) {
	tb.Helper()
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		tb.Fatal(err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := os.Rename(away, dir); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(restore)
	return restore
}

func TestKeyring_Install_WriteFails(t *testing.T) {
	kek := newKEK(t)
	dir := filepath.Join(t.TempDir(), "kr")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k := openKeyring(t, dir, kek)
	install(t, k, "old")
	w, err := k.Generate("ns")
	if err != nil {
		t.Fatal(err)
	}

	restore := breakDir(t, dir)
	err = k.Install("ns", w)
	if !errors.Is(err, keyring.ErrPersist) {
		t.Fatalf("Install with an unwritable directory: got %v, want ErrPersist", err)
	}
	t.Run("the key is usable in memory", func(t *testing.T) {
		if !k.Has("ns") {
			t.Fatal("Has: got false, want true")
		}
		sealed, err := k.Seal("ns", []byte("aad"), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.Unseal("ns", []byte("aad"), sealed); err != nil || string(got) != "v" {
			t.Fatalf("Unseal: got %q, %v, want v", got, err)
		}
	})
	t.Run("stale and counted", func(t *testing.T) {
		if got, want := k.Stale(), true; got != want {
			t.Errorf("Stale: got %v, want %v", got, want)
		}
		if err := k.Flush(); !errors.Is(err, keyring.ErrPersist) {
			t.Errorf("Flush while unwritable: got %v, want ErrPersist", err)
		}
		if got, want := k.WriteFailures(), uint64(2); got != want {
			t.Errorf("WriteFailures: got %d, want %d", got, want)
		}
	})
	t.Run("installing the same key again is a no-op", func(t *testing.T) {
		if err := k.Install("ns", w); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	restore()
	t.Run("flush brings the file up to date", func(t *testing.T) {
		if err := k.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, want := k.Stale(), false; got != want {
			t.Errorf("Stale: got %v, want %v", got, want)
		}
		re, err := keyring.Open(k.Path(), kek)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := re.Namespaces(), []string{"ns", "old"}; !equal(got, want) {
			t.Errorf("reopened Namespaces: got %q, want %q", got, want)
		}
	})
}
