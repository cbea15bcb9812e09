package lab

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// serveLinksT runs the lab's fault links in this process until cleanup.
func serveLinksT(tb testing.TB, l *Lab) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeLinks(ctx, l.Links.Config, l.Links.Control, slog.New(slog.DiscardHandler)) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("links: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", l.Links.Control, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("links control %s not up: %v", l.Links.Control, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// linkParams reads every link's faults from the control API.
func linkParams(tb testing.TB, l *Lab) map[string]faultlink.Params {
	tb.Helper()
	resp, err := http.Get("http://" + l.Links.Control + "/links")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var infos []faultlink.LinkInfo
	if err := json.NewDecoder(resp.Body).Decode(&infos); err != nil {
		tb.Fatal(err)
	}
	out := map[string]faultlink.Params{}
	for _, i := range infos {
		out[i.Name] = i.Params
	}
	return out
}

func TestLab_LinksAcross(t *testing.T) {
	l := prepareT(t, Options{Twin: true, Witness: true})
	sorted := func(s []string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"site-site", l.LinksAcross([]string{"site-a"}, []string{"site-b"}), []string{"site-a->site-b", "site-b->site-a"}},
		{"twin-witness", l.LinksAcross([]string{TwinName}, []string{WitnessName}), []string{"lux-1->witness-1", "witness-1->lux-1"}},
		{"wan", l.LinksAcross([]string{"site-a", "site-b", "site-c"}, []string{TwinName}), sorted(l.WANLinks())},
		{"isolate-witness", l.LinksOf(WitnessName), sorted(l.WitnessLinks())},
		{"isolate-site", l.LinksOf("site-c"), []string{
			"lux-1->site-c", "site-a->site-c", "site-b->site-c", "site-c->lux-1", "site-c->site-a", "site-c->site-b",
			"site-c->witness-1", "witness-1->site-c"}},
		{"isolate-monaco", l.LinksOf("site-a", "site-b", "site-c"), sorted(append(l.WANLinks(), l.LinksAcross([]string{"site-a", "site-b", "site-c"}, []string{WitnessName})...))},
		{"none", l.LinksAcross([]string{"site-a"}, nil), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sorted(tc.got); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got, want := len(l.LinkNames()), len(l.Links.Links); got != want {
		t.Errorf("LinkNames: got %d, want %d", got, want)
	}
}

func TestLab_Faults(t *testing.T) {
	l := prepareT(t, Options{Twin: true, Witness: true})
	serveLinksT(t, l)
	ctx := context.Background()
	base := linkParams(t, l)

	cut := l.LinksOf(WitnessName)
	if err := l.Blackhole(ctx, cut...); err != nil {
		t.Fatal(err)
	}
	slow := faultlink.Params{Delay: 30 * time.Millisecond, Loss: 0.1}
	if err := l.SetLink(ctx, "site-a->site-b", slow); err != nil {
		t.Fatal(err)
	}
	got := linkParams(t, l)
	for name, p := range got {
		want := base[name]
		switch {
		case slices.Contains(cut, name):
			want.Blackhole = true
		case name == "site-a->site-b":
			want = slow
		}
		if p != want {
			t.Errorf("link %s: got %v, want %v", name, p, want)
		}
	}

	if err := l.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	for name, p := range linkParams(t, l) {
		if p != base[name] {
			t.Errorf("after HealAll, link %s: got %v, want its baseline %v", name, p, base[name])
		}
	}
}

func TestLab_Faults_errors(t *testing.T) {
	l := prepareT(t, Options{Twin: true})
	ctx := context.Background()
	if err := l.Blackhole(ctx, "site-a->site-b", "site-a->nowhere"); !errors.Is(err, ErrUnknownLink) {
		t.Errorf("Blackhole of an unknown link: got %v, want ErrUnknownLink", err)
	}
	if err := l.SetLink(ctx, "nowhere", faultlink.Params{}); !errors.Is(err, ErrUnknownLink) {
		t.Errorf("SetLink of an unknown link: got %v, want ErrUnknownLink", err)
	}
	if err := l.SetLink(ctx, "site-a->site-b", faultlink.Params{Loss: 2}); !errors.Is(err, faultlink.ErrInvalidParams) {
		t.Errorf("SetLink with loss 2: got %v, want ErrInvalidParams", err)
	}
	// The links process is not running.
	if err := l.HealAll(ctx); !errors.Is(err, ErrLinkControl) {
		t.Errorf("HealAll without the links process: got %v, want ErrLinkControl", err)
	}
	// A node that is not running is left alone.
	if err := l.Pause("site-a"); err != nil {
		t.Errorf("Pause of a stopped node: got %v, want nil", err)
	}
	if err := l.Resume("nowhere"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Resume of an unknown node: got %v, want ErrUnknownNode", err)
	}
}

func TestPrepare_GateLog(t *testing.T) {
	l := prepareT(t, Options{Twin: true, Witness: true, GateLog: true})
	for _, n := range l.Nodes {
		if want := filepath.Join(filepath.Dir(n.Log), "gate.log"); n.GateLog != want {
			t.Errorf("%s: got gate log %q, want %q", n.Name, n.GateLog, want)
		}
	}
	l = prepareT(t, Options{Twin: true})
	for _, n := range l.Nodes {
		if n.GateLog != "" {
			t.Errorf("%s: got gate log %q without Options.GateLog, want none", n.Name, n.GateLog)
		}
	}
}
