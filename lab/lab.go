// Package lab runs a local jumeau topology on this machine: a CA and
// certificates, a key-encryption key, one configuration per node, a
// fault-link process relaying every node-to-node QUIC path, and the nodes
// themselves as real background processes on 127.0.0.1. Its state is in
// DIR/lab.json; the tests, the e2e suite, the benchmarks and the drills
// share it.
//
// Up starts whatever does not run and waits for the primary of the current
// region epoch (WaitPrimary: the cell leader, or the promoted twin after a
// promotion). StartNode, StopNode and KillNode control one node's process
// (`jumeau lab start|stop|kill|restart NODE`); the commands that write
// lab.json hold DIR/lab.lock meanwhile.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/keyring"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// Errors returned by lab operations.
var (
	// ErrRunning: the lab in DIR has live processes and the operation
	// needs it down.
	ErrRunning = errors.New("lab: already running")
	// ErrNoLab: DIR holds no lab.json.
	ErrNoLab = errors.New("lab: no lab in this directory")
	// ErrUnknownNode: no node by that name in the lab.
	ErrUnknownNode = errors.New("lab: unknown node")
	// ErrUnknownLink: no fault link by that name in the lab.
	ErrUnknownLink = errors.New("lab: unknown fault link")
	// ErrLinkControl: the fault-link process refused or failed a request.
	ErrLinkControl = errors.New("lab: fault-link control failed")
	// ErrNodeRunning: the node to start already has a live process.
	ErrNodeRunning = errors.New("lab: node already running")
	// ErrNodeNotRunning: the node to stop or kill has no live process.
	ErrNodeNotRunning = errors.New("lab: node not running")
	// ErrNodeExited: a node started but its process ended before its
	// API answered (its log says why).
	ErrNodeExited = errors.New("lab: node exited")
	// ErrNotReady: the wait for a node to serve, or for the primary of
	// the current epoch to take writes, ran out of time.
	ErrNotReady = errors.New("lab: not ready")
	// ErrBusy: another jumeau lab command holds DIR/lab.lock.
	ErrBusy = errors.New("lab: busy")
)

// The lab's twin.
const (
	// TwinName is the node name of the lab's Luxembourg twin.
	TwinName = "lux-1"
	// TwinRegion is the twin's region; the sites are in PrimaryRegion.
	TwinRegion = "luxembourg"
	// PrimaryRegion is the region of the lab's sites.
	PrimaryRegion = "monaco"
	// DefaultWANRTT is the Monaco-Luxembourg round trip (about 700 km).
	DefaultWANRTT = 12 * time.Millisecond
)

// The lab's witness.
const (
	// WitnessName is the node name of the lab's witness.
	WitnessName = "witness-1"
	// WitnessRegion is the witness's region: a third place, neither
	// PrimaryRegion nor TwinRegion.
	WitnessRegion = "witness"
	// WitnessRTT is the round trip of a connection through any link to
	// or from the witness. The witness sits at a third place a few
	// hundred kilometres of fibre from both Monaco and Luxembourg; 4 ms
	// makes every lease renewal and promotion vote cross a real network
	// delay while staying far below failover.lease (2 s), so the witness
	// is the grantor that answers first unless a fault says otherwise.
	WitnessRTT = 4 * time.Millisecond
)

// Options configure Up.
type Options struct {
	Dir    string
	Sites  int
	Binary string // path of the jumeau binary to run
	// LinkDelay is the one-way delay every site-to-site fault link adds.
	LinkDelay time.Duration
	// ReadyTimeout bounds the wait for the primary (default 30s).
	ReadyTimeout time.Duration
	// RaftLogLevel is passed to the nodes (default warn).
	RaftLogLevel string
	// Twin adds the Luxembourg twin TwinName (role twin, region
	// TwinRegion); every site ships to it through a WAN fault link.
	Twin bool
	// WANRTT is the round trip of a connection through a site<->twin
	// link (0: DefaultWANRTT). Only with Twin.
	WANRTT time.Duration
	// WANLoss is the probability (0 to 1) that a WAN link drops a
	// datagram, in each direction. Only with Twin.
	WANLoss float64
	// WANBandwidth caps each direction of a WAN link, in bytes per
	// second as faultlink.Params.Bandwidth (0: no cap). Only with Twin.
	WANBandwidth int64
	// Witness adds the witness WitnessName (role witness, region
	// WitnessRegion): every site and the twin renew or grant the primary
	// lease with it through fault links of witnessParams.
	Witness bool
	// GateLog makes every node append each pass of its write gate to
	// nodes/NAME/gate.log (`serve --gate-log`, format in history/doc.go),
	// recorded as Node.GateLog: the history fault tests check.
	GateLog bool
}

// withDefaults fills the zero fields of o with their defaults.
func (o Options) withDefaults() Options {
	if o.Sites == 0 {
		o.Sites = 3
	}
	if o.RaftLogLevel == "" {
		o.RaftLogLevel = "warn"
	}
	if o.Twin && o.WANRTT == 0 {
		o.WANRTT = DefaultWANRTT
	}
	return o
}

// Validate reports the first invalid option (after the defaults are
// filled in), naming it and the fix: a usage error, before anything
// starts.
func (o Options) Validate() error { return o.withDefaults().validate() }

// validate checks o after withDefaults, naming the option and the fix.
func (o Options) validate() error {
	if o.Sites < 1 || o.Sites > 9 {
		return fmt.Errorf("lab: --sites %d: use 1 to 9 (3 is the Monaco cell)", o.Sites)
	}
	if !o.Twin {
		if o.WANRTT != 0 || o.WANLoss != 0 || o.WANBandwidth != 0 {
			return errors.New("lab: the WAN link options (--wan-rtt, --wan-loss, --wan-bandwidth) need a twin: add --twin")
		}
		return nil
	}
	if err := wanParams(o).Validate(); err != nil {
		return fmt.Errorf("lab: WAN link (--wan-rtt %v, --wan-loss %g, --wan-bandwidth %d): %w", o.WANRTT, o.WANLoss, o.WANBandwidth, err)
	}
	return nil
}

// wanParams are the faults of each site<->twin fault link.
//
// faultlink applies Params to each direction of a relayed connection on
// its own: the datagrams a site sends through "site-a->lux-1" (to the
// target) and the twin's answers relayed back (to the client) are each
// delayed by Delay (transport/faultlink: Params, direction.go). A
// connection dialled through one link therefore crosses Delay twice per
// round trip, so Delay is half of WANRTT. Loss applies to each datagram
// in each direction (a request-answer pair survives with (1-p)^2), and
// Bandwidth caps each direction separately, as on a symmetric WAN line.
func wanParams(o Options) faultlink.Params {
	return faultlink.Params{Delay: o.WANRTT / 2, Loss: o.WANLoss, Bandwidth: o.WANBandwidth}
}

// witnessParams are the faults of each link to or from the witness: a
// link delays both directions, so half of WitnessRTT (as wanParams).
func witnessParams() faultlink.Params {
	return faultlink.Params{Delay: WitnessRTT / 2}
}

// Node is one node of the lab.
type Node struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Region  string `json:"region"`
	API     string `json:"api"`
	QUIC    string `json:"quic"`
	Metrics string `json:"metrics"`
	PID     int    `json:"pid"`
	Config  string `json:"config"`
	Log     string `json:"log"`
	DataDir string `json:"data_dir"`
	// GateLog is the node's gate log (Options.GateLog; "" = none).
	GateLog string `json:"gate_log,omitempty"`
}

// Credentials are a client's certificate files.
type Credentials struct {
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Links describes the fault-link process.
type Links struct {
	Control string     `json:"control"`
	PID     int        `json:"pid"`
	Config  string     `json:"config"`
	Log     string     `json:"log"`
	Links   []LinkSpec `json:"links"`
}

// LinkSpec is one directed fault link.
type LinkSpec struct {
	Name   string           `json:"name"` // "site-a->site-b"
	From   string           `json:"from"`
	To     string           `json:"to"`
	Listen string           `json:"listen"`
	Target string           `json:"target"`
	Params faultlink.Params `json:"params"`
}

// Lab is the content of DIR/lab.json.
type Lab struct {
	Dir         string      `json:"dir"`
	Binary      string      `json:"binary"`
	ClientCreds Credentials `json:"client"`
	AdminCreds  Credentials `json:"admin"`
	Links       Links       `json:"links"`
	Nodes       []Node      `json:"nodes"`
}

// Load reads DIR/lab.json.
func Load(dir string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no lab.json: create one with `jumeau lab up --dir %s`", ErrNoLab, dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var l Lab
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("lab: %s/lab.json: %w", dir, err)
	}
	return &l, nil
}

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.Dir, "lab.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("lab: write lab.json: %w", err)
	}
	return os.Rename(tmp, filepath.Join(l.Dir, "lab.json"))
}

// Node returns the named node.
func (l *Lab) Node(name string) (*Node, error) {
	for i := range l.Nodes {
		if l.Nodes[i].Name == name {
			return &l.Nodes[i], nil
		}
	}
	var names []string
	for _, n := range l.Nodes {
		names = append(names, n.Name)
	}
	return nil, fmt.Errorf("%w %q: this lab has %s", ErrUnknownNode, name, strings.Join(names, ", "))
}

// Twin returns the lab's twin node, if it has one.
func (l *Lab) Twin() (*Node, bool) {
	for i := range l.Nodes {
		if l.Nodes[i].Role == string(pki.RoleTwin) {
			return &l.Nodes[i], true
		}
	}
	return nil, false
}

// Witness returns the lab's witness node, if it has one.
func (l *Lab) Witness() (*Node, bool) {
	for i := range l.Nodes {
		if l.Nodes[i].Role == string(pki.RoleWitness) {
			return &l.Nodes[i], true
		}
	}
	return nil, false
}

// role returns the role of the named node ("" if there is none).
func (l *Lab) role(name string) pki.Role {
	n, err := l.Node(name)
	if err != nil {
		return ""
	}
	return pki.Role(n.Role)
}

// linksBetween returns the names of the links whose ends have the roles
// a and b, in either direction.
func (l *Lab) linksBetween(a, b pki.Role) []string {
	var out []string
	for _, s := range l.Links.Links {
		from, to := l.role(s.From), l.role(s.To)
		if (from == a && to == b) || (from == b && to == a) {
			out = append(out, s.Name)
		}
	}
	return out
}

// CellLinks returns the names of the site-to-site fault links (the cell's
// Raft and forwarding traffic).
func (l *Lab) CellLinks() []string {
	return l.linksBetween(pki.RoleSite, pki.RoleSite)
}

// WANLinks returns the names of the fault links between a site and the
// twin, both directions ("site-a->lux-1" carries what site-a dials: WAL
// shipping; "lux-1->site-a" what the twin dials). Empty without a twin.
func (l *Lab) WANLinks() []string {
	return l.linksBetween(pki.RoleSite, pki.RoleTwin)
}

// WitnessLinks returns the names of the fault links to and from the
// witness ("site-a->witness-1" carries site-a's lease renewals,
// "lux-1->witness-1" the twin's promotion requests; the reverse links
// exist for symmetry: the witness dials nobody today). Empty without a
// witness.
func (l *Lab) WitnessLinks() []string {
	var out []string
	for _, s := range l.Links.Links {
		if l.role(s.From) == pki.RoleWitness || l.role(s.To) == pki.RoleWitness {
			out = append(out, s.Name)
		}
	}
	return out
}

// Up creates the lab in opts.Dir if it does not exist (keeping the data of
// an existing one), starts the fault links and every node that does not
// run (nodes that run are left alone), and waits until the primary of the
// current region epoch takes writes (WaitPrimary): a site leading the
// cell, or, after a promotion, the twin. An existing lab restarts as it
// was made, in whatever modes its nodes are in: its sites, twin and link
// faults come from its files, not from opts.
//
// The error wraps ErrNotReady when the primary is not ready within
// opts.ReadyTimeout, and ErrNodeExited when a node's process ended
// meanwhile; the lab is returned then, its processes still running.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	bin, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	unlock, err := (&Lab{Dir: dir}).lock(ctx)
	if err != nil {
		return nil, err
	}
	l, started, err := upLocked(opts, dir, bin)
	unlock()
	if err != nil {
		return l, err
	}
	wctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if _, err := l.WaitPrimary(wctx); err != nil {
		return l, fmt.Errorf("%w (see the node logs under %s/nodes)", err, dir)
	}
	var exited []error
	for _, name := range started {
		if n, _ := l.Node(name); !aliveWith(n.PID, n.Config) {
			exited = append(exited, fmt.Errorf("%w: %s (pid %d) ended after it started; the end of its log %s: %s", ErrNodeExited, name, n.PID, n.Log, logTail(n.Log)))
		}
	}
	return l, errors.Join(exited...)
}

// upLocked loads or prepares the lab in dir and starts the fault links and
// the nodes that do not run, saving lab.json after every start (so `lab
// down` finds whatever was started even if a later start fails). It
// returns the names of the nodes it started. When a start fails, it stops
// what it started.
func upLocked(opts Options, dir, bin string) (*Lab, []string, error) {
	var l *Lab
	if existing, err := Load(dir); err == nil {
		if _, ok := existing.Twin(); opts.Twin && !ok {
			return nil, nil, fmt.Errorf("lab: the lab in %s was made without a twin: use another --dir for a lab with --twin (or remove %s)", dir, dir)
		}
		if _, ok := existing.Witness(); opts.Witness && !ok {
			return nil, nil, fmt.Errorf("lab: the lab in %s was made without a witness: use another --dir for a lab with --witness (or remove %s)", dir, dir)
		}
		l = existing
		l.Binary = bin
	} else if errors.Is(err, ErrNoLab) {
		opts.Dir, opts.Binary = dir, bin
		l, err = Prepare(opts)
		if err != nil {
			return nil, nil, err
		}
	} else {
		return nil, nil, err
	}
	var started []proc
	var names []string
	fail := func(err error) (*Lab, []string, error) {
		stopProcs(started, 5*time.Second)
		return nil, nil, err
	}
	if !aliveWith(l.Links.PID, l.Links.Config) {
		if err := l.startLinks(); err != nil {
			return fail(err)
		}
		started = append(started, proc{l.Links.PID, l.Links.Config})
	}
	if err := l.save(); err != nil {
		return fail(err)
	}
	for i := range l.Nodes {
		n := &l.Nodes[i]
		if aliveWith(n.PID, n.Config) {
			continue
		}
		if err := l.start(n); err != nil {
			return fail(err)
		}
		started = append(started, proc{n.PID, n.Config})
		names = append(names, n.Name)
		if err := l.save(); err != nil {
			return fail(err)
		}
	}
	return l, names, nil
}

// Prepare writes a new lab into opts.Dir (CA, certificates, KEK, node
// configurations, fault-link plan) without starting anything. The
// in-process cluster harness and Up both start from it.
//
// With opts.Twin the lab also has the twin TwinName. Only sites dial the
// twin (to ship their WAL), through the links "site-x->TwinName"; the
// twin reaches the sites through "TwinName->site-x" (it dials them for
// leases and, once promoted, to ship its WAL back). Every WAN link has the faults of wanParams.
//
// With opts.Witness the lab also has the witness WitnessName. Every site
// and the twin name it in failover.witness and reach it through
// "site-x->WitnessName" and "TwinName->WitnessName"; the reverse links
// "WitnessName->site-x" and "WitnessName->TwinName" exist for symmetry
// (the witness dials nobody today). Every witness link has the faults of
// witnessParams. The failover timings are failover.DefaultConfig's.
func Prepare(opts Options) (*Lab, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	dir, bin := opts.Dir, opts.Binary
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	pkiDir := filepath.Join(dir, "pki")
	ca, err := pki.InitCA(pkiDir, "jumeau lab CA")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{Dir: dir, Binary: bin}
	issue := func(id pki.Identity) (Credentials, error) {
		cert, key, err := ca.IssueFiles(pkiDir, id, []string{"127.0.0.1", "localhost"}, pki.DefaultValidity)
		return Credentials{CA: filepath.Join(pkiDir, "ca.crt"), Cert: cert, Key: key}, err
	}
	if l.ClientCreds, err = issue(pki.Identity{Role: pki.RoleClient, Region: "monaco", Name: "client"}); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if l.AdminCreds, err = issue(pki.Identity{Role: pki.RoleAdmin, Region: "monaco", Name: "admin"}); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	kek, err := keyring.GenerateKEK()
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	kekFile := filepath.Join(pkiDir, "kek")
	if err := os.WriteFile(kekFile, []byte(kek.Encode()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("lab: write kek: %w", err)
	}
	nodes, links := opts.Sites, opts.Sites*(opts.Sites-1)
	if opts.Twin {
		nodes, links = nodes+1, links+2*opts.Sites
	}
	if opts.Witness {
		// Both directions to every other node (the sites, the twin).
		links += 2 * nodes
		nodes++
	}
	ports, err := freePorts(3*nodes + links + 1)
	if err != nil {
		return nil, err
	}
	next := func() string { p := ports[0]; ports = ports[1:]; return fmt.Sprintf("127.0.0.1:%d", p) }
	var names []string
	for i := 0; i < opts.Sites; i++ {
		names = append(names, "site-"+string(rune('a'+i)))
	}
	addNode := func(name string, role pki.Role, region string) error {
		nd := filepath.Join(dir, "nodes", name)
		if err := os.MkdirAll(nd, 0o700); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		l.Nodes = append(l.Nodes, Node{
			Name: name, Role: string(role), Region: region,
			QUIC: next(), API: next(), Metrics: next(),
			Config: filepath.Join(nd, "jumeau.yaml"), Log: filepath.Join(nd, "jumeau.log"),
			DataDir: filepath.Join(nd, "data"),
		})
		if opts.GateLog {
			l.Nodes[len(l.Nodes)-1].GateLog = filepath.Join(nd, "gate.log")
		}
		return nil
	}
	for _, name := range names {
		if err := addNode(name, pki.RoleSite, PrimaryRegion); err != nil {
			return nil, err
		}
	}
	if opts.Twin {
		if err := addNode(TwinName, pki.RoleTwin, TwinRegion); err != nil {
			return nil, err
		}
	}
	if opts.Witness {
		if err := addNode(WitnessName, pki.RoleWitness, WitnessRegion); err != nil {
			return nil, err
		}
	}
	l.Links = Links{Control: next(), Config: filepath.Join(dir, "links.json"), Log: filepath.Join(dir, "links.log")}
	link := func(from, to Node, p faultlink.Params) {
		l.Links.Links = append(l.Links.Links, LinkSpec{
			Name: from.Name + "->" + to.Name, From: from.Name, To: to.Name,
			Listen: next(), Target: to.QUIC, Params: p,
		})
	}
	sites := l.Nodes[:opts.Sites]
	for _, from := range sites {
		for _, to := range sites {
			if from.Name != to.Name {
				link(from, to, faultlink.Params{Delay: opts.LinkDelay})
			}
		}
	}
	if twin, ok := l.Twin(); ok {
		for _, site := range sites {
			link(site, *twin, wanParams(opts))
			link(*twin, site, wanParams(opts))
		}
	}
	if witness, ok := l.Witness(); ok {
		for _, n := range l.Nodes {
			if n.Name != witness.Name {
				link(n, *witness, witnessParams())
				link(*witness, n, witnessParams())
			}
		}
	}
	lb, err := json.MarshalIndent(l.Links, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.Links.Config, lb, 0o644); err != nil {
		return nil, fmt.Errorf("lab: write links config: %w", err)
	}
	for _, n := range l.Nodes {
		id := pki.Identity{Role: pki.Role(n.Role), Region: n.Region, Name: n.Name}
		cred, err := issue(id)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		cfg := node.DefaultConfig()
		cfg.Node = node.NodeConfig{Name: n.Name, Role: n.Role, Region: n.Region, DataDir: n.DataDir}
		cfg.Listen = node.ListenConfig{QUIC: n.QUIC, API: n.API, Metrics: n.Metrics, Pprof: true}
		cfg.TLS = node.TLSConfig{CA: cred.CA, Cert: cred.Cert, Key: cred.Key}
		// The failover timings stay failover.DefaultConfig's (through
		// node.DefaultConfig); epoch 1 starts with the sites' region.
		cfg.Failover.PrimaryRegion = PrimaryRegion
		switch pki.Role(n.Role) {
		case pki.RoleWitness:
			// The witness holds no data: no cell, no keyring; it only
			// keeps its epoch file in its data dir.
			cfg.Keyring = node.KeyringConfig{}
		case pki.RoleTwin:
			// The twin accepts the cell's sites as senders; it is not a
			// member of the cell, so it bootstraps nothing.
			cfg.Cell.Sites = names
			cfg.Twin.PrimaryRegion = PrimaryRegion
		default:
			cfg.Cell.Sites = names
			cfg.Cell.Bootstrap = true // a brand-new lab cell
			if opts.Twin {
				cfg.Twin.Name = TwinName
			}
		}
		if n.Role != string(pki.RoleWitness) {
			// The twin has the same key-encryption key: it serves reads.
			cfg.Keyring = node.KeyringConfig{File: filepath.Join(filepath.Dir(n.Config), "keyring.json"), KEKFile: kekFile}
			if opts.Witness {
				cfg.Failover.Witness = WitnessName
			}
		}
		cfg.Raft.LogLevel = opts.RaftLogLevel
		for _, ln := range l.Links.Links {
			if ln.From == n.Name {
				to, err := l.Node(ln.To)
				if err != nil {
					return nil, fmt.Errorf("lab: link %s: %w", ln.Name, err)
				}
				cfg.Peers = append(cfg.Peers, node.Peer{Name: ln.To, Addr: ln.Listen, Role: to.Role, Region: to.Region})
			}
		}
		if err := WriteConfig(n.Config, cfg); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// WriteConfig writes cfg as the YAML a node reads with `serve --config`.
func WriteConfig(path string, cfg node.Config) error {
	b, err := yaml.Marshal(configYAML(cfg))
	if err != nil {
		return fmt.Errorf("lab: encode config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("lab: write config: %w", err)
	}
	return nil
}

// configYAML renders the config with the same keys viper reads. A
// witness's file leaves out the sections it does not read (cell, raft,
// twin, sla, wal, keyring): it holds no data.
func configYAML(c node.Config) map[string]any {
	peers := []map[string]string{}
	for _, p := range c.Peers {
		peers = append(peers, map[string]string{"name": p.Name, "addr": p.Addr, "role": p.Role, "region": p.Region})
	}
	m := map[string]any{
		"node":   map[string]any{"name": c.Node.Name, "role": c.Node.Role, "region": c.Node.Region, "data_dir": c.Node.DataDir},
		"listen": map[string]any{"quic": c.Listen.QUIC, "api": c.Listen.API, "metrics": c.Listen.Metrics, "pprof": c.Listen.Pprof},
		"tls":    map[string]any{"ca": c.TLS.CA, "cert": c.TLS.Cert, "key": c.TLS.Key},
		"peers":  peers,
		"cell":   map[string]any{"sites": c.Cell.Sites, "bootstrap": c.Cell.Bootstrap, "epoch": c.Cell.Epoch},
		"twin": map[string]any{
			"name": c.Twin.Name, "primary_region": c.Twin.PrimaryRegion, "batch_bytes": c.Twin.BatchBytes,
			"window_bytes": c.Twin.WindowBytes, "compression": c.Twin.Compression,
			"heartbeat": c.Twin.Heartbeat.String(), "write_timeout": c.Twin.WriteTimeout.String(),
		},
		"sla": map[string]any{"rpo": c.SLA.RPO.String(), "rpo_guard": c.SLA.RPOGuard},
		"wal": map[string]any{"retain_records": c.WAL.RetainRecords},
		"failover": map[string]any{
			"witness": c.Failover.Witness, "primary_region": c.Failover.PrimaryRegion, "lease": c.Failover.Lease.String(),
			"renew_every": c.Failover.RenewEvery.String(), "detect_after": c.Failover.DetectAfter.String(),
			"clock_skew_margin": c.Failover.ClockSkewMargin.String(), "max_loss_records": c.Failover.MaxLossRecords,
			"max_loss_age": c.Failover.MaxLossAge.String(), "auto_promote": c.Failover.AutoPromote,
		},
		"raft": map[string]any{
			"heartbeat_timeout": c.Raft.HeartbeatTimeout.String(), "election_timeout": c.Raft.ElectionTimeout.String(),
			"leader_lease_timeout": c.Raft.LeaderLeaseTimeout.String(), "commit_timeout": c.Raft.CommitTimeout.String(),
			"max_append_entries": c.Raft.MaxAppendEntries, "max_inflight_entries": c.Raft.MaxInFlight, "snapshot_interval": c.Raft.SnapshotInterval.String(),
			"snapshot_threshold": c.Raft.SnapshotThreshold, "trailing_logs": c.Raft.TrailingLogs, "log_level": c.Raft.LogLevel,
		},
		"keyring": map[string]any{"file": c.Keyring.File, "kek_file": c.Keyring.KEKFile, "kek_env": c.Keyring.KEKEnv},
		"api":     map[string]any{"request_timeout": c.API.RequestTimeout.String()},
		"log":     map[string]any{"level": c.Log.Level, "format": c.Log.Format},
	}
	if c.Node.Role == string(pki.RoleWitness) {
		for _, k := range []string{"cell", "raft", "twin", "sla", "wal", "keyring"} {
			delete(m, k)
		}
	}
	return m
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for len(ports) < n {
		// A port free for both TCP and UDP, so any use fits.
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("lab: find a free port: %w", err)
		}
		p := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			_ = tl.Close()
			continue
		}
		closers = append(closers, tl.Close, ul.Close)
		ports = append(ports, p)
	}
	return ports, nil
}

func spawn(bin string, args []string, logFile string) (int, error) {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("lab: open log %s: %w", logFile, err)
	}
	defer lf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = os.Environ()
	// Own process group: the lab outlives the command that started it,
	// and a terminal's Ctrl-C does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lab: start %s %s: %w", bin, strings.Join(args, " "), err)
	}
	pid := cmd.Process.Pid
	// Reap it when it exits so it does not linger as a zombie while this
	// process lives (tests that run the lab in-process).
	go func() { _ = cmd.Wait() }()
	return pid, nil
}

func (l *Lab) startLinks() error {
	if aliveWith(l.Links.PID, l.Links.Config) {
		return nil
	}
	pid, err := spawn(l.Binary, []string{"lab", "links", "--config", l.Links.Config, "--control", l.Links.Control}, l.Links.Log)
	if err != nil {
		return err
	}
	l.Links.PID = pid
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", l.Links.Control, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("lab: the fault-link process did not come up on %s: see %s", l.Links.Control, l.Links.Log)
}

func (l *Lab) start(n *Node) error {
	if aliveWith(n.PID, n.Config) {
		return nil
	}
	args := []string{"serve", "--config", n.Config}
	if n.GateLog != "" {
		args = append(args, "--gate-log", n.GateLog)
	}
	pid, err := spawn(l.Binary, args, n.Log)
	if err != nil {
		return err
	}
	n.PID = pid
	return nil
}

// Start (re)starts one stopped node and records its pid; a node that
// runs is left alone (StartNode refuses it instead).
func (l *Lab) Start(name string) error {
	_, err := l.StartNode(context.Background(), name)
	if errors.Is(err, ErrNodeRunning) {
		return nil
	}
	return err
}

// Kill sends sig to one node's process (SIGKILL: a site lost in an
// earthquake).
func (l *Lab) Kill(name string, sig syscall.Signal) error {
	n, err := l.Node(name)
	if err != nil {
		return err
	}
	if !aliveWith(n.PID, n.Config) {
		return nil
	}
	if err := syscall.Kill(n.PID, sig); err != nil {
		return fmt.Errorf("lab: signal %s (pid %d): %w", name, n.PID, err)
	}
	return nil
}

// WaitExit waits until the node's process is gone.
func (l *Lab) WaitExit(ctx context.Context, name string) error {
	n, err := l.Node(name)
	if err != nil {
		return err
	}
	for aliveWith(n.PID, n.Config) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s (pid %d) still running: %w", name, n.PID, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Down stops every process (SIGTERM, then SIGKILL after grace) and keeps
// the data.
func (l *Lab) Down(grace time.Duration) error {
	procs := []proc{{l.Links.PID, l.Links.Config}}
	for _, n := range l.Nodes {
		procs = append(procs, proc{n.PID, n.Config})
	}
	stopProcs(procs, grace)
	return nil
}

// proc is a lab process: its pid and the argument that identifies it
// (its config file).
type proc struct {
	pid int
	arg string
}

// stopProcs sends SIGTERM (and SIGCONT, for paused ones) to every live
// process of procs, waits up to grace for all to exit, and sends SIGKILL
// to the rest.
func stopProcs(procs []proc, grace time.Duration) {
	for _, p := range procs {
		if aliveWith(p.pid, p.arg) {
			_ = syscall.Kill(p.pid, syscall.SIGTERM)
			_ = syscall.Kill(p.pid, syscall.SIGCONT)
		}
	}
	deadline := time.Now().Add(grace)
	for _, p := range procs {
		for aliveWith(p.pid, p.arg) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if aliveWith(p.pid, p.arg) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

func (l *Lab) alive() []string {
	var out []string
	if aliveWith(l.Links.PID, l.Links.Config) {
		out = append(out, fmt.Sprintf("links pid %d", l.Links.PID))
	}
	for _, n := range l.Nodes {
		if aliveWith(n.PID, n.Config) {
			out = append(out, fmt.Sprintf("%s pid %d", n.Name, n.PID))
		}
	}
	return out
}

// aliveWith reports whether pid is a live (non-zombie) jumeau process
// with arg among its command-line arguments (its config file), so a reused
// pid is never mistaken for a lab process. A paused process is alive.
func aliveWith(pid int, arg string) bool {
	return processState(pid, arg) != ProcessStopped
}

// processState returns the state of pid if it is a jumeau process with arg
// among its command-line arguments, else ProcessStopped.
func processState(pid int, arg string) ProcessState {
	if pid <= 0 {
		return ProcessStopped
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcessStopped
	}
	// Format: pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X' || !strings.Contains(s[:i], "jumeau") {
		return ProcessStopped
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ProcessStopped
	}
	for _, a := range strings.Split(string(cmdline), "\x00") {
		if a == arg {
			if s[i+2] == 'T' || s[i+2] == 't' {
				return ProcessPaused
			}
			return ProcessRunning
		}
	}
	return ProcessStopped
}

// Client returns an API client for a node, with the lab's client
// credentials. The witness's API serves status only.
func (l *Lab) Client(name string) (*api.Client, error) {
	return l.clientWith(name, "client", l.ClientCreds)
}

// AdminClient returns an API client for a node with the lab's admin
// credentials (operator requests: failover promote).
func (l *Lab) AdminClient(name string) (*api.Client, error) {
	return l.clientWith(name, "admin", l.AdminCreds)
}

func (l *Lab) clientWith(name, what string, c Credentials) (*api.Client, error) {
	n, err := l.Node(name)
	if err != nil {
		return nil, err
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: c.CA, Cert: c.Cert, Key: c.Key})
	if err != nil {
		return nil, fmt.Errorf("lab: %s credentials: %w", what, err)
	}
	return api.NewClient(n.API, mat, api.ClientOptions{})
}

// cellState is the part of a node's status document (GET /v1/status)
// WaitLeader reads; a twin's has no cell section.
type cellState struct {
	Cell *struct {
		RaftState string `json:"raft_state"`
	} `json:"cell"`
}

// WaitLeader polls the sites until a live site other than exclude reports
// itself leader, and returns its name. The twin and the witness are not
// members of the cell and are not asked.
func (l *Lab) WaitLeader(ctx context.Context, exclude string) (string, error) {
	clients := map[string]*api.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for {
		for _, n := range l.Nodes {
			if n.Name == exclude || n.Role != string(pki.RoleSite) || !aliveWith(n.PID, n.Config) {
				continue
			}
			c := clients[n.Name]
			if c == nil {
				var err error
				if c, err = l.Client(n.Name); err != nil {
					return "", err
				}
				clients[n.Name] = c
			}
			var st cellState
			sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := c.Status(sctx, &st)
			cancel()
			if err == nil && st.Cell != nil && st.Cell.RaftState == "Leader" {
				return n.Name, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", errors.New("no cell leader elected in time")
		case <-time.After(25 * time.Millisecond):
		}
	}
}
