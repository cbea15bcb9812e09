package node_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/wal"
)

// oneSite prepares a one-site cell and returns its configuration.
func oneSite(tb testing.TB) node.Config {
	tb.Helper()
	l, err := lab.Prepare(lab.Options{Dir: tb.TempDir(), Sites: 1, Binary: "jumeau"})
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := node.LoadConfig(l.Nodes[0].Config, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func startT(tb testing.TB, cfg node.Config) *node.Node {
	tb.Helper()
	n, err := node.Start(cfg, node.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Cell().WaitLeader(ctx); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestStart_CorruptWAL(t *testing.T) {
	cfg := oneSite(t)
	n := startT(t, cfg)
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.Cell().Put(ctx, "ns", "k", []byte("value"), replicator.DurabilityCell)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	last, _ := n.WAL().Last()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// Flip one byte of record last-3 directly in Pebble (key 0x03 + index).
	db, err := pebble.Open(filepath.Join(cfg.Node.DataDir, "pebble"), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := binary.BigEndian.AppendUint64([]byte{0x03}, last-3)
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), v...)
	closer.Close()
	bad[len(bad)/2] ^= 0x40
	if err := db.Set(key, bad, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = node.Start(cfg, node.Options{})
	if !errors.Is(err, wal.ErrCorrupt) && !errors.Is(err, wal.ErrChainBroken) {
		t.Fatalf("got %v, want a WAL corruption error", err)
	}
	want := fmt.Sprint(last - 3)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("got %q, want it to name index %s and the fix", err, want)
	}
}

func TestStart_Restart(t *testing.T) {
	cfg := oneSite(t)
	n := startT(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.Cell().Put(ctx, "ns", "k", []byte("kept"), replicator.DurabilityCell); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startT(t, cfg)
	defer n.Close()
	got, err := n.Cell().Get(ctx, "ns", "k", 0)
	if err != nil || string(got) != "kept" {
		t.Fatalf("got %q, %v, want kept", got, err)
	}
}
