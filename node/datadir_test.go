package node_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/node"
)

func TestStart_DataDirPermissions(t *testing.T) {
	t.Run("created 0700", func(t *testing.T) {
		cfg := oneSite(t)
		n := startT(t, cfg)
		defer n.Close()
		st, err := os.Stat(cfg.Node.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Mode().Perm(), os.FileMode(0o700); got != want {
			t.Errorf("data dir mode: got %04o, want %04o", got, want)
		}
	})
	t.Run("existing 0755 refused", func(t *testing.T) {
		cfg := oneSite(t)
		if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(cfg.Node.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		n, err := node.Start(cfg, node.Options{})
		if err == nil {
			n.Close()
			t.Fatal("got a running node, want ErrDataDirPermissions")
		}
		if !errors.Is(err, node.ErrDataDirPermissions) || !strings.Contains(err.Error(), "chmod 700 "+cfg.Node.DataDir) {
			t.Fatalf("got %v, want ErrDataDirPermissions naming chmod 700 %s", err, cfg.Node.DataDir)
		}
	})
}
