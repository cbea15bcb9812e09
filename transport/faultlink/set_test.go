package faultlink

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newSet(tb testing.TB) *Set {
	tb.Helper()
	s := NewSet(nil)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func addLink(tb testing.TB, s *Set, name, target string, p Params) *Link {
	tb.Helper()
	l, err := s.Add(name, "127.0.0.1:0", target, p)
	if err != nil {
		tb.Fatalf("Add(%s): %v", name, err)
	}
	return l
}

func TestSet_Add(t *testing.T) {
	s := newSet(t)
	target := echoServer(t)
	addLink(t, s, "b->a", target, Params{})
	addLink(t, s, "a->b", target, Params{})
	if _, err := s.Add("a->b", "127.0.0.1:0", target, Params{}); !errors.Is(err, ErrLinkExists) {
		t.Errorf("duplicate: got %v, want ErrLinkExists", err)
	}
	for _, name := range []string{"", "a/b", "a b", strings.Repeat("x", MaxNameLen+1), "é"} {
		if _, err := s.Add(name, "127.0.0.1:0", target, Params{}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("name %q: got %v, want ErrInvalidName", name, err)
		}
	}
	var names []string
	for _, l := range s.Links() {
		names = append(names, l.Name())
	}
	if got, want := strings.Join(names, ","), "a->b,b->a"; got != want {
		t.Errorf("Links: got %s, want %s", got, want)
	}
	if l, ok := s.Get("a->b"); !ok || l.Name() != "a->b" {
		t.Errorf("Get(a->b): got (%v, %t), want the link", l, ok)
	}
	if _, ok := s.Get("nope"); ok {
		t.Errorf("Get(nope): got ok, want not found")
	}
	if err := s.Remove("b->a"); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if err := s.Remove("b->a"); !errors.Is(err, ErrNoLink) {
		t.Errorf("second Remove: got %v, want ErrNoLink", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := s.Add("c", "127.0.0.1:0", target, Params{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: got %v, want ErrClosed", err)
	}
}

func TestSet_Partition(t *testing.T) {
	s := newSet(t)
	delay := 2 * time.Millisecond
	la := addLink(t, s, "x->a", echoServer(t), Params{Delay: delay})
	lb := addLink(t, s, "x->b", echoServer(t), Params{Delay: delay})
	ca, cb := dial(t, la.Addr()), dial(t, lb.Addr())

	cut := s.Partition(func(name string) bool { return strings.HasSuffix(name, "->a") })
	if got, want := strings.Join(cut, ","), "x->a"; got != want {
		t.Errorf("Partition: got %s, want %s", got, want)
	}
	for i := range 10 {
		send(t, ca, msg(i))
	}
	exchange(t, cb, []byte("b still reachable"))
	waitFor(t, "10 blackholed", func() bool { return la.Stats().ToTarget.Blackholed == 10 })

	s.Heal()
	if got, want := la.Params(), (Params{Delay: delay}); got != want {
		t.Errorf("params after Heal: got %v, want %v (other faults kept)", got, want)
	}
	send(t, ca, []byte("healed"))
	if got := recvUntil(t, ca, []byte("healed")); len(got) != 0 {
		t.Errorf("across the partition: got %d datagrams, want 0", len(got))
	}
}

// do sends a request to h and decodes the JSON response into out.
func do(t *testing.T, h http.Handler, method, path, body string, out any) int {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

func TestSet_Handler(t *testing.T) {
	s := newSet(t)
	target := echoServer(t)
	base := Params{Delay: time.Millisecond}
	l := addLink(t, s, "a->b", target, base)
	addLink(t, s, "b->a", target, Params{})
	c := dial(t, l.Addr())
	exchange(t, c, []byte("hello"))
	h := s.Handler()

	t.Run("list", func(t *testing.T) {
		var got []LinkInfo
		if code := do(t, h, "GET", "/links", "", &got); code != 200 {
			t.Fatalf("status: got %d, want 200", code)
		}
		if len(got) != 2 || got[0].Name != "a->b" || got[1].Name != "b->a" {
			t.Fatalf("links: got %+v, want a->b and b->a", got)
		}
		if got[0].Listen != l.Addr() || got[0].Target != target || got[0].Params != base || got[0].Baseline != base {
			t.Errorf("a->b: got %+v", got[0])
		}
		if got[0].Stats.ToTarget.Packets < 1 {
			t.Errorf("a->b stats: got %+v, want a packet forwarded", got[0].Stats)
		}
	})

	t.Run("get", func(t *testing.T) {
		var got LinkInfo
		if code := do(t, h, "GET", "/links/a-%3Eb", "", &got); code != 200 || got.Name != "a->b" {
			t.Errorf("got (%d, %+v), want (200, a->b)", code, got)
		}
	})

	t.Run("put", func(t *testing.T) {
		var got LinkInfo
		code := do(t, h, "PUT", "/links/a->b", `{"delay":"30ms","loss":0.5}`, &got)
		want := Params{Delay: 30 * time.Millisecond, Loss: 0.5}
		if code != 200 || got.Params != want {
			t.Errorf("got (%d, %v), want (200, %v)", code, got.Params, want)
		}
		if got := l.Params(); got != want {
			t.Errorf("link params: got %v, want %v", got, want)
		}
	})

	t.Run("reset", func(t *testing.T) {
		var got LinkInfo
		if code := do(t, h, "POST", "/links/a->b/reset", "", &got); code != 200 || got.Params != base {
			t.Errorf("got (%d, %v), want (200, %v)", code, got.Params, base)
		}
		if got := l.Params(); got != base {
			t.Errorf("link params: got %v, want %v", got, base)
		}
	})

	t.Run("partition and heal", func(t *testing.T) {
		var cut map[string][]string
		if code := do(t, h, "POST", "/partition", `{"links":["b->a"]}`, &cut); code != 200 || len(cut["cut"]) != 1 {
			t.Errorf("partition: got (%d, %v), want (200, [b->a])", code, cut)
		}
		if lb, _ := s.Get("b->a"); !lb.Params().Blackhole {
			t.Errorf("b->a after partition: not blackholed")
		}
		if l.Params().Blackhole {
			t.Errorf("a->b after partition: blackholed, want untouched")
		}
		var healed map[string]bool
		if code := do(t, h, "POST", "/heal", "", &healed); code != 200 || !healed["healed"] {
			t.Errorf("heal: got (%d, %v)", code, healed)
		}
		if lb, _ := s.Get("b->a"); lb.Params().Blackhole {
			t.Errorf("b->a after heal: still blackholed")
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			method, path, body string
			code               int
			mention            string
		}{
			{"GET", "/links/nope", "", 404, "GET /links"},
			{"PUT", "/links/nope", `{}`, 404, "nope"},
			{"POST", "/links/nope/reset", "", 404, "nope"},
			{"PUT", "/links/a->b", `{"loss":2}`, 400, "loss"},
			{"PUT", "/links/a->b", `{"delay":"12"}`, 400, "12ms"},
			{"PUT", "/links/a->b", `{"latency":"12ms"}`, 400, "latency"},
			{"PUT", "/links/a->b", `{"delay":"1ms"} {}`, 400, "one JSON object"},
			{"PUT", "/links/a->b", strings.Repeat(" ", maxBody+1) + "{}", 413, "bytes"},
			{"DELETE", "/links/a->b", "", 405, "GET"},
			{"GET", "/links/a->b/reset", "", 405, "POST"},
			{"POST", "/links", "", 405, "GET"},
			{"POST", "/partition", `{"links":["zz"]}`, 404, "zz"},
			{"GET", "/nothing", "", 404, "/links"},
		} {
			var got map[string]string
			code := do(t, h, c.method, c.path, c.body, &got)
			if code != c.code || !strings.Contains(got["error"], c.mention) {
				t.Errorf("%s %s %.20q: got (%d, %q), want (%d, an error mentioning %q)", c.method, c.path, c.body, code, got["error"], c.code, c.mention)
			}
		}
		if got := l.Params(); got != base {
			t.Errorf("params after refused requests: got %v, want %v", got, base)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/links/a->b", nil))
		if got, want := rec.Header().Get("Allow"), "GET, PUT"; got != want {
			t.Errorf("Allow: got %q, want %q", got, want)
		}
	})
}
