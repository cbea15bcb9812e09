package replicator_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// keyringDir is where the test puts a node's keyring file: a directory of
// its own, so that it can be made unwritable without touching the rest.
func keyringDir(cfgFile string) string { return filepath.Join(filepath.Dir(cfgFile), "keyring") }

// breakKeyring makes writes of name's keyring file fail, even for root:
// it moves the file's directory away. The returned function puts it back.
func breakKeyring(tb testing.TB, c *cluster.Cluster, name string) (restore func()) {
	tb.Helper()
	ln, err := c.Lab.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	dir := keyringDir(ln.Config)
	if err := os.Rename(dir, dir+".away"); err != nil {
		tb.Fatal(err)
	}
	done := false
	restore = func() {
		if !done {
			done = true
			if err := os.Rename(dir+".away", dir); err != nil {
				tb.Fatal(err)
			}
		}
	}
	tb.Cleanup(restore)
	return restore
}

// keyringFile returns the namespaces name's keyring file holds on disk.
func keyringFile(tb testing.TB, c *cluster.Cluster, name string) []string {
	tb.Helper()
	ln, err := c.Lab.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := node.LoadConfig(ln.Config, nil)
	if err != nil {
		tb.Fatal(err)
	}
	kek, err := keyring.LoadKEK(cfg.Keyring.KEKFile, "")
	if err != nil {
		tb.Fatal(err)
	}
	k, err := keyring.Open(filepath.Join(keyringDir(ln.Config), "keyring.json"), kek)
	if err != nil {
		tb.Fatal(err)
	}
	return k.Namespaces()
}

// TestCell_KeyringWriteFails creates namespaces while a site cannot write
// its keyring file (as when it has no file descriptor left). On the
// leader the request fails with the reason and nothing is proposed; on a
// follower the committed key is applied all the same. No site halts,
// nothing committed is lost, and a restarted site has the key and
// writes it to its keyring file.
func TestCell_KeyringWriteFails(t *testing.T) {
	c := cluster.New(t, cluster.Options{Tweak: func(cfg *node.Config) {
		dir := filepath.Join(filepath.Dir(cfg.Keyring.File), "keyring")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg.Keyring.File = filepath.Join(dir, "keyring.json")
	}})
	leader := c.WaitLeader("")
	f := follower(c, leader)
	lcell := c.Node(leader).Cell()
	put := func(cell *replicator.Cell, ns, key string) error {
		_, err := cell.Put(ctxT(t, 10*time.Second), ns, key, []byte(ns+"/"+key), replicator.DurabilityCell)
		return err
	}
	if err := put(lcell, "test", "before"); err != nil {
		t.Fatal(err)
	}

	t.Run("leader cannot write: the request fails, the leader serves", func(t *testing.T) {
		restore := breakKeyring(t, c, leader)
		defer restore()
		last, _ := c.WAL(leader).Last()
		err := put(lcell, "fresh", "k")
		if !errors.Is(err, keyring.ErrPersist) || !strings.Contains(err.Error(), "keyring") || !strings.Contains(err.Error(), "nothing was written") {
			t.Fatalf("put into a new namespace: got %v, want ErrPersist saying nothing was written", err)
		}
		if got, _ := c.WAL(leader).Last(); got != last {
			t.Errorf("WAL last after the refused write: got %d, want %d (nothing proposed)", got, last)
		}
		if err := put(lcell, "test", "during"); err != nil {
			t.Errorf("put into an existing namespace: got %v, want nil", err)
		}
		if err := lcell.FSM().Failed(); err != nil {
			t.Errorf("leader FSM: got %v, want running", err)
		}
	})

	t.Run("follower cannot write: it applies the key and serves it", func(t *testing.T) {
		restore := breakKeyring(t, c, f)
		defer restore()
		if err := put(lcell, "fresh", "k"); err != nil {
			t.Fatalf("put into a new namespace: got %v, want nil", err)
		}
		if err := c.WaitConverged(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		fcell := c.Node(f).Cell()
		if err := fcell.FSM().Failed(); err != nil {
			t.Fatalf("follower FSM: got %v, want running", err)
		}
		got, err := fcell.Get(ctxT(t, 10*time.Second), "fresh", "k", replicator.Stale)
		if err != nil || string(got) != "fresh/k" {
			t.Fatalf("stale get on the follower: got %q, %v, want fresh/k", got, err)
		}
	})

	t.Run("restart: the follower has the key and writes its file", func(t *testing.T) {
		c.Stop(f)
		if got := keyringFile(t, c, f); strings.Contains(strings.Join(got, ","), "fresh") {
			t.Fatalf("keyring file of %s before restart: got %q: the write did not fail, the test proves nothing", f, got)
		}
		c.Start(f)
		if got, want := strings.Join(keyringFile(t, c, f), ","), "fresh,test"; got != want {
			t.Errorf("keyring file of %s after restart: got %q, want %q", f, got, want)
		}
		if err := c.WaitConverged(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		for _, name := range c.Names() {
			cell := c.Node(name).Cell()
			for _, kv := range [][2]string{{"test", "before"}, {"test", "during"}, {"fresh", "k"}} {
				got, err := cell.Get(ctxT(t, 10*time.Second), kv[0], kv[1], replicator.Stale)
				if want := kv[0] + "/" + kv[1]; err != nil || string(got) != want {
					t.Errorf("get %s/%s on %s: got %q, %v, want %q", kv[0], kv[1], name, got, err, want)
				}
			}
		}
	})
}
