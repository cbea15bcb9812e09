package replicator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// lister is what Cell and Twin have in common for lists.
type lister interface {
	List(ctx context.Context, ns string, q replicator.ListQuery, cons replicator.Consistency, emit func(replicator.KV) error) (replicator.ListPage, error)
}

// pageT lists one page and returns its items.
func pageT(tb testing.TB, l lister, ns string, q replicator.ListQuery, cons replicator.Consistency) ([]replicator.KV, replicator.ListPage) {
	tb.Helper()
	var kvs []replicator.KV
	page, err := l.List(ctx10(tb), ns, q, cons, func(kv replicator.KV) error {
		kvs = append(kvs, kv)
		return nil
	})
	if err != nil {
		tb.Fatalf("list %s %+v: %v", ns, q, err)
	}
	return kvs, page
}

func ctx10(tb testing.TB) context.Context { return ctxT(tb, 10*time.Second) }

// listAllT follows the pages of q to the end (at most maxPages pages) and
// checks every page's bounds.
func listAllT(tb testing.TB, l lister, ns string, q replicator.ListQuery, cons replicator.Consistency, maxPages int) ([]replicator.KV, int) {
	tb.Helper()
	budget := q.MaxBytes
	if budget == 0 {
		budget = replicator.DefaultListPageBytes
	}
	var all []replicator.KV
	for pages := 1; ; pages++ {
		if pages > maxPages {
			tb.Fatalf("list %s %+v: more than %d pages", ns, q, maxPages)
		}
		kvs, page := pageT(tb, l, ns, q, cons)
		size := 0
		for _, kv := range kvs {
			size += replicator.ItemSize(kv.Key, len(kv.Value))
		}
		if got, want := page.Keys, len(kvs); got != want {
			tb.Fatalf("page %d: got Keys %d, want %d (items emitted)", pages, got, want)
		}
		if got, want := page.Bytes, size; got != want {
			tb.Fatalf("page %d: got Bytes %d, want %d (ItemSize of the items)", pages, got, want)
		}
		if q.Limit > 0 && len(kvs) > q.Limit {
			tb.Fatalf("page %d: got %d keys, want at most the limit %d", pages, len(kvs), q.Limit)
		}
		if len(kvs) > 1 && size > budget {
			tb.Fatalf("page %d: got %d bytes in %d items, want at most the budget %d (only a single item may exceed it)", pages, size, len(kvs), budget)
		}
		all = append(all, kvs...)
		if page.Next == "" {
			return all, pages
		}
		if len(kvs) == 0 || page.Next != kvs[len(kvs)-1].Key {
			tb.Fatalf("page %d: got next %q, want the page's last key", pages, page.Next)
		}
		q.After = page.Next
	}
}

// calmRaft gives Raft timeouts that a loaded test machine keeps while
// the cell commits entries of several MiB (the tests are about what is
// read, not about elections).
func calmRaft(cfg *node.Config) {
	cfg.Raft.HeartbeatTimeout = 2 * time.Second
	cfg.Raft.ElectionTimeout = 2 * time.Second
	cfg.Raft.LeaderLeaseTimeout = time.Second
}

// putSizes writes keys k-0000.. of ns with values of the given sizes
// (byte i of value k is a function of both, so a value moved to another
// key shows) and returns them in key order.
func putSizes(tb testing.TB, cell *replicator.Cell, ns string, sizes []int) []replicator.KV {
	tb.Helper()
	out := make([]replicator.KV, len(sizes))
	for i, n := range sizes {
		k := fmt.Sprintf("k-%04d", i)
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(i*31 + j)
		}
		// A large entry can cost the leader its lease on a loaded
		// machine; writing the same value again is harmless.
		var err error
		for try := 0; try < 5; try++ {
			if _, err = cell.Put(ctxT(tb, 30*time.Second), ns, k, v, replicator.DurabilityCell); err == nil {
				break
			}
			if !errors.Is(err, replicator.ErrTimeout) && !errors.Is(err, replicator.ErrNoLeader) && !errors.Is(err, replicator.ErrNotLeader) {
				break
			}
		}
		if err != nil {
			tb.Fatalf("put %s/%s (%d bytes): %v", ns, k, n, err)
		}
		out[i] = replicator.KV{Key: k, Value: v}
	}
	return out
}

func sameKVs(tb testing.TB, what string, got, want []replicator.KV) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: got %d keys, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			tb.Fatalf("%s: item %d: got %q (%d bytes), want %q (%d bytes)", what, i, got[i].Key, len(got[i].Value), want[i].Key, len(want[i].Value))
		}
	}
}

// Values big enough that a list of them is over the forward frame limit
// (16 MiB): through a follower, the whole list used to be built on the
// leader and then refused as a frame too large. Pages keep each forwarded
// frame at one page, and a value larger than the budget comes alone.
func TestCell_List_OverFrameLimit(t *testing.T) {
	c := cluster.New(t, cluster.Options{Direct: true, Tweak: calmRaft})
	leader := c.WaitLeader("")
	f := follower(c, leader)
	// 3.5 MiB values: 21 MiB in all, each one over the budget alone
	// (4.7 MiB in JSON), and two small ones that share a page.
	const v = 7 << 19
	want := putSizes(t, c.Node(leader).Cell(), "big", []int{v, v, v, 1 << 20, 1 << 10, v, v, v})
	if err := c.WaitConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		site string
		cons replicator.Consistency
	}{
		{"linearizable through a follower", f, replicator.Linearizable},
		{"linearizable on the leader", leader, replicator.Linearizable},
		{"stale on a follower", f, replicator.Stale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := listAllT(t, c.Node(tc.site).Cell(), "big", replicator.ListQuery{}, tc.cons, 10)
			sameKVs(t, "pages concatenated", got, want)
			// One page per value over the budget, one for the small ones.
			if got, want := pages, 7; got != want {
				t.Fatalf("got %d pages, want %d", got, want)
			}
		})
	}
}

// Property: whatever the limit and the byte budget, the pages of a list,
// concatenated, are every key exactly once, in order, with its value; each
// page keeps its bounds. Value sizes are random (seeded) so that byte cuts
// fall everywhere.
func TestCell_List_PagesAreTheList(t *testing.T) {
	c := cluster.New(t, cluster.Options{})
	leader := c.WaitLeader("")
	f := follower(c, leader)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	sizes := make([]int, 120)
	for i := range sizes {
		switch rng.IntN(4) {
		case 0:
			sizes[i] = 0 // no value field at all
		case 1:
			sizes[i] = rng.IntN(64)
		default:
			sizes[i] = rng.IntN(40 << 10)
		}
	}
	want := putSizes(t, c.Node(leader).Cell(), "prop", sizes)
	// Keys of another namespace and outside the prefix must not show.
	putSizes(t, c.Node(leader).Cell(), "other", []int{10, 10})
	if _, err := c.Node(leader).Cell().Put(ctx10(t), "prop", "l-0", []byte("outside the prefix"), replicator.DurabilityCell); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		q := replicator.ListQuery{Prefix: "k-", Limit: 1 + rng.IntN(40), MaxBytes: 1 + rng.IntN(200<<10)}
		if i == 0 {
			q.Limit, q.MaxBytes = 0, 0 // the defaults
		}
		site, cons := leader, replicator.Linearizable
		switch i % 3 {
		case 1:
			site = f // forwarded
		case 2:
			site, cons = f, replicator.Stale
		}
		t.Run(fmt.Sprintf("limit %d bytes %d on %s", q.Limit, q.MaxBytes, site), func(t *testing.T) {
			got, _ := listAllT(t, c.Node(site).Cell(), "prop", q, cons, len(want)+1)
			sameKVs(t, "pages concatenated", got, want)
		})
	}
	t.Run("prefix that matches nothing", func(t *testing.T) {
		kvs, page := pageT(t, c.Node(f).Cell(), "prop", replicator.ListQuery{Prefix: "zz"}, replicator.Linearizable)
		if len(kvs) != 0 || page.Next != "" {
			t.Fatalf("got %d keys, next %q, want none", len(kvs), page.Next)
		}
	})
}

func TestCell_List_BadQuery(t *testing.T) {
	c := cluster.New(t, cluster.Options{Sites: 1})
	cell := c.Node(c.WaitLeader("")).Cell()
	for _, tc := range []struct {
		name string
		q    replicator.ListQuery
	}{
		{"after outside the prefix", replicator.ListQuery{Prefix: "a/", After: "b/1"}},
		{"limit over the maximum", replicator.ListQuery{Limit: replicator.MaxListLimit + 1}},
		{"negative limit", replicator.ListQuery{Limit: -1}},
		{"negative budget", replicator.ListQuery{MaxBytes: -1}},
		{"after longer than any key", replicator.ListQuery{After: strings.Repeat("k", 1025)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cell.List(ctx10(t), "ns", tc.q, replicator.Linearizable, func(replicator.KV) error { return nil })
			if !errors.Is(err, replicator.ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
		})
	}
}

// holdLists starts n lists on l that stay inside their first item until
// the returned release is called; it returns once all n hold their slot.
func holdLists(tb testing.TB, l lister, ns string, cons replicator.Consistency, n int) (release func()) {
	tb.Helper()
	entered := make(chan struct{}, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			_, err := l.List(context.Background(), ns, replicator.ListQuery{}, cons, func(replicator.KV) error {
				if first {
					first = false
					entered <- struct{}{}
					<-gate
				}
				return nil
			})
			errs <- err
		}()
	}
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-entered:
		case err := <-errs:
			tb.Fatalf("a holding list ended before its first item: %v", err)
		case <-deadline:
			tb.Fatalf("only %d of %d holding lists started within 10s", i, n)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					tb.Errorf("holding list: %v", err)
				}
			}
		})
	}
	tb.Cleanup(release)
	return release
}

// The node works on at most MaxConcurrentLists pages: one more is refused
// at once with ErrBusy (it does not queue holding memory), on the leader
// and, through a follower, when the leader's budget is full; writes still
// commit meanwhile.
func TestCell_List_Busy(t *testing.T) {
	c := cluster.New(t, cluster.Options{})
	leader := c.WaitLeader("")
	f := follower(c, leader)
	lc := c.Node(leader).Cell()
	putSizes(t, lc, "busy", []int{10, 10, 10})
	if err := c.WaitConverged(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	release := holdLists(t, lc, "busy", replicator.Stale, replicator.MaxConcurrentLists)
	for _, tc := range []struct {
		name string
		site string
		cons replicator.Consistency
	}{
		{"on the leader", leader, replicator.Linearizable},
		{"through a follower", f, replicator.Linearizable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Node(tc.site).Cell().List(ctx10(t), "busy", replicator.ListQuery{}, tc.cons, func(replicator.KV) error { return nil })
			if !errors.Is(err, replicator.ErrBusy) {
				t.Fatalf("got %v, want ErrBusy", err)
			}
		})
	}
	t.Run("a follower's own budget is its own", func(t *testing.T) {
		kvs, _ := pageT(t, c.Node(f).Cell(), "busy", replicator.ListQuery{}, replicator.Stale)
		if got, want := len(kvs), 3; got != want {
			t.Fatalf("got %d keys, want %d", got, want)
		}
	})
	t.Run("writes commit while the budget is full", func(t *testing.T) {
		if _, err := c.Node(f).Cell().Put(ctx10(t), "busy", "w", []byte("x"), replicator.DurabilityCell); err != nil {
			t.Fatalf("write with the leader's list budget full: %v", err)
		}
	})
	release()
	t.Run("after release", func(t *testing.T) {
		kvs, _ := pageT(t, c.Node(f).Cell(), "busy", replicator.ListQuery{}, replicator.Linearizable)
		if got, want := len(kvs), 4; got != want {
			t.Fatalf("got %d keys, want %d", got, want)
		}
	})
}

// A read forwarded to a leader that never answers (the follower's link to
// it is cut one way: the follower still hears the leader, so it does not
// look for another) fails as a read: it changed nothing. It used to be
// reported as a write whose outcome is unknown ("may still be committed").
func TestCell_ForwardedRead_NoAnswer(t *testing.T) {
	c := cluster.New(t, cluster.Options{})
	leader := c.WaitLeader("")
	f := follower(c, leader)
	putSizes(t, c.Node(leader).Cell(), "cut", []int{10})
	if err := c.WaitConverged(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A first forwarded read opens the follower's connection to the
	// leader: the next ones are sent on it and get no answer.
	if _, err := c.Node(f).Cell().Get(ctx10(t), "cut", "k-0000", replicator.Linearizable); err != nil {
		t.Fatal(err)
	}
	c.Partition(func(from, to string) bool { return from == f && to == leader })
	t.Cleanup(c.Heal)
	check := func(t *testing.T, err error) {
		t.Helper()
		if errors.Is(err, replicator.ErrTimeout) {
			t.Fatalf("got %v, want a read error, not ErrTimeout (a write of unknown outcome)", err)
		}
		if !errors.Is(err, replicator.ErrReadTimeout) {
			t.Fatalf("got %v, want ErrReadTimeout", err)
		}
	}
	t.Run("get", func(t *testing.T) {
		_, err := c.Node(f).Cell().Get(ctxT(t, time.Second), "cut", "k-0000", replicator.Linearizable)
		check(t, err)
	})
	t.Run("list", func(t *testing.T) {
		_, err := c.Node(f).Cell().List(ctxT(t, time.Second), "cut", replicator.ListQuery{}, replicator.Linearizable, func(replicator.KV) error { return nil })
		check(t, err)
	})
}

func TestTwin_List(t *testing.T) {
	c := cluster.New(t, cluster.Options{Twin: true})
	leader := c.WaitLeader("")
	want := putSizes(t, c.Node(leader).Cell(), "tw", []int{100, 0, 3 << 10, 5, 70 << 10})
	if err := c.WaitTwinConverged(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	tw := c.Twin().Twin()
	t.Run("pages", func(t *testing.T) {
		got, _ := listAllT(t, tw, "tw", replicator.ListQuery{Limit: 2, MaxBytes: 4 << 10}, replicator.Stale, 10)
		sameKVs(t, "pages concatenated", got, want)
	})
	t.Run("linearizable refused", func(t *testing.T) {
		_, err := tw.List(ctx10(t), "tw", replicator.ListQuery{}, replicator.Linearizable, func(replicator.KV) error { return nil })
		if !errors.Is(err, replicator.ErrReadOnly) {
			t.Fatalf("got %v, want ErrReadOnly (stale reads only: a client moves on to another node)", err)
		}
	})
	t.Run("busy", func(t *testing.T) {
		release := holdLists(t, tw, "tw", replicator.Stale, replicator.MaxConcurrentLists)
		defer release()
		_, err := tw.List(ctx10(t), "tw", replicator.ListQuery{}, replicator.Stale, func(replicator.KV) error { return nil })
		if !errors.Is(err, replicator.ErrBusy) {
			t.Fatalf("got %v, want ErrBusy", err)
		}
	})
}

// One page of 4 MiB (64 values of 64 KiB), read and unsealed from Pebble
// on disk.
func BenchmarkCell_ListPage(b *testing.B) {
	c := cluster.New(b, cluster.Options{Sites: 1})
	cell := c.Node(c.WaitLeader("")).Cell()
	sizes := make([]int, 64)
	for i := range sizes {
		sizes[i] = 64 << 10
	}
	putSizes(b, cell, "bench", sizes)
	q := replicator.ListQuery{MaxBytes: replicator.MaxListPageBytes}
	b.SetBytes(64 * 64 << 10)
	b.ReportAllocs()
	for b.Loop() {
		page, err := cell.List(context.Background(), "bench", q, replicator.Stale, func(replicator.KV) error { return nil })
		if err != nil || page.Keys != len(sizes) {
			b.Fatalf("got %+v, %v, want %d keys", page, err, len(sizes))
		}
	}
}
