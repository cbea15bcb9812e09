// Command jumeau is the geo-redundant disaster-recovery replication daemon
// and its command-line tools: serve, certs, config, put/get/del/ls,
// status, failover, lab, bench, drill and version.
//
// Exit statuses (exit.go): 0 success, 1 a failure of what was asked (a
// node unreachable or refusing, a key missing, a file invalid), 2 a
// command line that cannot run (unknown command or flag, wrong arguments).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jumeau:", err)
		if h := usageHint(err); h != "" {
			fmt.Fprintln(os.Stderr, h)
		}
	}
	os.Exit(int(exitCode(err)))
}

// run executes the command line args (without the program name); its
// error decides the exit status (exitCode).
func run(ctx context.Context, args []string) error {
	return runIO(ctx, args, os.Stdout, os.Stderr)
}

// runIO is run writing the commands' output to stdout and their messages
// (help on request, progress) to stderr.
func runIO(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}
