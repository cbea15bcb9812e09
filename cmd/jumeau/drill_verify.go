package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/report"
)

func newDrillVerifyCmd() *cobra.Command {
	var key, keyID string
	cmd := &cobra.Command{
		Use:   "verify REPORT (--key PUB | --key-id SHA256) [--key PUB --key-id SHA256]",
		Short: "Check a signed drill report (report.json) against the cluster's drill public key",
		Long: `Verify the signature of a report.json saved by drill run --report.

Pin the key the report must be signed with:

  --key PUB          trust the drill public key(s) in this PEM file (drill.pub)
  --key-id SHA256    trust only the key with this fingerprint: the SHA-256
                     of its DER encoding, 64 hex characters, as
                     ` + "`openssl pkey -pubin -in drill.pub -outform DER | sha256sum`" + `
                     prints (or its 16-character key id)

With --key-id alone, the key is looked up as without a pin, then must match.
With neither, the first drill.pub in the directories above the report's
tree (the lab directory above its drill history) is used, and a warning on
standard error names it: such a key proves only that the report and the key
agree. A drill.pub beside the report or in its drill history is refused:
whoever can alter the report can place one there.

Exit status 1 when the report or its signature was altered or the key is not
the trusted one, 2 when it cannot be checked (no key found, bad arguments).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			source := "given with --key"
			if key == "" {
				p, err := report.FindPublicKey(path)
				switch {
				case errors.Is(err, report.ErrKeyInReportTree):
					return &exitError{code: 1, err: fmt.Errorf("drill verify %s: %w; verify with the cluster's key: --key PUB or --key-id SHA256", path, err)}
				case errors.Is(err, report.ErrNoPublicKey):
					return fmt.Errorf("drill verify %s: %w; give the cluster's drill public key with --key PUB", path, err)
				case err != nil:
					return err
				}
				key, source = p, "found above the report"
			}
			v, err := report.LoadVerifier(key)
			if err != nil {
				return err
			}
			if keyID != "" {
				if v, err = v.Pin(keyID); err != nil {
					if errors.Is(err, report.ErrKeyNotPinned) {
						return &exitError{code: 1, err: fmt.Errorf("drill verify %s: %s: %w", path, key, err)}
					}
					return err
				}
			} else if source != "given with --key" {
				fps := v.Fingerprints()
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: drill verify: no --key or --key-id given: trusting the drill public key %s %s (key ids %v, SHA-256 fingerprints %v).\n"+
					"WARNING: it proves only that the report and this key agree; pin the cluster's key: --key-id %s\n",
					source, key, v.KeyIDs(), fps, fps[0])
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			r, sig, err := report.VerifySignature(data, v)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", path, err)}
			}
			verdict := "passed"
			if !r.Passed {
				verdict = "failed"
			}
			pinned := ""
			if keyID != "" {
				pinned = ", pinned"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: signature verified with key %s (%s%s): drill %s of %s %s (RPO %d lost writes, RTO %d ms)\n",
				path, sig.KeyID, key, pinned, r.Scenario, r.StartedAt.UTC().Format(time.RFC3339), verdict, r.RPO.LostWrites, r.RTOMs)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "drill public key PEM file (drill.pub) of the cluster")
	cmd.Flags().StringVar(&keyID, "key-id", "", "SHA-256 fingerprint (64 hex) or key id (16 hex) of the only key to trust")
	return cmd
}
