package report

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math"
	"testing"
	"time"
)

// sampleStart is the start time of sampleReport.
var sampleStart = time.Date(2026, 3, 14, 9, 15, 2, 0, time.UTC)

// sampleScenarioSHA256 is the scenario digest of the sample reports.
const sampleScenarioSHA256 = "3b8d0f6c1a2e4d5b7c9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"

// sampleReport returns a finished report of a total earthquake: 40 s of
// load, the three Monaco sites killed at 12 s, the twin promoted at 15.1 s,
// one failed check (an RTO bound of 2 s against 3.62 s measured).
func sampleReport(tb testing.TB) *Report {
	tb.Helper()
	r := New("earthquake-total", sampleStart)
	r.Description = "All three Monaco sites lost at once (power loss); the Luxembourg twin takes over."
	r.Mode = ModeLab
	r.JumeauVersion = "v0.5.0-dev"
	r.ScenarioSHA256 = sampleScenarioSHA256
	r.Operator = &Operator{Identity: "client/monaco/ops-oncall", Source: OperatorCertificate,
		CertSHA256: "5f0c6a2e81d4b7a9c3e2f1d0b9a8c7e6d5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0", OSUser: "sre", Host: "drill-runner-1"}
	r.WAL = []WALPosition{
		{Node: "site-a", Index: 36_312, Hash: "9a4f0c1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6"},
		{Node: "site-b", Index: 36_312, Hash: "9a4f0c1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6"},
		{Node: "site-c", Index: 36_312, Hash: "9a4f0c1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6"},
		{Node: "lux-1", Index: 36_312, Hash: "9a4f0c1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6"},
	}
	r.Topology = Topology{
		Nodes: []Node{
			{"site-a", "site", "monaco"}, {"site-b", "site", "monaco"}, {"site-c", "site", "monaco"},
			{"lux-1", "twin", "luxembourg"}, {"witness-1", "witness", "witness"},
		},
		WANRTTMs: 12, WANLoss: 0.001, WANBandwidth: 12_500_000,
	}
	at := func(ms int64) time.Time { return sampleStart.Add(time.Duration(ms) * time.Millisecond) }
	r.AddEvent(at(0), KindNote, "load started: 1000 writes/s, 1 KiB values, durability twin 50% / cell 50%")
	r.AddEvent(at(12_000), KindFault, "SIGKILL site-a, site-b, site-c (power loss)")
	r.AddEvent(at(12_350), KindAlarm, "lux-1: primary lost, no lease renewal since 11.998 s")
	r.AddEvent(at(15_100), KindPromotion, "lux-1 promoted: epoch 1 → 2 (witness-1 agreed)")
	r.AddEvent(at(15_620), KindNote, "first write accepted by lux-1")
	r.AddEvent(at(30_000), KindHeal, "site-a, site-b, site-c restarted: fenced at epoch 2")
	for ms := int64(500); ms <= 40_000; ms += 500 {
		f := float64(ms)
		s := Sample{AckedPerSec: 980 + 35*math.Sin(f/1700)}
		switch {
		case ms <= 12_000:
			s.LagMs = Lag(6.8 + 0.9*math.Sin(f/1400) + 0.3*math.Cos(f/530))
		case ms < 15_620:
			s.AckedPerSec, s.FailedPerSec = 0, 1000
		case ms < 17_000:
			s.AckedPerSec, s.FailedPerSec = 640, 120
		default:
			s.AckedPerSec = 930 + 30*math.Sin(f/1300)
		}
		r.AddSample(at(ms), s)
	}
	// Events were added first: Finish sorts the timeline.
	r.RPO = RPO{LostWrites: 212, LostBytes: 212 * 1024, WindowMs: 212}
	r.RTOMs = 3620
	r.Load = Load{
		Sent: 40_000, Acked: 36_100, Failed: 3_880, TargetRate: 1000, ValueBytes: 1024,
		ByDurability: []DurabilityLoad{
			{"cell", 20_000, 18_060, 1_930},
			{"twin", 20_000, 18_040, 1_950},
		},
		Failures: []FailureCount{
			{Cause: "connection_refused", Count: 2_410, Example: "api: PUT /v1/kv/health/k: nothing listens there (is the node running? check --endpoint): dial tcp 127.0.0.1:8001: connect: connection refused"},
			{Cause: "read_only", Count: 1_300, Example: "api: node is read-only (the twin, until promoted): lux-1 is the twin (HTTP 409)"},
			{Cause: "client_timeout", Count: 170, Example: "context deadline exceeded"},
		},
	}
	r.AddCheck("rpo", "<= 1s", "212 ms", true)
	r.AddCheck("rto", "<= 2s", "3.62 s", false)
	r.AddCheck("acked_writes_lost (durability=twin)", "== 0", "0", true)
	r.AddCheck("split_brain", "== 0", "0", true)
	r.AddCheck("integrity", "== verified", "verified (chain and digests up to index 36100)", true)
	r.AddFinding("212 acknowledged durability=cell writes lost, committed in Monaco between 11.788 s and 12.000 s; every durability=twin write survived")
	r.AddFinding("lux-1 took writes at epoch 2 from 15.620 s; the restarted Monaco sites stayed fenced (split_brain 0)")
	if err := r.Finish(at(40_000)); err != nil {
		tb.Fatalf("sample report: %v", err)
	}
	return r
}

// passingReport is sampleReport with every check passed.
func passingReport(tb testing.TB) *Report {
	tb.Helper()
	r := sampleReport(tb)
	r.Checks[1] = Check{Name: "rto", Expected: "<= 5s", Measured: "3.62 s", Passed: true}
	if err := r.Finish(r.FinishedAt); err != nil {
		tb.Fatalf("passing report: %v", err)
	}
	return r
}

// testSigner returns a signer of a fixed key made from seed.
func testSigner(tb testing.TB, seed byte) *Signer {
	tb.Helper()
	s, err := NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		tb.Fatalf("test signer: %v", err)
	}
	return s
}

// mustSign signs r with s.
func mustSign(tb testing.TB, r *Report, s *Signer) []byte {
	tb.Helper()
	b, err := Sign(r, s)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return b
}

// signRaw makes an envelope of raw report bytes signed by s, whatever they
// hold (for reports Sign would refuse).
func signRaw(tb testing.TB, raw []byte, s *Signer) []byte {
	tb.Helper()
	sig := ed25519.Sign(s.key, raw)
	return fmt.Appendf(nil, `{"format":"jumeau-drill-report","version":1,"report":%s,"signature":{"alg":"ed25519","key_id":"%s","sig":"%s"}}`,
		raw, s.KeyID(), b64(sig))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// smallReport is a short report for fuzz seeds: two samples, two events,
// one check (large seeds make the fuzzer's minimisation slow).
func smallReport(tb testing.TB) *Report {
	tb.Helper()
	r := newT(tb, "s")
	r.AddSample(sampleStart.Add(time.Second), Sample{AckedPerSec: 10, LagMs: Lag(5)})
	r.AddEvent(sampleStart.Add(time.Second), KindFault, "kill")
	r.AddEvent(sampleStart.Add(2*time.Second), KindPromotion, "up")
	r.AddSample(sampleStart.Add(2*time.Second), Sample{AckedPerSec: 0, FailedPerSec: 3})
	r.RTOMs = 1000
	r.AddCheck("rto", "<= 5s", "1s", true)
	if err := r.Finish(sampleStart.Add(3 * time.Second)); err != nil {
		tb.Fatalf("small report: %v", err)
	}
	return r
}

// newT is New(scenario, sampleStart) with the provenance version 2
// requires (a scenario digest, an operator).
func newT(tb testing.TB, scenario string) *Report {
	tb.Helper()
	r := New(scenario, sampleStart)
	r.ScenarioSHA256 = sampleScenarioSHA256
	r.Operator = &Operator{Identity: "sre", Source: OperatorOSUser}
	return r
}
