package replicator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    string
		offset int // byte offset the error must name; -1: the key is valid
	}{
		{"plain", "dir/a b", -1},
		{"unicode letters", "clé/日本/😀", -1},
		{"longest", strings.Repeat("k", maxNameLen), -1},
		{"replacement character itself", "k\ufffd", -1},
		{"invalid utf-8 0xff", "k\xff", 1},
		{"invalid utf-8 0xfe", "k\xfe", 1},
		{"truncated sequence", "ab\xe2\x82", 2},
		{"overlong encoding of slash", "a\xc0\xaf", 1},
		{"surrogate half", "a\xed\xa0\x80", 1},
		{"nul", "a\x00b", 1},
		{"line feed", "line1\nline2", 5},
		{"carriage return", "a\r", 1},
		{"tab", "\tx", 0},
		{"escape", "x\x1b[2J", 1},
		{"delete", "x\x7f", 1},
		{"c1 next line", "é\u0085", 2},
		{"c1 csi", "x\u009b", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateKey(tc.key)
			if tc.offset < 0 {
				if err != nil {
					t.Fatalf("ValidateKey(%q): got %v, want nil", tc.key, err)
				}
				return
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("ValidateKey(%q): got %v, want ErrBadRequest", tc.key, err)
			}
			if got, want := err.Error(), fmt.Sprintf("byte offset %d", tc.offset); !strings.Contains(got, want) {
				t.Errorf("ValidateKey(%q): got %q, want it to name %q", tc.key, got, want)
			}
		})
	}
	t.Run("lengths", func(t *testing.T) {
		for _, k := range []string{"", strings.Repeat("k", maxNameLen+1)} {
			if err := ValidateKey(k); !errors.Is(err, ErrBadRequest) {
				t.Errorf("ValidateKey of %d bytes: got %v, want ErrBadRequest", len(k), err)
			}
		}
	})
}

func TestValidateNamespace(t *testing.T) {
	for _, ns := range []string{"", "Docs", "a b", "a/b", "k\xff", "k\n", "k\u0085", "é", strings.Repeat("a", 65)} {
		t.Run(fmt.Sprintf("%q", ns), func(t *testing.T) {
			if err := ValidateNamespace(ns); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("ValidateNamespace(%q): got %v, want ErrBadRequest", ns, err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		if err := ValidateNamespace("docs-1.a_b"); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
}

// FuzzValidateKey checks that every key ValidateKey accepts survives the
// ways keys leave the daemon: a JSON round trip (the API's list and get)
// gives back the same bytes, and one key is one line of `jumeau ls`.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "dir/a b", "k\xff", "k\xfe", "a\nb", "\u0085", "\x7f", "日本", "\xed\xa0\x80", "\ufeff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("ValidateKey(%q): got %v, want an error wrapping ErrBadRequest", key, err)
			}
			if !strings.Contains(err.Error(), "byte offset") && !strings.Contains(err.Error(), "bytes, got") {
				t.Fatalf("ValidateKey(%q): error %q names neither an offset nor the length", key, err)
			}
			return
		}
		if !utf8.ValidString(key) || len(key) == 0 || len(key) > maxNameLen {
			t.Fatalf("ValidateKey accepted %q", key)
		}
		if strings.ContainsAny(key, "\r\n\x00") {
			t.Fatalf("ValidateKey accepted %q, which spans lines", key)
		}
		b, err := json.Marshal(KV{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		var back KV
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Key != key {
			t.Fatalf("JSON round trip of %q: got %q", key, back.Key)
		}
	})
}
