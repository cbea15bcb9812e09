package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/monaco-sovereign/jumeau/keyring"
)

func newKEK(tb testing.TB) keyring.KEK {
	tb.Helper()
	k, err := keyring.GenerateKEK()
	if err != nil {
		tb.Fatalf("GenerateKEK: %v", err)
	}
	return k
}

func openKeyring(tb testing.TB, dir string, kek keyring.KEK) *keyring.Keyring {
	tb.Helper()
	k, err := keyring.Open(filepath.Join(dir, "keyring.json"), kek)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return k
}

// withKey returns a keyring in a temp dir whose namespaces each have a key.
func withKey(tb testing.TB, kek keyring.KEK, namespaces ...string) *keyring.Keyring {
	tb.Helper()
	k := openKeyring(tb, tb.TempDir(), kek)
	for _, ns := range namespaces {
		install(tb, k, ns)
	}
	return k
}

func install(tb testing.TB, k *keyring.Keyring, ns string) []byte {
	tb.Helper()
	w, err := k.Generate(ns)
	if err != nil {
		tb.Fatalf("Generate(%q): %v", ns, err)
	}
	if err := k.Install(ns, w); err != nil {
		tb.Fatalf("Install(%q): %v", ns, err)
	}
	return w
}

func TestKeyring_Seal(t *testing.T) {
	kek := newKEK(t)
	k := withKey(t, kek, "a", "b")
	aad := []byte("a/key1")

	t.Run("round trip", func(t *testing.T) {
		for _, n := range []int{0, 1, 15, 16, 17, 1024, 70000} {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			sealed, err := k.Seal("a", aad, pt)
			if err != nil {
				t.Fatalf("Seal(%d bytes): %v", n, err)
			}
			if got, want := len(sealed), n+keyring.SealOverhead; got != want {
				t.Errorf("len(sealed) of %d bytes: got %d, want %d", n, got, want)
			}
			got, err := k.Unseal("a", aad, sealed)
			if err != nil {
				t.Fatalf("Unseal(%d bytes): %v", n, err)
			}
			if !bytes.Equal(got, pt) {
				t.Errorf("Unseal(%d bytes): got %x..., want %x...", n, head(got), head(pt))
			}
		}
	})

	t.Run("nonces differ", func(t *testing.T) {
		s1, _ := k.Seal("a", aad, []byte("same"))
		s2, _ := k.Seal("a", aad, []byte("same"))
		if bytes.Equal(s1, s2) {
			t.Errorf("two seals of the same value: got equal %x, want different", s1)
		}
	})

	t.Run("header", func(t *testing.T) {
		s, _ := k.Seal("a", aad, []byte("v"))
		if got, want := s[:5], []byte{1, 0, 0, 0, 1}; !bytes.Equal(got, want) {
			t.Errorf("header: got %x, want %x (version 1, generation 1)", got, want)
		}
	})

	t.Run("tamper", func(t *testing.T) {
		sealed, err := k.Seal("a", aad, []byte("secret value"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range sealed {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(sealed)
				bad[i] ^= bit
				got, err := k.Unseal("a", aad, bad)
				if !errors.Is(err, keyring.ErrUnseal) && !errors.Is(err, keyring.ErrNoKey) {
					t.Fatalf("byte %d ^ %#x: got (%q, %v), want ErrUnseal or ErrNoKey", i, bit, got, err)
				}
			}
		}
		for n := range sealed {
			if _, err := k.Unseal("a", aad, sealed[:n]); !errors.Is(err, keyring.ErrUnseal) {
				t.Fatalf("truncated to %d bytes: got %v, want ErrUnseal", n, err)
			}
		}
		if _, err := k.Unseal("a", aad, append(bytes.Clone(sealed), 0)); !errors.Is(err, keyring.ErrUnseal) {
			t.Errorf("one byte appended: got %v, want ErrUnseal", err)
		}
	})

	t.Run("wrong aad", func(t *testing.T) {
		sealed, _ := k.Seal("a", aad, []byte("v"))
		for _, other := range [][]byte{nil, []byte("a/key2"), []byte("a/key1\x00")} {
			if _, err := k.Unseal("a", other, sealed); !errors.Is(err, keyring.ErrUnseal) {
				t.Errorf("aad %q: got %v, want ErrUnseal", other, err)
			}
		}
	})

	t.Run("other namespace", func(t *testing.T) {
		sealed, _ := k.Seal("a", aad, []byte("v"))
		if _, err := k.Unseal("b", aad, sealed); !errors.Is(err, keyring.ErrUnseal) {
			t.Errorf("unseal a's value as b: got %v, want ErrUnseal", err)
		}
	})

	t.Run("no key", func(t *testing.T) {
		if _, err := k.Seal("missing", aad, []byte("v")); !errors.Is(err, keyring.ErrNoKey) {
			t.Errorf("Seal: got %v, want ErrNoKey", err)
		}
		sealed, _ := k.Seal("a", aad, []byte("v"))
		if _, err := k.Unseal("missing", aad, sealed); !errors.Is(err, keyring.ErrNoKey) {
			t.Errorf("Unseal: got %v, want ErrNoKey", err)
		}
	})

	t.Run("unknown generation", func(t *testing.T) {
		sealed, _ := k.Seal("a", aad, []byte("v"))
		sealed[4] = 2
		if _, err := k.Unseal("a", aad, sealed); !errors.Is(err, keyring.ErrNoKey) {
			t.Errorf("generation 2: got %v, want ErrNoKey", err)
		}
	})
}

func head(b []byte) []byte { return b[:min(len(b), 8)] }

func TestKeyring_Install(t *testing.T) {
	kek := newKEK(t)

	t.Run("idempotent", func(t *testing.T) {
		k := withKey(t, kek)
		w := install(t, k, "ns")
		if err := k.Install("ns", w); err != nil {
			t.Errorf("second Install of the same key: got %v, want nil", err)
		}
		if got, want := k.Namespaces(), []string{"ns"}; !equal(got, want) {
			t.Errorf("Namespaces: got %q, want %q", got, want)
		}
	})

	t.Run("different key", func(t *testing.T) {
		k := withKey(t, kek)
		install(t, k, "ns")
		sealed, _ := k.Seal("ns", nil, []byte("v"))
		other := withKey(t, kek)
		w2, err := other.Generate("ns")
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Install("ns", w2); !errors.Is(err, keyring.ErrKeyExists) {
			t.Errorf("Install of another key: got %v, want ErrKeyExists", err)
		}
		w3, err := k.Generate("ns")
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Install("ns", w3); !errors.Is(err, keyring.ErrKeyExists) {
			t.Errorf("Install of generation 2: got %v, want ErrKeyExists", err)
		}
		if _, err := k.Unseal("ns", nil, sealed); err != nil {
			t.Errorf("Unseal after refused installs: %v", err)
		}
	})

	t.Run("replicas", func(t *testing.T) {
		leader, follower := withKey(t, kek), withKey(t, kek)
		w := install(t, leader, "ns")
		if err := follower.Install("ns", w); err != nil {
			t.Fatalf("follower Install: %v", err)
		}
		sealed, _ := leader.Seal("ns", []byte("k"), []byte("v"))
		got, err := follower.Unseal("ns", []byte("k"), sealed)
		if err != nil || string(got) != "v" {
			t.Errorf("follower Unseal: got (%q, %v), want (\"v\", nil)", got, err)
		}
		a, _ := os.ReadFile(leader.Path())
		b, _ := os.ReadFile(follower.Path())
		if !bytes.Equal(a, b) {
			t.Errorf("keyring files differ:\n%s\n%s", a, b)
		}
	})

	t.Run("wrong KEK", func(t *testing.T) {
		w, err := withKey(t, newKEK(t)).Generate("ns")
		if err != nil {
			t.Fatal(err)
		}
		k := withKey(t, kek)
		if err := k.Install("ns", w); !errors.Is(err, keyring.ErrUnwrap) {
			t.Errorf("got %v, want ErrUnwrap", err)
		}
		if k.Has("ns") {
			t.Errorf("Has after failed Install: got true, want false")
		}
	})

	t.Run("other namespace", func(t *testing.T) {
		k := withKey(t, kek)
		w, _ := k.Generate("a")
		if err := k.Install("b", w); !errors.Is(err, keyring.ErrUnwrap) {
			t.Errorf("got %v, want ErrUnwrap", err)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		k := withKey(t, kek)
		w, _ := k.Generate("ns")
		for i := range w {
			bad := bytes.Clone(w)
			bad[i] ^= 0x10
			if err := k.Install("ns", bad); !errors.Is(err, keyring.ErrUnwrap) {
				t.Fatalf("byte %d flipped: got %v, want ErrUnwrap", i, err)
			}
		}
		for _, bad := range [][]byte{nil, w[:len(w)-1], append(bytes.Clone(w), 0)} {
			if err := k.Install("ns", bad); !errors.Is(err, keyring.ErrUnwrap) {
				t.Errorf("%d bytes: got %v, want ErrUnwrap", len(bad), err)
			}
		}
	})

	t.Run("invalid namespace", func(t *testing.T) {
		k := withKey(t, kek)
		for _, ns := range []string{"", strings.Repeat("x", keyring.MaxNamespaceLen+1), "bad\xff"} {
			if _, err := k.Generate(ns); !errors.Is(err, keyring.ErrInvalidNamespace) {
				t.Errorf("Generate(%q): got %v, want ErrInvalidNamespace", ns, err)
			}
			if err := k.Install(ns, make([]byte, 65)); !errors.Is(err, keyring.ErrInvalidNamespace) {
				t.Errorf("Install(%q): got %v, want ErrInvalidNamespace", ns, err)
			}
		}
	})
}

func TestOpen(t *testing.T) {
	kek := newKEK(t)

	t.Run("creates file", func(t *testing.T) {
		dir := t.TempDir()
		k := openKeyring(t, dir, kek)
		fi, err := os.Stat(k.Path())
		if err != nil {
			t.Fatalf("keyring file: %v", err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("mode: got %v, want %v", got, want)
		}
		if got := k.Namespaces(); len(got) != 0 {
			t.Errorf("Namespaces: got %q, want none", got)
		}
	})

	t.Run("reopen sees keys", func(t *testing.T) {
		dir := t.TempDir()
		k := openKeyring(t, dir, kek)
		install(t, k, "b")
		install(t, k, "a")
		sealed, _ := k.Seal("a", []byte("x"), []byte("persisted"))
		k2 := openKeyring(t, dir, kek)
		if got, want := k2.Namespaces(), []string{"a", "b"}; !equal(got, want) {
			t.Errorf("Namespaces after reopen: got %q, want %q", got, want)
		}
		got, err := k2.Unseal("a", []byte("x"), sealed)
		if err != nil || string(got) != "persisted" {
			t.Errorf("Unseal after reopen: got (%q, %v), want (\"persisted\", nil)", got, err)
		}
		entries, _ := os.ReadDir(dir)
		if got := len(entries); got != 1 {
			t.Errorf("files in dir after installs: got %d (%v), want 1 (no temporary files left)", got, entries)
		}
	})

	t.Run("wrong KEK", func(t *testing.T) {
		dir := t.TempDir()
		install(t, openKeyring(t, dir, kek), "ns")
		_, err := keyring.Open(filepath.Join(dir, "keyring.json"), newKEK(t))
		if !errors.Is(err, keyring.ErrWrongKEK) {
			t.Errorf("got %v, want ErrWrongKEK", err)
		}
	})

	t.Run("zero KEK", func(t *testing.T) {
		_, err := keyring.Open(filepath.Join(t.TempDir(), "keyring.json"), keyring.KEK{})
		if !errors.Is(err, keyring.ErrBadKEK) {
			t.Errorf("got %v, want ErrBadKEK", err)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		dir := t.TempDir()
		k := openKeyring(t, dir, kek)
		install(t, k, "ns")
		good, err := os.ReadFile(k.Path())
		if err != nil {
			t.Fatal(err)
		}
		cases := map[string][]byte{
			"empty":       nil,
			"truncated":   good[:len(good)/2],
			"not json":    []byte("hello"),
			"trailing":    append(bytes.Clone(good), []byte("{}")...),
			"format":      bytes.Replace(good, []byte("jumeau-keyring"), []byte("other"), 1),
			"version":     bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1),
			"unknown key": bytes.Replace(good, []byte(`"version"`), []byte(`"x": 1, "version"`), 1),
		}
		for name, data := range cases {
			if err := os.WriteFile(k.Path(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := keyring.Open(k.Path(), kek); !errors.Is(err, keyring.ErrCorrupt) {
				t.Errorf("%s: got %v, want ErrCorrupt", name, err)
			}
		}
	})

	t.Run("key moved to other namespace", func(t *testing.T) {
		dir := t.TempDir()
		k := openKeyring(t, dir, kek)
		install(t, k, "aa")
		good, _ := os.ReadFile(k.Path())
		if err := os.WriteFile(k.Path(), bytes.Replace(good, []byte(`"aa"`), []byte(`"bb"`), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := keyring.Open(k.Path(), kek); !errors.Is(err, keyring.ErrUnwrap) {
			t.Errorf("got %v, want ErrUnwrap", err)
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		_, err := keyring.Open(filepath.Join(t.TempDir(), "no", "keyring.json"), kek)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
		}
	})
}

func equal(a, b []string) bool {
	return fmt.Sprintf("%q", a) == fmt.Sprintf("%q", b)
}

func TestKeyring_Concurrent(t *testing.T) {
	k := withKey(t, newKEK(t), "shared")
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aad := []byte(fmt.Sprintf("w%d", w))
			for i := range rounds {
				pt := []byte(fmt.Sprintf("value %d/%d", w, i))
				s, err := k.Seal("shared", aad, pt)
				if err != nil {
					errs <- err
					return
				}
				got, err := k.Unseal("shared", aad, s)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("worker %d round %d: got (%q, %v), want %q", w, i, got, err, pt)
					return
				}
				_ = k.Has(fmt.Sprintf("ns%d", i%10))
				_ = k.Namespaces()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 10 {
			ns := fmt.Sprintf("ns%d", i)
			wrapped, err := k.Generate(ns)
			if err == nil {
				err = k.Install(ns, wrapped)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := len(k.Namespaces()), 11; got != want {
		t.Errorf("namespaces: got %d, want %d", got, want)
	}
}

func FuzzUnseal(f *testing.F) {
	k := withKey(f, newKEK(f), "ns")
	good, err := k.Seal("ns", []byte("aad"), []byte("hello"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("aad"), []byte("hello"))
	f.Add(good[:20], []byte(""), []byte(""))
	f.Add([]byte{}, []byte("aad"), []byte{0})
	f.Add([]byte{1, 0, 0, 0, 1}, []byte{}, bytes.Repeat([]byte{7}, 100))
	f.Add(append([]byte{2}, good[1:]...), []byte("aad"), []byte("x"))
	f.Fuzz(func(t *testing.T, sealed, aad, plaintext []byte) {
		if got, err := k.Unseal("ns", aad, sealed); err == nil {
			// Forging needs the key; the only way to succeed is a real value.
			if !bytes.Equal(sealed, good) || string(aad) != "aad" || string(got) != "hello" {
				t.Fatalf("Unseal(%x, %q) succeeded with %q", sealed, aad, got)
			}
		} else if !errors.Is(err, keyring.ErrUnseal) && !errors.Is(err, keyring.ErrNoKey) {
			t.Fatalf("Unseal: got %v, want ErrUnseal or ErrNoKey", err)
		}
		s, err := k.Seal("ns", aad, plaintext)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		got, err := k.Unseal("ns", aad, s)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("round trip: got (%x, %v), want %x", got, err, plaintext)
		}
	})
}

func FuzzInstall(f *testing.F) {
	k := withKey(f, newKEK(f))
	good, err := k.Generate("ns")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:64])
	f.Add([]byte{})
	f.Add(make([]byte, 65))
	f.Fuzz(func(t *testing.T, wrapped []byte) {
		err := k.Install("ns", wrapped)
		if err == nil {
			if !bytes.Equal(wrapped, good) {
				t.Fatalf("Install(%x) succeeded for a blob Generate did not make", wrapped)
			}
			return
		}
		if !errors.Is(err, keyring.ErrUnwrap) && !errors.Is(err, keyring.ErrKeyExists) {
			t.Fatalf("Install: got %v, want ErrUnwrap or ErrKeyExists", err)
		}
	})
}

func BenchmarkKeyring_Seal(b *testing.B) {
	k := withKey(b, newKEK(b), "ns")
	pt, aad := make([]byte, 1024), []byte("ns/some-key")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal("ns", aad, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyring_Unseal(b *testing.B) {
	k := withKey(b, newKEK(b), "ns")
	aad := []byte("ns/some-key")
	sealed, err := k.Seal("ns", aad, make([]byte, 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Unseal("ns", aad, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyring_SealParallel(b *testing.B) {
	k := withKey(b, newKEK(b), "ns")
	pt, aad := make([]byte, 1024), []byte("ns/some-key")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Seal("ns", aad, pt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
