package lab

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

func prepareT(tb testing.TB, opts Options) *Lab {
	tb.Helper()
	opts.Dir, opts.Binary = tb.TempDir(), "jumeau"
	l, err := Prepare(opts)
	if err != nil {
		tb.Fatalf("prepare: %v", err)
	}
	return l
}

func loadConfigT(tb testing.TB, l *Lab, name string) node.Config {
	tb.Helper()
	n, err := l.Node(name)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := node.LoadConfig(n.Config, nil)
	if err != nil {
		tb.Fatalf("config of %s: %v", name, err)
	}
	return cfg
}

func linkT(tb testing.TB, l *Lab, name string) LinkSpec {
	tb.Helper()
	for _, s := range l.Links.Links {
		if s.Name == name {
			return s
		}
	}
	tb.Fatalf("no link %q", name)
	return LinkSpec{}
}

func peerAddr(cfg node.Config, name string) string {
	for _, p := range cfg.Peers {
		if p.Name == name {
			return p.Addr
		}
	}
	return ""
}

func TestPrepare_Twin(t *testing.T) {
	l := prepareT(t, Options{Sites: 3, Twin: true, WANRTT: 20 * time.Millisecond, WANLoss: 0.01, WANBandwidth: 12_500_000, LinkDelay: time.Millisecond})
	twin, ok := l.Twin()
	if !ok {
		t.Fatal("Twin: got none, want lux-1")
	}
	if got, want := *twin, (Node{Name: TwinName, Role: "twin", Region: TwinRegion}); got.Name != want.Name || got.Role != want.Role || got.Region != want.Region {
		t.Fatalf("twin: got %s/%s/%s, want %s/%s/%s", got.Role, got.Region, got.Name, want.Role, want.Region, want.Name)
	}
	if got, want := len(l.Nodes), 4; got != want {
		t.Fatalf("nodes: got %d, want %d (3 sites and the twin)", got, want)
	}
	if got, want := l.Nodes[0].Name, "site-a"; got != want {
		t.Errorf("first node: got %q, want %q (commands default to it)", got, want)
	}

	wantWAN := faultlink.Params{Delay: 10 * time.Millisecond, Loss: 0.01, Bandwidth: 12_500_000}
	if got := l.WANLinks(); len(got) != 6 {
		t.Fatalf("WANLinks: got %v, want 6 (both directions per site)", got)
	}
	if got := l.CellLinks(); len(got) != 6 || slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, TwinName) }) {
		t.Fatalf("CellLinks: got %v, want the 6 site-to-site links", got)
	}
	sites := []string{"site-a", "site-b", "site-c"}
	for _, s := range sites {
		for _, name := range []string{s + "->" + TwinName, TwinName + "->" + s} {
			if got := linkT(t, l, name).Params; got != wantWAN {
				t.Errorf("link %s: got %v, want %v", name, got, wantWAN)
			}
		}
		if got, want := linkT(t, l, s+"->"+TwinName).Target, twin.QUIC; got != want {
			t.Errorf("link %s->%s target: got %s, want the twin's QUIC %s", s, TwinName, got, want)
		}
	}
	if got, want := linkT(t, l, "site-a->site-b").Params, (faultlink.Params{Delay: time.Millisecond}); got != want {
		t.Errorf("cell link: got %v, want %v", got, want)
	}

	for _, s := range sites {
		cfg := loadConfigT(t, l, s)
		if got, want := cfg.Twin.Name, TwinName; got != want {
			t.Errorf("%s twin.name: got %q, want %q", s, got, want)
		}
		if got, want := peerAddr(cfg, TwinName), linkT(t, l, s+"->"+TwinName).Listen; got != want {
			t.Errorf("%s peer %s: got %q, want the fault link %q", s, TwinName, got, want)
		}
		if !cfg.Cell.Bootstrap {
			t.Errorf("%s cell.bootstrap: got false, want true (a new lab cell)", s)
		}
	}
	tc := loadConfigT(t, l, TwinName)
	if got, want := tc.Node, (node.NodeConfig{Name: TwinName, Role: "twin", Region: TwinRegion, DataDir: twin.DataDir}); got != want {
		t.Errorf("twin node: got %+v, want %+v", got, want)
	}
	if got, want := strings.Join(tc.Cell.Sites, ","), strings.Join(sites, ","); got != want {
		t.Errorf("twin cell.sites: got %q, want %q", got, want)
	}
	if tc.Cell.Bootstrap || tc.Twin.Name != "" || tc.Twin.PrimaryRegion != PrimaryRegion {
		t.Errorf("twin: got bootstrap %t, twin.name %q, primary region %q; want false, empty, %q", tc.Cell.Bootstrap, tc.Twin.Name, tc.Twin.PrimaryRegion, PrimaryRegion)
	}
	for _, s := range sites {
		if got, want := peerAddr(tc, s), linkT(t, l, TwinName+"->"+s).Listen; got != want {
			t.Errorf("twin peer %s: got %q, want the fault link %q", s, got, want)
		}
	}
	if got, want := tc.Keyring.KEKFile, loadConfigT(t, l, "site-a").Keyring.KEKFile; got != want {
		t.Errorf("twin kek_file: got %q, want the sites' %q", got, want)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: tc.TLS.CA, Cert: tc.TLS.Cert, Key: tc.TLS.Key})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mat.Identity, (pki.Identity{Role: pki.RoleTwin, Region: TwinRegion, Name: TwinName}); got != want {
		t.Errorf("twin certificate: got %v, want %v", got, want)
	}

	// The fault-link process reads the same plan.
	b, err := os.ReadFile(l.Links.Config)
	if err != nil {
		t.Fatal(err)
	}
	var plan Links
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatal(err)
	}
	if got, want := len(plan.Links), 12; got != want {
		t.Fatalf("links file: got %d links, want %d", got, want)
	}
	for _, s := range plan.Links {
		if s.Name == "site-b->"+TwinName && s.Params != wantWAN {
			t.Errorf("links file, %s: got %v, want %v", s.Name, s.Params, wantWAN)
		}
	}
}

func TestPrepare_TwinDefaultRTT(t *testing.T) {
	l := prepareT(t, Options{Sites: 1, Twin: true})
	if got, want := linkT(t, l, "site-a->"+TwinName).Params, (faultlink.Params{Delay: DefaultWANRTT / 2}); got != want {
		t.Errorf("WAN link: got %v, want %v (half of the default 12ms round trip)", got, want)
	}
}

func TestPrepare_NoTwin(t *testing.T) {
	l := prepareT(t, Options{Sites: 3})
	if n, ok := l.Twin(); ok {
		t.Fatalf("Twin: got %s, want none", n.Name)
	}
	if got := l.WANLinks(); len(got) != 0 {
		t.Errorf("WANLinks: got %v, want none", got)
	}
	if got, want := len(l.CellLinks()), len(l.Links.Links); got != want || got != 6 {
		t.Errorf("CellLinks: got %d, want every link (6)", got)
	}
	cfg := loadConfigT(t, l, "site-b")
	if cfg.Twin.Name != "" || peerAddr(cfg, TwinName) != "" {
		t.Errorf("site-b: got twin.name %q, peer %q; want no twin", cfg.Twin.Name, peerAddr(cfg, TwinName))
	}
}

func TestPrepare_Errors(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"too many sites", Options{Sites: 10}, "--sites"},
		{"WAN without twin", Options{WANRTT: 20 * time.Millisecond}, "--twin"},
		{"loss over 1", Options{Twin: true, WANLoss: 1.5}, "loss"},
		{"negative bandwidth", Options{Twin: true, WANBandwidth: -1}, "bandwidth"},
		{"negative rtt", Options{Twin: true, WANRTT: -time.Millisecond}, "delay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Dir, tc.opts.Binary = t.TempDir(), "jumeau"
			_, err := Prepare(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestUp_TwinOnLabWithout(t *testing.T) {
	l := prepareT(t, Options{Sites: 1})
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	_, err := Up(context.Background(), Options{Dir: l.Dir, Binary: "jumeau", Twin: true})
	if err == nil || !strings.Contains(err.Error(), "without a twin") {
		t.Fatalf("got %v, want an error saying the lab has no twin", err)
	}
}

// TestWANParams_RoundTrip checks the finding wanParams relies on: a
// connection relayed through one link sees the link's Delay in both
// directions, so half the RTT per link gives the RTT asked for.
func TestWANParams_RoundTrip(t *testing.T) {
	const rtt = 40 * time.Millisecond
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteTo(buf[:n], from)
		}
	}()
	link, err := faultlink.New("site-a->lux-1", "127.0.0.1:0", echo.LocalAddr().String(),
		wanParams(Options{Twin: true, WANRTT: rtt}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	c, err := net.Dial("udp", link.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range 5 {
		t0 := time.Now()
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
			if n == 1 && buf[0] == byte(i) {
				break
			}
		}
		rtts = append(rtts, time.Since(t0))
	}
	slices.Sort(rtts)
	if rtts[0] < rtt {
		t.Errorf("fastest round trip: got %v, want at least %v (delay both ways)", rtts[0], rtt)
	}
	// With the whole RTT as Delay each way it would be 2*rtt.
	if med := rtts[len(rtts)/2]; med >= rtt*3/2 {
		t.Errorf("median round trip: got %v, want about %v (under %v)", med, rtt, rtt*3/2)
	}
}
