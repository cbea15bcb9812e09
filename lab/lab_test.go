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

	"gopkg.in/yaml.v3"

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

func TestPrepare_Witness(t *testing.T) {
	l := prepareT(t, Options{Sites: 3, Twin: true, Witness: true})
	w, ok := l.Witness()
	if !ok {
		t.Fatalf("Witness: got none, want %s", WitnessName)
	}
	if w.Name != WitnessName || w.Role != string(pki.RoleWitness) || w.Region != WitnessRegion {
		t.Fatalf("witness: got %s/%s/%s, want witness/%s/%s", w.Role, w.Region, w.Name, WitnessRegion, WitnessName)
	}
	if w.API == "" || w.QUIC == "" || w.Metrics == "" || w.DataDir == "" {
		t.Errorf("witness: got api %q, quic %q, metrics %q, data dir %q; want all set", w.API, w.QUIC, w.Metrics, w.DataDir)
	}
	if got, want := len(l.Nodes), 5; got != want {
		t.Fatalf("nodes: got %d, want %d (3 sites, the twin, the witness)", got, want)
	}
	if got, want := l.Nodes[0].Name, "site-a"; got != want {
		t.Errorf("first node: got %q, want %q (commands default to it)", got, want)
	}
	twin, _ := l.Twin()
	if got, want := twin.Name, TwinName; got != want {
		t.Fatalf("twin: got %q, want %q", got, want)
	}

	ports := map[string]string{}
	for _, n := range l.Nodes {
		for _, a := range []string{n.API, n.QUIC, n.Metrics} {
			if other, dup := ports[a]; dup {
				t.Errorf("address %s used by %s and %s", a, other, n.Name)
			}
			ports[a] = n.Name
		}
	}

	wantW := faultlink.Params{Delay: WitnessRTT / 2}
	others := []string{"site-a", "site-b", "site-c", TwinName}
	if got := l.WitnessLinks(); len(got) != 2*len(others) {
		t.Fatalf("WitnessLinks: got %v, want %d (both directions per site and the twin)", got, 2*len(others))
	}
	for _, o := range others {
		to := linkT(t, l, o+"->"+WitnessName)
		if to.Params != wantW || to.Target != w.QUIC {
			t.Errorf("link %s->%s: got %v to %s, want %v to the witness's QUIC %s", o, WitnessName, to.Params, to.Target, wantW, w.QUIC)
		}
		back := linkT(t, l, WitnessName+"->"+o)
		if back.Params != wantW {
			t.Errorf("link %s->%s: got %v, want %v", WitnessName, o, back.Params, wantW)
		}
		if ports[to.Listen] != "" || ports[back.Listen] != "" {
			t.Errorf("witness links of %s listen on a node's address", o)
		}
	}
	for _, name := range append(l.WANLinks(), l.CellLinks()...) {
		if strings.Contains(name, WitnessName) {
			t.Errorf("link %s: a witness link among the WAN or cell links", name)
		}
	}
	if got, want := len(l.WANLinks()), 6; got != want {
		t.Errorf("WANLinks: got %d, want %d", got, want)
	}
	if got, want := len(l.CellLinks()), 6; got != want {
		t.Errorf("CellLinks: got %d, want %d", got, want)
	}
	if got, want := len(l.Links.Links), 6+6+8; got != want {
		t.Errorf("links: got %d, want %d", got, want)
	}

	for _, o := range others {
		cfg := loadConfigT(t, l, o)
		if got, want := cfg.Failover.Witness, WitnessName; got != want {
			t.Errorf("%s failover.witness: got %q, want %q", o, got, want)
		}
		if got, want := peerAddr(cfg, WitnessName), linkT(t, l, o+"->"+WitnessName).Listen; got != want {
			t.Errorf("%s peer %s: got %q, want the fault link %q", o, WitnessName, got, want)
		}
	}
	wc := loadConfigT(t, l, WitnessName)
	if got, want := wc.Node, (node.NodeConfig{Name: WitnessName, Role: "witness", Region: WitnessRegion, DataDir: w.DataDir}); got != want {
		t.Errorf("witness node: got %+v, want %+v", got, want)
	}
	if got, want := wc.Listen, (node.ListenConfig{QUIC: w.QUIC, API: w.API, Metrics: w.Metrics, Pprof: true}); got != want {
		t.Errorf("witness listen: got %+v, want %+v", got, want)
	}
	if wc.Failover.Witness != "" || len(wc.Cell.Sites) != 0 || wc.Keyring.File != "" || wc.Twin.Name != "" {
		t.Errorf("witness: got failover.witness %q, cell.sites %v, keyring.file %q, twin.name %q; want all empty (it holds no data)",
			wc.Failover.Witness, wc.Cell.Sites, wc.Keyring.File, wc.Twin.Name)
	}
	raw, err := os.ReadFile(w.Config)
	if err != nil {
		t.Fatal(err)
	}
	var sections map[string]any
	if err := yaml.Unmarshal(raw, &sections); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cell", "raft", "twin", "sla", "wal", "keyring"} {
		if _, ok := sections[k]; ok {
			t.Errorf("witness config: has a %s section, want none (a witness does not read it)", k)
		}
	}
	for _, k := range []string{"node", "listen", "tls", "peers", "failover"} {
		if _, ok := sections[k]; !ok {
			t.Errorf("witness config: no %s section", k)
		}
	}
	def := node.DefaultConfig().Failover
	def.PrimaryRegion = PrimaryRegion
	for _, name := range []string{"site-b", TwinName, WitnessName} {
		got := loadConfigT(t, l, name).Failover
		got.Witness = ""
		if got != def {
			t.Errorf("%s failover timings: got %+v, want the defaults %+v", name, got, def)
		}
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: wc.TLS.CA, Cert: wc.TLS.Cert, Key: wc.TLS.Key})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mat.Identity, (pki.Identity{Role: pki.RoleWitness, Region: WitnessRegion, Name: WitnessName}); got != want {
		t.Errorf("witness certificate: got %v, want %v", got, want)
	}
}

func TestPrepare_WitnessWithoutTwin(t *testing.T) {
	l := prepareT(t, Options{Sites: 2, Witness: true})
	if _, ok := l.Twin(); ok {
		t.Fatal("Twin: got one, want none")
	}
	if got := l.WitnessLinks(); len(got) != 4 {
		t.Fatalf("WitnessLinks: got %v, want 4 (both directions per site)", got)
	}
	if got := l.WANLinks(); len(got) != 0 {
		t.Errorf("WANLinks: got %v, want none without a twin", got)
	}
	cfg := loadConfigT(t, l, "site-a")
	if cfg.Failover.Witness != WitnessName || cfg.Twin.Name != "" {
		t.Errorf("site-a: got failover.witness %q, twin.name %q; want %q and none", cfg.Failover.Witness, cfg.Twin.Name, WitnessName)
	}
}

func TestPrepare_NoWitness(t *testing.T) {
	l := prepareT(t, Options{Sites: 3, Twin: true})
	if n, ok := l.Witness(); ok {
		t.Fatalf("Witness: got %s, want none", n.Name)
	}
	if got := l.WitnessLinks(); len(got) != 0 {
		t.Errorf("WitnessLinks: got %v, want none", got)
	}
	for _, name := range []string{"site-a", TwinName} {
		if cfg := loadConfigT(t, l, name); cfg.Failover.Witness != "" {
			t.Errorf("%s failover.witness: got %q, want none", name, cfg.Failover.Witness)
		}
	}
}

func TestUp_WitnessOnLabWithout(t *testing.T) {
	l := prepareT(t, Options{Sites: 1, Twin: true})
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	_, err := Up(context.Background(), Options{Dir: l.Dir, Binary: "jumeau", Witness: true})
	if err == nil || !strings.Contains(err.Error(), "without a witness") {
		t.Fatalf("got %v, want an error saying the lab has no witness", err)
	}
}
