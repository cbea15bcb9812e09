package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/monaco-sovereign/jumeau/node"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check node configuration files"}
	cmd.AddCommand(newConfigValidateCmd())
	return cmd
}

// configResult is the verdict on one file (an element of --json).
type configResult struct {
	File  string `json:"file"`
	Valid bool   `json:"valid"`
	// Node is role/region/name of a file that decodes.
	Node string `json:"node,omitempty"`
	// FilesChecked says whether the files it names were read too.
	FilesChecked bool     `json:"files_checked"`
	Problems     []string `json:"problems,omitempty"`
}

func newConfigValidateCmd() *cobra.Command {
	var asJSON, skipFiles bool
	cmd := &cobra.Command{
		Use:   "validate FILE... [--skip-files] [--json]",
		Short: "Check node configuration files as serve would, without starting: every problem, with its key and the fix",
		Long: `Read each configuration file as ` + "`jumeau serve --config FILE`" + ` would (the file,
then the JUMEAU_* environment variables) and check it, starting nothing
and writing nothing. Every problem found is printed, each naming its key
and the fix, not only the first.

Then, unless --skip-files (for a machine that does not hold them), read
the files a valid configuration names, as serve would at its start: the
TLS certificate, key (mode 0600) and CA (the certificate must chain to
the CA and carry node.role/region/name), the key-encryption key of a site
or twin, and the data directory's mode if it exists.

Exits 0 if every file is valid, 1 if one is not, 2 on a usage error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			results := make([]configResult, 0, len(args))
			var problems []error
			for _, file := range args {
				r := checkConfigFile(file, !skipFiles)
				results = append(results, r)
				for _, p := range r.Problems {
					problems = append(problems, fmt.Errorf("%s: %s", file, p))
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printJSON(out, results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.Valid {
						checked := "the files it names read fine"
						if !r.FilesChecked {
							checked = "files not read (--skip-files)"
						}
						fmt.Fprintf(out, "%s: ok: %s (%s)\n", r.File, r.Node, checked)
					}
				}
			}
			if len(problems) > 0 {
				invalid := 0
				for _, r := range results {
					if !r.Valid {
						invalid++
					}
				}
				if asJSON {
					return &exitError{code: exitFailure, err: fmt.Errorf("config validate: %d of %d files invalid", invalid, len(results))}
				}
				return &exitError{code: exitFailure, err: fmt.Errorf("config validate: %d of %d files invalid:\n%w", invalid, len(results), errors.Join(problems...))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipFiles, "skip-files", false, "check the configuration only, not the certificate, key, KEK and data directory it names")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: [{"file","valid","node","files_checked","problems"}]`)
	return cmd
}

// checkConfigFile checks one configuration file (and, with files, what it
// names).
func checkConfigFile(file string, files bool) configResult {
	r := configResult{File: file}
	cfg, err := node.DecodeConfig(file, viper.New())
	if err != nil {
		r.Problems = []string{err.Error()}
		return r
	}
	r.Node = cfg.Node.Role + "/" + cfg.Node.Region + "/" + cfg.Node.Name
	if err := cfg.Validate(); err != nil {
		r.Problems = problemsOf(err)
		return r
	}
	if files {
		r.FilesChecked = true
		if err := node.CheckFiles(cfg); err != nil {
			r.Problems = problemsOf(err)
			return r
		}
	}
	r.Valid = true
	return r
}

// problemsOf lists the errors err joins, one line each.
func problemsOf(err error) []string {
	errs := []error{err}
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		errs = j.Unwrap()
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, strings.ReplaceAll(e.Error(), "\n", " "))
	}
	return out
}
