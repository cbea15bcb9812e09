package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// holdLists starts n stale lists on cell that stay inside their first
// item until the returned release is called; it returns once all n hold
// one of the node's list slots.
func holdLists(tb testing.TB, cell *replicator.Cell, ns string, n int) (release func()) {
	tb.Helper()
	entered := make(chan struct{}, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			_, _ = cell.List(context.Background(), ns, replicator.ListQuery{}, replicator.Stale, func(replicator.KV) error {
				if first {
					first = false
					entered <- struct{}{}
					<-gate
				}
				return nil
			})
		}()
	}
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-entered:
		case <-deadline:
			tb.Fatalf("only %d of %d holding lists started within 10s", i, n)
		}
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate); wg.Wait() }) }
	tb.Cleanup(release)
	return release
}

// listPages returns the value of jumeau_list_pages_total{result} on n.
func listPages(tb testing.TB, n *node.Node, result string) float64 {
	tb.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jumeau_list_pages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "result") == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	tb.Fatalf("no jumeau_list_pages_total{result=%q} series", result)
	return 0
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestServer_List(t *testing.T) {
	c := cluster.New(t, cluster.Options{Direct: true})
	leader := c.WaitLeader("")
	f := otherSite(c, leader)
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 100 << 10
	}
	want := putValues(t, c.Node(leader).Cell(), "docs", sizes)
	if err := c.WaitConverged(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	hc := rawClient(t, c)
	cl := c.Client(f)

	t.Run("metrics exist before the first list", func(t *testing.T) {
		for _, r := range []string{"ok", "busy", "bad_request", "timeout", "no_leader", "error"} {
			listPages(t, c.Node(leader), r)
		}
	})
	t.Run("the JSON shape of a complete page", func(t *testing.T) {
		resp, body := rawList(t, hc, c, f, "docs", url.Values{"prefix": {"k-00"}})
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("got HTTP %d %.200s (%v), want a JSON object", resp.StatusCode, body, err)
		}
		if _, ok := m["items"]; !ok || len(m) != 1 {
			t.Fatalf("got fields %v, want only items (no next: the list is complete)", keysOf(m))
		}
		if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
			t.Fatalf("got Content-Type %q, want %q", got, want)
		}
	})
	t.Run("a page's body is its items' ItemSize", func(t *testing.T) {
		_, body := rawList(t, hc, c, f, "docs", url.Values{"limit": {"3"}})
		var page api.ListResult
		if err := json.Unmarshal(body, &page); err != nil || len(page.Items) != 3 || page.Next == "" {
			t.Fatalf("got %d items, next %q, %v, want 3 and a token", len(page.Items), page.Next, err)
		}
		items := 0
		for _, kv := range page.Items {
			items += replicator.ItemSize(kv.Key, len(kv.Value))
		}
		// {"items":[ + items (no comma after the last) + ],"next":"T"}\n
		want := len(`{"items":[`) + items - 1 + len(`],"next":""}`) + len(page.Next) + 1
		if got := len(body); got != want {
			t.Fatalf("got a body of %d bytes, want %d", got, want)
		}
	})
	t.Run("an empty list", func(t *testing.T) {
		_, body := rawList(t, hc, c, f, "docs", url.Values{"prefix": {"none"}})
		if got, want := string(body), "{\"items\":[]}\n"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("ListEach stops at the limit and resumes from its token", func(t *testing.T) {
		var got []string
		next, err := cl.ListEach(ctxT(t), "docs", api.ListOptions{Limit: 12}, func(kv replicator.KV) error {
			got = append(got, kv.Key)
			return nil
		})
		if err != nil || len(got) != 12 || next == "" {
			t.Fatalf("got %d keys, next %q, %v, want 12 keys and a token", len(got), next, err)
		}
		next, err = cl.ListEach(ctxT(t), "docs", api.ListOptions{After: next}, func(kv replicator.KV) error {
			got = append(got, kv.Key)
			return nil
		})
		if err != nil || next != "" {
			t.Fatalf("resume: got next %q, %v, want the end of the list", next, err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d keys in all, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i].Key {
				t.Fatalf("key %d: got %q, want %q", i, got[i], want[i].Key)
			}
		}
	})
	t.Run("a page cut by bytes", func(t *testing.T) {
		// 40 values of 100 KiB are 5.5 MB of JSON: over the budget.
		page, err := cl.ListPage(ctxT(t), "docs", api.ListOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 0 || len(page.Items) == len(want) || page.Next == "" {
			t.Fatalf("got %d items, next %q, want a page cut before the end with a token", len(page.Items), page.Next)
		}
	})

	t.Run("busy", func(t *testing.T) {
		release := holdLists(t, c.Node(f).Cell(), "docs", replicator.MaxConcurrentLists)
		defer release()
		resp, body := rawList(t, hc, c, f, "docs", nil)
		var eb struct{ Error, Code string }
		_ = json.Unmarshal(body, &eb)
		if resp.StatusCode != http.StatusServiceUnavailable || eb.Code != "busy" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got HTTP %d %s (Retry-After %q), want 503 busy with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
		if _, err := cl.ListPage(ctxT(t), "docs", api.ListOptions{}); !errors.Is(err, api.ErrBusy) {
			t.Fatalf("ListPage: got %v, want ErrBusy", err)
		}
		// ListEach asks again: release the slots once it was refused.
		before := listPages(t, c.Node(f), "busy")
		done := make(chan error, 1)
		n := 0
		go func() {
			_, err := cl.ListEach(ctxT(t), "docs", api.ListOptions{}, func(replicator.KV) error {
				n++
				return nil
			})
			done <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for listPages(t, c.Node(f), "busy") == before {
			if time.Now().After(deadline) {
				t.Fatal("ListEach was not refused as busy within 10s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		release()
		if err := <-done; err != nil || n != len(want) {
			t.Fatalf("ListEach after a busy page: got %d keys, %v, want %d", n, err, len(want))
		}
	})
}

func keysOf(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A page that fails after its first items were sent (here a value that
// no longer unseals) ends with unterminated JSON and the reason in the
// trailer: no client can take it for a complete list.
func TestServer_List_FailsMidPage(t *testing.T) {
	c := cluster.New(t, cluster.Options{Sites: 1})
	name := c.WaitLeader("")
	putValues(t, c.Node(name).Cell(), "docs", []int{10, 10, 10})
	// Garble the sealed value of the last key in this site's state
	// (0x10 ns 0x00 key, see replicator/doc.go).
	if err := c.Node(name).DB().Set(append([]byte("\x10docs\x00"), "k-002"...), []byte("not a sealed value"), nil); err != nil {
		t.Fatal(err)
	}
	hc := rawClient(t, c)
	resp, err := hc.Get("https://" + c.Node(name).APIAddr() + "/v1/kv/docs?consistency=stale")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got HTTP %d, want 200 (the first items were sent)", resp.StatusCode)
	}
	var lr api.ListResult
	if err := json.Unmarshal(body, &lr); err == nil {
		t.Fatalf("got a complete JSON page %q, want it cut", body)
	}
	if resp.Trailer.Get(api.ListErrorTrailer) == "" {
		t.Fatalf("got trailers %v, want %s with the reason", resp.Trailer, api.ListErrorTrailer)
	}
	if _, err := c.Client(name).List(ctxT(t), "docs", "", 0, true); !errors.Is(err, api.ErrServer) {
		t.Fatalf("client: got %v, want ErrServer", err)
	}
}

// A read that times out is a read timeout for the Go client too (not
// ErrTimeout, whose text is about a write that may still commit).
func TestClient_List_ReadTimeout(t *testing.T) {
	c := cluster.New(t, cluster.Options{Tweak: func(cfg *node.Config) { cfg.API.RequestTimeout = time.Second }})
	leader := c.WaitLeader("")
	f := otherSite(c, leader)
	putValues(t, c.Node(leader).Cell(), "cut", []int{10})
	if err := c.WaitConverged(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(f).ListPage(ctxT(t), "cut", api.ListOptions{}); err != nil {
		t.Fatal(err) // opens the follower's connection to the leader
	}
	c.Partition(func(from, to string) bool { return from == f && to == leader })
	t.Cleanup(c.Heal)
	_, err := c.Client(f).ListPage(ctxT(t), "cut", api.ListOptions{})
	if !errors.Is(err, api.ErrReadTimeout) {
		t.Fatalf("got %v, want ErrReadTimeout", err)
	}
}
