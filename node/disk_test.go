package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/diskspace"
	"github.com/monaco-sovereign/jumeau/diskspace/disktest"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

func TestLoadConfig_Disk(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := node.DiskConfig{
			WarnFreeBytes: diskspace.GiB, WarnFreePercent: 5, RefuseFreeBytes: 256 * diskspace.MiB, RefuseFreePercent: 1,
			CheckEvery: time.Second,
		}
		if got := cfg.Disk; got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("units", func(t *testing.T) {
		cfg, err := node.LoadConfig(writeConfig(t, validYAML+
			"disk: {warn_free_bytes: 2GiB, warn_free_percent: 10, refuse_free_bytes: \"512 MiB\", refuse_free_percent: 2.5, check_every: 250ms, ballast_bytes: 1073741824}\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := node.DiskConfig{
			WarnFreeBytes: 2 * diskspace.GiB, WarnFreePercent: 10, RefuseFreeBytes: 512 * diskspace.MiB, RefuseFreePercent: 2.5,
			CheckEvery: 250 * time.Millisecond, BallastBytes: diskspace.GiB,
		}
		if got := cfg.Disk; got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("JUMEAU_DISK_REFUSE_FREE_BYTES", "100MiB")
		t.Setenv("JUMEAU_DISK_BALLAST_BYTES", "64MiB")
		cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.Disk.RefuseFreeBytes, 100*diskspace.MiB; got != want {
			t.Fatalf("refuse_free_bytes from env: got %s, want %s", got, want)
		}
		if got, want := cfg.Disk.BallastBytes, 64*diskspace.MiB; got != want {
			t.Fatalf("ballast_bytes from env: got %s, want %s", got, want)
		}
	})
	for _, tc := range []struct{ name, yaml, want string }{
		{"not a size", "disk: {refuse_free_bytes: lots}\n", "refuse_free_bytes"},
		{"negative", "disk: {ballast_bytes: -1}\n", "ballast_bytes"},
		{"refuse above warn", "disk: {refuse_free_bytes: 2GiB}\n", "disk.refuse_free_bytes"},
		{"percent", "disk: {warn_free_percent: 120}\n", "disk.warn_free_percent"},
		{"check interval", "disk: {check_every: 0s}\n", "disk.check_every"},
		{"unknown key", "disk: {free: 1GiB}\n", "free"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, validYAML+tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// diskCluster starts a three-site cell with each site's data directory
// on its own 32 MiB tmpfs, warned below 8 MiB free and refusing writes
// below 4 MiB. It returns the cluster and the tmpfs of each site.
func diskCluster(tb testing.TB) (*cluster.Cluster, map[string]string) {
	tb.Helper()
	dirs := map[string]string{}
	for _, s := range []string{"site-a", "site-b", "site-c"} {
		dirs[s] = disktest.Tmpfs(tb, "32m")
	}
	c := cluster.New(tb, cluster.Options{Tweak: func(cfg *node.Config) {
		cfg.Node.DataDir = filepath.Join(dirs[cfg.Node.Name], "data")
		cfg.Disk.WarnFreeBytes, cfg.Disk.WarnFreePercent = 8*diskspace.MiB, 0
		cfg.Disk.RefuseFreeBytes, cfg.Disk.RefuseFreePercent = 4*diskspace.MiB, 0
		cfg.Disk.CheckEvery = 50 * time.Millisecond
	}})
	return c, dirs
}

// waitDisk waits until node's disk guard reports level.
func waitDisk(tb testing.TB, n *node.Node, level diskspace.Level) node.Status {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := n.Status()
		if st.Disk != nil && st.Disk.Level == level {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: got disk status %+v after 10 s, want level %s", st.Name, st.Disk, level)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// putHTTP writes through the client API with the lab's client
// certificate and returns the HTTP status and the error code.
func putHTTP(tb testing.TB, c *cluster.Cluster, site, ns, key, value string) (int, string) {
	tb.Helper()
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: c.Lab.ClientCreds.Cert, Key: c.Lab.ClientCreds.Key})
	if err != nil {
		tb.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: mat.ClientConfig("127.0.0.1", "http/1.1")}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPut, "https://"+c.Node(site).APIAddr()+"/v1/kv/"+ns+"/"+key, bytes.NewReader([]byte(value)))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Code
}

func diskMetric(tb testing.TB, n *node.Node, name string, labels ...string) float64 {
	tb.Helper()
	v, ok := disktest.Metric(tb, n.Registry(), name, labels...)
	if !ok {
		tb.Fatalf("metric %s%v is missing", name, labels)
	}
	return v
}

func put(ctx context.Context, n *node.Node, key, value string) error {
	_, err := n.Cell().Put(ctx, "ns", key, []byte(value), replicator.DurabilityCell)
	return err
}

// TestNode_DiskFull fills the leader's volume: new writes are refused
// with ErrNoSpace (directly, forwarded from a follower, and through the
// HTTP API as 507), reads go on, the alarm and the metrics show it, and
// writes resume by themselves once room is freed. A follower whose volume
// is full keeps applying what the cell commits.
func TestNode_DiskFull(t *testing.T) {
	c, dirs := diskCluster(t)
	leader := c.WaitLeader("")
	f := follower(c, leader)
	ln, fn := c.Node(leader), c.Node(f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range []struct {
		name   string
		labels []string
	}{
		{"jumeau_disk_free_bytes", nil}, {"jumeau_disk_total_bytes", nil},
		{"jumeau_disk_alarm", []string{"level", "warn"}}, {"jumeau_disk_alarm", []string{"level", "refuse"}},
		{"jumeau_disk_writes_refused_total", nil}, {"jumeau_pebble_errors_total", nil},
	} {
		diskMetric(t, ln, m.name, m.labels...) // present from the start
	}
	if err := put(ctx, ln, "before", "v1"); err != nil {
		t.Fatal(err)
	}

	filler := disktest.Fill(t, dirs[leader], 2*uint64(diskspace.MiB))
	st := waitDisk(t, ln, diskspace.LevelRefuse)
	if st.Disk.Alarm == "" {
		t.Fatalf("got status %+v, want an alarm", st.Disk)
	}
	t.Run("refused on the leader", func(t *testing.T) {
		err := put(ctx, ln, "k", "v")
		if !errors.Is(err, diskspace.ErrNoSpace) {
			t.Fatalf("got %v, want ErrNoSpace", err)
		}
		for _, want := range []string{"node " + leader, "disk.refuse_free", dirs[leader], "resume by themselves"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("message %q does not say %q", err, want)
			}
		}
	})
	t.Run("refused when forwarded from a follower", func(t *testing.T) {
		if err := put(ctx, fn, "k", "v"); !errors.Is(err, diskspace.ErrNoSpace) {
			t.Fatalf("got %v, want ErrNoSpace", err)
		}
	})
	t.Run("refused through the API with 507", func(t *testing.T) {
		status, code := putHTTP(t, c, f, "ns", "k", "v")
		if status != http.StatusInsufficientStorage || code != "nospace" {
			t.Fatalf("got HTTP %d %q, want %d nospace", status, code, http.StatusInsufficientStorage)
		}
		if _, err := c.Client(f).Put(ctx, "ns", "k", []byte("v"), ""); !errors.Is(err, api.ErrNoSpace) {
			t.Fatalf("Go client: got %v, want api.ErrNoSpace", err)
		}
	})
	t.Run("reads go on", func(t *testing.T) {
		for _, n := range []*node.Node{ln, fn} {
			got, err := n.Cell().Get(ctx, "ns", "before", replicator.Linearizable)
			if err != nil || string(got) != "v1" {
				t.Fatalf("get: got %q, %v, want v1", got, err)
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if got, want := diskMetric(t, ln, "jumeau_disk_alarm", "level", "refuse"), 1.0; got != want {
			t.Fatalf("got jumeau_disk_alarm{level=refuse} %v, want %v", got, want)
		}
		if got, want := diskMetric(t, ln, "jumeau_disk_alarm", "level", "warn"), 1.0; got != want {
			t.Fatalf("got jumeau_disk_alarm{level=warn} %v, want %v", got, want)
		}
		if got, want := diskMetric(t, ln, "jumeau_disk_writes_refused_total"), 4.0; got != want {
			t.Fatalf("got jumeau_disk_writes_refused_total %v, want %v (the leader's, forwarded, HTTP and Go client writes)", got, want)
		}
		if got := diskMetric(t, ln, "jumeau_disk_free_bytes"); got >= 4<<20 {
			t.Fatalf("got jumeau_disk_free_bytes %v, want below the 4 MiB threshold", got)
		}
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	t.Run("writes resume by themselves", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := put(ctx, fn, "after", "v2")
			if err == nil {
				break
			}
			if !errors.Is(err, diskspace.ErrNoSpace) || time.Now().After(deadline) {
				t.Fatalf("after freeing the room: got %v, want the write to succeed", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got, want := diskMetric(t, ln, "jumeau_disk_alarm", "level", "refuse"), 0.0; got != want {
			t.Fatalf("got jumeau_disk_alarm{level=refuse} %v, want %v", got, want)
		}
	})

	t.Run("a full follower keeps applying", func(t *testing.T) {
		disktest.Fill(t, dirs[f], 2*uint64(diskspace.MiB))
		waitDisk(t, fn, diskspace.LevelRefuse)
		if err := put(ctx, ln, "applied", "v3"); err != nil {
			t.Fatalf("write on the leader: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := fn.Cell().Get(ctx, "ns", "applied", replicator.Stale)
			if err == nil && string(got) == "v3" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("on the full follower: got %q, %v after 10 s, want v3 applied", got, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// follower returns a running site other than leader.
func follower(c *cluster.Cluster, leader string) string {
	for _, n := range c.Sites() {
		if n != leader && c.Node(n) != nil {
			return n
		}
	}
	return ""
}
