// Package cluster is the shared in-process test harness: a cell of real
// nodes (Pebble on disk, QUIC with mutual TLS on 127.0.0.1) whose every
// node-to-node path runs through a fault link, so tests can partition,
// heal, degrade links, stop and restart sites, and check the invariants
// that must hold across the cell. It starts from the same plan as the
// process lab (lab.Prepare), so both run identical configurations.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
	"github.com/monaco-sovereign/jumeau/wal"
)

// Options configure a Cluster.
type Options struct {
	Sites int
	// Tweak, if set, edits every node's configuration before it starts.
	Tweak func(*node.Config)
	// Verbose sends node logs to stderr.
	Verbose bool
	// Direct makes the sites dial each other without the fault links
	// (benchmark baseline; faults and partitions then have no effect).
	Direct bool
	// Twin adds the Luxembourg twin (lab.TwinName) behind WAN fault links
	// of WANRTT round trip (0: lab.DefaultWANRTT) and WANLoss.
	Twin    bool
	WANRTT  time.Duration
	WANLoss float64
	// Witness adds the witness (lab.WitnessName); with it, the primary
	// holds a lease and the twin can be promoted.
	Witness bool
	// WriteLog receives every write-gate pass of every node (see
	// node.Options.WriteLog).
	WriteLog func(node string, epoch uint64, at time.Time)
}

// Cluster is a running in-process cell.
type Cluster struct {
	tb    testing.TB
	Lab   *lab.Lab
	Links *faultlink.Set

	writeLog func(node string, epoch uint64, at time.Time)

	mu    sync.Mutex
	cfgs  map[string]node.Config
	nodes map[string]*node.Node
	log   *slog.Logger
	// closed stops automatic restarts; restartErrs records failed ones.
	closed      bool
	stopped     map[string]bool // by Stop, until Start
	restartErrs []error
}

// New starts a cell and waits for a leader; it is stopped at test cleanup.
//
// The lab's ports are free when chosen but only bound when the nodes and
// links start: another test binary running meanwhile (go test runs
// packages in parallel) may take one. New then starts again on new ports
// (up to three times) instead of failing the test.
func New(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	for attempt := 1; ; attempt++ {
		c, err := start(tb, opts)
		if err == nil {
			c.waitReady(opts)
			return c
		}
		c.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			tb.Fatalf("start cluster (attempt %d): %v", attempt, err)
		}
		tb.Logf("start cluster: %v; again on new ports", err)
	}
}

// start prepares a lab and starts its links and nodes.
func start(tb testing.TB, opts Options) (*Cluster, error) {
	tb.Helper()
	if opts.Sites == 0 {
		opts.Sites = 3
	}
	l, err := lab.Prepare(lab.Options{Dir: tb.TempDir(), Sites: opts.Sites, Binary: os.Args[0],
		Twin: opts.Twin, WANRTT: opts.WANRTT, WANLoss: opts.WANLoss, Witness: opts.Witness})
	if err != nil {
		tb.Fatalf("prepare cluster: %v", err)
	}
	var w io.Writer = io.Discard
	if opts.Verbose {
		w = os.Stderr
	}
	c := &Cluster{
		tb: tb, Lab: l, cfgs: map[string]node.Config{}, nodes: map[string]*node.Node{}, writeLog: opts.WriteLog,
		log: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	c.Links = faultlink.NewSet(c.log)
	tb.Cleanup(c.Close)
	for _, s := range l.Links.Links {
		if _, err := c.Links.Add(s.Name, s.Listen, s.Target, s.Params); err != nil {
			return c, fmt.Errorf("start fault link %s: %w", s.Name, err)
		}
	}
	for _, n := range l.Nodes {
		cfg, err := node.LoadConfig(n.Config, nil)
		if err != nil {
			tb.Fatalf("load config of %s: %v", n.Name, err)
		}
		if opts.Direct {
			for i, p := range cfg.Peers {
				peer, err := l.Node(p.Name)
				if err != nil {
					tb.Fatal(err)
				}
				cfg.Peers[i].Addr = peer.QUIC
			}
		}
		if opts.Tweak != nil {
			opts.Tweak(&cfg)
		}
		c.cfgs[n.Name] = cfg
	}
	for _, n := range l.Nodes {
		if err := c.TryStart(n.Name); err != nil {
			return c, fmt.Errorf("start %s: %w", n.Name, err)
		}
	}
	return c, nil
}

// waitReady waits for a leader and, in a topology with them, for the
// leader's ship stream to the twin and its primary lease.
func (c *Cluster) waitReady(opts Options) {
	c.tb.Helper()
	leader := c.Node(c.WaitLeader(""))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := leader.Status()
		shipOK := !opts.Twin || (st.Cell.Ship != nil && st.Cell.Ship.Connected)
		leaseOK := !opts.Witness || (st.Failover != nil && st.Failover.LeaseValid)
		if shipOK && leaseOK {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("cluster not ready within 20s: ship connected %v, lease valid %v", shipOK, leaseOK)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Names returns every node's name (sites, then the twin if any).
func (c *Cluster) Names() []string {
	var out []string
	for _, n := range c.Lab.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// Sites returns the cell sites' names.
func (c *Cluster) Sites() []string {
	var out []string
	for _, n := range c.Lab.Nodes {
		if n.Role == string(pki.RoleSite) {
			out = append(out, n.Name)
		}
	}
	return out
}

// TwinName is the twin's node name ("" without a twin).
func (c *Cluster) TwinName() string {
	if t, ok := c.Lab.Twin(); ok {
		return t.Name
	}
	return ""
}

// WitnessName is the witness's node name ("" without a witness).
func (c *Cluster) WitnessName() string {
	if w, ok := c.Lab.Witness(); ok {
		return w.Name
	}
	return ""
}

// Twin returns the running twin, or nil.
func (c *Cluster) Twin() *node.Node {
	if name := c.TwinName(); name != "" {
		return c.Node(name)
	}
	return nil
}

// Start starts (or restarts, from its data directory) a stopped site.
func (c *Cluster) Start(name string) {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[name] != nil {
		c.tb.Fatalf("start %s: already running", name)
	}
	delete(c.stopped, name)
	opts := node.Options{Logger: c.log}
	if c.writeLog != nil {
		opts.WriteLog = func(epoch uint64, at time.Time) { c.writeLog(name, epoch, at) }
	}
	n, err := node.Start(c.cfgs[name], opts)
	if err != nil {
		c.tb.Fatalf("start %s: %v", name, err)
	}
	c.nodes[name] = n
	go c.restarter(name, n)
}

// TryStart is Start returning the node's start error instead of failing
// the test (a node expected to refuse to start).
func (c *Cluster) TryStart(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[name] != nil {
		return fmt.Errorf("start %s: already running", name)
	}
	delete(c.stopped, name)
	opts := node.Options{Logger: c.log}
	if c.writeLog != nil {
		opts.WriteLog = func(epoch uint64, at time.Time) { c.writeLog(name, epoch, at) }
	}
	n, err := node.Start(c.cfgs[name], opts)
	if err != nil {
		return err
	}
	c.nodes[name] = n
	go c.restarter(name, n)
	return nil
}

// restarter does what `jumeau serve` does when a node asks to be
// restarted in a new mode (a newer epoch): close it and start it again
// from its data directory. A failed restart leaves the node stopped and
// is logged (tests then see it missing).
func (c *Cluster) restarter(name string, n *node.Node) {
	var reason string
	select {
	case reason = <-n.Restarts():
	case <-n.Done():
		return
	}
	c.mu.Lock()
	if c.nodes[name] != n {
		c.mu.Unlock()
		return
	}
	delete(c.nodes, name)
	c.mu.Unlock()
	c.log.Warn("cluster: restarting node in its new mode", "node", name, "reason", reason)
	if err := n.Close(); err != nil {
		c.log.Error("cluster: restart: close", "node", name, "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.stopped[name] || c.nodes[name] != nil {
		return
	}
	opts := node.Options{Logger: c.log}
	if c.writeLog != nil {
		opts.WriteLog = func(epoch uint64, at time.Time) { c.writeLog(name, epoch, at) }
	}
	nn, err := node.Start(c.cfgs[name], opts)
	if err != nil {
		c.log.Error("cluster: restart failed: the node stays down", "node", name, "err", err)
		c.restartErrs = append(c.restartErrs, fmt.Errorf("restart %s: %w", name, err))
		return
	}
	c.nodes[name] = nn
	go c.restarter(name, nn)
}

// RestartErrors returns the failures of automatic restarts so far.
func (c *Cluster) RestartErrors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.restartErrs...)
}

// Stop stops a site; its data stays for a later Start.
func (c *Cluster) Stop(name string) {
	c.tb.Helper()
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	if c.stopped == nil {
		c.stopped = map[string]bool{}
	}
	c.stopped[name] = true
	c.mu.Unlock()
	if n == nil {
		return
	}
	if err := n.Close(); err != nil {
		c.tb.Logf("stop %s: %v", name, err)
	}
}

// Node returns a running site, or nil.
func (c *Cluster) Node(name string) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// Close stops every site and link.
func (c *Cluster) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	for _, name := range c.Names() {
		c.Stop(name)
	}
	if c.Links != nil {
		_ = c.Links.Close()
	}
}

// WaitLeader waits (bounded) until a running site other than exclude is
// leader and every running site agrees, and returns its name.
func (c *Cluster) WaitLeader(exclude string) string {
	c.tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		leader := ""
		for name, n := range c.nodes {
			if name != exclude && n.Cell() != nil && n.Cell().IsLeader() {
				leader = name
			}
		}
		agree := leader != ""
		for name, n := range c.nodes {
			if name != exclude && n.Cell() != nil && n.Cell().Leader() != leader {
				agree = false
			}
		}
		c.mu.Unlock()
		if agree {
			return leader
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.tb.Fatalf("no agreed leader within 20s")
	return ""
}

// Isolate blackholes every link to and from name (a partition of one
// site); the links' other faults stay.
func (c *Cluster) Isolate(name string) {
	c.tb.Helper()
	c.Links.Partition(func(link string) bool {
		for _, s := range c.Lab.Links.Links {
			if s.Name == link {
				return s.From == name || s.To == name
			}
		}
		return false
	})
}

// CutWAN blackholes every link between the twin and the cell's sites (the
// Monaco-Luxembourg path); links to the witness stay. Heal restores it.
func (c *Cluster) CutWAN() {
	c.tb.Helper()
	tw := c.TwinName()
	if tw == "" {
		return
	}
	site := map[string]bool{}
	for _, s := range c.Sites() {
		site[s] = true
	}
	c.Partition(func(from, to string) bool {
		return (from == tw && site[to]) || (to == tw && site[from])
	})
}

// Partition blackholes every link whose endpoints cut(from, to) selects
// (node names); Heal lifts it.
func (c *Cluster) Partition(cut func(from, to string) bool) {
	c.tb.Helper()
	c.Links.Partition(func(link string) bool {
		for _, s := range c.Lab.Links.Links {
			if s.Name == link {
				return cut(s.From, s.To)
			}
		}
		return false
	})
}

// IsolateRegion cuts every link between the cell's sites and the other
// regions (twin, witness); the sites still reach each other.
func (c *Cluster) IsolateRegion() {
	c.tb.Helper()
	site := map[string]bool{}
	for _, s := range c.Sites() {
		site[s] = true
	}
	c.Partition(func(from, to string) bool { return site[from] != site[to] })
}

// Heal lifts every partition (other faults stay).
func (c *Cluster) Heal() { c.Links.Heal() }

// SetLinks applies p to every link.
func (c *Cluster) SetLinks(p faultlink.Params) {
	c.tb.Helper()
	for _, l := range c.Links.Links() {
		if err := l.Set(p); err != nil {
			c.tb.Fatalf("set %s: %v", l.Name(), err)
		}
	}
}

// Client returns an API client for a site, with the lab's client
// credentials; it is closed at cleanup.
func (c *Cluster) Client(name string) *api.Client {
	c.tb.Helper()
	n := c.Node(name)
	if n == nil {
		c.tb.Fatalf("client for %s: not running", name)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: c.Lab.ClientCreds.CA, Cert: c.Lab.ClientCreds.Cert, Key: c.Lab.ClientCreds.Key})
	if err != nil {
		c.tb.Fatalf("client credentials: %v", err)
	}
	cl, err := api.NewClient(n.APIAddr(), mat, api.ClientOptions{})
	if err != nil {
		c.tb.Fatalf("client for %s: %v", name, err)
	}
	c.tb.Cleanup(cl.Close)
	return cl
}

// WaitConverged waits until every running site has applied the same WAL
// tip, then checks the invariants: same last index and hash everywhere,
// and every WAL verifies end to end.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	for {
		err := c.CheckInvariants()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not converge: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ErrDiverged reports sites whose WALs disagree.
var ErrDiverged = errors.New("cluster: WALs disagree")

// CheckInvariants checks, over the running sites: equal WAL tips (index
// and hash), and a chain that verifies end to end on each.
func (c *Cluster) CheckInvariants() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := ""
	var want [32]byte
	var wantIdx uint64
	for name, n := range c.nodes {
		if n.Cell() == nil {
			continue
		}
		idx, h := n.WAL().Last()
		if ref == "" {
			ref, want, wantIdx = name, h, idx
			continue
		}
		if idx != wantIdx || h != want {
			return fmt.Errorf("%w: %s at %d (%x), %s at %d (%x)", ErrDiverged, ref, wantIdx, want[:6], name, idx, h[:6])
		}
	}
	for name, n := range c.nodes {
		w := n.WAL()
		last, _ := w.Last()
		if last == 0 {
			continue
		}
		if err := w.Verify(w.First(), last); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// WAL returns a running site's WAL (tests verify chains with it).
func (c *Cluster) WAL(name string) *wal.Log {
	n := c.Node(name)
	if n == nil {
		return nil
	}
	return n.WAL()
}

// WaitTwinConverged waits until the running twin holds the leader's WAL
// tip, then checks it: same last index and hash as the leader, a twin WAL
// that verifies end to end, and the same state digest as the leader.
func (c *Cluster) WaitTwinConverged(ctx context.Context) error {
	for {
		err := c.CheckTwin()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("twin did not converge: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CheckTwin compares the twin with the current leader (see
// WaitTwinConverged).
func (c *Cluster) CheckTwin() error {
	tw := c.Twin()
	if tw == nil {
		return errors.New("cluster: no running twin")
	}
	var leader *node.Node
	for _, name := range c.Sites() {
		if n := c.Node(name); n != nil && n.Cell().IsLeader() {
			leader = n
		}
	}
	if leader == nil {
		return errors.New("cluster: no leader")
	}
	li, lh := leader.WAL().Last()
	ti, th := tw.WAL().Last()
	if li != ti || lh != th {
		return fmt.Errorf("%w: leader at %d (%x), twin at %d (%x)", ErrDiverged, li, lh[:6], ti, th[:6])
	}
	w := tw.WAL()
	if ti > 0 && ti >= w.First() {
		if err := w.Verify(w.First(), ti); err != nil {
			return fmt.Errorf("twin: %w", err)
		}
	}
	ld, ln, err := replicator.StateDigest(leader.DB())
	if err != nil {
		return err
	}
	td, tn, err := replicator.StateDigest(tw.DB())
	if err != nil {
		return err
	}
	// The leader may have applied more since its WAL was read: compare
	// again only if the tips still agree.
	if li2, _ := leader.WAL().Last(); li2 != li {
		return fmt.Errorf("%w: leader moved on while comparing", ErrDiverged)
	}
	if ld != td {
		return fmt.Errorf("%w: state digests differ at WAL index %d: leader %x (%d keys), twin %x (%d keys)", ErrDiverged, li, ld[:6], ln, td[:6], tn)
	}
	return nil
}
