package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestPrintableKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"dir/a b", "dir/a b"},
		{"clé", "clé"},
		{"one\ntwo", `"one\ntwo"`},
		{"one\rtwo", `"one\rtwo"`},
		{"k\x1b[2J", `"k\x1b[2J"`},
		{`"one\ntwo"`, `"\"one\\ntwo\""`},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got := printableKey(tc.key)
			if got != tc.want {
				t.Fatalf("printableKey(%q): got %s, want %s", tc.key, got, tc.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Fatalf("printableKey(%q) = %q spans lines", tc.key, got)
			}
			if strings.HasPrefix(got, `"`) {
				if back, err := strconv.Unquote(got); err != nil || back != tc.key {
					t.Fatalf("unquote %s: got %q, %v, want %q", got, back, err, tc.key)
				}
			}
		})
	}
}
