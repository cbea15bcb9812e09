package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/drill"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// loadScenario reads NAME|FILE: a file when one exists at that path (or
// the argument looks like a path), else a built-in. It returns the
// scenario and its source, the bytes the report's scenario_sha256 digests.
func loadScenario(arg string) (*scenarios.Scenario, []byte, error) {
	if _, err := os.Stat(arg); err == nil || strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		f, err := os.Open(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("scenarios: load: %w", err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, scenarios.MaxFileSize+1))
		if err != nil {
			return nil, nil, fmt.Errorf("scenarios: load %s: %w", arg, err)
		}
		s, err := scenarios.Parse(arg, data)
		return s, data, err
	}
	s, err := scenarios.Builtin(arg)
	if errors.Is(err, scenarios.ErrUnknownBuiltin) {
		return nil, nil, fmt.Errorf("%w (or give the path of a scenario file)", err)
	}
	if err != nil {
		return nil, nil, err
	}
	src, err := scenarios.BuiltinSource(arg)
	return s, src, err
}

func newDrillRunCmd() *cobra.Command {
	var labDir, reportDir, writesFile string
	var primaries []string
	var asJSON, keep, verbose, live bool
	var scale float64
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "run NAME|FILE [--lab DIR | --live (--lab DIR | --endpoint TWIN --primary SITE --ca CA --cert ADMIN.crt --key ADMIN.key)] [--json] [--report DIR] [--scale F] [--keep]",
		Short: "Run a drill on a lab (created if needed) and measure RPO, RTO and the scenario's checks",
		Long: `Run a built-in scenario (jumeau drill list) or a scenario file on the lab in
DIR, created with the scenario's topology if DIR has none. A load generator
writes during the whole drill and records every write; the timeline's
faults and attacks run at their offsets; then the drill measures, never
assumes: RPO (acknowledged writes missing on the primary, read back),
RTO (fault to the first write accepted after it), split brain (the nodes'
gate logs against the witness's epochs), promotions, integrity (every
node on the same WAL) and tamper detection, and checks the scenario's
expectations.

Progress goes to standard error; the result table (or --json) to standard
output. --report DIR saves the signed report.json and report.html in the
drill history DIR; the drill key is created if absent: the private key in
LAB/secrets/drill.key (0600), the public key, for auditors, in
LAB/drill.pub. DIR must not hold the private key (use LAB/drills, not
LAB). The exit status is 1 when a check failed (the report is still
printed and saved), 2 when the drill could not run.

--live runs the non-disruptive drill against a running deployment instead:
the twin (the single --endpoint, with admin credentials, or the twin of
--lab) clones its store from a Pebble checkpoint, verifies the clone's hash
chain and state, promotes the clone in isolation (a cell of one on a
loopback endpoint that knows no peer, with a copy of the keyring), times
its first accepted write (RTO), and throws it away; replication never
stops. Meanwhile at least 10 small marker keys are written through the
primary (the sites of --lab, or --primary) in namespace jumeau-drill, and
replication_continued passes only if the twin then returns every one the
primary acknowledged. The scenario's rto and integrity expectations are
checked; the others need real faults (lab drills). With --endpoint and
--report, the drill key is drill.key and drill.pub in --key-dir (created
if absent).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, source, err := loadScenario(args[0])
			if err != nil {
				return err
			}
			// The drill key is checked before the drill runs, not after.
			var signer *report.Signer
			if reportDir != "" {
				k, err := drillKeyOf(labDir, cf.keyDir, live, cmd.Flags().Changed("lab"))
				if err != nil {
					return err
				}
				if signer, err = k.signer(reportDir, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if live {
				t, err := liveTargets(labDir, &cf, primaries, cmd.Flags().Changed("lab"))
				if err != nil {
					return err
				}
				defer t.close()
				ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
				defer cancel()
				rep, err := runLiveDrill(ctx, t, s, source)
				if err != nil {
					return err
				}
				return finishDrill(cmd, rep, asJSON, reportDir, signer)
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			rep, err := drill.Run(cmd.Context(), drill.Options{
				Dir: labDir, Binary: bin, Scenario: s, ScenarioSource: source, Scale: scale, Keep: keep, Version: version, WritesFile: writesFile,
				Progress: cmd.ErrOrStderr(),
				Logger:   slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
			})
			if err != nil {
				return err
			}
			return finishDrill(cmd, rep, asJSON, reportDir, signer)
		},
	}
	cmd.Flags().BoolVar(&live, "live", false, "the live, non-disruptive drill on a running deployment's twin (see above)")
	cmd.Flags().StringSliceVar(&cf.endpoints, "endpoint", nil, "with --live: the twin's API address host:port")
	cmd.Flags().StringSliceVar(&primaries, "primary", nil, "with --live --endpoint: API address(es) of Monaco sites to write the replication markers through (same --ca/--cert/--key)")
	cmd.Flags().StringVar(&cf.ca, "ca", "", "with --live --endpoint: CA certificate of the deployment")
	cmd.Flags().StringVar(&cf.cert, "cert", "", "with --live --endpoint: admin certificate")
	cmd.Flags().StringVar(&cf.key, "key", "", "with --live --endpoint: admin private key")
	cmd.Flags().StringVar(&cf.keyDir, "key-dir", "", "with --live --endpoint --report: directory of the drill key (drill.key, drill.pub; created if absent)")
	cmd.Flags().DurationVar(&cf.timeout, "timeout", 2*time.Minute, "with --live: how long the twin may take")
	cmd.Flags().StringVar(&labDir, "lab", ".lab", "lab directory (created with the scenario's topology if it holds no lab)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print the report as JSON: {"scenario","passed","rpo","rto_ms","checks","timeline",...}`)
	cmd.Flags().StringVar(&reportDir, "report", "", "save the signed report.json and report.html in this drill history directory")
	cmd.Flags().Float64Var(&scale, "scale", 1, "multiply every offset and duration of the timeline (0.5: a drill of half the length); the expectations are not scaled")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running after the drill")
	cmd.Flags().StringVar(&writesFile, "writes", "", "write the load's history to FILE, one JSON line per write {key, node, durability, acked, wal_index, sent, done}")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "debug logs on standard error")
	return cmd
}

// drillKeyOf is where the drill key lives: the lab's (its secrets
// directory and drill.pub), or --key-dir's for a live drill given
// --endpoint.
func drillKeyOf(labDir, keyDir string, live, labSet bool) (drillKey, error) {
	switch {
	case keyDir != "":
		return dirDrillKey(keyDir), nil
	case live && !labSet:
		return drillKey{}, errors.New("drill run: --report needs a drill key: pass --key-dir DIR (drill.key and drill.pub are created there if absent; keep DIR out of the report directory)")
	}
	return labDrillKey(labDir), nil
}

// finishDrill prints the report, saves it signed by signer in the drill
// history reportDir (if set), and maps a failed check to exit status 1.
func finishDrill(cmd *cobra.Command, rep *report.Report, asJSON bool, reportDir string, signer *report.Signer) error {
	out := cmd.OutOrStdout()
	if asJSON {
		if err := report.WriteJSON(out, rep); err != nil {
			return err
		}
	} else {
		printDrillResult(out, rep)
	}
	if reportDir != "" {
		path, err := report.History{Dir: reportDir}.Save(rep, signer)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "report: %s\n        %s\n", path, filepath.Join(filepath.Dir(path), report.HTMLFile))
	}
	if !rep.Passed {
		failed := 0
		for _, c := range rep.Checks {
			if !c.Passed {
				failed++
			}
		}
		return &exitError{code: 1, err: fmt.Errorf("drill %s did not pass: %d of %d checks failed", rep.Scenario, failed, len(rep.Checks))}
	}
	return nil
}

// printDrillResult writes the summary and the checks table.
func printDrillResult(w io.Writer, r *report.Report) {
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "drill %s: %s\n", r.Scenario, verdict)
	if r.Mode == report.ModeLive {
		fmt.Fprintf(w, "  RTO   %d ms (promotion of an isolated clone of the twin, to its first accepted write)\n", r.RTOMs)
		fmt.Fprintf(w, "  RPO   not measured: a live drill loses nothing by design (lab drills measure it)\n")
		if r.Load.Sent > 0 {
			fmt.Fprintf(w, "  markers  %d written through the primary, %d acknowledged, %d failed%s\n", r.Load.Sent, r.Load.Acked, r.Load.Failed, failuresText(r.Load.Failures))
		}
	} else {
		fmt.Fprintf(w, "  RPO   %d acknowledged writes lost (%d B), window %d ms\n", r.RPO.LostWrites, r.RPO.LostBytes, r.RPO.WindowMs)
		fmt.Fprintf(w, "  RTO   %d ms\n", r.RTOMs)
		fmt.Fprintf(w, "  load  %d writes sent, %d acknowledged, %d failed%s\n", r.Load.Sent, r.Load.Acked, r.Load.Failed, failuresText(r.Load.Failures))
	}
	if o := r.Operator; o != nil {
		fmt.Fprintf(w, "  run by %s (%s); scenario sha256 %s\n", o.Identity, o.Source, r.ScenarioSHA256)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tEXPECTED\tMEASURED\tRESULT")
	for _, c := range r.Checks {
		res := "pass"
		if !c.Passed {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Expected, c.Measured, res)
	}
	tw.Flush()
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  - %s\n", f)
	}
}

// failuresText is " (12 connection_refused, 3 client_timeout)", or ""
// without failures.
func failuresText(fs []report.FailureCount) string {
	if len(fs) == 0 {
		return ""
	}
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%d %s", f.Count, f.Cause))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// historyRow is one element of `drill history --json`.
type historyRow struct {
	Time     time.Time  `json:"time"`
	Scenario string     `json:"scenario"`
	Passed   bool       `json:"passed"`
	RPO      report.RPO `json:"rpo"`
	RTOMs    int64      `json:"rto_ms"`
	Path     string     `json:"path"`
	KeyID    string     `json:"key_id,omitempty"`
	Verified bool       `json:"verified"`
	Error    string     `json:"error,omitempty"`
}

func newDrillHistoryCmd() *cobra.Command {
	var dir, key string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history --dir DIR [--key PUB] [--json]",
		Short: "List the drills of a drill history, newest first (verified with --key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkHistoryDir(dir); err != nil {
				return err
			}
			h := report.History{Dir: dir}
			if key != "" {
				v, err := report.LoadVerifier(key)
				if err != nil {
					return err
				}
				h.Verifier = v
			}
			entries, err := h.List()
			if err != nil {
				return err
			}
			rows := []historyRow{}
			for _, e := range entries {
				row := historyRow{Time: e.Time, Scenario: e.Scenario, Passed: e.Passed, RPO: e.RPO, RTOMs: e.RTOMs, Path: e.Path, KeyID: e.KeyID, Verified: e.Verified}
				if e.Err != nil {
					row.Error = e.Err.Error()
				}
				rows = append(rows, row)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME (UTC)\tSCENARIO\tRESULT\tLOST WRITES\tRTO\tSIGNATURE\tREPORT")
			for _, r := range rows {
				res := "PASS"
				if !r.Passed {
					res = "FAIL"
				}
				sig := "not checked (--key)"
				switch {
				case r.Error != "":
					sig, res = "ERROR: "+r.Error, "?"
				case r.Verified:
					sig = "verified " + r.KeyID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d ms\t%s\t%s\n", r.Time.UTC().Format("2006-01-02 15:04:05"), r.Scenario, res, r.RPO.LostWrites, r.RTOMs, sig, r.Path)
			}
			tw.Flush()
			for _, r := range rows {
				if r.Error != "" {
					return &exitError{code: 1, err: fmt.Errorf("drill history %s: some reports do not verify", dir)}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "drill history directory (the --report DIR of drill run)")
	cmd.Flags().StringVar(&key, "key", "", "verify every report with the drill public key(s) in this PEM file (drill.pub)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// checkHistoryDir refuses a drill history directory that is not given or
// not there: an empty listing would read as "no drill ran".
func checkHistoryDir(dir string) error {
	if dir == "" {
		return usageErrorf("drill history: --dir DIR is required: the directory drill run --report DIR saves reports in")
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("drill history: %s does not exist: pass the --report DIR of `jumeau drill run` (no drill has saved a report there yet)", dir)
	case err != nil:
		return fmt.Errorf("drill history: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("drill history: %s is not a directory: pass the --report DIR of `jumeau drill run`", dir)
	}
	return nil
}
