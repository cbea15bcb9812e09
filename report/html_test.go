package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func renderHTML(tb testing.TB, r *Report) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		tb.Fatalf("WriteHTML: %v", err)
	}
	return buf.String()
}

func TestWriteHTML(t *testing.T) {
	page := renderHTML(t, sampleReport(t))
	for _, want := range []string{
		"<title>FAIL · earthquake-total", `class="badge fail">FAIL`,
		`<tr class="pass">`, `<tr class="fail">`, "✘ FAIL", "✔ pass",
		"3.62 s", "212 ms", "212 KiB", "4 / 5",
		`stroke="` + ColorAcked + `"`, `stroke="` + ColorLag + `"`, `stroke="` + ColorFailed + `"`,
		"background:" + ColorPassRow, "background:" + ColorFailRow,
		"2 fault: SIGKILL site-a, site-b, site-c", "4 promotion: lux-1 promoted", "RTO 3.62 s",
		"every durability=twin write survived", "site-c", "12 ms round trip, 0.1% loss, 12 MiB/s each way",
		"This page is not signed", "1 of 5 checks failed: rto measured 3.62 s, expected &lt;= 2s.",
		// Provenance and evidence (version 2).
		"run by client/monaco/ops-oncall (client certificate)", sampleScenarioSHA256,
		"5f0c6a2e81d4b7a9c3e2f1d0b9a8c7e6d5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0", "drill-runner-1",
		"WAL verified", "36,312", "9a4f0c1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6",
		"Failed writes by cause", "connection_refused", "2,410", "62.1%", "read_only", "client_timeout",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
	// Self-contained: no script, no external resource.
	if regexp.MustCompile(`(?i)<script|javascript:|\bsrc=|<link|@import|url\(`).MatchString(page) {
		t.Errorf("page has a script or an external reference")
	}
	if got := regexp.MustCompile(`https?://[^"]*`).FindAllString(page, -1); len(got) != 1 || got[0] != "http://www.w3.org/2000/svg" {
		t.Errorf("URLs on the page: got %v, want only the SVG namespace", got)
	}
	t.Run("passing", func(t *testing.T) {
		page := renderHTML(t, passingReport(t))
		if !strings.Contains(page, `class="badge pass">PASS`) || strings.Contains(page, `<tr class="fail">`) {
			t.Fatalf("passing report is not shown as PASS")
		}
	})
	t.Run("svg is well-formed XML", func(t *testing.T) {
		i, j := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
		if i < 0 || j < i {
			t.Fatalf("no <svg> element")
		}
		dec := xml.NewDecoder(strings.NewReader(page[i : j+len("</svg>")]))
		paths := 0
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("SVG: %v", err)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
				paths++
			}
		}
		if got, want := paths, 3; got != want {
			t.Fatalf("paths: got %d, want %d (acked, lag, failed)", got, want)
		}
	})
	t.Run("invalid report", func(t *testing.T) {
		r := sampleReport(t)
		r.Checks = nil
		if err := WriteHTML(io.Discard, r); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
}

// Scenario names, event texts and findings come from user YAML and node
// messages: nothing of them may become markup.
func TestWriteHTML_escaping(t *testing.T) {
	const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	r := sampleReport(t)
	r.Scenario = evil
	r.Description = evil
	r.Checks[0].Name, r.Checks[0].Measured = evil, evil
	r.Events()[1].Event.Text = evil
	r.Findings[0] = evil
	r.Topology.Nodes[0].Name = evil
	r.JumeauVersion = evil
	r.Operator.Identity, r.Operator.OSUser, r.Operator.Host = evil, evil, evil
	r.WAL[0].Note = evil
	r.Load.Failures[0].Example = evil
	page := renderHTML(t, r)
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
		t.Fatalf("user text became markup")
	}
	if got, want := strings.Count(page, "&lt;script&gt;"), 9; got < want {
		t.Fatalf("escaped occurrences: got %d, want at least %d", got, want)
	}
}

func TestWriteHTML_noSamples(t *testing.T) {
	r := newT(t, "cyberattack-stolen-cert")
	r.AddEvent(sampleStart, KindAttack, "revoked certificate of site-b dials lux-1")
	r.AddEvent(sampleStart.Add(40e6), KindAlarm, "lux-1 refused: certificate revoked")
	r.AddCheck("tamper_detected", "== true", "true", true)
	if err := r.Finish(sampleStart.Add(1e9)); err != nil {
		t.Fatal(err)
	}
	page := renderHTML(t, r)
	for _, want := range []string{"no samples recorded", "not measured", "Every check of the SLA passed (1).", ">n/a<", `class="badge pass">PASS`, "No findings recorded"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
	if strings.Contains(page, "<path") {
		t.Errorf("page draws a series without samples")
	}
}

func TestLayoutMarkers(t *testing.T) {
	r := newT(t, "crowded")
	for i := range 12 {
		r.AddEvent(sampleStart.Add(time.Duration(100*i)*time.Millisecond), KindFault, "a fault with a rather long description of what happened")
	}
	r.AddCheck("x", "", "", true)
	if err := r.Finish(sampleStart.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := newChart(r)
	if got, want := len(c.Markers), 12; got != want {
		t.Fatalf("markers: got %d, want %d", got, want)
	}
	full, short := 0, 0
	for _, m := range c.Markers {
		if strings.Contains(m.Label, ":") {
			full++
		} else {
			short++
		}
		if m.Title == "" {
			t.Errorf("marker %d has no tooltip", m.Num)
		}
	}
	if got, want := full, labelLanes; got != want {
		t.Fatalf("full labels: got %d, want %d (one per lane, the rest numbers)", got, want)
	}
}

func TestNiceStep(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{
		{0, 0}, {0.7, 1}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {180, 200}, {1050, 2000}, {0.003, 0.005}, {5e-324, 1e-6},
	} {
		if got := niceStep(tt.in); got != tt.want {
			t.Errorf("niceStep(%g): got %g, want %g", tt.in, got, tt.want)
		}
	}
	for _, v := range []float64{5e-324, 1e-7, 1e308} {
		if step, n := niceAxis(v, 5); step <= 0 || n < 1 || n > 10 {
			t.Errorf("niceAxis(%g, 5): got %g x %d", v, step, n)
		}
	}
	step, n := niceAxis(1015, 5)
	if got, want := step*float64(n) >= 1015 && n <= 6, true; got != want {
		t.Errorf("niceAxis(1015, 5): got %g x %d", step, n)
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{fmtCount(0), "0"}, {fmtCount(999), "999"}, {fmtCount(1000), "1,000"}, {fmtCount(1234567), "1,234,567"},
		{fmtBytes(0), "0 B"}, {fmtBytes(1536), "1.5 KiB"}, {fmtBytes(212 * 1024), "212 KiB"}, {fmtBytes(12_500_000), "12 MiB"},
		{fmtMs(0), "0 ms"}, {fmtMs(850), "850 ms"}, {fmtMs(3620), "3.62 s"}, {fmtMs(125_000), "2m5s"},
		{fmtOffset(15_620), "15.620 s"}, {fmtTick(5000, 5000), "5s"}, {fmtTick(180_000, 30_000), "3m00s"},
		{fmtNum(2.5), "2.5"}, {fmtNum(1200), "1200"}, {fmtNum(25000), "25k"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
