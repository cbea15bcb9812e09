package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
)

func newFailoverCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Region failover: epochs, leases and promotion state; promote the twin; switch over; inspect a forked tail",
	}
	cmd.AddCommand(newFailoverStatusCmd(), newFailoverPromoteCmd(), newFailoverSwitchoverCmd(), newFailoverTailCmd())
	return cmd
}

// failoverRow is one line of `failover status` (and one element of its
// --json output).
type failoverRow struct {
	Name      string       `json:"name"`
	Role      string       `json:"role,omitempty"`
	Region    string       `json:"region,omitempty"`
	RaftState string       `json:"raft_state,omitempty"`
	Error     string       `json:"error,omitempty"`
	Failover  *failoverDoc `json:"failover,omitempty"`
	// TwinLag is the cell leader's measure of the twin's lag (its ship
	// section); nil on every other node.
	TwinLag *twinLagDoc `json:"twin_lag,omitempty"`
}

// twinLagDoc is the part of the leader's ship section `failover status`
// shows: how much a promotion of the twin would lose now.
type twinLagDoc struct {
	Twin      string  `json:"twin"`
	Connected bool    `json:"connected"`
	AckKnown  bool    `json:"ack_known"`
	Records   uint64  `json:"records"`
	Bytes     uint64  `json:"bytes"`
	Seconds   float64 `json:"seconds"`
}

// failoverRowOf extracts a failover line from a status document.
func failoverRowOf(d statusDoc) failoverRow {
	r := failoverRow{Name: d.Name, Role: d.Role, Region: d.Region, Failover: d.Failover}
	if c := d.Cell; c != nil {
		r.RaftState = c.RaftState
		if s := c.Ship; s != nil && s.Active {
			r.TwinLag = &twinLagDoc{Twin: s.Twin, Connected: s.Connected, AckKnown: s.AckKnown,
				Records: s.LagRecords, Bytes: s.LagBytes, Seconds: s.LagSeconds}
		}
	}
	return r
}

func newFailoverStatusCmd() *cobra.Command {
	var cf clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's region epoch, primary, lease, fencing, the twin's lag and the promotion state",
		Long: `Ask every node (every node of --lab, or every --endpoint) for its status and
show its failover section: the region epoch it knows and that epoch's primary
(region/node), the lease (valid and when it expires on the primary's leader;
granted and how long it still runs on the twin and the witness, with how long
ago they last heard from the primary), whether it is fenced, the twin's lag as
the cell leader measures it, and the twin's promotion state. Exits 1 if a
node did not answer (after printing every row, the unreachable ones too).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := cf.targets(true)
			if err != nil {
				return err
			}
			var rows []failoverRow
			failed := fetchStatuses(cmd.Context(), ts, func(name string, st statusDoc, err error) {
				if err != nil {
					rows = append(rows, failoverRow{Name: name, Error: err.Error()})
					return
				}
				rows = append(rows, failoverRowOf(st))
			})
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else {
				printFailover(out, rows)
			}
			return unreachableErr(failed, len(rows))
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: one object per node with its failover section as the node sent it, and the leader's twin_lag")
	return cmd
}

// shortStates are the promotion states short enough for the table; any
// other (an alarm, a reason to wait for an operator) is printed in full
// under it.
var shortStates = map[string]bool{"": true, "waiting": true, "promoted": true}

// printFailover writes the human form of `failover status`: one table
// line per node, then the full promotion alarms, then whether the nodes
// agree on the epoch.
func printFailover(w io.Writer, rows []failoverRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tMODE\tREGION\tEPOCH\tPRIMARY\tLEASE\tHEARD\tFENCED\tTWIN LAG\tPROMOTION")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tunreachable: %s\n", r.Name, strings.ReplaceAll(r.Error, "\t", " "))
			continue
		}
		f := r.Failover
		if f == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\t-\t-\t-\t-\t-\t%s\t(no failover section: an older version)\n", r.Name, r.Role, r.Region, lagText(r.TwinLag))
			continue
		}
		fenced := "no"
		switch {
		case r.Role == string(pki.RoleWitness):
			fenced = "-"
		case f.Fenced:
			fenced = "YES"
		}
		promo := f.Promotion
		switch {
		case promo == "":
			promo = "-"
		case !shortStates[promo]:
			promo = "see below"
		}
		mode := f.Mode
		if mode == "" {
			mode = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Role, mode, r.Region, f.Epoch, f.primary(),
			leaseText(r.Role, r.RaftState, f), heardText(r.Role, r.RaftState, f), fenced, lagText(r.TwinLag), promo)
	}
	tw.Flush()
	var top *failoverDoc
	for _, r := range rows {
		if f := r.Failover; f != nil && !shortStates[f.Promotion] {
			fmt.Fprintf(w, "promotion %s: %s\n", r.Name, f.Promotion)
		}
		if f := r.Failover; f != nil && f.ForkedTail != "" {
			fmt.Fprintf(w, "forked tail %s: %s (inspect: jumeau failover tail %s)\n", r.Name, f.ForkedTail, f.ForkedTail)
		}
		if f := r.Failover; f != nil && (top == nil || f.Epoch > top.Epoch) {
			top = f
		}
	}
	if top == nil {
		return
	}
	var behind []string
	for _, r := range rows {
		if f := r.Failover; f != nil && f.Epoch < top.Epoch {
			behind = append(behind, fmt.Sprintf("%s (epoch %d)", r.Name, f.Epoch))
		}
	}
	fmt.Fprintf(w, "epoch %d: primary %s\n", top.Epoch, top.primary())
	if len(behind) > 0 {
		fmt.Fprintf(w, "  behind: %s (a node learns the newer epoch at its next lease request or promotion vote)\n", strings.Join(behind, ", "))
	}
}

// lagText describes the twin's lag as the cell leader measures it.
func lagText(l *twinLagDoc) string {
	if l == nil {
		return "-"
	}
	s := fmt.Sprintf("%d rec, %.3fs", l.Records, l.Seconds)
	if !l.AckKnown {
		s += " (upper bound)"
	}
	if !l.Connected {
		s += ", disconnected"
	}
	return s
}

// promoteResult is the answer of POST /v1/failover/promote.
type promoteResult struct {
	Promoted bool   `json:"promoted"`
	Epoch    uint64 `json:"epoch"`
	Reason   string `json:"reason,omitempty"`
}

func newFailoverPromoteCmd() *cobra.Command {
	var cf clientFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "promote [--lab DIR [--node lux-1] | --endpoint HOST:PORT --ca CA --cert ADMIN.crt --key ADMIN.key] [--force]",
		Short: "Ask the twin to become the primary (admin credentials); prints its answer",
		Long: `Ask the twin to promote itself to primary: POST /v1/failover/promote on its
API, with admin credentials (the lab's, or --cert/--key of a certificate
issued with --role admin). The twin still asks the witness, which bumps the
region epoch only once the primary's lease has run out and neither has heard
from it for failover.detect_after: a primary that may still write is never
replaced. --force accepts a loss (the twin's last known lag) above
failover.max_loss_records / failover.max_loss_age; the twin logs it. Prints
the answer {"promoted","epoch","reason"} as JSON on standard output, also
when the twin refuses (the epoch is then the twin's current one, 0 if it
could not be read); exits 1 if the twin was not promoted, with the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.promoteClient()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
			defer cancel()
			var res promoteResult
			if err := c.Promote(ctx, force, &res); err != nil {
				reason, err := refusalReason(err, "promote")
				if err != nil {
					return err
				}
				res = promoteResult{Epoch: currentEpoch(ctx, c), Reason: reason}
			}
			return printOutcome(cmd.OutOrStdout(), res, res.Promoted, "not promoted: "+res.Reason)
		},
	}
	cf.register(cmd)
	cmd.Flags().Lookup("node").Usage = "with --lab: the node to promote (default: the lab's twin, " + lab.TwinName + ")"
	cmd.Flags().Lookup("cert").Usage = "admin certificate (promote is an operator request)"
	cmd.Flags().Lookup("key").Usage = "admin private key"
	cmd.Flags().BoolVar(&force, "force", false, "accept a loss above the automatic bound (failover.max_loss_*); never skips the lease and detection checks")
	return cmd
}

// promoteClient is an API client for the node to promote: with --lab, the
// lab's twin (or --node) with the lab's admin credentials; else the first
// --endpoint with --ca/--cert/--key.
func (f *clientFlags) promoteClient() (*api.Client, error) {
	if f.labDir == "" {
		if len(f.endpoints) > 1 {
			return nil, usageErrorf("promote talks to one node: pass a single --endpoint (the twin's API)")
		}
		return f.one()
	}
	if len(f.endpoints) > 0 {
		return nil, usageErrorf("use either --lab or --endpoint, not both")
	}
	l, err := lab.Load(f.labDir)
	if err != nil {
		return nil, err
	}
	name := f.node
	if name == "" {
		t, ok := l.Twin()
		if !ok {
			return nil, fmt.Errorf("the lab in %s has no twin, so nothing to promote: make one with `jumeau lab up --twin --witness --dir NEWDIR`", f.labDir)
		}
		name = t.Name
	}
	return l.AdminClient(name)
}

// refusalReason sorts the error of an operator request (promote,
// switchover): a refusal (HTTP 409) is the node's answer, returned as the
// reason to print in the result; a certificate without the admin role is
// explained; any other error is returned as it is.
func refusalReason(err error, what string) (string, error) {
	if errors.Is(err, api.ErrForbidden) {
		return "", fmt.Errorf("%w (%s needs an admin certificate: `jumeau certs issue --role admin`)", err, what)
	}
	if !errors.Is(err, api.ErrRefused) {
		return "", err
	}
	return err.Error(), nil
}

// printOutcome prints an operator request's result res as one JSON line
// on w; if the request was not done (!done), it then fails with exit
// status 1 and the message notDone.
func printOutcome(w io.Writer, res any, done bool, notDone string) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", b)
	if !done {
		return &exitError{code: exitFailure, err: errors.New(notDone)}
	}
	return nil
}

// currentEpoch is the region epoch in c's node's status, 0 if it cannot
// be read.
func currentEpoch(ctx context.Context, c *api.Client) uint64 {
	var st statusDoc
	if err := c.Status(ctx, &st); err != nil || st.Failover == nil {
		return 0
	}
	return st.Failover.Epoch
}

// unreachableErr is the result of a command that asked total nodes and
// got no answer from failed of them: an exitFailure naming how many,
// after the command printed what it got.
func unreachableErr(failed, total int) error {
	switch {
	case failed == 0:
		return nil
	case failed == total:
		return &exitError{code: exitFailure, err: errors.New("no node answered")}
	}
	return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d nodes did not answer (their rows say why)", failed, total)}
}
