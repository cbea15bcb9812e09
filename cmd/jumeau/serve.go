package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/node"
)

func newServeCmd() *cobra.Command {
	var cfgFile, gateLog string
	v := viper.New()
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run a node (site) until interrupted",
		Long: `Run a node. Settings come from the YAML file, then JUMEAU_* environment
variables (node.name -> JUMEAU_NODE_NAME), then the flags below. Unknown keys
are an error (check a file first with ` + "`jumeau config validate FILE`" + `).

SIGINT and SIGTERM stop the node. SIGHUP reloads, without a restart: the
certificate and key (the files tls.cert and tls.key name; a pair that does
not load is refused, logged, and the current one kept), log.level from the
file, and logs the revocation list the node checks against (it is read
again whenever it changes anyway). Other changed keys are logged as
waiting for a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgFile == "" {
				return usageErrorf("serve: --config FILE is required (see docs/config.md; `jumeau lab up` writes examples)")
			}
			// SIGHUP reloads (Go's default would end the process); one
			// that comes during the start is handled once it is done.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			cfg, err := node.LoadConfig(cfgFile, v)
			if err != nil {
				return err
			}
			logger, level := newLogger(cfg.Log.Level, cfg.Log.Format, cmd.ErrOrStderr())
			ctx, cancel := context.WithCancelCause(cmd.Context())
			defer cancel(nil)
			var writeLog func(epoch uint64, at time.Time)
			if gateLog != "" {
				// Fault tests: every write-gate pass, one line each (history/doc.go).
				g, err := history.OpenGateLog(gateLog, func(err error) {
					logger.Error("gate log: a write failed; the fault test's history is incomplete", "file", gateLog, "err", err)
				})
				if err != nil {
					return err
				}
				defer g.Close()
				writeLog = g.Pass
			}
			for {
				n, err := node.Start(cfg, node.Options{Logger: logger, LogLevel: level, RaftLog: cmd.ErrOrStderr(), OnFatal: func(err error) { cancel(err) }, WriteLog: writeLog})
				if err != nil {
					return err
				}
				reason, stop := waitNode(ctx, n, hup, func() {
					logger.Info("SIGHUP: reloading", "config", cfgFile)
					next, err := node.LoadConfig(cfgFile, v)
					if err != nil {
						n.Reload(nil, err)
						return
					}
					n.Reload(&next, nil)
				})
				if !stop {
					// A newer region epoch changed this node's mode
					// (demoted, rejoining, promoted, stepping down):
					// reopen the data directory in the new mode.
					logger.Warn("restarting the node in its new mode", "reason", reason)
					if err := n.Close(); err != nil {
						// The data is on disk; what failed to close
						// (a request cut short) does not stop the restart.
						logger.Warn("restart: the node did not close cleanly", "err", err)
					}
					continue
				}
				logger.Info("shutting down")
				cerr := n.Close()
				if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
					return fmt.Errorf("stopped: %w", cause)
				}
				return cerr
			}
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "", "configuration file (YAML)")
	cmd.Flags().String("log-level", "", "override log.level (debug, info, warn, error)")
	cmd.Flags().String("data-dir", "", "override node.data_dir")
	cmd.Flags().StringVar(&gateLog, "gate-log", "", "append every write-gate pass (\"<unix-nanos> <epoch>\") to FILE, for fault tests")
	_ = cmd.Flags().MarkHidden("gate-log")
	_ = v.BindPFlag("log.level", cmd.Flags().Lookup("log-level"))
	_ = v.BindPFlag("node.data_dir", cmd.Flags().Lookup("data-dir"))
	return cmd
}

// waitNode waits for n to need a restart in a new mode (stop false, with
// the reason) or for ctx to end (stop true), calling reload at each
// SIGHUP meanwhile.
func waitNode(ctx context.Context, n *node.Node, hup <-chan os.Signal, reload func()) (reason string, stop bool) {
	for {
		select {
		case <-hup:
			reload()
		case reason := <-n.Restarts():
			return reason, false
		case <-ctx.Done():
			return "", true
		}
	}
}

// newLogger is the node's logger on w, at level (a configuration
// log.level), in format (json or text); the LevelVar changes its level.
func newLogger(level, format string, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), lv
	}
	return slog.New(slog.NewJSONHandler(w, opts)), lv
}
