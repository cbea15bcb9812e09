//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
)

// TestLab_ReturnOfMonacoAndSwitchback, with real processes: Monaco
// acknowledges writes while the WAN is cut, then every site is SIGKILLed
// and the twin is promoted. When the sites come back they demote
// themselves and export exactly the writes the twin missed (checked with
// `jumeau failover tail`), resync as replicas of the new primary, and a
// `jumeau failover switchover --to monaco` hands the primary role back
// without losing an acknowledged write.
func TestLab_ReturnOfMonacoAndSwitchback(t *testing.T) {
	l := upLabArgs(t, "--twin", "--witness")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFailoverRows(t, l, 15*time.Second, "the leader holds the lease in epoch 1", func(rows []failoverRow) string {
		return epochOne(rows, leader)
	})
	lc := probeClient(t, l, leader)
	put := func(c *api.Client, k, d string) error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.Put(pctx, "e2e", k, []byte("value of "+k), d)
		return err
	}
	var before, forked, onLux []string
	for i := 0; i < 30; i++ {
		k := fmt.Sprintf("before-%02d", i)
		if err := put(lc, k, "twin"); err != nil {
			t.Fatal(err)
		}
		before = append(before, k)
	}
	if so, se, code := runCLI(t, "lab", "fault", "--dir", l.Dir, "--wan", "--blackhole"); code != 0 {
		t.Fatalf("lab fault --wan --blackhole: exit %d: %s%s", code, so, se)
	}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("forked-%02d", i)
		if err := put(lc, k, "cell"); err != nil {
			t.Fatal(err)
		}
		forked = append(forked, k)
	}
	sites := siteNames(l)
	killed := killAtOnce(t, l, sites)
	healWAN(t, l)
	twinC := probeClient(t, l, lab.TwinName)
	first, _ := waitTwinWritable(t, twinC, killed.Add(20*time.Second))
	t.Logf("twin promoted: first write %v after the kill", first.at.Sub(killed).Round(time.Millisecond))
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("lux-%02d", i)
		if err := put(twinC, k, "cell"); err != nil {
			t.Fatal(err)
		}
		onLux = append(onLux, k)
	}

	// Monaco comes back: the sites learn epoch 2 and demote themselves.
	for _, s := range sites {
		if err := l.Start(s); err != nil {
			t.Fatal(err)
		}
	}
	rows := waitFailoverRows(t, l, 60*time.Second, "every site a replica with its forked tail exported", func(rows []failoverRow) string {
		for _, s := range sites {
			r := failoverRowOf(rows, s)
			if r == nil || r.Failover == nil || r.Failover.Mode != "replica" || r.Failover.ForkedTail == "" {
				return s + " is not a demoted replica yet"
			}
		}
		return ""
	})
	var tailKeys []string
	for _, s := range sites {
		path := failoverRowOf(rows, s).Failover.ForkedTail
		so, se, code := runCLI(t, "failover", "tail", path, "--json")
		if code != 0 {
			t.Fatalf("failover tail %s: exit %d: %s", path, code, se)
		}
		var doc struct {
			Header struct {
				ForkIndex uint64 `json:"fork_index"`
				ForkMatch bool   `json:"fork_match"`
			} `json:"header"`
			Records []struct {
				Op, Key string
			} `json:"records"`
		}
		if err := json.Unmarshal([]byte(so), &doc); err != nil {
			t.Fatalf("failover tail --json: %v\n%s", err, so)
		}
		for _, r := range doc.Records {
			if r.Op != "put" {
				continue
			}
			if !slices.Contains(forked, r.Key) {
				t.Errorf("%s's forked tail holds %s: not a write the twin missed", s, r.Key)
			}
			if !slices.Contains(tailKeys, r.Key) {
				tailKeys = append(tailKeys, r.Key)
			}
		}
		t.Logf("%s: forked tail of %d records from fork index %d (chain matches: %v)", s, len(doc.Records), doc.Header.ForkIndex, doc.Header.ForkMatch)
	}
	for _, k := range forked {
		if !slices.Contains(tailKeys, k) {
			t.Errorf("acknowledged write %s is neither on the new primary nor in a forked tail", k)
		}
	}

	// Failback: retry until the replicas have caught up (the switchover
	// is abandoned, and writes resume on lux-1, until they have).
	deadline := time.Now().Add(60 * time.Second)
	for {
		so, se, code := runCLI(t, "failover", "switchover", "--lab", l.Dir, "--to", "monaco")
		if code == 0 {
			t.Logf("switchover: %s", strings.TrimSpace(so))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failover switchover --to monaco: exit %d: %s%s", code, so, se)
		}
		time.Sleep(500 * time.Millisecond)
	}
	switched := time.Now()
	var monaco *api.Client
	for monaco == nil {
		for _, s := range sites {
			c := probeClient(t, l, s)
			if err := put(c, "after-switchback", "twin"); err == nil {
				monaco = c
				break
			} else if !errors.Is(err, api.ErrLeaseExpired) && !errors.Is(err, api.ErrUnavailable) && !errors.Is(err, api.ErrReadOnly) &&
				!errors.Is(err, api.ErrFenced) && !errors.Is(err, api.ErrTwinUnconfirmed) && !errors.Is(err, api.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("write on %s after the switchover: %v", s, err)
			}
		}
		if time.Since(switched) > 30*time.Second {
			t.Fatal("no Monaco site took a durability=twin write within 30 s of the switchover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Monaco writable %v after the switchover answered", time.Since(switched).Round(time.Millisecond))
	got := listContents(t, monaco, "", false)
	for _, k := range slices.Concat(before, onLux, []string{first.key}) {
		want := "value of " + k
		if k == first.key {
			want = first.value
		}
		if got[k] != want {
			t.Errorf("acknowledged write %s: got %q on Monaco after the switchback, want %q", k, got[k], want)
		}
	}
	for _, k := range forked {
		if _, ok := got[k]; ok {
			t.Errorf("forked write %s is in the new epoch's state: it must only be in the forked tail", k)
		}
	}
	waitFailoverRows(t, l, 20*time.Second, "epoch 3 with monaco primary and lux-1 a receiver", func(rows []failoverRow) string {
		w, tw := failoverRowOf(rows, lab.WitnessName), failoverRowOf(rows, lab.TwinName)
		if w == nil || w.Failover == nil || w.Failover.Epoch != 3 || w.Failover.PrimaryRegion != "monaco" {
			return "the witness is not in epoch 3 with monaco primary"
		}
		if tw == nil || tw.Failover == nil || tw.Failover.Mode != "twin" {
			return "lux-1 is not a receiver again"
		}
		return ""
	})
}
