//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
)

// multiClient is one client holding the API of every site of l.
func multiClient(tb testing.TB, l *lab.Lab) *api.Client {
	tb.Helper()
	var eps []string
	for _, n := range l.Nodes {
		if n.Role == string(pki.RoleSite) {
			eps = append(eps, n.API)
		}
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: l.ClientCreds.CA, Cert: l.ClientCreds.Cert, Key: l.ClientCreds.Key})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := api.NewMultiClient(eps, mat, api.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// nodeAt names the lab node whose API is addr.
func nodeAt(tb testing.TB, l *lab.Lab, addr string) string {
	tb.Helper()
	for _, n := range l.Nodes {
		if n.API == addr {
			return n.Name
		}
	}
	tb.Fatalf("no lab node has API %s", addr)
	return ""
}

// putGet writes ns/key and reads it back. While the cell elects a leader
// every node may answer no_leader: that is retried, until the deadline. A
// write whose outcome is unknown (sent to the node as it died) is read
// back, and written again if it is not there, as the error advises.
func putGet(ctx context.Context, c *api.Client, key string, unknown *int) error {
	for {
		_, err := c.Put(ctx, "clients", key, []byte(key), "")
		if err == nil {
			break
		}
		if errors.Is(err, api.ErrOutcomeUnknown) {
			*unknown++
			if v, gerr := c.Get(ctx, "clients", key, false); gerr == nil && string(v) == key {
				break
			}
			continue
		}
		if !errors.Is(err, api.ErrUnavailable) || ctx.Err() != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("put %s: %w (%w)", key, err, ctx.Err())
		case <-t.C:
		}
	}
	v, err := c.Get(ctx, "clients", key, false)
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	if string(v) != key {
		return fmt.Errorf("get %s: got %q, want %q", key, v, key)
	}
	return nil
}

// A client given every site keeps reading and writing while the node it
// was using is SIGKILLed.
func TestClient_MultiEndpoint(t *testing.T) {
	l := upLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := l.WaitLeader(ctx, ""); err != nil {
		t.Fatal(err)
	}
	c := multiClient(t, l)
	unknown := 0
	for i := range 20 {
		if err := putGet(ctx, c, fmt.Sprintf("before-%d", i), &unknown); err != nil {
			t.Fatal(err)
		}
	}
	used := nodeAt(t, l, c.Current())
	if err := l.Kill(used, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILLed %s, the node the client was using", used)
	for i := range 200 {
		if err := putGet(ctx, c, fmt.Sprintf("after-%d", i), &unknown); err != nil {
			t.Fatalf("with %s killed: %v", used, err)
		}
	}
	t.Logf("writes with an unknown outcome (read back): %d", unknown)
	if unknown > 1 {
		t.Errorf("writes with an unknown outcome: got %d, want at most 1 (the one sent as the node died)", unknown)
	}
	if got := nodeAt(t, l, c.Current()); got == used {
		t.Fatalf("current node: got %s, want another than the killed one", got)
	}
	for i := range 20 {
		v, err := c.Get(ctx, "clients", fmt.Sprintf("before-%d", i), false)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(v), fmt.Sprintf("before-%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// After a region failover (every site SIGKILLed, the twin promoted) a
// client given every site and the twin writes to the promoted twin
// without being told.
func TestClient_FollowsFailover(t *testing.T) {
	l := upLabArgs(t, "--twin", "--witness")
	fc := failoverTimings(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	leader, err := l.WaitLeader(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFailoverRows(t, l, 15*time.Second, "the leader holds the lease in epoch 1", func(rows []failoverRow) string {
		return epochOne(rows, leader)
	})
	var eps []string
	for _, n := range l.Nodes {
		if n.Role != string(pki.RoleWitness) {
			eps = append(eps, n.API)
		}
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: l.ClientCreds.CA, Cert: l.ClientCreds.Cert, Key: l.ClientCreds.Key})
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewMultiClient(eps, mat, api.ClientOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	unknown := 0
	if err := putGet(ctx, c, "before-failover", &unknown); err != nil {
		t.Fatal(err)
	}
	killed := killAtOnce(t, l, siteNames(l))
	deadline := killed.Add(fc.DetectAfter + fc.Lease + 30*time.Second)
	var last error
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no write accepted by %v after the sites were killed (%d tries); last: %v", deadline.Sub(killed), i, last)
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		_, last = c.Put(wctx, "clients", fmt.Sprintf("after-failover-%d", i), []byte("x"), "")
		wcancel()
		if last == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, want := nodeAt(t, l, c.Current()), lab.TwinName; got != want {
		t.Fatalf("the client writes to %s, want the promoted %s", got, want)
	}
	t.Logf("first write accepted on %s %v after the sites were SIGKILLed", lab.TwinName, time.Since(killed).Round(time.Millisecond))
}
