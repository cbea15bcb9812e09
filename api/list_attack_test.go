package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// The list attacks of this file go through the HTTP API only, as an
// attacker with a client certificate would.

// pageBudget is the server's default byte budget of a list page
// (replicator.DefaultListPageBytes), and envelope what a page adds around
// its items ({"items":[ ... ],"next":"<token of a key up to 1 KiB>"}).
const (
	pageBudget = 4 << 20
	envelope   = 2 << 10
)

// calmRaft gives Raft timeouts that a loaded test machine keeps while
// the cell commits entries of several MiB (the tests are about what is
// read, not about elections).
func calmRaft(cfg *node.Config) {
	cfg.Raft.HeartbeatTimeout = 2 * time.Second
	cfg.Raft.ElectionTimeout = 2 * time.Second
	cfg.Raft.LeaderLeaseTimeout = time.Second
}

// putValues writes keys k-000.. of ns through cell with values of the
// given sizes and returns them in key order. A large entry can cost the
// leader its lease on a loaded machine: the same value is written again.
func putValues(tb testing.TB, cell *replicator.Cell, ns string, sizes []int) []replicator.KV {
	tb.Helper()
	out := make([]replicator.KV, len(sizes))
	for i, n := range sizes {
		k := fmt.Sprintf("k-%03d", i)
		v := bytes.Repeat([]byte{byte('a' + i%26)}, n)
		var err error
		for try := 0; try < 5; try++ {
			if _, err = cell.Put(ctxT(tb), ns, k, v, replicator.DurabilityCell); err == nil {
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

func otherSite(c *cluster.Cluster, leader string) string {
	for _, n := range c.Sites() {
		if n != leader {
			return n
		}
	}
	return ""
}

// rawClient is an HTTPS client with the lab's client certificate that
// shows what the server sends, byte for byte.
func rawClient(tb testing.TB, c *cluster.Cluster) *http.Client {
	tb.Helper()
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: c.Lab.ClientCreds.Cert, Key: c.Lab.ClientCreds.Key})
	if err != nil {
		tb.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: mat.ClientConfig("127.0.0.1", "http/1.1")}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// rawList GETs one list page of ns on site name with query q and returns
// the response and its body.
func rawList(tb testing.TB, hc *http.Client, c *cluster.Cluster, name, ns string, q url.Values) (*http.Response, []byte) {
	tb.Helper()
	u := "https://" + c.Node(name).APIAddr() + "/v1/kv/" + ns
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := hc.Get(u)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: read body: %v", u, err)
	}
	return resp, b
}

func TestServer_List_Attack(t *testing.T) {
	c := cluster.New(t, cluster.Options{Direct: true, Tweak: calmRaft})
	leader := c.WaitLeader("")
	f := otherSite(c, leader)
	lc := c.Node(leader).Cell()
	// 6 values of 3.5 MiB: 21 MiB, over the 16 MiB forward frame limit.
	const big = 7 << 19
	bigKVs := putValues(t, lc, "big", []int{big, big, big, big, big, big})
	// 40 values of 200 KiB: 10.7 MB of JSON, under the frame limit.
	mid := make([]int, 40)
	for i := range mid {
		mid[i] = 200 << 10
	}
	midKVs := putValues(t, lc, "mid", mid)
	if err := c.WaitConverged(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	hc := rawClient(t, c)

	t.Run("through a follower, a list over the forward frame limit", func(t *testing.T) {
		// The leader used to build the whole list, then refuse to send
		// it ("frame too large").
		res, err := c.Client(f).List(ctxT(t), "big", "", 100, false)
		if err != nil {
			t.Fatalf("list through a follower: %v", err)
		}
		if got, want := len(res.Items), len(bigKVs); got != want {
			t.Fatalf("got %d keys, want %d", got, want)
		}
		for i, kv := range res.Items {
			if kv.Key != bigKVs[i].Key || !bytes.Equal(kv.Value, bigKVs[i].Value) {
				t.Fatalf("item %d: got %q (%d bytes), want %q (%d bytes)", i, kv.Key, len(kv.Value), bigKVs[i].Key, len(bigKVs[i].Value))
			}
		}
	})

	for _, site := range []string{leader, f} {
		t.Run("pages within the budget, each continued exactly after the last on "+site, func(t *testing.T) {
			q := url.Values{"limit": {"1000"}}
			var keys []string
			for pages := 1; ; pages++ {
				if pages > len(midKVs) {
					t.Fatalf("more than %d pages", len(midKVs))
				}
				resp, body := rawList(t, hc, c, site, "mid", q)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("page %d: got HTTP %d %s, want 200", pages, resp.StatusCode, body)
				}
				var page struct {
					Items []replicator.KV `json:"items"`
					Next  string          `json:"next"`
				}
				if err := json.Unmarshal(body, &page); err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				if len(page.Items) > 1 && len(body) > pageBudget+envelope {
					t.Fatalf("page %d: got a body of %d bytes with %d items, want at most %d (the page budget)", pages, len(body), len(page.Items), pageBudget+envelope)
				}
				for _, kv := range page.Items {
					i := len(keys)
					if i >= len(midKVs) || kv.Key != midKVs[i].Key || !bytes.Equal(kv.Value, midKVs[i].Value) {
						t.Fatalf("page %d: got key %q after %v, want the keys in order once each", pages, kv.Key, keys)
					}
					keys = append(keys, kv.Key)
				}
				if page.Next == "" {
					break
				}
				q.Set("after", page.Next)
			}
			if got, want := len(keys), len(midKVs); got != want {
				t.Fatalf("got %d keys in all pages, want %d", got, want)
			}
		})
	}

	t.Run("a bad continuation token is a 400", func(t *testing.T) {
		for _, q := range []url.Values{
			{"after": {"not base64!"}},
			{"after": {"%%%"}},
			{"prefix": {"k-01"}, "after": {"ay0wMzk"}}, // "k-039": from another prefix
		} {
			resp, body := rawList(t, hc, c, f, "mid", q)
			var eb struct{ Error, Code string }
			_ = json.Unmarshal(body, &eb)
			if resp.StatusCode != http.StatusBadRequest || eb.Code != "bad_request" {
				t.Fatalf("%v: got HTTP %d %s, want 400 bad_request", q, resp.StatusCode, body)
			}
			if !strings.Contains(eb.Error, "after") {
				t.Fatalf("%v: got %q, want a message naming the after parameter", q, eb.Error)
			}
		}
	})
}

// A list forwarded to a leader that never answers (the follower's link to
// it is cut one way: the follower still hears the leader) fails as a read
// that changed nothing, not as a write that "may still be committed".
func TestServer_List_ForwardedNoAnswer(t *testing.T) {
	c := cluster.New(t, cluster.Options{Tweak: func(cfg *node.Config) { cfg.API.RequestTimeout = time.Second }})
	leader := c.WaitLeader("")
	f := otherSite(c, leader)
	putValues(t, c.Node(leader).Cell(), "cut", []int{10})
	if err := c.WaitConverged(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// A first list opens the follower's connection to the leader: the
	// next one is sent on it and gets no answer.
	if _, err := c.Client(f).List(ctxT(t), "cut", "", 10, false); err != nil {
		t.Fatal(err)
	}
	c.Partition(func(from, to string) bool { return from == f && to == leader })
	t.Cleanup(c.Heal)
	_, err := c.Client(f).List(ctxT(t), "cut", "", 10, false)
	if err == nil {
		t.Fatal("got a list through a follower cut from the leader, want an error")
	}
	if errors.Is(err, api.ErrTimeout) || strings.Contains(err.Error(), "committed") {
		t.Fatalf("got %v, want a read error, not a write of unknown outcome", err)
	}
}
