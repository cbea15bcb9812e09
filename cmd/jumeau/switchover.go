package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/wal"
)

// switchoverResult is what `failover switchover` prints: the primary's
// answer, or its refusal with the reason.
type switchoverResult struct {
	Switched bool `json:"switched"`
	node.SwitchResult
	Reason string `json:"reason,omitempty"`
}

func newFailoverSwitchoverCmd() *cobra.Command {
	var cf clientFlags
	var to string
	cmd := &cobra.Command{
		Use:   "switchover --to REGION [--lab DIR | --endpoint PRIMARY --ca CA --cert ADMIN.crt --key ADMIN.key]",
		Short: "Hand the primary role to another region without losing a write (planned failover or failback)",
		Long: `Ask the primary to hand its role to region REGION: the cell leader (or the
promoted twin) stops taking writes (clients get 503 "switching"), waits for
the writes in flight, waits until every replica of the other region holds its
whole WAL (zero lag), then asks the witness to start the next epoch at that
WAL index with REGION as primary. Nothing acknowledged is lost: the new
primary starts from the drained tip.

The command returns once the witness has started the new epoch, that is
after the drain (drain_ms in its answer). The new primary does not take
writes yet: it learns the new epoch (at once, or at its next poll of the
witness, every second), restarts in its new mode, then refuses writes (503
"lease_expired") until every lease of the old epoch has run out,
failover.lease + failover.clock_skew_margin from its start (2.5 s with the
defaults). So REGION takes writes about 2.5 s plus its restart after the
command returns; the former primary's nodes restart as replicas meanwhile.

Prints the answer {"switched","epoch","from","to","to_node","start_index",
"drain_ms"} as JSON on standard output, also when the primary refuses (then
"switched" is false, the epoch is the primary's current one and "reason"
says why) and exits 1. If the replicas do not catch up within --timeout, or
the witness refuses, the switchover is abandoned and writes resume on the
current primary. With --lab the primary is found from the nodes' status;
else pass the primary's API as the single --endpoint, with admin
credentials.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("switchover: --to REGION is required (e.g. --to luxembourg, or --to monaco to fail back)")
			}
			c, err := cf.switchoverClient(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
			defer cancel()
			res := switchoverResult{Switched: true}
			if err := c.Switchover(ctx, to, &res.SwitchResult); err != nil {
				reason, err := refusalReason(err, "switchover")
				if err != nil {
					return err
				}
				res = switchoverResult{SwitchResult: node.SwitchResult{Epoch: currentEpoch(ctx, c), To: to}, Reason: reason}
			}
			return printOutcome(cmd.OutOrStdout(), res, res.Switched, "not switched over: "+res.Reason)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "region to hand the primary role to (the twin's region, or the sites' region to fail back)")
	cmd.Flags().Lookup("node").Usage = "with --lab: the primary node (default: found from status)"
	cmd.Flags().Lookup("cert").Usage = "admin certificate (switchover is an operator request)"
	cmd.Flags().Lookup("key").Usage = "admin private key"
	return cmd
}

// switchoverClient is an admin client for the primary's writer: with
// --lab, the node whose status says it leads the primary (or --node).
func (f *clientFlags) switchoverClient(ctx context.Context) (*api.Client, error) {
	if f.labDir == "" {
		if len(f.endpoints) != 1 {
			return nil, errors.New("switchover talks to the primary: pass its API as a single --endpoint, or use --lab")
		}
		return f.one()
	}
	if f.endpointFlag() {
		return nil, errors.New("use either --lab or --endpoint, not both")
	}
	l, err := lab.Load(f.labDir)
	if err != nil {
		return nil, err
	}
	name := f.node
	if name == "" {
		ts, err := f.targets(true)
		if err != nil {
			return nil, err
		}
		fetchStatuses(ctx, ts, func(n string, st statusDoc, err error) {
			if err != nil || st.Failover == nil || name != "" {
				return
			}
			switch {
			case st.Failover.Mode == "primary":
				name = n
			case st.Failover.Mode == "cell" && st.Cell != nil && st.Cell.RaftState == "Leader":
				name = n
			}
		})
		if name == "" {
			return nil, fmt.Errorf("no node of the lab in %s reports leading the primary (see `jumeau failover status --lab %s`)", f.labDir, f.labDir)
		}
	}
	return l.AdminClient(name)
}

func newFailoverTailCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tail FILE",
		Short: "Inspect a forked tail: the writes a demoted primary held that the new primary never received",
		Long: `Read and verify a forked-tail file (a demoted site writes one to its data
directory, forked-tail-eEPOCH.jtail, when it learns that another region was
promoted): every record's hash, the chain from the fork point and the file's
checksum. Prints the header and one line per record: WAL index, epoch, time,
operation, namespace, key and sealed value size. Values stay sealed (they
are encrypted with the namespace keys); reconcile by re-writing what the
business still wants on the new primary. Exits 1 on a damaged file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			hdr, recs, err := wal.ReadTail(f)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printTailJSON(out, hdr, recs)
			}
			printTail(out, hdr, recs)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {header, records: [{index, epoch, time, op, namespace, key, value_bytes, hash}]}")
	return cmd
}

type tailRecordDoc struct {
	Index      uint64    `json:"index"`
	Epoch      uint64    `json:"epoch"`
	Time       time.Time `json:"time"`
	Op         string    `json:"op"`
	Namespace  string    `json:"namespace"`
	Key        string    `json:"key"`
	ValueBytes int       `json:"value_bytes"`
	Hash       string    `json:"hash"`
}

func tailDocs(recs []wal.Record) []tailRecordDoc {
	out := make([]tailRecordDoc, 0, len(recs))
	for _, r := range recs {
		out = append(out, tailRecordDoc{Index: r.Index, Epoch: r.Epoch, Time: time.Unix(0, r.Time).UTC(), Op: r.Op.String(),
			Namespace: r.Namespace, Key: r.Key, ValueBytes: len(r.Payload), Hash: hex.EncodeToString(r.Hash[:])})
	}
	return out
}

func printTailJSON(w io.Writer, hdr wal.TailHeader, recs []wal.Record) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Header  wal.TailHeader  `json:"header"`
		Records []tailRecordDoc `json:"records"`
	}{hdr, tailDocs(recs)})
}

func printTail(w io.Writer, hdr wal.TailHeader, recs []wal.Record) {
	fmt.Fprintf(w, "forked tail of %s (%s), demoted in epoch %d (new primary %s), exported %s\n",
		hdr.Node, hdr.Region, hdr.Epoch, hdr.NewPrimary, hdr.Exported.Format(time.RFC3339))
	match := "yes: the records continue the new primary's chain at the fork point"
	if !hdr.ForkMatch {
		match = "NO: this site's chain parted from the new primary's before the fork point, or did not reach it"
	}
	fmt.Fprintf(w, "fork point: WAL index %d, hash %.16s…; chain matches: %s\n", hdr.ForkIndex, hdr.ForkHash, match)
	if len(recs) == 0 {
		fmt.Fprintln(w, "no records: the new primary holds every write of this site")
		return
	}
	fmt.Fprintf(w, "%d records (WAL index %d..%d) the new primary never received; verified (hashes, chain, checksum)\n", len(recs), hdr.First, hdr.Last)
	if hdr.FromRaftLog > 0 {
		fmt.Fprintf(w, "%d writes among them were still only in the site's Raft log at export (applied then): some may never have been acknowledged\n", hdr.FromRaftLog)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tEPOCH\tTIME (UTC)\tOP\tNAMESPACE\tKEY\tVALUE BYTES")
	for _, d := range tailDocs(recs) {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%q\t%d\n", d.Index, d.Epoch, d.Time.Format("2006-01-02 15:04:05.000"), d.Op, d.Namespace, d.Key, d.ValueBytes)
	}
	tw.Flush()
}
