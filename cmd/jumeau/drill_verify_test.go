package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/report"
)

// forgeBesideT is the attack on a saved report: the attacker, who may
// write in the report tree but does not hold the drill key, lowers the
// report's RTO, signs it again with a key of their own and places that
// key's drill.pub in dir (beside the report, or in the history). It
// returns the attacker's public key file.
func forgeBesideT(tb testing.TB, reportPath, dir string) string {
	tb.Helper()
	data, err := os.ReadFile(reportPath)
	if err != nil {
		tb.Fatal(err)
	}
	// The attacker reads the report (it is public) and changes it.
	var env struct {
		Report json.RawMessage `json:"report"`
	}
	var r report.Report
	if err := json.Unmarshal(data, &env); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(env.Report, &r); err != nil {
		tb.Fatal(err)
	}
	r.RTOMs = 100
	r.Checks[0].Measured = "100ms"
	attacker := tb.TempDir()
	s := generateKeyT(tb, attacker)
	forged, err := report.Sign(&r, s)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(reportPath, forged, 0o640); err != nil {
		tb.Fatal(err)
	}
	pub := filepath.Join(dir, report.PubFile)
	copyFileT(tb, filepath.Join(attacker, report.PubFile), pub)
	return pub
}

func TestDrillVerify_ForgedReport(t *testing.T) {
	for _, place := range []string{"beside the report", "in the drill history"} {
		t.Run("re-signed, key "+place, func(t *testing.T) {
			lab := t.TempDir()
			path := savedReportT(t, lab, true)
			dir := filepath.Dir(path)
			if place == "in the drill history" {
				dir = filepath.Dir(dir)
			}
			forgeBesideT(t, path, dir)
			out, stderr, err := drillRunT(t, nil, "drill", "verify", path)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, report.ErrKeyInReportTree) {
				t.Fatalf("got %v (stdout %q, stderr %q), want exit 1 wrapping report.ErrKeyInReportTree", err, out, stderr)
			}
			if got := err.Error(); !strings.Contains(got, "--key") {
				t.Errorf("got %q, want it to say how to verify (--key or --key-id)", got)
			}
		})
	}
	t.Run("re-signed, cluster key pinned with --key", func(t *testing.T) {
		lab := t.TempDir()
		path := savedReportT(t, lab, true)
		forgeBesideT(t, path, filepath.Dir(path))
		_, _, err := drillRunT(t, nil, "drill", "verify", path, "--key", filepath.Join(lab, report.PubFile))
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, report.ErrUnknownKey) {
			t.Fatalf("got %v, want exit 1 wrapping report.ErrUnknownKey", err)
		}
	})
	t.Run("re-signed, attacker key passed, cluster key id pinned", func(t *testing.T) {
		lab := t.TempDir()
		path := savedReportT(t, lab, true)
		pub := forgeBesideT(t, path, t.TempDir())
		_, _, err := drillRunT(t, nil, "drill", "verify", path, "--key", pub, "--key-id", fingerprintT(t, filepath.Join(lab, report.PubFile)))
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, report.ErrKeyNotPinned) {
			t.Fatalf("got %v, want exit 1 wrapping report.ErrKeyNotPinned", err)
		}
	})
}

// generateKeyT makes a drill key pair in dir and returns its signer.
func generateKeyT(tb testing.TB, dir string) *report.Signer {
	tb.Helper()
	if err := report.GenerateKey(filepath.Join(dir, report.KeyFile), filepath.Join(dir, report.PubFile)); err != nil {
		tb.Fatal(err)
	}
	s, err := report.LoadSigner(filepath.Join(dir, report.KeyFile))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func copyFileT(tb testing.TB, from, to string) {
	tb.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// fingerprintT returns the fingerprint of the key in a drill.pub.
func fingerprintT(tb testing.TB, pub string) string {
	tb.Helper()
	v, err := report.LoadVerifier(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return v.Fingerprints()[0]
}

func TestDrillVerify_SeveralReports(t *testing.T) {
	lab := t.TempDir()
	good := savedReportT(t, lab, true)
	forged := savedReportT(t, lab, false) // the same second: saved as "...-2"
	forgeBesideT(t, forged, t.TempDir())
	pub := filepath.Join(lab, report.PubFile)
	out, _, err := drillRunT(t, nil, "drill", "verify", good, forged, "--key", pub)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, report.ErrUnknownKey) || !strings.Contains(err.Error(), forged) {
		t.Fatalf("got %v, want exit 1 naming %s (report.ErrUnknownKey)", err, forged)
	}
	if got, want := strings.Count(out, "signature verified"), 1; got != want || !strings.Contains(out, good) {
		t.Errorf("got %q, want %d line for %s", out, want, good)
	}
	out, _, err = drillRunT(t, nil, "drill", "verify", good, good, "--key", pub)
	if err != nil || strings.Count(out, "signature verified") != 2 {
		t.Errorf("two good reports: got %q, %v; want both verified", out, err)
	}
}
