package node

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// Config is a node's configuration file (YAML). Every key can also be set
// with a JUMEAU_ environment variable (node.name -> JUMEAU_NODE_NAME).
type Config struct {
	Node    NodeConfig    `mapstructure:"node"`
	Listen  ListenConfig  `mapstructure:"listen"`
	TLS     TLSConfig     `mapstructure:"tls"`
	Peers   []Peer        `mapstructure:"peers"`
	Cell    CellConfig    `mapstructure:"cell"`
	Raft    RaftConfig    `mapstructure:"raft"`
	Keyring KeyringConfig `mapstructure:"keyring"`
	API     APIConfig     `mapstructure:"api"`
	Log     LogConfig     `mapstructure:"log"`
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
	Pprof bool `mapstructure:"pprof"`
}

// TLSConfig names the node's certificate files.
type TLSConfig struct {
	CA   string `mapstructure:"ca"`
	Cert string `mapstructure:"cert"`
	Key  string `mapstructure:"key"`
}

// Peer is another node this node talks to over QUIC.
type Peer struct {
	Name string `mapstructure:"name"`
	Addr string `mapstructure:"addr"`
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

// KeyringConfig locates the namespace keyring and its key-encryption key.
type KeyringConfig struct {
	File    string `mapstructure:"file"`
	KEKFile string `mapstructure:"kek_file"`
	KEKEnv  string `mapstructure:"kek_env"`
}

// APIConfig tunes the client API.
type APIConfig struct {
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
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
		Keyring: KeyringConfig{KEKEnv: "JUMEAU_KEK"},
		API:     APIConfig{RequestTimeout: 10 * time.Second},
		Log:     LogConfig{Level: "info", Format: "json"},
	}
}

// Validate reports the first invalid setting, naming its key and the fix.
func (c Config) Validate() error {
	req := func(key, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("config: %s is required", key)
		}
		return nil
	}
	for _, kv := range [][2]string{
		{"node.name", c.Node.Name}, {"node.region", c.Node.Region}, {"node.data_dir", c.Node.DataDir},
		{"listen.quic", c.Listen.QUIC}, {"listen.api", c.Listen.API},
		{"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key},
	} {
		if err := req(kv[0], kv[1]); err != nil {
			return err
		}
	}
	role, err := pki.ParseRole(c.Node.Role)
	if err != nil {
		return fmt.Errorf("config: node.role: %w", err)
	}
	if role != pki.RoleSite {
		return fmt.Errorf("config: node.role %q: this version runs the primary cell only (role: site); the twin and witness roles come with region replication and failover", c.Node.Role)
	}
	if c.Listen.Pprof && c.Listen.Metrics == "" {
		return errors.New("config: listen.pprof needs listen.metrics (pprof is served on the metrics listener)")
	}
	for _, a := range [][2]string{{"listen.quic", c.Listen.QUIC}, {"listen.api", c.Listen.API}, {"listen.metrics", c.Listen.Metrics}} {
		if a[1] == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a[1]); err != nil {
			return fmt.Errorf("config: %s %q is not host:port (example: 127.0.0.1:7001)", a[0], a[1])
		}
	}
	seen := map[string]bool{}
	for i, p := range c.Peers {
		if p.Name == "" || p.Addr == "" {
			return fmt.Errorf("config: peers[%d] needs both name and addr", i)
		}
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			return fmt.Errorf("config: peers[%d].addr %q is not host:port", i, p.Addr)
		}
		if seen[p.Name] {
			return fmt.Errorf("config: peers[%d]: %q is listed twice", i, p.Name)
		}
		seen[p.Name] = true
	}
	if len(c.Cell.Sites) == 0 {
		return errors.New("config: cell.sites is empty: list the names of every Monaco site of the cell")
	}
	for _, s := range c.Cell.Sites {
		if s != c.Node.Name && !seen[s] {
			return fmt.Errorf("config: cell.sites names %q but peers has no address for it: add {name: %s, addr: host:port} under peers", s, s)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("config: log.format %q: use json or text", c.Log.Format)
	}
	if c.Keyring.File == "" {
		return errors.New("config: keyring.file is required (the namespace data keys, wrapped by the key-encryption key)")
	}
	if c.Keyring.KEKFile == "" && c.Keyring.KEKEnv == "" {
		return errors.New("config: set keyring.kek_file or keyring.kek_env (where the key-encryption key comes from)")
	}
	if c.API.RequestTimeout <= 0 {
		return errors.New("config: api.request_timeout must be > 0 (example: 10s)")
	}
	if err := c.cellConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
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
	}
}

// LoadConfig reads the YAML file at path (if not empty), then JUMEAU_*
// environment variables, over DefaultConfig. Unknown keys are an error.
// The v parameter may carry flag bindings; nil creates a fresh viper.
func LoadConfig(path string, v *viper.Viper) (Config, error) {
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
	)))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w (check the key names and value types against docs/config.md)", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
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
