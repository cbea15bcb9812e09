package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
are an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgFile == "" {
				return usageErrorf("serve: --config FILE is required (see docs/config.md; `jumeau lab up` writes examples)")
			}
			cfg, err := node.LoadConfig(cfgFile, v)
			if err != nil {
				return err
			}
			logger := newLogger(cfg.Log.Level, cfg.Log.Format)
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
				n, err := node.Start(cfg, node.Options{Logger: logger, RaftLog: os.Stderr, OnFatal: func(err error) { cancel(err) }, WriteLog: writeLog})
				if err != nil {
					return err
				}
				select {
				case reason := <-n.Restarts():
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
				case <-ctx.Done():
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

func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
