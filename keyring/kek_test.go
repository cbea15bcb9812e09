package keyring_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/keyring"
)

func writeKEKFile(tb testing.TB, content string, mode os.FileMode) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestLoadKEK(t *testing.T) {
	kek := newKEK(t)
	raw, err := hex.DecodeString(kek.Encode())
	if err != nil {
		t.Fatalf("Encode is not hex: %v", err)
	}

	// sameKEK checks two KEKs are equal through what they do: one opens the
	// keyring the other made.
	sameKEK := func(t *testing.T, got keyring.KEK) {
		t.Helper()
		if got.Encode() != kek.Encode() {
			t.Errorf("KEK: got a different key, want the one written")
		}
	}

	t.Run("hex file", func(t *testing.T) {
		got, err := keyring.LoadKEK(writeKEKFile(t, kek.Encode()+"\n", 0o600), "")
		if err != nil {
			t.Fatal(err)
		}
		sameKEK(t, got)
	})

	t.Run("base64 file", func(t *testing.T) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			got, err := keyring.LoadKEK(writeKEKFile(t, "  "+enc.EncodeToString(raw)+"\r\n\t", 0o400), "")
			if err != nil {
				t.Fatal(err)
			}
			sameKEK(t, got)
		}
	})

	t.Run("env", func(t *testing.T) {
		t.Setenv("JUMEAU_TEST_KEK", kek.Encode())
		got, err := keyring.LoadKEK("", "JUMEAU_TEST_KEK")
		if err != nil {
			t.Fatal(err)
		}
		sameKEK(t, got)
	})

	t.Run("file wins over env", func(t *testing.T) {
		t.Setenv("JUMEAU_TEST_KEK", newKEK(t).Encode())
		got, err := keyring.LoadKEK(writeKEKFile(t, kek.Encode(), 0o600), "JUMEAU_TEST_KEK")
		if err != nil {
			t.Fatal(err)
		}
		sameKEK(t, got)
	})

	t.Run("permissions", func(t *testing.T) {
		for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o610} {
			path := writeKEKFile(t, kek.Encode(), mode)
			_, err := keyring.LoadKEK(path, "")
			if !errors.Is(err, keyring.ErrKEKPermissions) {
				t.Errorf("mode %04o: got %v, want ErrKEKPermissions", mode, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "chmod 600") || !strings.Contains(msg, path) {
				t.Errorf("mode %04o: got message %q, want it to name the file and chmod 600", mode, msg)
			}
		}
	})

	t.Run("missing file", func(t *testing.T) {
		t.Setenv("JUMEAU_TEST_KEK", kek.Encode())
		_, err := keyring.LoadKEK(filepath.Join(t.TempDir(), "absent"), "JUMEAU_TEST_KEK")
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want os.ErrNotExist (no fallback to the environment)", err)
		}
	})

	t.Run("unset env", func(t *testing.T) {
		t.Setenv("JUMEAU_TEST_KEK", "")
		for _, env := range []string{"", "JUMEAU_TEST_KEK"} {
			_, err := keyring.LoadKEK("", env)
			if !errors.Is(err, keyring.ErrNoKEK) {
				t.Errorf("env %q: got %v, want ErrNoKEK", env, err)
			}
		}
	})

	t.Run("bad value", func(t *testing.T) {
		for _, v := range []string{
			"short",
			kek.Encode()[:62],
			kek.Encode() + "00",
			strings.Repeat("zz", 32),
			base64.StdEncoding.EncodeToString(raw[:31]),
			base64.StdEncoding.EncodeToString(append(raw, 1)),
			strings.Repeat("0", 64),
		} {
			if _, err := keyring.LoadKEK(writeKEKFile(t, v, 0o600), ""); !errors.Is(err, keyring.ErrBadKEK) {
				t.Errorf("%q: got %v, want ErrBadKEK", v, err)
			}
		}
	})

	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := keyring.LoadKEK(dir, ""); !errors.Is(err, keyring.ErrBadKEK) {
			t.Errorf("got %v, want ErrBadKEK", err)
		}
	})
}

func TestKEK_String(t *testing.T) {
	kek := newKEK(t)
	secret := kek.Encode()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if got := fmt.Sprintf(verb, kek); strings.Contains(got, secret) || strings.Contains(got, secret[:16]) {
			t.Errorf("Sprintf(%s): got %q, which reveals the key", verb, got)
		}
	}
	if got := fmt.Sprintf("%x", kek); strings.Contains(got, hex.EncodeToString([]byte(secret[:8]))) {
		t.Errorf("Sprintf(%%x): got %q, which reveals the key", got)
	}
}

func TestGenerateKEK(t *testing.T) {
	a, b := newKEK(t), newKEK(t)
	if a.Encode() == b.Encode() {
		t.Errorf("two generated KEKs: got equal, want different")
	}
	if a.IsZero() {
		t.Errorf("IsZero: got true, want false")
	}
	if got, want := len(a.Encode()), 64; got != want {
		t.Errorf("len(Encode): got %d, want %d", got, want)
	}
}

func FuzzParseKEK(f *testing.F) {
	k, err := keyring.GenerateKEK()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(k.Encode()))
	f.Add([]byte(" " + k.Encode() + "\n"))
	f.Add([]byte(base64.RawURLEncoding.EncodeToString(make([]byte, 32))))
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := keyring.ParseKEK(text)
		if err != nil {
			if !errors.Is(err, keyring.ErrBadKEK) {
				t.Fatalf("ParseKEK: got %v, want ErrBadKEK", err)
			}
			return
		}
		again, err := keyring.ParseKEK([]byte(got.Encode()))
		if err != nil || again.Encode() != got.Encode() {
			t.Fatalf("round trip of %q: got (%v), want the same key", text, err)
		}
	})
}
