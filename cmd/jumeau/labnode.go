package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
)

// Per-node control of a lab (`jumeau lab start|stop|kill|restart NODE`)
// and its process listing (`jumeau lab status`). Exit codes: 0 done, 1 the
// action failed or did not apply (the node already runs, or does not),
// 2 usage (no node or an unknown one, a bad flag).

// defaultServeWait bounds how long start and restart wait for the node's
// API to answer.
const defaultServeWait = 30 * time.Second

// newLabNodeCmds returns the start, stop, kill, restart and status
// commands of `jumeau lab`, reading the lab directory from *dir.
func newLabNodeCmds(dir *string) []*cobra.Command {
	var grace, wait time.Duration
	start := &cobra.Command{
		Use:   "start --dir DIR NODE",
		Short: "Start one stopped or killed node of the lab with its configuration, and wait until it serves",
		Long: `Start one node that does not run (stopped, killed or crashed) with its
configuration, as lab up starts it, record its pid in lab.json and wait
(--wait) until its API answers. Exits 1 if the node already runs, or if it
exits or does not answer in time (the end of its log says why).`,
		Args: oneNodeArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkWait(wait); err != nil {
				return err
			}
			l, err := loadLab(*dir)
			if err != nil {
				return err
			}
			pid, err := l.StartNode(cmd.Context(), args[0])
			if err != nil {
				return labExit(err)
			}
			if err := waitServing(cmd.Context(), l, args[0], wait); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s started (pid %d)%s\n", args[0], pid, servingNote(l, args[0], wait))
			return nil
		},
	}
	stop := &cobra.Command{
		Use:   "stop --dir DIR NODE [--grace 10s]",
		Short: "Stop one node of the lab: SIGTERM, then SIGKILL if it is still there after --grace",
		Long: `Stop one node: SIGTERM (and SIGCONT, so a paused node sees it), then
SIGKILL if it has not exited after --grace. Returns once the process is
gone; the data stays (lab start restarts the node). Exits 1 if the node
does not run.`,
		Args: oneNodeArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGrace(grace); err != nil {
				return err
			}
			l, err := loadLab(*dir)
			if err != nil {
				return err
			}
			res, err := l.StopNode(cmd.Context(), args[0], grace)
			if err != nil {
				return labExit(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s stopped (%s)\n", args[0], describeStop(res, grace))
			return nil
		},
	}
	kill := &cobra.Command{
		Use:   "kill --dir DIR NODE",
		Short: "Kill one node of the lab with SIGKILL (a site lost at once)",
		Long: `Send SIGKILL to one node (a site lost in an earthquake: no shutdown, no
goodbye to its peers) and return once the process is gone; the data stays
(lab start restarts the node). Exits 1 if the node does not run.`,
		Args: oneNodeArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := loadLab(*dir)
			if err != nil {
				return err
			}
			pid, err := l.KillNode(cmd.Context(), args[0])
			if err != nil {
				return labExit(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s killed (pid %d, SIGKILL)\n", args[0], pid)
			return nil
		},
	}
	restart := &cobra.Command{
		Use:   "restart --dir DIR NODE [--grace 10s] [--wait 30s]",
		Short: "Restart one node of the lab: stop it as lab stop does (if it runs), start it and wait until it serves",
		Args:  oneNodeArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGrace(grace); err != nil {
				return err
			}
			if err := checkWait(wait); err != nil {
				return err
			}
			l, err := loadLab(*dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			res, err := l.StopNode(cmd.Context(), args[0], grace)
			switch {
			case errors.Is(err, lab.ErrNodeNotRunning):
				fmt.Fprintf(out, "%s was not running\n", args[0])
			case err != nil:
				return labExit(err)
			default:
				fmt.Fprintf(out, "%s stopped (%s)\n", args[0], describeStop(res, grace))
			}
			pid, err := l.StartNode(cmd.Context(), args[0])
			if err != nil {
				return labExit(err)
			}
			if err := waitServing(cmd.Context(), l, args[0], wait); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s started (pid %d)%s\n", args[0], pid, servingNote(l, args[0], wait))
			return nil
		},
	}
	for _, c := range []*cobra.Command{start, stop, kill, restart} {
		c.Flags().StringVar(dir, "dir", ".lab", "lab directory")
	}
	for _, c := range []*cobra.Command{stop, restart} {
		c.Flags().DurationVar(&grace, "grace", lab.DefaultStopGrace, "time the node has to exit after SIGTERM before SIGKILL")
	}
	for _, c := range []*cobra.Command{start, restart} {
		c.Flags().DurationVar(&wait, "wait", defaultServeWait, "how long to wait for the node's API to answer (0: do not wait)")
	}
	return []*cobra.Command{start, stop, kill, restart, newLabStatusCmd(dir)}
}

// oneNodeArg accepts exactly one argument, the node name (usage error,
// exit 2, otherwise).
func oneNodeArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return &exitError{code: 2, err: fmt.Errorf("%s takes one node name, got %d arguments: e.g. `%s --dir DIR site-a` (`jumeau lab status --dir DIR` lists the nodes)", cmd.CommandPath(), len(args), cmd.CommandPath())}
	}
	return nil
}

func checkGrace(d time.Duration) error {
	if d <= 0 {
		return &exitError{code: 2, err: fmt.Errorf("--grace %v: use a time > 0 (e.g. 10s); `jumeau lab kill` sends SIGKILL at once", d)}
	}
	return nil
}

func checkWait(d time.Duration) error {
	if d < 0 {
		return &exitError{code: 2, err: fmt.Errorf("--wait %v: use a time >= 0 (0: do not wait for the node to serve)", d)}
	}
	return nil
}

// loadLab loads the lab in dir (exit 1 if there is none).
func loadLab(dir string) (*lab.Lab, error) {
	l, err := lab.Load(dir)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return l, nil
}

// labExit gives err of a lab operation its exit code: 2 for an unknown
// node (a usage error), 1 for any other failure.
func labExit(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, lab.ErrUnknownNode) {
		return &exitError{code: 2, err: err}
	}
	return &exitError{code: 1, err: err}
}

// waitServing waits up to wait (0: not at all) for the node's API.
func waitServing(ctx context.Context, l *lab.Lab, name string, wait time.Duration) error {
	if wait == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return labExit(l.WaitServing(wctx, name))
}

// servingNote says where the node serves, if start waited for it.
func servingNote(l *lab.Lab, name string, wait time.Duration) string {
	n, err := l.Node(name)
	if err != nil || wait == 0 {
		return ""
	}
	return fmt.Sprintf(", serving: api %s", n.API)
}

// describeStop says how a node was stopped.
func describeStop(res lab.StopResult, grace time.Duration) string {
	if res.Killed {
		return fmt.Sprintf("pid %d: still running %v after SIGTERM, SIGKILLed", res.PID, grace)
	}
	return fmt.Sprintf("pid %d, SIGTERM", res.PID)
}

// labStatusRow is one node of `jumeau lab status --json`.
type labStatusRow struct {
	Name      string           `json:"name"`
	Role      string           `json:"role"`
	Region    string           `json:"region"`
	Process   lab.ProcessState `json:"process"`
	PID       int              `json:"pid,omitempty"`
	API       string           `json:"api"`
	Mode      string           `json:"mode,omitempty"`
	Epoch     uint64           `json:"epoch,omitempty"`
	RaftState string           `json:"raft_state,omitempty"`
	// Error is why the node's API did not answer (a running node only).
	Error string `json:"error,omitempty"`
}

// labStatusDoc is the output of `jumeau lab status --json`.
type labStatusDoc struct {
	Dir   string         `json:"dir"`
	Nodes []labStatusRow `json:"nodes"`
	Links struct {
		Process lab.ProcessState `json:"process"`
		PID     int              `json:"pid,omitempty"`
		Control string           `json:"control"`
	} `json:"links"`
	// Primary is the node taking writes in the current epoch (absent
	// when there is none; NotReady says why).
	Primary  *lab.Primary `json:"primary,omitempty"`
	NotReady string       `json:"not_ready,omitempty"`
}

func newLabStatusCmd(dir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --dir DIR [--json]",
		Short: "List the lab's processes: per node whether it runs (running, paused, stopped), its pid, mode and epoch, and the primary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := loadLab(*dir)
			if err != nil {
				return err
			}
			doc, err := labStatus(cmd.Context(), l)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if asJSON {
				b, err := json.MarshalIndent(doc, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return nil
			}
			printLabStatus(cmd.OutOrStdout(), doc)
			return nil
		},
	}
	cmd.Flags().StringVar(dir, "dir", ".lab", "lab directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {dir, nodes: [{name, role, region, process, pid, api, mode, epoch, raft_state, error}], links, primary, not_ready}")
	return cmd
}

// labStatus gathers the process state of every node and the status
// document of those that answer.
func labStatus(ctx context.Context, l *lab.Lab) (labStatusDoc, error) {
	sts, errs, err := l.Statuses(ctx)
	if err != nil {
		return labStatusDoc{}, err
	}
	doc := labStatusDoc{Dir: l.Dir}
	for _, n := range l.Nodes {
		ps, _ := l.State(n.Name)
		r := labStatusRow{Name: n.Name, Role: n.Role, Region: n.Region, Process: ps, API: n.API}
		if ps != lab.ProcessStopped {
			r.PID = n.PID
		}
		if st := sts[n.Name]; st != nil {
			fillStatusRow(&r, st)
		} else if err := errs[n.Name]; err != nil && ps != lab.ProcessStopped {
			r.Error = err.Error()
		}
		doc.Nodes = append(doc.Nodes, r)
	}
	doc.Links.Process, doc.Links.Control = l.LinksState(), l.Links.Control
	if doc.Links.Process != lab.ProcessStopped {
		doc.Links.PID = l.Links.PID
	}
	if p, why := l.PrimaryIn(sts); why == "" {
		doc.Primary = &p
	} else {
		doc.NotReady = why
	}
	return doc, nil
}

func fillStatusRow(r *labStatusRow, st *node.Status) {
	if st.Failover != nil {
		r.Mode, r.Epoch = st.Failover.Mode, st.Failover.Epoch
	}
	if st.Cell != nil {
		r.RaftState = st.Cell.RaftState
	}
}

func printLabStatus(out io.Writer, doc labStatusDoc) {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	num := func(v int) string {
		if v == 0 {
			return "-"
		}
		return strconv.Itoa(v)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tREGION\tPROCESS\tPID\tAPI\tMODE\tEPOCH\tRAFT")
	for _, r := range doc.Nodes {
		mode, epoch := dash(r.Mode), "-"
		if r.Epoch > 0 {
			epoch = strconv.FormatUint(r.Epoch, 10)
		}
		if r.Error != "" {
			mode = "no answer"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Role, r.Region, r.Process, num(r.PID), r.API, mode, epoch, dash(r.RaftState))
	}
	fmt.Fprintf(tw, "links\t-\t-\t%s\t%s\t%s (control)\t-\t-\t-\n", doc.Links.Process, num(doc.Links.PID), doc.Links.Control)
	_ = tw.Flush()
	if doc.Primary != nil {
		fmt.Fprintf(out, "primary: %s\n", doc.Primary)
	} else {
		fmt.Fprintf(out, "no primary taking writes: %s\n", doc.NotReady)
	}
	var stopped []string
	for _, r := range doc.Nodes {
		if r.Process == lab.ProcessStopped {
			stopped = append(stopped, r.Name)
		}
	}
	if len(stopped) > 0 {
		fmt.Fprintf(out, "not running: %s: `jumeau lab start --dir %s NODE` (or `jumeau lab up --dir %s`) starts them\n", strings.Join(stopped, ", "), doc.Dir, doc.Dir)
	}
}
