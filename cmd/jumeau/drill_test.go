package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/scenarios"
)

// drillRunT runs a command line with stdin and returns what it printed
// on stdout and stderr.
func drillRunT(tb testing.TB, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if stdin != nil {
		root.SetIn(stdin)
	}
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestDrill_List(t *testing.T) {
	out, _, err := drillRunT(t, nil, "drill", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got, want := len(lines), len(scenarios.Builtins())+1; got != want {
		t.Fatalf("got %d lines, want a header and one per built-in (%d):\n%s", got, want, out)
	}
	if f := strings.Fields(lines[0]); !reflect.DeepEqual(f, []string{"NAME", "DURATION", "DESCRIPTION"}) {
		t.Errorf("header: got %q", lines[0])
	}
	for i, name := range scenarios.Builtins() {
		s, err := scenarios.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		l := lines[i+1]
		if f := strings.Fields(l); len(f) < 3 || f[0] != name || f[1] != s.Duration.String() || !strings.HasSuffix(l, "  "+s.Description) {
			t.Errorf("line %d: got %q, want %s, %v, %q", i+1, l, name, s.Duration, s.Description)
		}
	}
}

func TestDrill_ListJSON(t *testing.T) {
	out, _, err := drillRunT(t, nil, "drill", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []drillListEntry
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
		if e.Description == "" || e.Duration == "" {
			t.Errorf("%+v: want a description and a duration", e)
		}
	}
	if want := scenarios.Builtins(); !reflect.DeepEqual(names, want) {
		t.Fatalf("got %q, want %q", names, want)
	}
	if got[0].Name != "cyberattack-forged-records" || got[0].Duration != "15s" {
		t.Errorf("first: got %+v, want cyberattack-forged-records, 15s", got[0])
	}
}

func TestDrill_Show(t *testing.T) {
	out, _, err := drillRunT(t, nil, "drill", "show", "earthquake-total")
	if err != nil {
		t.Fatal(err)
	}
	want, err := scenarios.BuiltinSource("earthquake-total")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("got\n%s\nwant the file as written\n%s", out, want)
	}
	// What show prints, saved and edited, validates.
	path := filepath.Join(t.TempDir(), "my-quake.yaml")
	edited := strings.Replace(out, "name: earthquake-total", "name: my-quake", 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	vout, _, err := drillRunT(t, nil, "drill", "validate", path)
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ": ok: my-quake, 1 step over 20s, 6 checks\n"; vout != want {
		t.Fatalf("validate: got %q, want %q", vout, want)
	}
}

func TestDrill_ShowExpanded(t *testing.T) {
	out, _, err := drillRunT(t, nil, "drill", "show", "--expanded", "cyberattack-link-ddos")
	if err != nil {
		t.Fatal(err)
	}
	got, err := scenarios.Parse("expanded", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want, err := scenarios.Builtin("cyberattack-link-ddos")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, s := range []string{"value_size: 512", "stop: 20s", "heal: true"} {
		if !strings.Contains(out, s) {
			t.Errorf("want the expanded form to contain %q:\n%s", s, out)
		}
	}
}

func TestDrill_Validate(t *testing.T) {
	dir := t.TempDir()
	good, err := scenarios.BuiltinSource("earthquake-one-site")
	if err != nil {
		t.Fatal(err)
	}
	goodPath := filepath.Join(dir, "good.yaml")
	badPath := filepath.Join(dir, "bad.yaml")
	bad := strings.Replace(string(good), "at: 5s", "at: 90x", 1)
	bad = strings.Replace(bad, "kill: leader", "kill: leader\n    pause: site-b", 1)
	for p, b := range map[string]string{goodPath: string(good), badPath: bad} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("good", func(t *testing.T) {
		out, _, err := drillRunT(t, nil, "drill", "validate", goodPath)
		if err != nil || !strings.Contains(out, "good.yaml: ok: earthquake-one-site, 1 step over 15s, 6 checks") {
			t.Fatalf("got %q, %v; want ok", out, err)
		}
	})
	t.Run("bad", func(t *testing.T) {
		out, _, err := drillRunT(t, nil, "drill", "validate", goodPath, badPath)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 {
			t.Fatalf("got %v, want exit status 1", err)
		}
		if !errors.Is(err, scenarios.ErrInvalid) {
			t.Errorf("got %v, want scenarios.ErrInvalid", err)
		}
		for _, want := range []string{
			badPath + ":" + lineOfT(t, bad, "at: 90x") + `: faults[0].at: "90x": not a duration (use 1s, 500ms)`,
			badPath + ":" + lineOfT(t, bad, "pause: site-b") + ": faults[0].pause: a step has one action and this one also has kill",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got\n%v\nwant it to contain\n%s", err, want)
			}
		}
		if !strings.Contains(out, "good.yaml: ok") {
			t.Errorf("got %q, want the good file reported ok", out)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		out, _, err := drillRunT(t, strings.NewReader(string(good)), "drill", "validate", "-")
		if err != nil || !strings.HasPrefix(out, "-: ok: earthquake-one-site") {
			t.Fatalf("got %q, %v; want ok", out, err)
		}
		_, _, err = drillRunT(t, strings.NewReader(bad), "drill", "validate", "-")
		if want := "<stdin>:" + lineOfT(t, bad, "at: 90x") + ": faults[0].at"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want the line of <stdin>", err)
		}
	})
}

// lineOfT returns the 1-based number of the line of doc containing s.
func lineOfT(tb testing.TB, doc, s string) string {
	tb.Helper()
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, s) {
			return strconv.Itoa(i + 1)
		}
	}
	tb.Fatalf("test bug: %q not in the document", s)
	return ""
}

func TestDrill_Errors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"show unknown", []string{"drill", "show", "earthquake"}, "built-ins: cyberattack-forged-records, "},
		{"show unknown expanded", []string{"drill", "show", "--expanded", "nope"}, "no such built-in scenario"},
		{"show nothing", []string{"drill", "show"}, "accepts 1 arg"},
		{"validate nothing", []string{"drill", "validate"}, "requires at least 1 arg"},
		{"validate missing file", []string{"drill", "validate", filepath.Join(t.TempDir(), "none.yaml")}, "no such file"},
		{"list with an argument", []string{"drill", "list", "x"}, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := drillRunT(t, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNewDrillCmd_Children(t *testing.T) {
	var got []string
	for _, c := range newDrillCmd().Commands() {
		got = append(got, c.Name())
	}
	if want := []string{"history", "list", "run", "show", "validate", "verify"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
