package api_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/cluster"
)

// TestServer_OddKeys sends keys that JSON or a line-per-key listing cannot
// carry losslessly (invalid UTF-8, control characters) to a real node:
// each write, read and delete is refused with the offending byte offset,
// and nothing is stored.
func TestServer_OddKeys(t *testing.T) {
	c := cluster.New(t, cluster.Options{Sites: 1})
	cl := c.Client(c.WaitLeader(""))
	ctx := ctxT(t)
	const ns = "odd"
	if _, err := cl.Put(ctx, ns, "ok", []byte("v"), ""); err != nil {
		t.Fatalf("put a valid key: %v", err)
	}
	for _, tc := range []struct{ name, key, offset string }{
		{"invalid utf-8 0xff", "k\xff", "byte offset 1"},
		{"invalid utf-8 0xfe", "k\xfe", "byte offset 1"},
		{"line feed", "one\ntwo", "byte offset 3"},
		{"carriage return", "one\rtwo", "byte offset 3"},
		{"escape", "k\x1b[31m", "byte offset 1"},
		{"delete", "k\x7f", "byte offset 1"},
		{"c1 control", "k\u0085", "byte offset 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), tc.offset) {
					t.Errorf("%s %q: got %v, want ErrBadRequest naming %q", op, tc.key, err, tc.offset)
				}
			}
			_, err := cl.Put(ctx, ns, tc.key, []byte("v"), "")
			check("put", err)
			_, err = cl.Get(ctx, ns, tc.key, false)
			check("get", err)
			_, err = cl.Get(ctx, ns, tc.key, true)
			check("stale get", err)
			_, err = cl.Delete(ctx, ns, tc.key, "")
			check("delete", err)
		})
	}
	l, err := cl.List(ctx, ns, "", 100, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range l.Items {
		got = append(got, it.Key)
	}
	if want := []string{"ok"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("list after the refused writes: got %q, want %q", got, want)
	}
}
