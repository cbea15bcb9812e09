package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// Dynamic shell completion (`jumeau completion bash|zsh|fish|powershell`
// prints the script; the shell then asks `jumeau __complete ...`):
//
//   - drill show NAME, drill run NAME|FILE: the built-in scenarios (run
//     also completes file names);
//   - lab start|stop|kill|restart NODE and every --node: the nodes of the
//     lab named by --lab (or --dir for the lab commands) read from its
//     lab.json; nothing when there is no lab;
//   - failover switchover --to: the regions of that lab;
//   - certs issue --role: the certificate roles;
//   - --durability: cell, twin.
//
// No command takes a consistency flag (get has --stale), so there is
// none to complete.

// labNodeCommands are the lab subcommands whose one argument is a node.
var labNodeCommands = []string{"start", "stop", "kill", "restart"}

// addCompletions registers the dynamic completions on the command tree
// under root, after the default completion command was added.
func addCompletions(root *cobra.Command) {
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		parent := ""
		if c.HasParent() {
			parent = c.Parent().Name()
		}
		switch {
		case parent == "drill" && c.Name() == "show":
			c.ValidArgsFunction = completeScenarios(cobra.ShellCompDirectiveNoFileComp)
		case parent == "drill" && c.Name() == "run":
			c.ValidArgsFunction = completeScenarios(cobra.ShellCompDirectiveDefault)
		case parent == "lab" && slices.Contains(labNodeCommands, c.Name()):
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return completeLabNodes(cmd, nil, toComplete)
			}
		case parent == "certs" && c.Name() == "issue":
			_ = c.RegisterFlagCompletionFunc("role", fixedCompletions(roleNames()...))
		case parent == "failover" && c.Name() == "switchover":
			_ = c.RegisterFlagCompletionFunc("to", completeLabRegions)
		case parent == completionCmdName:
			c.RunE = writeCompletionScript
		}
		if c.Flags().Lookup("node") != nil {
			_ = c.RegisterFlagCompletionFunc("node", completeLabNodes)
		}
		if c.Flags().Lookup("durability") != nil {
			_ = c.RegisterFlagCompletionFunc("durability", fixedCompletions(replicator.DurabilityCell.String(), replicator.DurabilityTwin.String()))
		}
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(root)
}

// completionCmdName is the name of cobra's default completion command.
const completionCmdName = "completion"

// writeCompletionScript is the run of `completion SHELL`: cobra's default
// writes to the output the root had when the command was made, before
// the caller set it; this writes to the command's output when it runs.
func writeCompletionScript(cmd *cobra.Command, _ []string) error {
	noDesc, _ := cmd.Flags().GetBool("no-descriptions")
	out, root := cmd.OutOrStdout(), cmd.Root()
	switch cmd.Name() {
	case "bash":
		return root.GenBashCompletionV2(out, !noDesc)
	case "zsh":
		if noDesc {
			return root.GenZshCompletionNoDesc(out)
		}
		return root.GenZshCompletion(out)
	case "fish":
		return root.GenFishCompletion(out, !noDesc)
	case "powershell":
		if noDesc {
			return root.GenPowerShellCompletion(out)
		}
		return root.GenPowerShellCompletionWithDesc(out)
	}
	return fmt.Errorf("completion: no script for shell %q: use bash, zsh, fish or powershell", cmd.Name())
}

// roleNames lists the certificate roles.
func roleNames() []string {
	var out []string
	for _, r := range pki.Roles() {
		out = append(out, string(r))
	}
	return out
}

// fixedCompletions completes from words (those starting with what is
// typed), never file names.
func fixedCompletions(words ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return withPrefix(words, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix keeps the words that start with prefix.
func withPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// completeScenarios completes the first argument with the built-in
// scenarios; dir says whether file names are completed too.
func completeScenarios(dir cobra.ShellCompDirective) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(scenarios.Builtins(), toComplete), dir
	}
}

// completionLab loads the lab the command line names: --lab, or --dir on
// the lab commands (its default .lab included). nil when there is none.
func completionLab(cmd *cobra.Command) *lab.Lab {
	flag := "lab"
	if cmd.HasParent() && cmd.Parent().Name() == "lab" {
		flag = "dir"
	}
	dir := ""
	if f := cmd.Flags().Lookup(flag); f != nil {
		dir = f.Value.String()
	}
	if dir == "" {
		return nil
	}
	l, err := lab.Load(dir)
	if err != nil {
		return nil
	}
	return l
}

// completeLabNodes completes a node name of the lab on the command line.
func completeLabNodes(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	l := completionLab(cmd)
	if l == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, n := range l.Nodes {
		names = append(names, n.Name)
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeLabRegions completes a region of the lab on the command line
// (the witness's excepted: it is never primary).
func completeLabRegions(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	l := completionLab(cmd)
	if l == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var regions []string
	for _, n := range l.Nodes {
		if n.Role != string(pki.RoleWitness) && !slices.Contains(regions, n.Region) {
			regions = append(regions, n.Region)
		}
	}
	return withPrefix(regions, toComplete), cobra.ShellCompDirectiveNoFileComp
}
