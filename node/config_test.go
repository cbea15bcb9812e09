package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

const validYAML = `
node: {name: site-a, role: site, region: monaco, data_dir: /tmp/x}
listen: {quic: "127.0.0.1:7001", api: "127.0.0.1:8001"}
tls: {ca: ca.crt, cert: a.crt, key: a.key}
peers:
  - {name: site-b, addr: "127.0.0.1:7002", role: site, region: monaco}
cell: {sites: [site-a, site-b]}
keyring: {file: k.json, kek_file: kek}
`

func writeConfig(tb testing.TB, body string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "jumeau.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLoadConfig_Valid(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Raft.ElectionTimeout, node.DefaultConfig().Raft.ElectionTimeout; got != want {
		t.Fatalf("raft.election_timeout: got %v, want default %v", got, want)
	}
	if got, want := cfg.Peers[0].Name, "site-b"; got != want {
		t.Fatalf("peers[0].name: got %q, want %q", got, want)
	}
}

func TestLoadConfig_Env(t *testing.T) {
	t.Setenv("JUMEAU_RAFT_ELECTION_TIMEOUT", "750ms")
	t.Setenv("JUMEAU_LOG_LEVEL", "debug")
	cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Raft.ElectionTimeout, 750*time.Millisecond; got != want {
		t.Fatalf("election timeout from env: got %v, want %v", got, want)
	}
	if got, want := cfg.Log.Level, "debug"; got != want {
		t.Fatalf("log level from env: got %q, want %q", got, want)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", validYAML + "raft: {heartbeat: 1s}\n", "heartbeat"},
		{"unknown section", validYAML + "colour: blue\n", "colour"},
		{"bad duration", validYAML + "api: {request_timeout: soon}\n", "request_timeout"},
		{"missing name", strings.Replace(validYAML, "name: site-a,", "", 1), "node.name"},
		{"bad role", strings.Replace(validYAML, "role: site", "role: emperor", 1), "node.role"},
		{"site without address", strings.Replace(validYAML, "sites: [site-a, site-b]", "sites: [site-a, site-b, site-c]", 1), "site-c"},
		{"bad address", strings.Replace(validYAML, `quic: "127.0.0.1:7001"`, `quic: "nowhere"`, 1), "listen.quic"},
		{"bad log level", validYAML + "log: {level: loud}\n", "log.level"},
		{"pprof without metrics", strings.Replace(validYAML, `api: "127.0.0.1:8001"}`, `api: "127.0.0.1:8001", pprof: true}`, 1), "listen.pprof"},
		{"not yaml", "node: [\n", "config"},
		{"peer without role", strings.Replace(validYAML, ", role: site, region: monaco}", ", region: monaco}", 1), "peers[0] (site-b): role is empty"},
		{"peer without region", strings.Replace(validYAML, ", role: site, region: monaco}", ", role: site}", 1), "peers[0] (site-b): region is empty"},
		{"peer with a client role", strings.Replace(validYAML, "role: site, region: monaco}", "role: client, region: monaco}", 1), "site, twin or witness"},
		{"cell site as a twin", strings.Replace(validYAML, "role: site, region: monaco}", "role: twin, region: monaco}", 1), "set its role to site"},
		{"cell site in another region", strings.Replace(validYAML, "role: site, region: monaco}", "role: site, region: luxembourg}", 1), "set its region to monaco"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// siteWithTwinYAML is a site that ships to the twin lux-1.
const siteWithTwinYAML = `
node: {name: site-a, role: site, region: monaco, data_dir: /tmp/x}
listen: {quic: "127.0.0.1:7001", api: "127.0.0.1:8001"}
tls: {ca: ca.crt, cert: a.crt, key: a.key}
peers:
  - {name: site-b, addr: "127.0.0.1:7002", role: site, region: monaco}
  - {name: lux-1, addr: "127.0.0.1:7100", role: twin, region: luxembourg}
cell: {sites: [site-a, site-b]}
keyring: {file: k.json, kek_file: kek}
twin: {name: lux-1, batch_bytes: 65536, window_bytes: 2097152, compression: zstd, heartbeat: 50ms, write_timeout: 2s}
sla: {rpo: 2s, rpo_guard: block}
wal: {retain_records: 4096}
`

// twinYAML is the Luxembourg twin of the cell site-a, site-b.
const twinYAML = `
node: {name: lux-1, role: twin, region: luxembourg, data_dir: /tmp/t}
listen: {quic: "127.0.0.1:7100", api: "127.0.0.1:8100"}
tls: {ca: ca.crt, cert: t.crt, key: t.key}
peers:
  - {name: site-a, addr: "127.0.0.1:7001", role: site, region: monaco}
cell: {sites: [site-a, site-b]}
twin: {primary_region: monaco}
keyring: {file: k.json, kek_file: kek}
`

func TestLoadConfig_ShipDefaults(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, tc := replicator.DefaultShipConfig(), replicator.DefaultTwinConfig()
	if got := cfg.Twin; got.Name != "" || got.BatchBytes != sc.BatchBytes || got.WindowBytes != sc.WindowBytes ||
		got.Compression != sc.Compression || got.Heartbeat != sc.Heartbeat || got.WriteTimeout != sc.WriteTimeout ||
		got.PrimaryRegion != tc.PrimaryRegion {
		t.Errorf("twin: got %+v, want no name and the replicator defaults %+v, primary region %q", got, sc, tc.PrimaryRegion)
	}
	if got, want := cfg.SLA, (node.SLAConfig{RPO: sc.RPO, RPOGuard: string(sc.RPOGuard)}); got != want {
		t.Errorf("sla: got %+v, want %+v", got, want)
	}
	if got, want := cfg.WAL.RetainRecords, sc.RetainRecords; got != want {
		t.Errorf("wal.retain_records: got %d, want %d", got, want)
	}
}

func TestLoadConfig_SiteWithTwin(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, siteWithTwinYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := node.TwinConfig{
		Name: "lux-1", PrimaryRegion: "monaco", BatchBytes: 64 << 10, WindowBytes: 2 << 20,
		Compression: "zstd", Heartbeat: 50 * time.Millisecond, WriteTimeout: 2 * time.Second,
	}
	if got := cfg.Twin; got != want {
		t.Errorf("twin: got %+v, want %+v", got, want)
	}
	if got, want := cfg.SLA, (node.SLAConfig{RPO: 2 * time.Second, RPOGuard: "block"}); got != want {
		t.Errorf("sla: got %+v, want %+v", got, want)
	}
	if got, want := cfg.WAL.RetainRecords, uint64(4096); got != want {
		t.Errorf("wal.retain_records: got %d, want %d", got, want)
	}
}

func TestLoadConfig_Twin(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, twinYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Node.Role, "twin"; got != want {
		t.Errorf("node.role: got %q, want %q", got, want)
	}
	if got, want := strings.Join(cfg.Cell.Sites, ","), "site-a,site-b"; got != want {
		t.Errorf("cell.sites: got %q, want %q (a twin needs no peers entry per site)", got, want)
	}
	// Defaults are enough for a twin in another region than monaco.
	noRegion := strings.Replace(twinYAML, "twin: {primary_region: monaco}\n", "", 1)
	if _, err := node.LoadConfig(writeConfig(t, noRegion), nil); err != nil {
		t.Errorf("twin without twin.primary_region: got %v, want the default monaco", err)
	}
}

func TestLoadConfig_ShipEnv(t *testing.T) {
	t.Setenv("JUMEAU_SLA_RPO_GUARD", "throttle")
	t.Setenv("JUMEAU_SLA_RPO", "750ms")
	t.Setenv("JUMEAU_WAL_RETAIN_RECORDS", "2048")
	t.Setenv("JUMEAU_TWIN_COMPRESSION", "none")
	cfg, err := node.LoadConfig(writeConfig(t, siteWithTwinYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.SLA, (node.SLAConfig{RPO: 750 * time.Millisecond, RPOGuard: "throttle"}); got != want {
		t.Errorf("sla from env: got %+v, want %+v", got, want)
	}
	if got, want := cfg.WAL.RetainRecords, uint64(2048); got != want {
		t.Errorf("wal.retain_records from env: got %d, want %d", got, want)
	}
	if got, want := cfg.Twin.Compression, "none"; got != want {
		t.Errorf("twin.compression from env: got %q, want %q", got, want)
	}
}

func TestLoadConfig_ShipEnvErrors(t *testing.T) {
	cases := []struct{ name, env, value, want string }{
		{"bad guard", "JUMEAU_SLA_RPO_GUARD", "panic", "sla.rpo_guard"},
		{"bad rpo", "JUMEAU_SLA_RPO", "soon", "rpo"},
		{"twin without peer", "JUMEAU_TWIN_NAME", "lux-2", "lux-2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := node.LoadConfig(writeConfig(t, validYAML), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s=%s: got %v, want an error mentioning %q", tc.env, tc.value, err, tc.want)
			}
		})
	}
}

func TestLoadConfig_ShipErrors(t *testing.T) {
	site := func(old, new string) string {
		if !strings.Contains(siteWithTwinYAML, old) {
			t.Fatalf("test setup: %q not in siteWithTwinYAML", old)
		}
		return strings.Replace(siteWithTwinYAML, old, new, 1)
	}
	twin := func(old, new string) string {
		if !strings.Contains(twinYAML, old) {
			t.Fatalf("test setup: %q not in twinYAML", old)
		}
		return strings.Replace(twinYAML, old, new, 1)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"twin without peer", site(`  - {name: lux-1, addr: "127.0.0.1:7100", role: twin, region: luxembourg}`+"\n", ""), "add {name: lux-1"},
		{"twin is a site", site("name: lux-1, batch", "name: site-b, batch"), "twin.name \"site-b\" is a site"},
		{"twin is self", site("name: lux-1, batch", "name: site-a, batch"), "twin.name"},
		{"unknown twin key", site("compression: zstd", "compression: zstd, colour: blue"), "colour"},
		{"unknown sla key", site("rpo_guard: block", "rpo_guard: block, rto: 1s"), "rto"},
		{"bad compression", site("compression: zstd", "compression: lz4"), "twin.compression"},
		{"small batch", site("batch_bytes: 65536", "batch_bytes: 100"), "twin.batch_bytes"},
		{"window under batch", site("window_bytes: 2097152", "window_bytes: 8192"), "twin.window_bytes"},
		{"bad heartbeat", site("heartbeat: 50ms", "heartbeat: 1m"), "twin.heartbeat"},
		{"heartbeat not a duration", site("heartbeat: 50ms", "heartbeat: often"), "heartbeat"},
		{"zero write timeout", site("write_timeout: 2s", "write_timeout: 0s"), "twin.write_timeout"},
		{"bad guard", site("rpo_guard: block", "rpo_guard: pray"), "sla.rpo_guard"},
		{"zero rpo", site("rpo: 2s", "rpo: 0s"), "sla.rpo"},
		{"negative retention", site("retain_records: 4096", "retain_records: -1"), "retain_records"},
		{"tiny retention", site("retain_records: 4096", "retain_records: 10"), "wal.retain_records"},
		{"twin lists itself", twin("sites: [site-a, site-b]", "sites: [site-a, site-b, lux-1]"), "this twin itself"},
		{"twin without sites", twin("cell: {sites: [site-a, site-b]}", "cell: {sites: []}"), "cell.sites"},
		{"twin with twin.name", twin("twin: {primary_region: monaco}", "twin: {primary_region: monaco, name: lux-2}"), "twin.name"},
		{"twin in the primary region", twin("region: luxembourg", "region: monaco"), "twin.primary_region"},
		{"twin with empty primary region", twin("primary_region: monaco", `primary_region: ""`), "twin.primary_region"},
		{"twin bad guard", twin("twin: {primary_region: monaco}", "twin: {primary_region: monaco}\nsla: {rpo_guard: pray}"), "sla.rpo_guard"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// witnessYAML is a witness: no keyring, no cell, no raft settings.
const witnessYAML = `
node: {name: witness-1, role: witness, region: witness, data_dir: /tmp/w}
listen: {quic: "127.0.0.1:7200", api: "127.0.0.1:8200"}
tls: {ca: ca.crt, cert: w.crt, key: w.key}
peers:
  - {name: site-a, role: site, region: monaco}
  - {name: lux-1, role: twin, region: luxembourg}
`

// witnessPeer is the peers entry of witness-1.
const witnessPeer = `  - {name: witness-1, addr: "127.0.0.1:7200", role: witness, region: witness}` + "\n"

// siteWithWitnessYAML is a site of a cell with a twin and a witness.
var siteWithWitnessYAML = strings.Replace(siteWithTwinYAML, "cell:", witnessPeer+"cell:", 1) +
	"failover: {witness: witness-1, lease: 3s, renew_every: 1s, detect_after: 4s, clock_skew_margin: 250ms, max_loss_records: 500, max_loss_age: 10s}\n"

// twinWithWitnessYAML is the twin lux-1 with a witness, promoting only on
// an operator's command.
var twinWithWitnessYAML = strings.Replace(twinYAML, "cell:", witnessPeer+"cell:", 1) +
	"failover: {witness: witness-1, auto_promote: false}\n"

func TestLoadConfig_FailoverDefaults(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, validYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	fc := failover.DefaultConfig()
	want := node.FailoverConfig{
		PrimaryRegion: "monaco", Lease: fc.LeaseDuration, RenewEvery: fc.RenewEvery, DetectAfter: fc.DetectAfter,
		ClockSkewMargin: fc.ClockSkewMargin, MaxLossRecords: fc.MaxLossRecords, MaxLossAge: fc.MaxLossAge, AutoPromote: true,
	}
	if got := cfg.Failover; got != want {
		t.Errorf("failover: got %+v, want %+v (no witness, failover.DefaultConfig timings)", got, want)
	}
}

func TestLoadConfig_Witness(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, witnessYAML), nil)
	if err != nil {
		t.Fatalf("witness without keyring, cell.sites or peer addresses: %v", err)
	}
	if got, want := cfg.Node, (node.NodeConfig{Name: "witness-1", Role: "witness", Region: "witness", DataDir: "/tmp/w"}); got != want {
		t.Errorf("node: got %+v, want %+v", got, want)
	}
	if got, want := cfg.Failover.PrimaryRegion, "monaco"; got != want {
		t.Errorf("failover.primary_region: got %q, want %q", got, want)
	}
	// Peer addresses and a metrics listener are allowed, as on every node.
	more := strings.Replace(witnessYAML, `api: "127.0.0.1:8200"}`, `api: "127.0.0.1:8200", metrics: "127.0.0.1:9200"}`, 1)
	more = strings.Replace(more, "{name: site-a, role", `{name: site-a, addr: "127.0.0.1:7001", role`, 1)
	cfg, err = node.LoadConfig(writeConfig(t, more), nil)
	if err != nil {
		t.Fatalf("witness with peers and metrics: %v", err)
	}
	if got, want := cfg.Listen.Metrics, "127.0.0.1:9200"; got != want {
		t.Errorf("listen.metrics: got %q, want %q", got, want)
	}
}

func TestLoadConfig_WitnessErrors(t *testing.T) {
	w := func(old, new string) string {
		if !strings.Contains(witnessYAML, old) {
			t.Fatalf("test setup: %q not in witnessYAML", old)
		}
		return strings.Replace(witnessYAML, old, new, 1)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"no name", w("name: witness-1, ", ""), "node.name"},
		{"no region", w("region: witness, ", ""), "node.region"},
		{"no data dir", w(", data_dir: /tmp/w", ""), "node.data_dir"},
		{"no quic", w(`quic: "127.0.0.1:7200"`, `quic: ""`), "listen.quic"},
		{"no api", w(`api: "127.0.0.1:8200"`, `api: ""`), "listen.api"},
		{"no ca", w("ca: ca.crt, ", ""), "tls.ca"},
		{"no cert", w("cert: w.crt, ", ""), "tls.cert"},
		{"no key", w(", key: w.key", ""), "tls.key"},
		{"witness names a witness", witnessYAML + "failover: {witness: witness-2}\n", "failover.witness \"witness-2\" is set on a witness"},
		{"witness in the primary region", w("region: witness", "region: monaco"), "failover.primary_region"},
		{"witness with twin.name", witnessYAML + "twin: {name: lux-1}\n", "twin.name"},
		{"witness bad lease", witnessYAML + "failover: {lease: 10ms}\n", "failover.lease"},
		{"witness unknown key", witnessYAML + "failover: {quorum: 2}\n", "quorum"},
		{"witness without peers", witnessYAML[:strings.Index(witnessYAML, "peers:")], "a witness needs peers entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfig_FailoverSite(t *testing.T) {
	cfg, err := node.LoadConfig(writeConfig(t, siteWithWitnessYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := node.FailoverConfig{
		Witness: "witness-1", PrimaryRegion: "monaco", Lease: 3 * time.Second, RenewEvery: time.Second,
		DetectAfter: 4 * time.Second, ClockSkewMargin: 250 * time.Millisecond, MaxLossRecords: 500,
		MaxLossAge: 10 * time.Second, AutoPromote: true,
	}
	if got := cfg.Failover; got != want {
		t.Errorf("failover: got %+v, want %+v", got, want)
	}
	tw, err := node.LoadConfig(writeConfig(t, twinWithWitnessYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tw.Failover; got.Witness != "witness-1" || got.AutoPromote {
		t.Errorf("twin failover: got witness %q, auto_promote %t; want witness-1, false", got.Witness, got.AutoPromote)
	}
}

func TestLoadConfig_FailoverEnv(t *testing.T) {
	t.Setenv("JUMEAU_FAILOVER_LEASE", "4s")
	t.Setenv("JUMEAU_FAILOVER_DETECT_AFTER", "6s")
	t.Setenv("JUMEAU_FAILOVER_AUTO_PROMOTE", "false")
	t.Setenv("JUMEAU_FAILOVER_MAX_LOSS_RECORDS", "42")
	cfg, err := node.LoadConfig(writeConfig(t, twinWithWitnessYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Failover
	if f.Lease != 4*time.Second || f.DetectAfter != 6*time.Second || f.AutoPromote || f.MaxLossRecords != 42 {
		t.Errorf("failover from env: got lease %v, detect_after %v, auto_promote %t, max_loss_records %d; want 4s, 6s, false, 42",
			f.Lease, f.DetectAfter, f.AutoPromote, f.MaxLossRecords)
	}
	// The witness name itself can come from the environment; it still
	// needs a peers entry.
	t.Setenv("JUMEAU_FAILOVER_WITNESS", "witness-9")
	if _, err := node.LoadConfig(writeConfig(t, validYAML), nil); err == nil || !strings.Contains(err.Error(), "add {name: witness-9") {
		t.Errorf("JUMEAU_FAILOVER_WITNESS=witness-9 without a peer: got %v, want an error asking for its peers entry", err)
	}
}

func TestLoadConfig_FailoverErrors(t *testing.T) {
	site := func(old, new string) string {
		if !strings.Contains(siteWithWitnessYAML, old) {
			t.Fatalf("test setup: %q not in siteWithWitnessYAML", old)
		}
		return strings.Replace(siteWithWitnessYAML, old, new, 1)
	}
	twin := func(old, new string) string {
		if !strings.Contains(twinWithWitnessYAML, old) {
			t.Fatalf("test setup: %q not in twinWithWitnessYAML", old)
		}
		return strings.Replace(twinWithWitnessYAML, old, new, 1)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"site witness without peer", site(witnessPeer, ""), "add {name: witness-1"},
		{"twin witness without peer", twin(witnessPeer, ""), "add {name: witness-1"},
		{"witness is a site", site("witness: witness-1,", "witness: site-b,"), "is a site of the cell"},
		{"witness is self", site("witness: witness-1,", "witness: site-a,"), "this node itself"},
		{"witness is the twin", site("witness: witness-1,", "witness: lux-1,"), "also twin.name"},
		{"lease not a duration", site("lease: 3s", "lease: long"), "lease"},
		{"lease too short", site("lease: 3s", "lease: 50ms"), "failover.lease"},
		{"renew over half the lease", site("renew_every: 1s", "renew_every: 2s"), "failover.renew_every"},
		{"zero renew", site("renew_every: 1s", "renew_every: 0s"), "failover.renew_every"},
		{"detect before the lease ends", site("detect_after: 4s", "detect_after: 1s"), "failover.detect_after"},
		{"negative skew margin", site("clock_skew_margin: 250ms", "clock_skew_margin: -1s"), "failover.clock_skew_margin"},
		{"negative loss age", site("max_loss_age: 10s", "max_loss_age: -1s"), "failover.max_loss_age"},
		{"negative loss records", site("max_loss_records: 500", "max_loss_records: -1"), "max_loss_records"},
		{"auto_promote not a bool", twin("auto_promote: false", "auto_promote: sometimes"), "auto_promote"},
		{"unknown failover key", site("max_loss_age: 10s", "max_loss_age: 10s, max_loss_for_auto_promote: 5"), "max_loss_for_auto_promote"},
		{"empty primary region", site("max_loss_age: 10s", `max_loss_age: 10s, primary_region: ""`), "failover.primary_region"},
		{"site outside the primary region", site("max_loss_age: 10s", "max_loss_age: 10s, primary_region: paris"), "not this site's region"},
		{"twin as primary of epoch 1", twin("auto_promote: false", "auto_promote: false, primary_region: luxembourg"), "this twin's own region"},
		{"twin regions disagree", twin("auto_promote: false", "auto_promote: false, primary_region: paris"), "twin.primary_region"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestLoadConfig_FailoverBadDurationsEveryRole checks that every role
// refuses invalid lease timings, not only the one that holds the lease.
func TestLoadConfig_FailoverBadDurationsEveryRole(t *testing.T) {
	for role, doc := range map[string]string{"site": validYAML, "twin": twinYAML, "witness": witnessYAML} {
		t.Run(role, func(t *testing.T) {
			_, err := node.LoadConfig(writeConfig(t, doc+"failover: {lease: 2s, detect_after: 1s}\n"), nil)
			if err == nil || !strings.Contains(err.Error(), "failover.detect_after") {
				t.Fatalf("got %v, want an error mentioning failover.detect_after", err)
			}
		})
	}
}
