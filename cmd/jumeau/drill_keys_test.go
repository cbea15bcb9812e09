package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/report"
)

func TestDrillKey_Signer(t *testing.T) {
	t.Run("private key in the lab's secrets directory", func(t *testing.T) {
		lab := t.TempDir()
		s, err := labDrillKey(lab).signer(filepath.Join(lab, "drills"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]os.FileMode{
			filepath.Join(lab, labSecretsDir):                 0o700 | os.ModeDir,
			filepath.Join(lab, labSecretsDir, report.KeyFile): 0o600,
			filepath.Join(lab, report.PubFile):                0o644,
		} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
				t.Errorf("%s: got mode %v, want %v", path, got, want)
			}
		}
		if _, err := os.Stat(filepath.Join(lab, report.KeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: got %v, want no private key in the lab directory", filepath.Join(lab, report.KeyFile), err)
		}
		if got, want := s.KeyID(), fingerprintT(t, filepath.Join(lab, report.PubFile))[:16]; got != want {
			t.Errorf("got signer %s, want the key of drill.pub %s", got, want)
		}
	})
	t.Run("key of an older lab moved", func(t *testing.T) {
		lab := t.TempDir()
		old := generateKeyT(t, lab) // lab/drill.key, lab/drill.pub
		var progress bytes.Buffer
		s, err := labDrillKey(lab).signer(filepath.Join(lab, "drills"), &progress)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.KeyID(), old.KeyID(); got != want {
			t.Errorf("got key %s, want the lab's key %s kept", got, want)
		}
		if _, err := os.Stat(filepath.Join(lab, report.KeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the old private key is still in the lab directory (%v)", err)
		}
		if !strings.Contains(progress.String(), "moved") {
			t.Errorf("progress: got %q, want the move said", progress.String())
		}
	})
	t.Run("two private keys", func(t *testing.T) {
		lab := t.TempDir()
		generateKeyT(t, lab)
		if err := os.MkdirAll(filepath.Join(lab, labSecretsDir), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(lab, report.KeyFile), filepath.Join(lab, labSecretsDir, report.KeyFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := labDrillKey(lab).signer(filepath.Join(lab, "drills"), io.Discard); err == nil || !strings.Contains(err.Error(), "two drill private keys") {
			t.Fatalf("got %v, want an error naming both keys", err)
		}
	})
	for name, reports := range map[string]string{"the lab directory": "", "a parent of the lab": ".."} {
		t.Run("refused: reports in "+name, func(t *testing.T) {
			lab := filepath.Join(t.TempDir(), "lab")
			// The key is checked before anything else runs; the bad
			// scale stops the drill at once should the check be lost.
			_, _, err := drillRunT(t, nil, "drill", "run", "earthquake-one-site", "--lab", lab, "--report", filepath.Join(lab, reports), "--scale", "-1")
			if err == nil || !strings.Contains(err.Error(), "must stay out") {
				t.Fatalf("got %v, want the private key refused in the report directory", err)
			}
			if _, err := os.Stat(lab); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused drill made %s (%v), want nothing", lab, err)
			}
		})
	}
	t.Run("live drill on --endpoint needs --key-dir", func(t *testing.T) {
		_, _, err := drillRunT(t, nil, "drill", "run", "earthquake-one-site", "--live", "--endpoint", "127.0.0.1:1", "--report", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "--key-dir") {
			t.Fatalf("got %v, want --key-dir asked for", err)
		}
	})
}
