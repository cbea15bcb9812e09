package main

import (
	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/node"
)

func newRootCmd() *cobra.Command {
	b := currentBuild()
	node.Version, node.Commit = b.Version, b.Commit
	root := &cobra.Command{
		Use:   "jumeau",
		Short: "Geo-redundant disaster-recovery replication: a Raft cell of Monaco sites and its Luxembourg twin",
		Long: `jumeau keeps a live, verifiable, encrypted digital twin of sensitive data.

A Raft cell of primary sites commits every write to a quorum, seals values
with per-namespace data keys and records them in a hash-chained WAL.

Exit status: 0 success; 1 what was asked failed (a node unreachable or
refusing, a key missing, a file invalid); 2 the command line is wrong
(unknown command or flag, wrong arguments, missing or conflicting flags).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newConfigCmd(),
		newCertsCmd(),
		newPutCmd(), newGetCmd(), newDelCmd(), newLsCmd(),
		newStatusCmd(),
		newFailoverCmd(),
		newLabCmd(),
		newBenchCmd(),
		newDrillCmd(),
		newVersionCmd(),
	)
	markUsageErrors(root)
	addCompletions(root)
	return root
}
