package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/scenarios"
)

// drillSubcommands build the children of `jumeau drill`, in help order.
var drillSubcommands = []func() *cobra.Command{
	newDrillListCmd,
	newDrillShowCmd,
	newDrillValidateCmd,
	newDrillRunCmd,
	newDrillHistoryCmd,
	newDrillVerifyCmd,
}

func newDrillCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "SRE drills: earthquake and cyberattack scenarios as YAML timelines",
		Long: `A drill runs a scenario, a YAML timeline of a write load, faults (sites
killed, paused, restarted; links degraded, cut, healed) and attacks
(ransomware, forged WAL records, stolen certificates, replays), and checks
the measured outcome against its expectations (rpo, rto, acked_writes_lost,
split_brain, promotions, integrity, tamper_detected).

  jumeau drill list                      the built-in scenarios
  jumeau drill show earthquake-total     print one, to copy and edit
  jumeau drill validate my-drill.yaml    check a scenario file
  jumeau drill run earthquake-total --lab .lab/dr --report .lab/dr/drills
                                         run it on a local lab, measure, report
  jumeau drill history --dir .lab/dr/drills   past drills (--key drill.pub checks their signatures)
  jumeau drill verify REPORT.json --key .lab/dr/drill.pub
                                         check a report's signature (or pin --key-id SHA256)

The format is documented in docs/drills.md.`,
	}
	for _, sub := range drillSubcommands {
		cmd.AddCommand(sub())
	}
	return cmd
}

// drillListEntry is one line of `drill list` (one element of --json).
type drillListEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Duration    string `json:"duration"`
}

func newDrillListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the built-in scenarios: name, duration and what each simulates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries := []drillListEntry{}
			for _, name := range scenarios.Builtins() {
				s, err := scenarios.Builtin(name)
				if err != nil {
					return err
				}
				entries = append(entries, drillListEntry{Name: s.Name, Description: s.Description, Duration: s.Duration.String()})
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			printDrillList(out, entries)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: [{"name","description","duration"}]`)
	return cmd
}

// drillPlural writes "1 step", "2 steps".
func drillPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printDrillList writes the table of `drill list`.
func printDrillList(w io.Writer, entries []drillListEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDURATION\tDESCRIPTION")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Duration, e.Description)
	}
	tw.Flush()
}

func newDrillShowCmd() *cobra.Command {
	var expanded bool
	cmd := &cobra.Command{
		Use:   "show NAME [--expanded]",
		Short: "Print a built-in scenario as YAML, to copy and edit",
		Long: `Print the YAML file of a built-in scenario as written, with the comment
saying what it simulates and what it proves. Redirect it to a file, edit
it, check it with ` + "`jumeau drill validate FILE`" + `. --expanded prints the scenario
as parsed instead: every default written out, without the comments.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var b []byte
			var err error
			if expanded {
				var s *scenarios.Scenario
				if s, err = scenarios.Builtin(args[0]); err == nil {
					b, err = s.YAML()
				}
			} else {
				b, err = scenarios.BuiltinSource(args[0])
			}
			if err != nil {
				if errors.Is(err, scenarios.ErrUnknownBuiltin) {
					return fmt.Errorf("%w; to check a file of your own: jumeau drill validate FILE", err)
				}
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&expanded, "expanded", false, "print the parsed scenario, every default written out (no comments)")
	return cmd
}

func newDrillValidateCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate FILE... [--json]",
		Short: "Check scenario files; every problem is printed with its line and field",
		Long: `Parse and validate each scenario file ("-" reads standard input). A valid
file prints one line (its name, steps, duration and checks); an invalid one
prints every problem as FILE:LINE: FIELD: what is wrong and how to fix it,
and the command exits with status 1. --json prints one object per file on
standard output instead (the problems are still printed on standard error).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var problems []error
			docs := []validateDoc{}
			for _, path := range args {
				var s *scenarios.Scenario
				var err error
				if path == "-" {
					var data []byte
					data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), scenarios.MaxFileSize+1))
					if err == nil {
						s, err = scenarios.Parse("<stdin>", data)
					}
				} else {
					s, err = scenarios.Load(path)
				}
				if err != nil {
					problems = append(problems, err)
					docs = append(docs, validateDoc{File: path, Problems: validateIssues(err)})
					continue
				}
				steps := len(s.Faults) + len(s.Attacks)
				docs = append(docs, validateDoc{File: path, Valid: true, Name: s.Name, Steps: steps, Duration: s.Duration.String(), Checks: len(s.Expect)})
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: %s, %s over %v, %s\n",
						path, s.Name, drillPlural(steps, "step"), s.Duration, drillPlural(len(s.Expect), "check"))
				}
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), docs); err != nil {
					return err
				}
			}
			if len(problems) > 0 {
				return &exitError{code: 1, err: errors.Join(problems...)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: [{"file","valid","name","steps","duration","checks","problems":[{"line","field","message"}]}]`)
	return cmd
}
