package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chmod sets path's mode exactly (no umask).
func chmod(tb testing.TB, path string, mode os.FileMode) {
	tb.Helper()
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
}

// checkKeyPermErr checks that err refuses the key file path of mode perm
// and tells how to fix it.
func checkKeyPermErr(tb testing.TB, err error, path string, perm os.FileMode) {
	tb.Helper()
	if !errors.Is(err, ErrKeyPermissions) {
		tb.Fatalf("mode %04o: got %v, want ErrKeyPermissions", perm, err)
	}
	for _, want := range []string{path, fmt.Sprintf("%04o", perm), "chmod 600 " + path} {
		if !strings.Contains(err.Error(), want) {
			tb.Errorf("mode %04o: got %q, want it to name %q", perm, err, want)
		}
	}
}

func TestLoadTLS_KeyPermissions(t *testing.T) {
	ca, caDir := newCA(t)
	caFile := filepath.Join(caDir, CACertFile)
	certFile, keyFile, err := ca.IssueFiles(t.TempDir(), Identity{RoleSite, "monaco", "site-a"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o666} {
		t.Run(fmt.Sprintf("%04o refused", perm), func(t *testing.T) {
			chmod(t, keyFile, perm)
			_, err := LoadTLS(TLSFiles{CA: caFile, Cert: certFile, Key: keyFile})
			checkKeyPermErr(t, err, keyFile, perm)
		})
	}
	t.Run("symlink to a readable key refused", func(t *testing.T) {
		chmod(t, keyFile, 0o644)
		link := filepath.Join(t.TempDir(), "tls.key")
		if err := os.Symlink(keyFile, link); err != nil {
			t.Fatal(err)
		}
		_, err := LoadTLS(TLSFiles{CA: caFile, Cert: certFile, Key: link})
		checkKeyPermErr(t, err, link, 0o644)
	})
	for _, perm := range []os.FileMode{0o600, 0o400} {
		t.Run(fmt.Sprintf("%04o accepted", perm), func(t *testing.T) {
			chmod(t, keyFile, perm)
			if _, err := LoadTLS(TLSFiles{CA: caFile, Cert: certFile, Key: keyFile}); err != nil {
				t.Fatalf("got %v, want nil", err)
			}
		})
	}
	t.Run("directory refused", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "key")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTLS(TLSFiles{CA: caFile, Cert: certFile, Key: d}); !errors.Is(err, ErrBadPEM) {
			t.Fatalf("got %v, want ErrBadPEM", err)
		}
	})
}

func TestLoadCA_KeyPermissions(t *testing.T) {
	_, dir := newCA(t)
	keyFile := filepath.Join(dir, CAKeyFile)
	t.Run("0644 refused", func(t *testing.T) {
		chmod(t, keyFile, 0o644)
		_, err := LoadCA(dir)
		checkKeyPermErr(t, err, keyFile, 0o644)
	})
	t.Run("0600 accepted", func(t *testing.T) {
		chmod(t, keyFile, 0o600)
		if _, err := LoadCA(dir); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
}

// TestCA_KeyFilesWritten checks that every key file pki writes is 0600
// whatever the umask allows, and loads back.
func TestCA_KeyFilesWritten(t *testing.T) {
	ca, dir := newCA(t)
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("%s: got mode %04o, want %04o", CAKeyFile, got, want)
	}
	out := t.TempDir()
	// Rotation over a key left readable: the new file is 0600 again.
	for i := range 2 {
		certFile, keyFile, err := ca.IssueFiles(out, Identity{RoleClient, "monaco", "app"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("issue %d: %s: got mode %04o, want %04o", i, keyFile, got, want)
		}
		if _, err := LoadTLS(TLSFiles{CA: filepath.Join(dir, CACertFile), Cert: certFile, Key: keyFile}); err != nil {
			t.Errorf("issue %d: load: %v", i, err)
		}
		chmod(t, keyFile, 0o644)
	}
}
