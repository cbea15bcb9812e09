package node

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/failover"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// Config is a node's configuration file (YAML). Every key can also be set
// with a JUMEAU_ environment variable (node.name -> JUMEAU_NODE_NAME).
type Config struct {
	Node     NodeConfig     `mapstructure:"node"`
	Listen   ListenConfig   `mapstructure:"listen"`
	TLS      TLSConfig      `mapstructure:"tls"`
	Peers    []Peer         `mapstructure:"peers"`
	Cell     CellConfig     `mapstructure:"cell"`
	Raft     RaftConfig     `mapstructure:"raft"`
	Twin     TwinConfig     `mapstructure:"twin"`
	SLA      SLAConfig      `mapstructure:"sla"`
	WAL      WALConfig      `mapstructure:"wal"`
	Failover FailoverConfig `mapstructure:"failover"`
	Keyring  KeyringConfig  `mapstructure:"keyring"`
	API      APIConfig      `mapstructure:"api"`
	Log      LogConfig      `mapstructure:"log"`
	Disk     DiskConfig     `mapstructure:"disk"`
}

// NodeConfig names the node.
type NodeConfig struct {
	Name    string `mapstructure:"name"`
	Role    string `mapstructure:"role"`
	Region  string `mapstructure:"region"`
	DataDir string `mapstructure:"data_dir"`
}

// ListenConfig holds the node's addresses.
type ListenConfig struct {
	QUIC    string `mapstructure:"quic"`
	API     string `mapstructure:"api"`
	Metrics string `mapstructure:"metrics"` // plaintext Prometheus endpoint; empty disables it
	// Pprof adds Go's /debug/pprof handlers to the metrics listener (keep
	// it off in production: it exposes internals to whoever reaches it).
	// Refused on a non-loopback listen.metrics unless MetricsTLS is set.
	Pprof bool `mapstructure:"pprof"`
	// MetricsTLS serves the metrics listener over TLS with the node's
	// certificate and requires client certificates of the deployment's
	// CA: role auditor or admin for /metrics, admin for /debug/pprof/.
	MetricsTLS bool `mapstructure:"metrics_tls"`
}

// TLSConfig names the node's certificate files.
type TLSConfig struct {
	CA   string `mapstructure:"ca"`
	Cert string `mapstructure:"cert"`
	Key  string `mapstructure:"key"`
}

// Peer is another node this node talks to over QUIC: its address and the
// identity its certificate must carry. Only the identities of peers
// entries and cell.sites may connect to this node (transport.Members).
type Peer struct {
	Name string `mapstructure:"name"`
	Addr string `mapstructure:"addr"`
	// Role is the peer's role: site, twin or witness.
	Role string `mapstructure:"role"`
	// Region is the peer's region (node.region in its own config).
	Region string `mapstructure:"region"`
}

// CellConfig describes the primary cell.
type CellConfig struct {
	Sites     []string `mapstructure:"sites"`
	Bootstrap bool     `mapstructure:"bootstrap"`
	Epoch     uint64   `mapstructure:"epoch"`
}

// RaftConfig tunes hashicorp/raft for the cell.
type RaftConfig struct {
	HeartbeatTimeout   time.Duration `mapstructure:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `mapstructure:"election_timeout"`
	LeaderLeaseTimeout time.Duration `mapstructure:"leader_lease_timeout"`
	CommitTimeout      time.Duration `mapstructure:"commit_timeout"`
	MaxAppendEntries   int           `mapstructure:"max_append_entries"`
	MaxInFlight        int           `mapstructure:"max_inflight_entries"`
	SnapshotInterval   time.Duration `mapstructure:"snapshot_interval"`
	SnapshotThreshold  uint64        `mapstructure:"snapshot_threshold"`
	TrailingLogs       uint64        `mapstructure:"trailing_logs"`
	LogLevel           string        `mapstructure:"log_level"`
}

// TwinConfig is region replication to the Luxembourg twin. On a site it
// names the twin the cell leader ships its WAL to, and tunes the shipper;
// on the twin (node.role twin) it names the region allowed to ship.
type TwinConfig struct {
	// Name is, on sites, the twin's node name; it needs a peers entry.
	// Empty: no twin, nothing is shipped.
	Name string `mapstructure:"name"`
	// PrimaryRegion is, on the twin, the region whose sites may ship to it.
	PrimaryRegion string `mapstructure:"primary_region"`
	// BatchBytes is the most record bytes per shipped frame.
	BatchBytes int `mapstructure:"batch_bytes"`
	// WindowBytes is how many shipped bytes may await the twin's ack
	// (at least bandwidth x RTT of the WAN).
	WindowBytes int `mapstructure:"window_bytes"`
	// Compression is none or zstd.
	Compression string `mapstructure:"compression"`
	// Heartbeat is how often an idle shipper tells the twin its position.
	Heartbeat time.Duration `mapstructure:"heartbeat"`
	// WriteTimeout bounds the wait for the twin's ack of a
	// durability=twin write.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
}

// SLAConfig is the recovery point objective and what the leader does as
// the twin's lag nears it.
type SLAConfig struct {
	RPO      time.Duration `mapstructure:"rpo"`
	RPOGuard string        `mapstructure:"rpo_guard"` // alert, throttle or block
}

// WALConfig tunes the WAL's retention.
type WALConfig struct {
	// RetainRecords is how many of the newest WAL records each site keeps
	// (0 keeps all); a twin cut off for longer is rebuilt from a snapshot.
	RetainRecords uint64 `mapstructure:"retain_records"`
	// RetainEvery is how often retention runs.
	RetainEvery time.Duration `mapstructure:"retain_every"`
}

// FailoverConfig is region failover (failover/doc.go, docs/architecture.md):
// the witness, the primary lease and automatic promotion. Every region
// must use the same timings.
type FailoverConfig struct {
	// Witness is, on sites and the twin, the witness's node name; it needs
	// a peers entry. Empty: no leases and no automatic failover (a
	// single-region deployment; the twin never promotes itself). A witness
	// leaves it empty.
	Witness string `mapstructure:"witness"`
	// PrimaryRegion is the primary region of epoch 1: every node's epoch
	// file starts there (later epochs come from promotions).
	PrimaryRegion string `mapstructure:"primary_region"`
	// Lease is how long one renewal lets the primary take writes.
	Lease time.Duration `mapstructure:"lease"`
	// RenewEvery is how often the primary renews (at most half of Lease).
	RenewEvery time.Duration `mapstructure:"renew_every"`
	// DetectAfter is how long the twin and the witness must both have
	// heard nothing from the primary before an automatic promotion.
	DetectAfter time.Duration `mapstructure:"detect_after"`
	// ClockSkewMargin is added to every lease expiry a grantor waits for.
	ClockSkewMargin time.Duration `mapstructure:"clock_skew_margin"`
	// MaxLossRecords and MaxLossAge bound the loss (the twin's last known
	// lag) an automatic promotion accepts; past either, the twin raises an
	// alarm and waits for `jumeau failover promote`.
	MaxLossRecords uint64        `mapstructure:"max_loss_records"`
	MaxLossAge     time.Duration `mapstructure:"max_loss_age"`
	// AutoPromote lets the twin promote itself (read by the twin); false:
	// only an operator promotes it.
	AutoPromote bool `mapstructure:"auto_promote"`
}

// KeyringConfig locates the namespace keyring and its key-encryption key.
type KeyringConfig struct {
	File    string `mapstructure:"file"`
	KEKFile string `mapstructure:"kek_file"`
	KEKEnv  string `mapstructure:"kek_env"`
}

// APIConfig tunes the client API.
type APIConfig struct {
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// Connection limits and timeouts (api.Limits, api.DefaultLimits).
	MaxConnections          int           `mapstructure:"max_connections"`
	MaxConnectionsPerClient int           `mapstructure:"max_connections_per_client"`
	HandshakeTimeout        time.Duration `mapstructure:"handshake_timeout"`
	IdleTimeout             time.Duration `mapstructure:"idle_timeout"`
}

// Limits returns the API's connection limits.
func (c APIConfig) Limits() api.Limits {
	return api.Limits{MaxConnections: c.MaxConnections, MaxConnectionsPerClient: c.MaxConnectionsPerClient,
		HandshakeTimeout: c.HandshakeTimeout, IdleTimeout: c.IdleTimeout}
}

func defaultAPIConfig() APIConfig {
	l := api.DefaultLimits()
	return APIConfig{RequestTimeout: 10 * time.Second, MaxConnections: l.MaxConnections,
		MaxConnectionsPerClient: l.MaxConnectionsPerClient, HandshakeTimeout: l.HandshakeTimeout, IdleTimeout: l.IdleTimeout}
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// DefaultConfig returns safe defaults; node identity, addresses and files
// must still be set.
func DefaultConfig() Config {
	rc := replicator.DefaultConfig()
	sc := replicator.DefaultShipConfig()
	tc := replicator.DefaultTwinConfig()
	fc := failover.DefaultConfig()
	return Config{
		Node:   NodeConfig{Role: "site", Region: "monaco"},
		Listen: ListenConfig{QUIC: "127.0.0.1:7001", API: "127.0.0.1:8001"},
		// Bootstrap is off by default: a site restarted empty must rejoin
		// the cell, never found a new one (see docs/config.md).
		Cell: CellConfig{Bootstrap: false, Epoch: 1},
		Raft: RaftConfig{
			HeartbeatTimeout:   rc.HeartbeatTimeout,
			ElectionTimeout:    rc.ElectionTimeout,
			LeaderLeaseTimeout: rc.LeaderLeaseTimeout,
			CommitTimeout:      rc.CommitTimeout,
			MaxAppendEntries:   rc.MaxAppendEntries,
			MaxInFlight:        rc.MaxInFlightEntries,
			SnapshotInterval:   rc.SnapshotInterval,
			SnapshotThreshold:  rc.SnapshotThreshold,
			TrailingLogs:       rc.TrailingLogs,
			LogLevel:           rc.RaftLogLevel,
		},
		Twin: TwinConfig{
			PrimaryRegion: tc.PrimaryRegion,
			BatchBytes:    sc.BatchBytes,
			WindowBytes:   sc.WindowBytes,
			Compression:   sc.Compression,
			Heartbeat:     sc.Heartbeat,
			WriteTimeout:  sc.WriteTimeout,
		},
		SLA: SLAConfig{RPO: sc.RPO, RPOGuard: string(sc.RPOGuard)},
		WAL: WALConfig{RetainRecords: sc.RetainRecords, RetainEvery: sc.RetainEvery},
		Failover: FailoverConfig{
			PrimaryRegion:   "monaco",
			Lease:           fc.LeaseDuration,
			RenewEvery:      fc.RenewEvery,
			DetectAfter:     fc.DetectAfter,
			ClockSkewMargin: fc.ClockSkewMargin,
			MaxLossRecords:  fc.MaxLossRecords,
			MaxLossAge:      fc.MaxLossAge,
			AutoPromote:     true,
		},
		Keyring: KeyringConfig{KEKEnv: "JUMEAU_KEK"},
		API:     defaultAPIConfig(),
		Log:     LogConfig{Level: "info", Format: "json"},
		Disk:    defaultDiskConfig(),
	}
}

// Validate reports every invalid setting it finds, joined with
// errors.Join, each naming its key and the fix. What is required depends
// on node.role: sites and the twin hold data (cell.sites, keyring.*), the
// witness only its epoch file. Checks that depend on a setting found
// invalid (the role's own checks on a bad node.role or a missing
// node.name or node.region, the peers' roles on a bad peers entry) wait
// until it is fixed.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, kv := range [][2]string{
		{"node.name", c.Node.Name}, {"node.region", c.Node.Region}, {"node.data_dir", c.Node.DataDir},
		{"listen.quic", c.Listen.QUIC}, {"listen.api", c.Listen.API},
		{"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key},
	} {
		if strings.TrimSpace(kv[1]) == "" {
			add(fmt.Errorf("config: %s is required", kv[0]))
		}
	}
	role, err := pki.ParseRole(c.Node.Role)
	switch {
	case err != nil:
		add(fmt.Errorf("config: node.role: %w", err))
	case role != pki.RoleSite && role != pki.RoleTwin && role != pki.RoleWitness:
		add(fmt.Errorf("config: node.role %q: a node runs as site (the primary cell), twin (the Luxembourg copy) or witness (the third region's tie-breaker)", c.Node.Role))
		role = ""
	}
	if c.Listen.Pprof && c.Listen.Metrics == "" {
		add(errors.New("config: listen.pprof needs listen.metrics (pprof is served on the metrics listener)"))
	}
	for _, a := range [][2]string{{"listen.quic", c.Listen.QUIC}, {"listen.api", c.Listen.API}, {"listen.metrics", c.Listen.Metrics}} {
		if a[1] == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a[1]); err != nil {
			add(fmt.Errorf("config: %s %q is not host:port (example: 127.0.0.1:7001)", a[0], a[1]))
		}
	}
	add(c.validateMetricsListen())
	seen := map[string]bool{}
	peersOK := true
	for i, p := range c.Peers {
		if err := c.validatePeer(i, p, role, seen); err != nil {
			add(err)
			peersOK = false
		}
		if p.Name != "" {
			seen[p.Name] = true
		}
	}
	if peersOK {
		add(c.validatePeerRoles())
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("config: log.level %q: use debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add(fmt.Errorf("config: log.format %q: use json or text", c.Log.Format))
	}
	if c.API.RequestTimeout <= 0 {
		add(errors.New("config: api.request_timeout must be > 0 (example: 10s)"))
	}
	add(c.validateDisk())
	if role != "" && strings.TrimSpace(c.Node.Name) != "" && strings.TrimSpace(c.Node.Region) != "" {
		errs = append(errs, c.validateRole(role, seen)...)
	}
	return errors.Join(errs...)
}

// validatePeer checks peers[i]; seen holds the names of the entries
// before it.
func (c Config) validatePeer(i int, p Peer, role pki.Role, seen map[string]bool) error {
	// A witness dials nobody: its peers entries only say who may
	// connect, so they need no address.
	if p.Name == "" || (p.Addr == "" && role != pki.RoleWitness) {
		return fmt.Errorf("config: peers[%d] needs both name and addr", i)
	}
	if _, _, err := net.SplitHostPort(p.Addr); p.Addr != "" && err != nil {
		return fmt.Errorf("config: peers[%d].addr %q is not host:port", i, p.Addr)
	}
	if seen[p.Name] {
		return fmt.Errorf("config: peers[%d]: %q is listed twice", i, p.Name)
	}
	if err := p.validateIdentity(); err != nil {
		return fmt.Errorf("config: peers[%d] (%s): %w", i, p.Name, err)
	}
	return nil
}

// validateRole checks what node.role (valid) requires; peers holds the
// names of the peers entries.
func (c Config) validateRole(role pki.Role, peers map[string]bool) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.API.Limits().Validate(); err != nil {
		add(fmt.Errorf("config: %w", err))
	}
	if role == pki.RoleWitness {
		add(c.validateWitness())
		add(c.validateFailover(role, peers))
		return errs
	}
	if len(c.Cell.Sites) == 0 {
		add(errors.New("config: cell.sites is empty: list the names of every Monaco site of the cell"))
	}
	if role == pki.RoleSite {
		for _, s := range c.Cell.Sites {
			if s != c.Node.Name && !peers[s] {
				add(fmt.Errorf("config: cell.sites names %q but peers has no address for it: add {name: %s, addr: host:port, role: site, region: %s} under peers", s, s, c.Node.Region))
			}
		}
	}
	if c.Keyring.File == "" {
		add(errors.New("config: keyring.file is required (the namespace data keys, wrapped by the key-encryption key)"))
	}
	if c.Keyring.KEKFile == "" && c.Keyring.KEKEnv == "" {
		add(errors.New("config: set keyring.kek_file or keyring.kek_env (where the key-encryption key comes from)"))
	}
	if len(c.Cell.Sites) > 0 {
		if role == pki.RoleTwin {
			add(c.validateTwin())
		} else {
			add(c.validateSite(peers))
		}
	}
	add(c.validateFailover(role, peers))
	return errs
}

// validateWitness checks what only a witness refuses: it holds no data, so
// it names no twin (cell.*, raft.*, keyring.*, sla.* and wal.* are not
// read).
func (c Config) validateWitness() error {
	if c.Twin.Name != "" {
		return fmt.Errorf("config: twin.name %q is set on a witness: twin.name is for sites (the twin they ship to); leave it empty here", c.Twin.Name)
	}
	if len(c.Peers) == 0 {
		return errors.New("config: a witness needs peers entries: list every site and the twin ({name, role, region}; addr is optional here), the only nodes that may renew the primary lease or ask for a promotion")
	}
	return nil
}

// validateFailover checks the failover.* keys for role; peers holds the
// names of the peers entries.
func (c Config) validateFailover(role pki.Role, peers map[string]bool) error {
	f := c.Failover
	if strings.TrimSpace(f.PrimaryRegion) == "" {
		return errors.New("config: failover.primary_region is empty: name the region of the primary cell in epoch 1 (default monaco)")
	}
	if f.MaxLossAge < 0 {
		return fmt.Errorf("config: failover.max_loss_age %s is negative: use a duration >= 0 (example: 30s)", f.MaxLossAge)
	}
	if err := c.failoverConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if role == pki.RoleWitness {
		if f.Witness != "" {
			return fmt.Errorf("config: failover.witness %q is set on a witness: it names the witness on sites and the twin; leave it empty here", f.Witness)
		}
		if f.PrimaryRegion == c.Node.Region {
			return fmt.Errorf("config: failover.primary_region %q is this witness's own region (node.region): the witness sits in a third region, neither the primary's nor the twin's", f.PrimaryRegion)
		}
		return nil
	}
	w := f.Witness
	if w == "" {
		return nil
	}
	switch {
	case w == c.Node.Name:
		return fmt.Errorf("config: failover.witness %q is this node itself: set it to the witness's node name (a node with role witness in a third region)", w)
	case slices.Contains(c.Cell.Sites, w):
		return fmt.Errorf("config: failover.witness %q is a site of the cell (cell.sites): set it to the witness's node name, which is not a cell member", w)
	case w == c.Twin.Name:
		return fmt.Errorf("config: failover.witness %q is also twin.name: the witness and the twin are two nodes in two regions", w)
	case !peers[w]:
		return fmt.Errorf("config: failover.witness %q has no address: add {name: %s, addr: host:port, role: witness, region: REGION} under peers (the witness's QUIC address and region), or leave failover.witness empty to run without automatic failover", w, w)
	}
	if role == pki.RoleSite && f.PrimaryRegion != c.Node.Region {
		return fmt.Errorf("config: failover.primary_region %q is not this site's region %q (node.region): epoch 1 starts with the primary cell's region as primary; set failover.primary_region: %s", f.PrimaryRegion, c.Node.Region, c.Node.Region)
	}
	if role == pki.RoleTwin {
		if f.PrimaryRegion == c.Node.Region {
			return fmt.Errorf("config: failover.primary_region %q is this twin's own region (node.region): epoch 1 starts with the primary cell's region as primary", f.PrimaryRegion)
		}
		if f.PrimaryRegion != c.Twin.PrimaryRegion {
			return fmt.Errorf("config: failover.primary_region %q and twin.primary_region %q differ: in epoch 1 the twin receives the primary region's WAL; set both to the primary cell's region", f.PrimaryRegion, c.Twin.PrimaryRegion)
		}
	}
	return nil
}

// failoverConfig is the lease and promotion configuration (failover.*).
// The request timeout stays failover.DefaultConfig's, but never longer
// than the lease: a renewal answered after the lease ran out is useless.
func (c Config) failoverConfig() failover.Config {
	fc := failover.DefaultConfig()
	fc.LeaseDuration = c.Failover.Lease
	fc.RenewEvery = c.Failover.RenewEvery
	fc.DetectAfter = c.Failover.DetectAfter
	fc.ClockSkewMargin = c.Failover.ClockSkewMargin
	fc.MaxLossRecords = c.Failover.MaxLossRecords
	fc.MaxLossAge = c.Failover.MaxLossAge
	fc.RequestTimeout = min(fc.RequestTimeout, c.Failover.Lease)
	return fc
}

// validateSite checks what a primary site needs: the cell's Raft settings,
// the shipper's, and the twin it ships to. peers holds the names of the
// peers entries.
func (c Config) validateSite(peers map[string]bool) error {
	if err := c.cellConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.shipConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	t := c.Twin.Name
	if t == "" {
		return nil
	}
	if slices.Contains(c.Cell.Sites, t) || t == c.Node.Name {
		return fmt.Errorf("config: twin.name %q is a site of the cell (cell.sites): set twin.name to the Luxembourg twin's node name, which is not a cell member", t)
	}
	if !peers[t] {
		return fmt.Errorf("config: twin.name %q has no address: add {name: %s, addr: host:port, role: twin, region: REGION} under peers (the twin's QUIC address and region), or leave twin.name empty to run without a twin", t, t)
	}
	return nil
}

// validateTwin checks what the twin needs: it is not a member of the cell
// whose WAL it receives, and accepts only that cell's sites as senders.
func (c Config) validateTwin() error {
	if slices.Contains(c.Cell.Sites, c.Node.Name) {
		return fmt.Errorf("config: cell.sites lists %q, this twin itself: list only the primary cell's sites (the senders this twin accepts)", c.Node.Name)
	}
	if c.Twin.Name != "" {
		return fmt.Errorf("config: twin.name %q is set on a twin: twin.name is for sites (the twin they ship to); leave it empty here", c.Twin.Name)
	}
	if c.Twin.PrimaryRegion == c.Node.Region {
		return fmt.Errorf("config: twin.primary_region %q is this twin's own region (node.region): the twin must sit in another region than the sites that ship to it", c.Twin.PrimaryRegion)
	}
	if err := c.twinConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// The twin ships nothing yet, but its sla.* and wal.* keys are read
	// like a site's: a bad value is refused now, not after a promotion.
	if err := c.shipConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// shipConfig is the cell leader's shipper configuration (twin.*, sla.*,
// wal.retain_records).
func (c Config) shipConfig() replicator.ShipConfig {
	return replicator.ShipConfig{
		Twin:          c.Twin.Name,
		BatchBytes:    c.Twin.BatchBytes,
		WindowBytes:   c.Twin.WindowBytes,
		Compression:   c.Twin.Compression,
		Heartbeat:     c.Twin.Heartbeat,
		WriteTimeout:  c.Twin.WriteTimeout,
		RPO:           c.SLA.RPO,
		RPOGuard:      replicator.RPOGuard(c.SLA.RPOGuard),
		RetainRecords: c.WAL.RetainRecords,
		RetainEvery:   c.WAL.RetainEvery,
	}
}

// twinConfig is the twin receiver's configuration.
func (c Config) twinConfig() replicator.TwinConfig {
	tc := replicator.DefaultTwinConfig()
	tc.Name = c.Node.Name
	tc.PrimaryRegion = c.Twin.PrimaryRegion
	tc.Sites = append([]string(nil), c.Cell.Sites...)
	tc.Epoch = c.Cell.Epoch
	return tc
}

func (c Config) cellConfig() replicator.Config {
	return replicator.Config{
		Name:               c.Node.Name,
		Peers:              c.Cell.Sites,
		Bootstrap:          c.Cell.Bootstrap,
		SnapshotDir:        c.Node.DataDir + "/snapshots",
		Epoch:              c.Cell.Epoch,
		HeartbeatTimeout:   c.Raft.HeartbeatTimeout,
		ElectionTimeout:    c.Raft.ElectionTimeout,
		LeaderLeaseTimeout: c.Raft.LeaderLeaseTimeout,
		CommitTimeout:      c.Raft.CommitTimeout,
		MaxAppendEntries:   c.Raft.MaxAppendEntries,
		MaxInFlightEntries: c.Raft.MaxInFlight,
		SnapshotInterval:   c.Raft.SnapshotInterval,
		SnapshotThreshold:  c.Raft.SnapshotThreshold,
		TrailingLogs:       c.Raft.TrailingLogs,
		ApplyTimeout:       c.API.RequestTimeout,
		RaftLogLevel:       c.Raft.LogLevel,
		Ship:               c.shipConfig(),
	}
}

// LoadConfig reads the YAML file at path (if not empty), then JUMEAU_*
// environment variables, over DefaultConfig, and validates the result.
// Unknown keys are an error. The v parameter may carry flag bindings; nil
// creates a fresh viper.
func LoadConfig(path string, v *viper.Viper) (Config, error) {
	cfg, err := DecodeConfig(path, v)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// DecodeConfig is LoadConfig without the validation: it fails only on a
// file that does not read or parse, an unknown key or a value of the
// wrong type.
func DecodeConfig(path string, v *viper.Viper) (Config, error) {
	if v == nil {
		v = viper.New()
	}
	cfg := DefaultConfig()
	setDefaults(v, "", reflect.ValueOf(cfg))
	v.SetEnvPrefix("JUMEAU")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
		refuseNegativeUint,
		mapstructure.TextUnmarshallerHookFunc(), // disk.*_bytes: 256MiB
	)))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w (check the key names and value types against docs/config.md)", path, err)
	}
	return cfg, nil
}

// refuseNegativeUint stops a negative number reaching an unsigned key:
// viper decodes weakly, and would turn -1 into 2^64-1.
func refuseNegativeUint(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return data, nil
	}
	v := reflect.ValueOf(data)
	switch {
	case v.CanInt() && v.Int() < 0,
		v.CanFloat() && v.Float() < 0,
		from.Kind() == reflect.String && strings.HasPrefix(strings.TrimSpace(v.String()), "-"):
		return nil, fmt.Errorf("%v is negative: use a whole number >= 0", data)
	}
	return data, nil
}

// setDefaults registers every leaf key of the config with viper so that
// environment variables can override keys absent from the file.
func setDefaults(v *viper.Viper, prefix string, val reflect.Value) {
	t := val.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		if key == "" {
			continue
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		fv := val.Field(i)
		if fv.Kind() == reflect.Struct {
			setDefaults(v, key, fv)
			continue
		}
		v.SetDefault(key, fv.Interface())
	}
}
