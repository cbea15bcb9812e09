package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/lab"
)

// labConfigT prepares a two-site lab (no processes) and returns site-a's
// configuration file and the lab's pki directory.
func labConfigT(tb testing.TB) (cfgFile, pkiDir string) {
	tb.Helper()
	l, err := lab.Prepare(lab.Options{Dir: tb.TempDir(), Sites: 2, Binary: "jumeau"})
	if err != nil {
		tb.Fatal(err)
	}
	return l.Nodes[0].Config, filepath.Join(l.Dir, "pki")
}

// editedT writes a copy of file with each old string replaced by new.
func editedT(tb testing.TB, file string, oldnew ...string) string {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(s, oldnew[i]) {
			tb.Fatalf("%s has no %q", file, oldnew[i])
		}
		s = strings.Replace(s, oldnew[i], oldnew[i+1], 1)
	}
	out := filepath.Join(tb.TempDir(), "jumeau.yaml")
	if err := os.WriteFile(out, []byte(s), 0o600); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	valid, pkiDir := labConfigT(t)
	threeWrong := editedT(t, valid, "name: site-a", "name: \"\"", "level: info", "level: loud", "format: json", "format: xml")
	otherCert := editedT(t, valid, "site-a.crt", "site-b.crt", "site-a.key", "site-b.key")
	cases := []struct {
		name string
		args []string
		want exitStatus
		errs []string // substrings of the error; each must appear
		out  string   // substring of stdout
	}{
		{"valid", []string{valid}, exitOK, nil, valid + ": ok: site/monaco/site-a (the files it names read fine)"},
		{"every problem", []string{threeWrong}, exitFailure, []string{"1 of 1 files invalid", "node.name is required", `log.level "loud"`, `log.format "xml"`}, ""},
		{"unknown key", []string{editedT(t, valid, "pprof: true", "pprof: true\n    colour: blue")}, exitFailure, []string{"colour"}, ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.yaml")}, exitFailure, []string{"nope.yaml"}, ""},
		{"certificate of another node", []string{otherCert}, exitFailure, []string{"is for site/monaco/site-b", "jumeau certs issue"}, ""},
		{"certificate not read with --skip-files", []string{"--skip-files", otherCert}, exitOK, nil, "files not read (--skip-files)"},
		{"one of two invalid", []string{valid, threeWrong}, exitFailure, []string{"1 of 2 files invalid"}, valid + ": ok"},
		{"no file", nil, exitUsage, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, err := runT(t, append([]string{"config", "validate"}, tc.args...)...)
			if code != tc.want {
				t.Fatalf("exit status: got %d (%v), want %d\n%s", code, err, tc.want, out)
			}
			for _, want := range tc.errs {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error: got %v, want it to mention %q", err, want)
				}
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout: got %q, want it to contain %q", out, tc.out)
			}
		})
	}
	t.Run("key readable by others", func(t *testing.T) {
		key := filepath.Join(pkiDir, "site-a.key")
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(key, 0o600)
		_, _, err := runT(t, "config", "validate", valid)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("got %v, want the key's mode refused with the fix", err)
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, err := runT(t, "config", "validate", "--json", valid, threeWrong)
		if code != exitFailure {
			t.Fatalf("exit status: got %d (%v), want %d", code, err, exitFailure)
		}
		var got []configResult
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("stdout %q: %v", out, err)
		}
		if len(got) != 2 || !got[0].Valid || !got[0].FilesChecked || got[1].Valid || len(got[1].Problems) != 3 {
			t.Fatalf("got %+v, want the first valid (files checked), the second with 3 problems", got)
		}
	})
}
