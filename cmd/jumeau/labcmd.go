package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "lab", Short: "Run a local topology of real jumeau processes on 127.0.0.1"}
	var dir string
	var sites int
	var delay time.Duration
	var raftLog string
	var twin, witness bool
	var wanRTT time.Duration
	var wanLoss float64
	var wanBandwidth int64
	var upJSON, downJSON bool
	up := &cobra.Command{
		Use:   "up --dir DIR [--twin [--wan-rtt 12ms] [--wan-loss P] [--wan-bandwidth B/s]] [--witness] [--json]",
		Short: "Create (or restart) the lab in DIR, start whatever does not run and wait for the primary of the current epoch",
		Long: `Create the lab in DIR, or restart an existing one as it was made (its
sites, twin, witness and link faults come from its files: --sites and the
link flags only shape a new lab). Starts the fault links and every node that
does not run, leaving running ones alone, then waits until the primary of
the current region epoch takes writes: the Monaco cell leader, or the
promoted twin after a promotion (the sites are then replicas). Exits 1 if
it is not ready in 30s or a node exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			opts := lab.Options{Dir: dir, Sites: sites, Binary: bin, LinkDelay: delay, RaftLogLevel: raftLog, Twin: twin, Witness: witness}
			if twin {
				opts.WANRTT, opts.WANLoss, opts.WANBandwidth = wanRTT, wanLoss, wanBandwidth
				if wanRTT <= 0 {
					return fmt.Errorf("--wan-rtt %v: use a round trip > 0 (e.g. 12ms, Monaco-Luxembourg)", wanRTT)
				}
			} else {
				for _, f := range []string{"wan-rtt", "wan-loss", "wan-bandwidth"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s shapes the link to the twin: add --twin", f)
					}
				}
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			running := map[string]bool{}
			if prev, err := lab.Load(dir); err == nil {
				for _, n := range prev.Nodes {
					ps, _ := prev.State(n.Name)
					running[n.Name] = ps != lab.ProcessStopped
				}
			}
			l, err := lab.Up(cmd.Context(), opts)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			// Up waited for the primary; this asks once more to name it.
			pctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			primary, err := l.WaitPrimary(pctx)
			cancel()
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			out := cmd.OutOrStdout()
			if upJSON {
				return printJSON(out, labUpDocOf(l, primary, running))
			}
			fmt.Fprintf(out, "lab up in %s: primary %s\n", l.Dir, primary)
			for _, n := range l.Nodes {
				how := "started"
				if running[n.Name] {
					how = "was running"
				}
				fmt.Fprintf(out, "  %-9s %-7s %-10s api %s  quic %s  metrics http://%s/metrics  pid %d (%s)\n", n.Name, n.Role, n.Region, n.API, n.QUIC, n.Metrics, n.PID, how)
			}
			fmt.Fprintf(out, "  %-9s control http://%s/links  pid %d\n", "links", l.Links.Control, l.Links.PID)
			if wan := l.WANLinks(); len(wan) > 0 {
				// Every WAN link has the same faults; each applies them in both directions.
				p := l.Links.Links[slices.IndexFunc(l.Links.Links, func(s lab.LinkSpec) bool { return s.Name == wan[0] })].Params
				bw := "unlimited"
				if p.Bandwidth > 0 {
					bw = fmt.Sprintf("%d B/s each way", p.Bandwidth)
				}
				fmt.Fprintf(out, "  %-9s %d links site<->%s: round trip %v, loss %g each way, bandwidth %s\n", "WAN", len(wan), lab.TwinName, 2*p.Delay, p.Loss, bw)
			}
			if wl := l.WitnessLinks(); len(wl) > 0 {
				p := l.Links.Links[slices.IndexFunc(l.Links.Links, func(s lab.LinkSpec) bool { return s.Name == wl[0] })].Params
				fmt.Fprintf(out, "  %-9s %d links to and from %s: round trip %v (a third place)\n", "witness", len(wl), lab.WitnessName, 2*p.Delay)
				fmt.Fprintf(out, "then: jumeau failover status --lab %s\n", dir)
			}
			at := ""
			if primary.Mode == lab.ModePrimary {
				// Commands without --node talk to the first site: a
				// replica now, which refuses writes.
				at = " --node " + primary.Name
			}
			fmt.Fprintf(out, "try: jumeau put --lab %s%s demo hello world && jumeau get --lab %s%s demo hello\n", dir, at, dir, at)
			return nil
		},
	}
	up.Flags().StringVar(&dir, "dir", ".lab", "lab directory")
	up.Flags().IntVar(&sites, "sites", 3, "number of Monaco sites")
	up.Flags().DurationVar(&delay, "link-delay", 0, "one-way delay added by every site-to-site fault link (e.g. 1ms)")
	up.Flags().StringVar(&raftLog, "raft-log-level", "warn", "hashicorp/raft log level in the node logs")
	up.Flags().BoolVar(&twin, "twin", false, "add the Luxembourg twin "+lab.TwinName+"; every site ships its WAL to it through a WAN fault link")
	up.Flags().DurationVar(&wanRTT, "wan-rtt", lab.DefaultWANRTT, "with --twin: round trip of the site<->twin links")
	up.Flags().Float64Var(&wanLoss, "wan-loss", 0, "with --twin: packet loss probability 0..1 of the site<->twin links, each way")
	up.Flags().Int64Var(&wanBandwidth, "wan-bandwidth", 0, "with --twin: bandwidth cap of the site<->twin links in bytes/s, each way (0 = none)")
	up.Flags().BoolVar(&upJSON, "json", false, `print JSON: {"dir","primary":{"name","epoch","region","mode"},"nodes":[{"name","role","region","api","quic","metrics","pid",...,"was_running"}],"links_control","links_pid"}`)
	up.Flags().BoolVar(&witness, "witness", false, "add the witness "+lab.WitnessName+" (a third region): the sites and the twin hold and grant the primary lease with it; with --twin, region failover")

	down := &cobra.Command{
		Use:   "down --dir DIR [--json]",
		Short: "Stop the lab's processes (SIGTERM, then SIGKILL); the data stays",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Load(dir)
			if err != nil {
				return err
			}
			if err := l.Down(10 * time.Second); err != nil {
				return err
			}
			if downJSON {
				return printJSON(cmd.OutOrStdout(), labDownDocOf(l))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab in %s stopped (data kept; `jumeau lab up --dir %s` restarts it)\n", l.Dir, dir)
			return nil
		},
	}
	down.Flags().StringVar(&dir, "dir", ".lab", "lab directory")
	down.Flags().BoolVar(&downJSON, "json", false, `print JSON: {"dir","nodes":[names]} (the processes stopped; the data stays)`)

	var config, control string
	links := &cobra.Command{
		Use:    "links --config FILE --control ADDR",
		Short:  "Run the lab's fault links (started by lab up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
			return lab.ServeLinks(cmd.Context(), config, control, logger)
		},
	}
	links.Flags().StringVar(&config, "config", "", "links file written by lab up")
	links.Flags().StringVar(&control, "control", "127.0.0.1:0", "control API address")

	var p faultlink.Params
	var linkName string
	var wan, toWitness bool
	fault := &cobra.Command{
		Use:   "fault --dir DIR [--link FROM->TO | --wan | --witness] [--delay D] [--jitter D] [--loss P] [--bandwidth B/s] [--blackhole]",
		Short: "Set the faults of one fault link, of every site-to-site link (the default), of every site<->twin link (--wan) or of every link to and from the witness (--witness)",
		Long: `Set the faults of fault links. The faults replace the link's current ones.
Without --link, --wan or --witness: every site-to-site link (the cell). With
--wan: every link between a site and the twin, both directions (site-a->lux-1
carries what site-a sends, WAL shipping; lux-1->site-a what the twin sends).
With --witness: every link to and from the witness (site-a->witness-1 carries
site-a's lease renewals, lux-1->witness-1 the twin's promotion requests; the
witness dials nobody). Each link applies its faults to both directions of the
traffic it relays: --delay 6ms on a link adds 12ms to a round trip. The
witness links start at 2ms each (a 4ms round trip).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := p.Validate(); err != nil {
				return err
			}
			if n := countTrue(wan, toWitness, linkName != ""); n > 1 {
				return errors.New("use one of --link, --wan and --witness, not several")
			}
			l, err := lab.Load(dir)
			if err != nil {
				return err
			}
			var names []string
			switch {
			case linkName != "":
				for _, s := range l.Links.Links {
					if s.Name == linkName {
						names = append(names, s.Name)
					}
				}
				if len(names) == 0 {
					return fmt.Errorf("no link %q in this lab (links are named like site-a->site-b, site-a->%s, site-a->%s)", linkName, lab.TwinName, lab.WitnessName)
				}
			case wan:
				if names = l.WANLinks(); len(names) == 0 {
					return fmt.Errorf("the lab in %s has no twin, so no WAN link: make one with `jumeau lab up --twin --dir NEWDIR`", dir)
				}
			case toWitness:
				if names = l.WitnessLinks(); len(names) == 0 {
					return fmt.Errorf("the lab in %s has no witness, so no witness link: make one with `jumeau lab up --witness --dir NEWDIR`", dir)
				}
			default:
				if names = l.CellLinks(); len(names) == 0 {
					return errors.New("this lab has no site-to-site link (one site): name a link with --link, or use --wan or --witness")
				}
			}
			body, _ := json.Marshal(p)
			for _, name := range names {
				req, _ := http.NewRequestWithContext(cmd.Context(), http.MethodPut, "http://"+l.Links.Control+"/links/"+name, bytes.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return fmt.Errorf("fault link control at %s: %w (is the lab up?)", l.Links.Control, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("link %s: %s", name, bytes.TrimSpace(b))
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "set %d link(s): %s\n", len(names), body)
			return nil
		},
	}
	fault.Flags().StringVar(&dir, "dir", ".lab", "lab directory")
	fault.Flags().StringVar(&linkName, "link", "", "link name FROM->TO (default: every site-to-site link)")
	fault.Flags().BoolVar(&wan, "wan", false, "every link between a site and the twin, both directions")
	fault.Flags().BoolVar(&toWitness, "witness", false, "every link to and from the witness (from the sites and the twin, and back)")
	fault.Flags().DurationVar(&p.Delay, "delay", 0, "one-way delay")
	fault.Flags().DurationVar(&p.Jitter, "jitter", 0, "delay jitter (+/-)")
	fault.Flags().Float64Var(&p.Loss, "loss", 0, "packet loss probability 0..1")
	fault.Flags().Int64Var(&p.Bandwidth, "bandwidth", 0, "bandwidth cap in bytes/s (0 = none)")
	fault.Flags().BoolVar(&p.Blackhole, "blackhole", false, "drop everything")

	cmd.AddCommand(up, down, links, fault)
	cmd.AddCommand(newLabNodeCmds(&dir)...)
	return cmd
}

// countTrue counts the true values among bs.
func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
