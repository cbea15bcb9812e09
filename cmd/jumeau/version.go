package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build metadata, set at build time by `make build`:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=0123abcd -X main.buildDate=2026-01-02T03:04:05Z"
//
// Those left unset come from the module's build information (a `go
// build` or `go install` in a git checkout records vcs.revision and
// vcs.time), else they read "dev" or "unknown".
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// unknownBuild stands for a commit or build date the binary does not know.
const unknownBuild = "unknown"

// buildInfo is what `jumeau version` prints (and its --json form).
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	BuildDate string `json:"build_date"`
	Platform  string `json:"platform"`
}

// currentBuild is this binary's build metadata.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, buildDate, bi)
}

// resolveBuild fills what the -ldflags values (ver, rev, date) leave
// empty from bi (nil: no build information): the main module's version,
// vcs.revision (with "-dirty" when vcs.modified) and vcs.time.
func resolveBuild(ver, rev, date string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: ver, Commit: rev, BuildDate: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if b.Version == "" || b.Version == "dev" {
			if v := bi.Main.Version; v != "" && v != "(devel)" {
				b.Version = v
			}
		}
		var modified bool
		var vcsRev, vcsTime string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Commit == "" && vcsRev != "" {
			b.Commit = vcsRev
			if modified {
				b.Commit += "-dirty"
			}
		}
		if b.BuildDate == "" {
			b.BuildDate = vcsTime
		}
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = unknownBuild
	}
	if b.BuildDate == "" {
		b.BuildDate = unknownBuild
	}
	return b
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, commit, Go version and build date on standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			}
			_, err := fmt.Fprintf(out, "jumeau %s\n  commit: %s\n  go:     %s %s\n  built:  %s\n", b.Version, b.Commit, b.GoVersion, b.Platform, b.BuildDate)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: {"version","commit","go_version","build_date","platform"}`)
	return cmd
}
