package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// exitStatus is the process's exit status.
type exitStatus int

// The exit statuses of every jumeau command.
const (
	// exitOK: the command did what it was asked.
	exitOK exitStatus = 0
	// exitFailure: the command line was fine, but what it asked failed
	// or found a problem (a node unreachable or refusing, a key missing,
	// a file invalid, a drill failed).
	exitFailure exitStatus = 1
	// exitUsage: the command line itself is wrong (an unknown command or
	// flag, a wrong number of arguments, a missing or conflicting flag);
	// nothing was attempted.
	exitUsage exitStatus = 2
)

// exitError carries a specific exit status (e.g. 1 for a missing key).
type exitError struct {
	code exitStatus
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a command line jumeau cannot run as given; it exits with
// exitUsage and main points at the command's --help.
type usageError struct {
	cmd string // the command path ("jumeau certs issue"), for the hint
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf is a usageError; the command it is returned from (through
// markUsageErrors) fills in its path.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// asUsage marks err, returned while cmd's command line was checked, as a
// usage error of cmd (nil stays nil).
func asUsage(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.cmd == "" {
			ue.cmd = cmd.CommandPath()
		}
		return err
	}
	return &usageError{cmd: cmd.CommandPath(), err: err}
}

// exitCode is the exit status of a command that returned err: an
// exitError's own, exitUsage for a usage error, exitFailure for any other
// error.
func exitCode(err error) exitStatus {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// usageHint is the line main prints under a usage error.
func usageHint(err error) string {
	var ue *usageError
	if !errors.As(err, &ue) {
		return ""
	}
	cmd := ue.cmd
	if cmd == "" {
		cmd = "jumeau"
	}
	return fmt.Sprintf("Run '%s --help' for usage.", cmd)
}

// markUsageErrors makes every error cobra finds in a command line of the
// tree under root a usageError: unknown flags and flag values, argument
// counts, required and grouped flags, and unknown subcommands (a command
// that only groups others says so instead of printing its help). The
// usage errors a command returns itself get its path.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return asUsage(c, err) })
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if cmd.SuggestionsMinimumDistance <= 0 {
					cmd.SuggestionsMinimumDistance = 2
				}
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += " (did you mean " + strings.Join(s, " or ") + "?)"
				}
				return asUsage(cmd, errors.New(msg))
			}
		} else {
			args := c.Args
			if args == nil {
				args = cobra.ArbitraryArgs
			}
			c.Args = func(cmd *cobra.Command, a []string) error { return asUsage(cmd, args(cmd, a)) }
			prev := c.PreRunE
			c.PreRunE = func(cmd *cobra.Command, a []string) error {
				if err := cmd.ValidateRequiredFlags(); err != nil {
					return asUsage(cmd, err)
				}
				if err := cmd.ValidateFlagGroups(); err != nil {
					return asUsage(cmd, err)
				}
				if prev != nil {
					return asUsageIf(cmd, prev(cmd, a))
				}
				return nil
			}
			if run := c.RunE; run != nil {
				c.RunE = func(cmd *cobra.Command, a []string) error { return asUsageIf(cmd, run(cmd, a)) }
			}
		}
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(root)
}

// asUsageIf names cmd in err if err is a usageError without a command.
func asUsageIf(cmd *cobra.Command, err error) error {
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == "" {
		ue.cmd = cmd.CommandPath()
	}
	return err
}
