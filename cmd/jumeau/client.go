package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// clientFlags are shared by every command that talks to a node.
type clientFlags struct {
	endpoints []string
	ca        string
	cert      string
	key       string
	labDir    string
	node      string
	timeout   time.Duration
	keyDir    string         // drill run --live: where the drill key lives
	cmd       *cobra.Command // the command the flags are registered on
}

// The environment variables that give the client flags their defaults;
// a flag on the command line wins over its variable.
const (
	envEndpoints = "JUMEAU_ENDPOINTS" // comma-separated host:port list
	envEndpoint  = "JUMEAU_ENDPOINT"  // same, read when JUMEAU_ENDPOINTS is unset
	envCA        = "JUMEAU_CA"
	envCert      = "JUMEAU_CERT"
	envKey       = "JUMEAU_KEY"
)

// splitEndpoints splits a comma-separated list of endpoints, dropping
// blanks.
func splitEndpoints(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// envEndpointList is the endpoints the environment names, if any.
func envEndpointList() []string {
	if v, ok := os.LookupEnv(envEndpoints); ok {
		return splitEndpoints(v)
	}
	return splitEndpoints(os.Getenv(envEndpoint))
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.cmd = cmd
	fl.StringSliceVar(&f.endpoints, "endpoint", envEndpointList(),
		"node API address host:port; repeat or comma-separate for several (the client moves to the next when one is down or not the primary) (env "+envEndpoints+" or "+envEndpoint+")")
	fl.StringVar(&f.ca, "ca", os.Getenv(envCA), "CA certificate of the deployment (env "+envCA+")")
	fl.StringVar(&f.cert, "cert", os.Getenv(envCert), "client certificate (env "+envCert+")")
	fl.StringVar(&f.key, "key", os.Getenv(envKey), "client private key (env "+envKey+")")
	fl.StringVar(&f.labDir, "lab", "", "use the local lab in DIR (its client credentials and node addresses)")
	fl.StringVar(&f.node, "node", "", "with --lab: the node to talk to (default: every site and the twin, the first that takes the request)")
	fl.DurationVar(&f.timeout, "timeout", 15*time.Second, "request timeout")
}

// endpointFlag reports whether --endpoint was given on the command line
// (not only by the environment).
func (f *clientFlags) endpointFlag() bool {
	return f.cmd != nil && f.cmd.Flags().Changed("endpoint")
}

// target is one node to talk to.
type target struct {
	name   string
	client *api.Client
}

// fetchStatuses asks every target for its status document (3 s each),
// closes its client, hands each answer to add in order, and returns how
// many failed.
func fetchStatuses(ctx context.Context, ts []target, add func(name string, st statusDoc, err error)) (failed int) {
	for _, t := range ts {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		var st statusDoc
		err := t.client.Status(c, &st)
		cancel()
		t.client.Close()
		if err != nil {
			failed++
		}
		add(t.name, st, err)
	}
	return failed
}

// targets resolves the flags into API clients. With all, one client per
// node: every lab node (or only --node), or every --endpoint. Without,
// one client holding every endpoint: --endpoint, or the lab's sites and
// twin (not the witness: it serves status only), or --node alone.
func (f *clientFlags) targets(all bool) ([]target, error) {
	if f.labDir != "" {
		if f.endpointFlag() {
			return nil, usageErrorf("use either --lab or --endpoint, not both")
		}
		l, err := lab.Load(f.labDir)
		if err != nil {
			return nil, err
		}
		if !all && f.node == "" {
			return labTarget(l, f.timeout)
		}
		var names []string
		if f.node != "" {
			names = []string{f.node}
		} else {
			for _, n := range l.Nodes {
				names = append(names, n.Name)
			}
		}
		var out []target
		for _, name := range names {
			c, err := l.Client(name)
			if err != nil {
				return nil, err
			}
			out = append(out, target{name: name, client: c})
		}
		return out, nil
	}
	if len(f.endpoints) == 0 {
		return nil, usageErrorf("no node to talk to: pass --endpoint host:port (or set %s) with --ca/--cert/--key, or --lab DIR", envEndpoints)
	}
	if f.ca == "" || f.cert == "" || f.key == "" {
		return nil, usageErrorf("--endpoint needs --ca, --cert and --key (or %s, %s, %s): a client certificate from `jumeau certs issue --role client`", envCA, envCert, envKey)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: f.ca, Cert: f.cert, Key: f.key})
	if err != nil {
		return nil, err
	}
	opts := api.ClientOptions{Timeout: f.timeout}
	if !all {
		c, err := api.NewMultiClient(f.endpoints, mat, opts)
		if err != nil {
			return nil, err
		}
		return []target{{name: strings.Join(f.endpoints, ","), client: c}}, nil
	}
	var out []target
	for _, e := range f.endpoints {
		c, err := api.NewClient(e, mat, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, target{name: e, client: c})
	}
	return out, nil
}

// labTarget is one client for every node of l that serves keys (its sites
// and twin), with the lab's client credentials.
func labTarget(l *lab.Lab, timeout time.Duration) ([]target, error) {
	var names, addrs []string
	for _, n := range l.Nodes {
		if n.Role == string(pki.RoleWitness) {
			continue
		}
		names = append(names, n.Name)
		addrs = append(addrs, n.API)
	}
	c := l.ClientCreds
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: c.CA, Cert: c.Cert, Key: c.Key})
	if err != nil {
		return nil, fmt.Errorf("lab client credentials: %w", err)
	}
	cl, err := api.NewMultiClient(addrs, mat, api.ClientOptions{Timeout: timeout})
	if err != nil {
		return nil, err
	}
	return []target{{name: strings.Join(names, ","), client: cl}}, nil
}

func (f *clientFlags) one() (*api.Client, error) {
	t, err := f.targets(false)
	if err != nil {
		return nil, err
	}
	return t[0].client, nil
}

// do runs fn with a client of the one node the flags name and a context
// bounded by --timeout.
func (f *clientFlags) do(parent context.Context, fn func(ctx context.Context, c *api.Client) error) error {
	c, err := f.one()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(parent, f.timeout)
	defer cancel()
	return fn(ctx, c)
}

func newPutCmd() *cobra.Command {
	var cf clientFlags
	var file, dur string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "put NAMESPACE KEY [VALUE]",
		Short: "Write a value (from the argument, --file, or standard input)",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var value []byte
			switch {
			case len(args) == 3 && file != "":
				return errors.New("give the value either as an argument or with --file, not both")
			case len(args) == 3:
				value = []byte(args[2])
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				value = b
			default:
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), api.MaxValueSize+1))
				if err != nil {
					return err
				}
				value = b
			}
			if _, err := replicator.ParseDurability(dur); err != nil {
				return fmt.Errorf("--durability: %w", err)
			}
			return cf.do(cmd.Context(), func(ctx context.Context, c *api.Client) error {
				res, err := c.Put(ctx, args[0], args[1], value, dur)
				if err != nil {
					return err
				}
				return printWrite(cmd.OutOrStdout(), asJSON, writeDoc{Op: writeOpPut, Namespace: args[0], Key: args[1], Durability: dur, WALIndex: res.WALIndex, RaftIndex: res.RaftIndex})
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "read the value from FILE")
	cmd.Flags().StringVar(&dur, "durability", "cell", durabilityHelp)
	cmd.Flags().BoolVar(&asJSON, "json", false, writeJSONHelp)
	return cmd
}

// durabilityHelp documents the --durability flag of put, del and bench.
const durabilityHelp = "cell: committed by a quorum of the cell's sites; " +
	"twin: also durable on the Luxembourg twin (one WAN round trip more; on a timeout the write may still arrive)"

func newGetCmd() *cobra.Command {
	var cf clientFlags
	var stale bool
	cmd := &cobra.Command{
		Use:   "get NAMESPACE KEY",
		Short: "Print a value alone on standard output (exit 1 if the key does not exist)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.do(cmd.Context(), func(ctx context.Context, c *api.Client) error {
				v, err := c.Get(ctx, args[0], args[1], stale)
				if errors.Is(err, api.ErrNotFound) {
					return &exitError{code: 1, err: fmt.Errorf("%s/%s: no such key", args[0], args[1])}
				}
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(v)
				return err
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&stale, "stale", false, "read this node's local copy instead of a linearizable read through the leader")
	return cmd
}

func newDelCmd() *cobra.Command {
	var cf clientFlags
	var dur string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "del NAMESPACE KEY",
		Short: "Delete a key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := replicator.ParseDurability(dur); err != nil {
				return fmt.Errorf("--durability: %w", err)
			}
			return cf.do(cmd.Context(), func(ctx context.Context, c *api.Client) error {
				res, err := c.Delete(ctx, args[0], args[1], dur)
				if err != nil {
					return err
				}
				return printWrite(cmd.OutOrStdout(), asJSON, writeDoc{Op: writeOpDelete, Namespace: args[0], Key: args[1], Durability: dur, WALIndex: res.WALIndex, RaftIndex: res.RaftIndex})
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&dur, "durability", "cell", durabilityHelp)
	cmd.Flags().BoolVar(&asJSON, "json", false, writeJSONHelp)
	return cmd
}

func newLsCmd() *cobra.Command {
	var cf clientFlags
	var prefix, after string
	var limit int
	var stale, asJSON, values bool
	cmd := &cobra.Command{
		Use:   "ls NAMESPACE",
		Short: "List the keys of a namespace (one per line)",
		Long: `List the keys of a namespace in key order, one per line, as they arrive.

The server sends a list in pages (at most 4 MiB of values each); ls follows
them until --limit keys are listed, or every key with --limit 0; --timeout
bounds each page. When keys remain past the limit, ls says so on stderr
with the token that resumes the list (--after; with --json it is the
"next" field). It exits 1 if a page fails (what was printed stays valid).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: use a number of keys >= 1, or 0 for every key", limit)
			}
			// --timeout bounds each page (the client's request timeout),
			// not the whole list: a long list takes many pages.
			c, err := cf.one()
			if err != nil {
				return err
			}
			defer c.Close()
			err = listKeys(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0],
				api.ListOptions{Prefix: prefix, After: after, Limit: limit, Stale: stale}, asJSON, values)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&prefix, "prefix", "", "only keys starting with PREFIX")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most N keys (0: every key)")
	cmd.Flags().StringVar(&after, "after", "", "resume a list after this token (printed when --limit stopped a list)")
	cmd.Flags().BoolVar(&stale, "stale", false, "read this node's local copy")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON {"items":[...],"next":"..."} (values base64)`)
	cmd.Flags().BoolVar(&values, "values", false, "print key<TAB>value")
	return cmd
}

// listKeys prints the keys of ns page by page as they arrive, as text or
// as one JSON object in the shape of api.ListResult.
func listKeys(ctx context.Context, c *api.Client, out, errOut io.Writer, ns string, opts api.ListOptions, asJSON, values bool) error {
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	n := 0
	if asJSON {
		bw.WriteString(`{"items":[`)
	}
	next, err := c.ListEach(ctx, ns, opts, func(kv replicator.KV) error {
		switch {
		case asJSON:
			if n > 0 {
				bw.WriteString(",")
			}
			b, err := json.Marshal(kv)
			if err != nil {
				return err
			}
			bw.Write(b)
		case values:
			fmt.Fprintf(bw, "%s\t%s\n", printableKey(kv.Key), kv.Value)
		default:
			fmt.Fprintln(bw, printableKey(kv.Key))
		}
		n++
		return nil
	})
	if err != nil {
		if asJSON {
			bw.WriteString("\n") // the JSON stays unterminated: it is not a complete list
		}
		return err
	}
	if asJSON {
		bw.WriteString("]")
		if next != "" {
			b, _ := json.Marshal(next)
			bw.WriteString(`,"next":` + string(b))
		}
		bw.WriteString("}\n")
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if next != "" && !asJSON {
		fmt.Fprintf(errOut, "more keys after these %d: resume with --after %s\n", n, next)
	}
	return nil
}

// statusDoc mirrors the node's status document (GET /v1/status) as far
// as the CLI reads it: a site's has a cell section (with a ship section
// when the cell has a twin), the twin's a twin section, the witness's
// neither; every node's may have a failover section. Missing sections
// stay nil.
type statusDoc struct {
	Name     string                 `json:"name"`
	Role     string                 `json:"role"`
	Region   string                 `json:"region"`
	Cell     *cellDoc               `json:"cell,omitempty"`
	Twin     *replicator.TwinStatus `json:"twin,omitempty"`
	Failover *failoverDoc           `json:"failover,omitempty"`
}

// failoverDoc is the failover section of a status document. A lease
// holder (a site; a promoted twin) fills lease_valid,
// lease_expires_in_ms and fenced; a grantor (the twin, the witness)
// heard_ago_ms (since the primary last asked for a lease or shipped) and
// lease_left_ms (of the lease it granted); the twin adds its promotion
// state. Fields a node does not send stay zero.
type failoverDoc struct {
	Epoch            uint64 `json:"epoch"`
	PrimaryRegion    string `json:"primary_region"`
	PrimaryNode      string `json:"primary_node,omitempty"`
	LeaseValid       bool   `json:"lease_valid"`
	LeaseExpiresInMS int64  `json:"lease_expires_in_ms,omitempty"`
	Fenced           bool   `json:"fenced"`
	HeardAgoMS       int64  `json:"heard_ago_ms,omitempty"`
	LeaseLeftMS      int64  `json:"lease_left_ms,omitempty"`
	Promotion        string `json:"promotion,omitempty"`
	Mode             string `json:"mode,omitempty"`
	StartIndex       uint64 `json:"start_index,omitempty"`
	ForkedTail       string `json:"forked_tail,omitempty"`
}

// primary names the epoch's primary as region/node (region alone when
// the node is not known).
func (f *failoverDoc) primary() string {
	if f.PrimaryNode == "" {
		return f.PrimaryRegion
	}
	return f.PrimaryRegion + "/" + f.PrimaryNode
}

// cellDoc is the cell section of statusDoc.
type cellDoc struct {
	RaftState    string                 `json:"raft_state"`
	Leader       string                 `json:"leader"`
	Term         uint64                 `json:"term"`
	CommitIndex  uint64                 `json:"commit_index"`
	AppliedIndex uint64                 `json:"applied_index"`
	WALLast      uint64                 `json:"wal_last_index"`
	WALHash      string                 `json:"wal_last_hash"`
	FSMError     string                 `json:"fsm_error,omitempty"`
	Ship         *replicator.ShipStatus `json:"ship,omitempty"`
}

// nodeStatus is one line of `status` (and one element of `status --json`).
// On the twin the WAL fields are its own WAL's and the Raft fields are
// empty; on the witness both are. Ship, Twin and Failover are the node's
// sections as it sent them.
type nodeStatus struct {
	Name         string                 `json:"name"`
	Role         string                 `json:"role"`
	Region       string                 `json:"region"`
	RaftState    string                 `json:"raft_state"`
	Leader       string                 `json:"leader"`
	Term         uint64                 `json:"term"`
	CommitIndex  uint64                 `json:"commit_index"`
	AppliedIndex uint64                 `json:"applied_index"`
	WALLast      uint64                 `json:"wal_last_index"`
	WALHash      string                 `json:"wal_last_hash"`
	Error        string                 `json:"error,omitempty"`
	Ship         *replicator.ShipStatus `json:"ship,omitempty"`
	Twin         *replicator.TwinStatus `json:"twin,omitempty"`
	Failover     *failoverDoc           `json:"failover,omitempty"`
}

// row condenses a status document into a line of `status`.
func (d statusDoc) row() nodeStatus {
	r := nodeStatus{Name: d.Name, Role: d.Role, Region: d.Region, Twin: d.Twin, Failover: d.Failover}
	if c := d.Cell; c != nil {
		r.RaftState, r.Leader, r.Term = c.RaftState, c.Leader, c.Term
		r.CommitIndex, r.AppliedIndex = c.CommitIndex, c.AppliedIndex
		r.WALLast, r.WALHash, r.Ship = c.WALLast, c.WALHash, c.Ship
	} else if t := d.Twin; t != nil {
		r.WALLast, r.WALHash = t.WALLast, t.WALHash
	}
	return r
}

func newStatusCmd() *cobra.Command {
	var cf clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's role, Raft state, leader, term, commit and applied index, the shipping to the twin and the failover state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := cf.targets(true)
			if err != nil {
				return err
			}
			var rows []nodeStatus
			failed := fetchStatuses(cmd.Context(), ts, func(name string, st statusDoc, err error) {
				if err != nil {
					rows = append(rows, nodeStatus{Name: name, Error: err.Error()})
					return
				}
				rows = append(rows, st.row())
			})
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else {
				printStatus(out, rows, time.Now())
			}
			return unreachableErr(failed, len(rows))
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: one object per node, with its ship, twin and failover sections as the node sent them")
	return cmd
}

// printStatus writes the human form of `status`: one table line per node,
// then the leader's shipping to the twin, the twin's view and each node's
// failover state. now dates the twin's alarm.
func printStatus(w io.Writer, rows []nodeStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tREGION\tRAFT\tLEADER\tTERM\tCOMMIT\tAPPLIED\tWAL\tWAL HASH")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tunreachable: %s\n", r.Name, strings.ReplaceAll(r.Error, "\t", " "))
			continue
		}
		if r.Role == string(pki.RoleWitness) {
			// No cell, no WAL: the witness holds the region epoch only.
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", r.Name, r.Role, r.Region)
			continue
		}
		if r.RaftState == "" {
			// Not a cell member (the twin).
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t%d\t%s\n", r.Name, r.Role, r.Region, r.WALLast, short(r.WALHash))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Name, r.Role, r.Region, r.RaftState,
			r.Leader, r.Term, r.CommitIndex, r.AppliedIndex, r.WALLast, short(r.WALHash))
	}
	tw.Flush()
	for _, r := range rows {
		// Only the leader ships; a follower's ship section is idle.
		if s := r.Ship; s != nil && s.Active {
			printShip(w, r.Name, s)
		}
	}
	for _, r := range rows {
		if t := r.Twin; t != nil {
			printTwin(w, t, now)
		}
	}
	for _, r := range rows {
		if f := r.Failover; f != nil {
			fmt.Fprintf(w, "failover %s: %s\n", r.Name, describeFailover(r.Role, r.RaftState, f))
		}
	}
}

// describeFailover condenses a node's failover section into one line:
// the epoch and its primary, the lease as this node holds or grants it,
// and the twin's promotion state. raftState is the node's cell state (""
// when it has no cell).
func describeFailover(role, raftState string, f *failoverDoc) string {
	parts := []string{fmt.Sprintf("epoch %d, primary %s", f.Epoch, f.primary())}
	if l := leaseText(role, raftState, f); l != "-" {
		parts = append(parts, "lease "+l)
	}
	if h := heardText(role, raftState, f); h != "-" {
		parts = append(parts, "primary heard "+h)
	}
	if f.Fenced {
		parts = append(parts, "FENCED: another region is primary, this node takes no writes")
	}
	if f.Promotion != "" {
		parts = append(parts, "promotion: "+f.Promotion)
	}
	return strings.Join(parts, "; ")
}

// grantor reports whether a node with this role and cell state grants
// leases (the witness; the twin until it is promoted and runs a cell).
func grantor(role, raftState string) bool {
	return role == string(pki.RoleWitness) || (role == string(pki.RoleTwin) && raftState == "")
}

// leaseText describes the lease as the node sees it: held and valid (the
// primary's leader), granted (a grantor), or "-" (a follower).
func leaseText(role, raftState string, f *failoverDoc) string {
	switch {
	case grantor(role, raftState):
		if f.LeaseLeftMS > 0 {
			return "granted, " + msText(f.LeaseLeftMS) + " left"
		}
		return "none granted"
	case f.LeaseValid:
		return "valid, expires in " + msText(f.LeaseExpiresInMS)
	case raftState == "Leader":
		return "not held"
	}
	return "-"
}

// heardText is how long ago a grantor last heard from the primary.
func heardText(role, raftState string, f *failoverDoc) string {
	if !grantor(role, raftState) {
		return "-"
	}
	if f.HeardAgoMS < 0 {
		return "never"
	}
	return msText(f.HeardAgoMS) + " ago"
}

// msText formats a number of milliseconds as a duration.
func msText(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

func printShip(w io.Writer, from string, s *replicator.ShipStatus) {
	conn := "disconnected"
	if s.Connected {
		conn = "connected"
	}
	if !s.Connected && s.LastHeardMs > 0 {
		conn += " (twin last heard " + msText(s.LastHeardMs) + " ago)"
	}
	acked := fmt.Sprintf("acked %d", s.AckedIndex)
	if !s.AckKnown {
		acked = "acked ? (the twin has not told its position yet; lag is an upper bound)"
	}
	fmt.Fprintf(w, "ship %s -> %s: %s, %s, sent %d, last %d; lag %d records, %s, %.3fs; RPO budget %.0f%% used of %gs (guard %s)\n",
		from, s.Twin, conn, acked, s.SentIndex, s.LastIndex, s.LagRecords, byteSize(s.LagBytes), s.LagSeconds,
		100*s.RPOBudgetUsed, s.RPOSeconds, s.RPOGuard)
	if s.SnapshotsSent > 0 {
		fmt.Fprintf(w, "  snapshots sent: %d\n", s.SnapshotsSent)
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "  last error: %s\n", s.LastError)
	}
	if s.Diverged != "" {
		fmt.Fprintf(w, "  DIVERGED (shipping stopped until an operator reconciles): %s\n", s.Diverged)
	}
}

func printTwin(w io.Writer, t *replicator.TwinStatus, now time.Time) {
	sender, conn := t.Sender, "disconnected"
	if sender == "" {
		sender = "none yet"
	}
	if t.Connected {
		conn = "connected"
	}
	fmt.Fprintf(w, "twin %s (epoch %d, accepts %s): sender %s, %s; WAL %d..%d %s, primary last %d, lag %d records; received %s",
		t.Name, t.Epoch, t.PrimaryRegion, sender, conn, t.WALFirst, t.WALLast, short(t.WALHash), t.PrimaryLastIndex,
		t.LagRecords, byteSize(t.ReceivedBytes))
	if !t.LastReceived.IsZero() {
		fmt.Fprintf(w, ", last %s ago", now.Sub(t.LastReceived).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "; refused %d\n", t.Refused)
	if t.SnapshotsRestored > 0 {
		fmt.Fprintf(w, "  snapshots restored: %d\n", t.SnapshotsRestored)
	}
	if t.Alarm != "" {
		at := ""
		if !t.AlarmTime.IsZero() {
			at = " (" + t.AlarmTime.UTC().Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(w, "  ALARM%s: %s\n", at, t.Alarm)
	}
	if t.FSMError != "" {
		fmt.Fprintf(w, "  error: %s\n", t.FSMError)
	}
}

// short abbreviates a hash for the table.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// byteSize formats n bytes with a decimal unit (B, kB, MB, GB).
func byteSize(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
