package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// ServeLinks runs the fault-link relays of a lab (the `jumeau lab links`
// process) until ctx ends: it reads the links file written by Up and
// serves the faultlink control API on control.
func ServeLinks(ctx context.Context, configFile, control string, logger *slog.Logger) error {
	b, err := os.ReadFile(configFile)
	if err != nil {
		return fmt.Errorf("lab links: %w", err)
	}
	var ls Links
	if err := json.Unmarshal(b, &ls); err != nil {
		return fmt.Errorf("lab links: %s: %w", configFile, err)
	}
	set := faultlink.NewSet(logger)
	defer set.Close()
	for _, s := range ls.Links {
		if _, err := set.Add(s.Name, s.Listen, s.Target, s.Params); err != nil {
			return fmt.Errorf("lab links: %w", err)
		}
	}
	ln, err := net.Listen("tcp", control)
	if err != nil {
		return fmt.Errorf("lab links: control listener: %w", err)
	}
	srv := &http.Server{Handler: set.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("fault links up", "links", len(ls.Links), "control", control)
	select {
	case <-ctx.Done():
		_ = srv.Close()
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("lab links: %w", err)
	}
}
