package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/drill"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// savedReportT signs a small report with a new drill key of the lab dir
// (dir/secrets/drill.key, dir/drill.pub) and saves it in the history
// dir/reports; it returns the report's path.
func savedReportT(tb testing.TB, dir string, passed bool) string {
	tb.Helper()
	s, err := labDrillKey(dir).signer(filepath.Join(dir, "reports"), io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026, 3, 14, 9, 15, 2, 0, time.UTC)
	r := report.New("earthquake-total", start)
	r.ScenarioSHA256 = strings.Repeat("ab", 32)
	r.Operator = &report.Operator{Identity: "sre", Source: report.OperatorOSUser}
	r.RPO = report.RPO{LostWrites: 3, LostBytes: 1536, WindowMs: 12}
	r.RTOMs = 3620
	r.AddCheck("rto", "<= 10s", "3.62s", passed)
	r.AddEvent(start.Add(6*time.Second), report.KindFault, "SIGKILL site-a, site-b, site-c")
	if err := r.Finish(start.Add(20 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	path, err := report.History{Dir: filepath.Join(dir, "reports")}.Save(r, s)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestDrillVerify(t *testing.T) {
	dir := t.TempDir()
	path := savedReportT(t, dir, true)
	t.Run("explicit key", func(t *testing.T) {
		out, _, err := drillRunT(t, nil, "drill", "verify", path, "--key", filepath.Join(dir, report.PubFile))
		if err != nil || !strings.Contains(out, "signature verified") || !strings.Contains(out, "earthquake-total") {
			t.Errorf("got %q, %v; want the report verified", out, err)
		}
	})
	t.Run("drill.pub found above the report, said on stderr", func(t *testing.T) {
		pub := filepath.Join(dir, report.PubFile)
		out, stderr, err := drillRunT(t, nil, "drill", "verify", path)
		if err != nil || !strings.Contains(out, pub) {
			t.Errorf("got %q, %v; want it verified with %s", out, err, pub)
		}
		for _, want := range []string{"WARNING", pub, fingerprintT(t, pub), "--key-id"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr: got %q, want %q in it", stderr, want)
			}
		}
	})
	t.Run("drill.pub found above the report, pinned with --key-id", func(t *testing.T) {
		pub := filepath.Join(dir, report.PubFile)
		out, stderr, err := drillRunT(t, nil, "drill", "verify", path, "--key-id", fingerprintT(t, pub))
		if err != nil || !strings.Contains(out, "pinned") {
			t.Errorf("got %q, %v; want it verified with the pinned key", out, err)
		}
		if stderr != "" {
			t.Errorf("stderr: got %q, want nothing (the key is pinned)", stderr)
		}
	})
	t.Run("malformed --key-id", func(t *testing.T) {
		_, _, err := drillRunT(t, nil, "drill", "verify", path, "--key-id", "abc")
		var ee *exitError
		if !errors.Is(err, report.ErrBadKeyID) || errors.As(err, &ee) {
			t.Errorf("got %v, want report.ErrBadKeyID (a usage error, exit 2)", err)
		}
	})
	t.Run("altered report", func(t *testing.T) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		altered := filepath.Join(t.TempDir(), "report.json")
		if err := os.WriteFile(altered, bytes.Replace(b, []byte(`"lost_writes":3`), []byte(`"lost_writes":0`), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = drillRunT(t, nil, "drill", "verify", altered, "--key", filepath.Join(dir, report.PubFile))
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, report.ErrBadSignature) {
			t.Errorf("got %v, want exit 1 wrapping report.ErrBadSignature", err)
		}
	})
	t.Run("no key anywhere", func(t *testing.T) {
		lone := filepath.Join(t.TempDir(), "report.json")
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(lone, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := drillRunT(t, nil, "drill", "verify", lone)
		if !errors.Is(err, report.ErrNoPublicKey) || !strings.Contains(err.Error(), "--key") {
			t.Errorf("got %v, want report.ErrNoPublicKey asking for --key", err)
		}
	})
}

func TestDrillHistory(t *testing.T) {
	dir := t.TempDir()
	savedReportT(t, dir, false)
	out, _, err := drillRunT(t, nil, "drill", "history", "--dir", filepath.Join(dir, "reports"), "--key", filepath.Join(dir, report.PubFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"earthquake-total", "FAIL", "3620 ms", "verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant %q in it", out, want)
		}
	}
	out, _, err = drillRunT(t, nil, "drill", "history", "--dir", filepath.Join(dir, "reports"), "--json")
	if err != nil || !strings.Contains(out, `"scenario": "earthquake-total"`) {
		t.Errorf("--json: got %q, %v", out, err)
	}
}

func TestDrillRun_BadArguments(t *testing.T) {
	lab := filepath.Join(t.TempDir(), "lab")
	for name, c := range map[string]struct {
		args []string
		want error
	}{
		"unknown built-in": {[]string{"drill", "run", "earthquake-mars", "--lab", lab}, scenarios.ErrUnknownBuiltin},
		"missing file":     {[]string{"drill", "run", "./nope.yaml", "--lab", lab}, os.ErrNotExist},
		"bad scale":        {[]string{"drill", "run", "earthquake-total", "--lab", lab, "--scale", "-1"}, drill.ErrOptions},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := drillRunT(t, nil, c.args...); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := os.Stat(lab); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused drill created %s (%v), want nothing", lab, err)
	}
}

func TestPrintDrillResult(t *testing.T) {
	r := report.New("earthquake-total", time.Unix(0, 0))
	r.ScenarioSHA256 = strings.Repeat("cd", 32)
	r.Operator = &report.Operator{Identity: "client/monaco/ops", Source: report.OperatorCertificate, CertSHA256: strings.Repeat("ef", 32)}
	r.RPO = report.RPO{LostWrites: 2, LostBytes: 1024, WindowMs: 8}
	r.RTOMs = 3620
	r.Load = report.Load{Sent: 20, Acked: 5, Failed: 15, Failures: []report.FailureCount{{Cause: "connection_refused", Count: 12}, {Cause: "client_timeout", Count: 3}}}
	r.AddCheck("rto", "<= 1ms", "3.62s", false)
	r.AddFinding("final primary: lux-1")
	var b bytes.Buffer
	printDrillResult(&b, r)
	for _, want := range []string{"drill earthquake-total: FAIL", "RPO   2 acknowledged writes lost (1024 B), window 8 ms", "RTO   3620 ms", "rto", "<= 1ms", "3.62s", "- final primary: lux-1",
		"load  20 writes sent, 5 acknowledged, 15 failed (12 connection_refused, 3 client_timeout)",
		"run by client/monaco/ops (certificate); scenario sha256 " + strings.Repeat("cd", 32)} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("got\n%s\nwant %q in it", b.String(), want)
		}
	}
}

// The report's scenario_sha256 digests what an auditor can digest too:
// the file as written, or what `drill show NAME` prints.
func TestLoadScenario_Source(t *testing.T) {
	shown, _, err := drillRunT(t, nil, "drill", "show", "earthquake-total")
	if err != nil {
		t.Fatal(err)
	}
	_, src, err := loadScenario("earthquake-total")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := drill.ScenarioSHA256(src), drill.ScenarioSHA256([]byte(shown)); got != want {
		t.Errorf("built-in: got digest %s, want %s (of `drill show`)", got, want)
	}
	file := filepath.Join(t.TempDir(), "q.yaml")
	edited := strings.Replace(shown, "name: earthquake-total", "name: my-quake", 1) + "# a comment changes the digest\n"
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	s, src, err := loadScenario(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := drill.ScenarioSHA256(src), drill.ScenarioSHA256([]byte(edited)); got != want || s.Name != "my-quake" {
		t.Errorf("file: got %s digest %s, want my-quake and %s", s.Name, got, want)
	}
}

func TestDrillRun_LiveArguments(t *testing.T) {
	lab := filepath.Join(t.TempDir(), "lab")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"--primary with --lab":  {[]string{"--lab", lab, "--primary", "127.0.0.1:1"}, "--primary goes with --endpoint"},
		"two twins":             {[]string{"--endpoint", "127.0.0.1:1,127.0.0.1:2"}, "single --endpoint"},
		"neither lab nor twin":  {nil, "--endpoint HOST:PORT"},
		"both lab and endpoint": {[]string{"--lab", lab, "--endpoint", "127.0.0.1:1"}, "either --lab or --endpoint"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"drill", "run", "earthquake-one-site", "--live"}, c.args...)
			if _, _, err := drillRunT(t, nil, args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}
