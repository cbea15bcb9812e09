package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestReport_Validate(t *testing.T) {
	if err := sampleReport(t).Validate(); err != nil {
		t.Fatalf("sample report: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(r *Report)
		want   string // in the error text
	}{
		{"nil timeline", func(r *Report) { r.Timeline = nil }, "timeline is null"},
		{"no version", func(r *Report) { r.Version = 0 }, "report.New"},
		{"empty scenario", func(r *Report) { r.Scenario = " " }, "scenario is empty"},
		{"bad mode", func(r *Report) { r.Mode = "prod" }, `mode "prod"`},
		{"no start", func(r *Report) { r.StartedAt = time.Time{} }, "started_at"},
		{"finished before started", func(r *Report) { r.FinishedAt = r.StartedAt.Add(-time.Second) }, "before started_at"},
		{"negative rto", func(r *Report) { r.RTOMs = -1 }, "rto_ms is -1"},
		{"negative lost writes", func(r *Report) { r.RPO.LostWrites = -3 }, "rpo.lost_writes"},
		{"negative lost bytes", func(r *Report) { r.RPO.LostBytes = -3 }, "rpo.lost_bytes"},
		{"negative window", func(r *Report) { r.RPO.WindowMs = -3 }, "rpo.window_ms"},
		{"negative sent", func(r *Report) { r.Load.Sent = -1 }, "load.sent"},
		{"negative rtt", func(r *Report) { r.Topology.WANRTTMs = -12 }, "topology.wan_rtt_ms"},
		{"loss over 1", func(r *Report) { r.Topology.WANLoss = 2 }, "fraction"},
		{"nameless node", func(r *Report) { r.Topology.Nodes[0].Name = "" }, "topology.nodes[0]"},
		{"acked plus failed over sent", func(r *Report) { r.Load.Sent = 100 }, "more than sent"},
		{"durability sums", func(r *Report) { r.Load.ByDurability[0].Sent++ }, "load.by_durability sums"},
		{"no checks", func(r *Report) { r.Checks = nil }, "checks are empty"},
		{"nameless check", func(r *Report) { r.Checks[0].Name = "" }, "checks[0] has no name"},
		{"passed with a failed check", func(r *Report) { r.Passed = true }, "1 of 5 checks failed"},
		{"failed with every check passed", func(r *Report) { r.Checks[1].Passed = true }, "every check passed"},
		{"both sample and event", func(r *Report) { r.Timeline[0].Sample = &Sample{} }, "both"},
		{"neither sample nor event", func(r *Report) { r.Timeline[0] = Entry{} }, "neither"},
		{"unknown kind", func(r *Report) { r.Events()[1].Event.Kind = "meteor" }, `kind "meteor"`},
		{"event without text", func(r *Report) { r.Events()[1].Event.Text = "" }, "no text"},
		{"NaN rate", func(r *Report) { r.Samples()[0].Sample.AckedPerSec = math.NaN() }, "finite"},
		{"negative lag", func(r *Report) { r.Samples()[0].Sample.LagMs = Lag(-1) }, "sample.lag_ms"},
		{"negative offset", func(r *Report) { r.Timeline[0].OffsetMs = -5 }, "t_ms is -5"},
		{"unsorted", func(r *Report) { r.Timeline[0].OffsetMs = 99_000 }, "call Finish"},
		{"after the end", func(r *Report) { r.Timeline[len(r.Timeline)-1].OffsetMs = 99_000 }, "after finished_at"},
		{"empty finding", func(r *Report) { r.Findings[0] = "" }, "findings[0]"},
		{"no scenario digest", func(r *Report) { r.ScenarioSHA256 = "" }, "scenario_sha256"},
		{"upper-case scenario digest", func(r *Report) { r.ScenarioSHA256 = strings.ToUpper(r.ScenarioSHA256) }, "lower-case hex"},
		{"negative scale", func(r *Report) { r.ScenarioScale = -1 }, "scenario_scale"},
		{"no operator", func(r *Report) { r.Operator = nil }, "operator is not set"},
		{"operator without identity", func(r *Report) { r.Operator.Identity = "" }, "operator.identity"},
		{"unknown operator source", func(r *Report) { r.Operator.Source = "badge" }, `operator.source "badge"`},
		{"certificate without digest", func(r *Report) { r.Operator.CertSHA256 = "" }, "operator.cert_sha256"},
		{"OS user with a certificate digest", func(r *Report) { r.Operator.Source = OperatorOSUser }, "source is"},
		{"WAL position without node", func(r *Report) { r.WAL[0].Node = "" }, "wal[0] has no node"},
		{"WAL node twice", func(r *Report) { r.WAL[1].Node = r.WAL[0].Node }, "listed twice"},
		{"WAL hash not hex", func(r *Report) { r.WAL[0].Hash = "not-hex" }, "not lower-case hex"},
		{"WAL without hash or note", func(r *Report) { r.WAL[0].Hash = "" }, "no note"},
		{"failures not summing to failed", func(r *Report) { r.Load.Failures[0].Count-- }, "load.failures sum to"},
		{"failure cause twice", func(r *Report) { r.Load.Failures[1].Cause = r.Load.Failures[0].Cause }, "listed twice"},
		{"failure without count", func(r *Report) { r.Load.Failures[2].Count, r.Load.Failures[0].Count = 0, r.Load.Failures[0].Count+170 }, "want at least 1"},
		{"version 2 field in version 1", func(r *Report) { r.Version = 1 }, "needs version 2"},
		{"newer version", func(r *Report) { r.Version = FormatVersion + 1 }, "want 1 to 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReport(t)
			tt.mutate(r)
			err := r.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReport_ValidateVersion1(t *testing.T) {
	r := sampleReport(t)
	r.Version, r.ScenarioSHA256, r.Operator, r.WAL, r.Load.Failures = 1, "", nil, nil, nil
	if err := r.Validate(); err != nil {
		t.Fatalf("a version 1 report without the version 2 fields: got %v, want valid", err)
	}
}

func TestReport_Finish(t *testing.T) {
	r := newT(t, "x")
	at := func(ms int64) time.Time { return sampleStart.Add(time.Duration(ms) * time.Millisecond) }
	r.AddSample(at(2000), Sample{AckedPerSec: 1})
	r.AddEvent(at(1000), KindFault, "a")
	r.AddEvent(at(1000), KindHeal, "b")
	r.AddEvent(sampleStart.Add(-time.Second), KindNote, "before the start")
	t.Run("no checks", func(t *testing.T) {
		if err := r.Finish(at(3000)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
	r.AddCheck("rto", "<= 5s", "1s", true)
	if err := r.Finish(at(3000)); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	var got []string
	for _, e := range r.Timeline {
		if e.Event != nil {
			got = append(got, e.Event.Text)
		} else {
			got = append(got, "sample")
		}
	}
	if got, want := strings.Join(got, ","), "before the start,a,b,sample"; got != want {
		t.Fatalf("timeline order: got %s, want %s", got, want)
	}
	if got, want := r.Passed, true; got != want {
		t.Fatalf("passed: got %t, want %t", got, want)
	}
	r.AddCheck("rpo", "<= 1s", "2s", false)
	if err := r.Finish(at(3000)); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if got, want := r.Passed, false; got != want {
		t.Fatalf("passed: got %t, want %t", got, want)
	}
}

// The report's first field names are an interface: machines read them.
func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleReport(t)); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	for _, k := range []string{"scenario", "passed", "rpo", "rto_ms", "checks", "timeline",
		"version", "started_at", "finished_at", "jumeau_version", "topology", "load", "findings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no field %q", k)
		}
	}
	rpo := m["rpo"].(map[string]any)
	for _, k := range []string{"lost_writes", "lost_bytes", "window_ms"} {
		if _, ok := rpo[k]; !ok {
			t.Errorf("no field rpo.%s", k)
		}
	}
	check := m["checks"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "expected", "measured", "passed"} {
		if _, ok := check[k]; !ok {
			t.Errorf("no field checks[0].%s", k)
		}
	}
	tl := m["timeline"].([]any)
	if got, want := tl[0].(map[string]any)["event"].(map[string]any)["kind"], "note"; got != want {
		t.Errorf("timeline[0].event.kind: got %v, want %v", got, want)
	}
	if _, ok := tl[1].(map[string]any)["sample"].(map[string]any)["lag_ms"]; !ok {
		t.Errorf("timeline[1].sample has no lag_ms: %v", tl[1])
	}
	if got, want := m["rto_ms"], 3620.0; got != want {
		t.Errorf("rto_ms: got %v, want %v", got, want)
	}
	t.Run("invalid", func(t *testing.T) {
		r := sampleReport(t)
		r.Checks = nil
		if err := WriteJSON(&bytes.Buffer{}, r); !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	})
}

func TestReport_MarshalCanonical(t *testing.T) {
	r := sampleReport(t)
	paris := time.FixedZone("CET", 3600)
	r.StartedAt, r.FinishedAt = r.StartedAt.In(paris), r.FinishedAt.In(paris)
	raw, err := r.MarshalCanonical()
	if err != nil {
		t.Fatalf("MarshalCanonical: %v", err)
	}
	if !bytes.Contains(raw, []byte(`"started_at":"2026-03-14T09:15:02Z"`)) {
		t.Fatalf("times are not in UTC: %.200s", raw)
	}
	back, err := decodeReport(raw)
	if err != nil {
		t.Fatalf("decodeReport: %v", err)
	}
	again, err := back.MarshalCanonical()
	if err != nil {
		t.Fatalf("MarshalCanonical: %v", err)
	}
	if !bytes.Equal(again, raw) {
		t.Fatalf("round trip changed the bytes:\n got %s\nwant %s", again, raw)
	}
	if got, want := r.StartedAt.Location(), paris; got != want {
		t.Fatalf("MarshalCanonical changed the caller's report: location %v", got)
	}
}

func TestDecodeReport(t *testing.T) {
	raw, err := sampleReport(t).MarshalCanonical()
	if err != nil {
		t.Fatalf("MarshalCanonical: %v", err)
	}
	tests := []struct {
		name string
		data string
		want error
	}{
		{"unknown field", strings.Replace(string(raw), `"scenario"`, `"extra":1,"scenario"`, 1), ErrMalformed},
		{"trailing data", string(raw) + "{}", ErrMalformed},
		{"not JSON", "{", ErrMalformed},
		{"wrong type", strings.Replace(string(raw), `"rto_ms":3620`, `"rto_ms":"3620"`, 1), ErrMalformed},
		{"invalid", strings.Replace(string(raw), `"rto_ms":3620`, `"rto_ms":-1`, 1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeReport([]byte(tt.data)); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
