package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/monaco-sovereign/jumeau/report"
)

func newDrillVerifyCmd() *cobra.Command {
	var key, keyID string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify REPORT... (--key PUB | --key-id SHA256) [--key PUB --key-id SHA256] [--json]",
		Short: "Check signed drill reports (report.json) against the cluster's drill public key",
		Long: `Verify the signature of each report.json saved by drill run --report.

Pin the key the reports must be signed with:

  --key PUB          trust the drill public key(s) in this PEM file (drill.pub)
  --key-id SHA256    trust only the key with this fingerprint: the SHA-256
                     of its DER encoding, 64 hex characters, as
                     ` + "`openssl pkey -pubin -in drill.pub -outform DER | sha256sum`" + `
                     prints (or its 16-character key id)

With --key-id alone, the key is looked up as without a pin, then must match.
With neither, the first drill.pub in the directories above a report's tree
(the lab directory above its drill history) is used, and a warning on
standard error names it: such a key proves only that the report and the key
agree. A drill.pub beside the report or in its drill history is refused:
whoever can alter the report can place one there.

One line per report verified; with --json, one object per report on
standard output (the errors are still printed on standard error). Exit status 1 when a report or its signature
was altered or the key is not the trusted one, 2 when the reports cannot be
checked (no key found, bad arguments).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var given *report.Verifier
			if key != "" {
				v, err := report.LoadVerifier(key)
				if err != nil {
					return err
				}
				if keyID != "" {
					if v, err = v.Pin(keyID); err != nil {
						if errors.Is(err, report.ErrKeyNotPinned) {
							return &exitError{code: 1, err: fmt.Errorf("drill verify: %s: %w", key, err)}
						}
						return err
					}
				}
				given = v
			} else if keyID != "" {
				// Check the pin's shape before looking for keys.
				if _, err := report.NewVerifier().Pin(keyID); errors.Is(err, report.ErrBadKeyID) {
					return err
				}
			}
			var failed, unchecked []error
			warned := map[string]bool{}
			docs := []verifyDoc{}
			for _, path := range args {
				d, err := verifyOne(cmd.ErrOrStderr(), path, key, keyID, given, warned)
				if err != nil {
					d = verifyDoc{Report: path, Error: err.Error()}
				}
				docs = append(docs, d)
				if err == nil && !asJSON {
					printVerified(cmd.OutOrStdout(), d)
				}
				switch {
				case err == nil:
				case errors.Is(err, report.ErrNoPublicKey):
					unchecked = append(unchecked, err)
				default:
					failed = append(failed, err)
				}
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), docs); err != nil {
					return err
				}
			}
			if len(failed) > 0 {
				return &exitError{code: 1, err: errors.Join(append(failed, unchecked...)...)}
			}
			return errors.Join(unchecked...)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "drill public key PEM file (drill.pub) of the cluster")
	cmd.Flags().StringVar(&keyID, "key-id", "", "SHA-256 fingerprint (64 hex) or key id (16 hex) of the only key to trust")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: [{"report","verified","error","key_id","key_file","pinned","drill":{"scenario","started_at","passed","rpo_lost_writes","rto_ms"}}]`)
	return cmd
}

// verifyOne verifies the report at path with given (the --key), or with
// the key found above it, pinned to keyID if set; an unpinned key found is
// named on stderr once (warned). It returns what it verified.
func verifyOne(stderr io.Writer, path, key, keyID string, given *report.Verifier, warned map[string]bool) (verifyDoc, error) {
	v := given
	if v == nil {
		p, err := report.FindPublicKey(path)
		switch {
		case errors.Is(err, report.ErrKeyInReportTree):
			return verifyDoc{}, fmt.Errorf("drill verify %s: %w; verify with the cluster's key: --key PUB or --key-id SHA256", path, err)
		case errors.Is(err, report.ErrNoPublicKey):
			return verifyDoc{}, fmt.Errorf("drill verify %s: %w; give the cluster's drill public key with --key PUB", path, err)
		case err != nil:
			return verifyDoc{}, err
		}
		key = p
		if v, err = report.LoadVerifier(p); err != nil {
			return verifyDoc{}, err
		}
		if keyID != "" {
			if v, err = v.Pin(keyID); err != nil {
				return verifyDoc{}, fmt.Errorf("drill verify %s: %s: %w", path, p, err)
			}
		} else if !warned[p] {
			warned[p] = true
			fps := v.Fingerprints()
			fmt.Fprintf(stderr, "WARNING: drill verify: no --key or --key-id given: trusting the drill public key found above the report %s (key ids %v, SHA-256 fingerprints %v).\n"+
				"WARNING: it proves only that the report and this key agree; pin the cluster's key: --key-id %s\n",
				p, v.KeyIDs(), fps, fps[0])
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return verifyDoc{}, err
	}
	r, sig, err := report.VerifySignature(data, v)
	if err != nil {
		return verifyDoc{}, fmt.Errorf("%s: %w", path, err)
	}
	return verifyDoc{Report: path, Verified: true, KeyID: sig.KeyID, KeyFile: key, Pinned: keyID != "",
		Drill: &verifyDrill{Scenario: r.Scenario, StartedAt: r.StartedAt.UTC(), Passed: r.Passed, LostWrites: r.RPO.LostWrites, RTOMs: r.RTOMs}}, nil
}

// printVerified writes the line of a verified report.
func printVerified(w io.Writer, d verifyDoc) {
	verdict := "passed"
	if !d.Drill.Passed {
		verdict = "failed"
	}
	pinned := ""
	if d.Pinned {
		pinned = ", pinned"
	}
	fmt.Fprintf(w, "%s: signature verified with key %s (%s%s): drill %s of %s %s (RPO %d lost writes, RTO %d ms)\n",
		d.Report, d.KeyID, d.KeyFile, pinned, d.Drill.Scenario, d.Drill.StartedAt.Format(time.RFC3339), verdict, d.Drill.LostWrites, d.Drill.RTOMs)
}
