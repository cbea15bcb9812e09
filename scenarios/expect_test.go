package scenarios

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestExpectation_Check(t *testing.T) {
	count := func(op Op, n int64) Expectation { return Expectation{Name: ExpectAckedWritesLost, Op: op, Value: n} }
	dur := func(op Op, d time.Duration) Expectation { return Expectation{Name: ExpectRTO, Op: op, Value: d} }
	cases := []struct {
		name     string
		e        Expectation
		measured any
		want     bool
	}{
		{"zero lost", count(EQ, 0), 0, true},
		{"one lost", count(EQ, 0), 1, false},
		{"int64", count(LE, 5), int64(5), true},
		{"uint64", count(LT, 5), uint64(5), false},
		{"uint32", count(GE, 5), uint32(6), true},
		{"int8", count(GT, 0), int8(-1), false},
		{"huge uint64", count(GT, math.MaxInt64), uint64(math.MaxUint64), true},
		{"huge uint64 equal", count(EQ, math.MaxInt64), uint64(math.MaxUint64), false},
		{"not equal", count(NE, 3), uint8(4), true},
		{"rto within", dur(LE, 10*time.Second), 9 * time.Second, true},
		{"rto at bound", dur(LE, 10*time.Second), 10 * time.Second, true},
		{"rto over", dur(LE, 10*time.Second), 10*time.Second + 1, false},
		{"rto strictly", dur(LT, 10*time.Second), 10 * time.Second, false},
		{"rpo window", Expectation{Name: ExpectRPO, Op: LE, Value: 5 * time.Second}, 4 * time.Second, true},
		{"tamper detected", Expectation{Name: ExpectTamperDetected, Op: EQ, Value: true}, true, true},
		{"tamper missed", Expectation{Name: ExpectTamperDetected, Op: EQ, Value: true}, false, false},
		{"no false alarm", Expectation{Name: ExpectTamperDetected, Op: NE, Value: true}, false, true},
		{"verified", Expectation{Name: ExpectIntegrity, Op: EQ, Value: Verified}, "verified", true},
		{"chain broken", Expectation{Name: ExpectIntegrity, Op: EQ, Value: Verified}, "chain broken at 1234", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.e.Check(tc.measured)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("%v with %v: got %t, want %t", tc.e, tc.measured, got, tc.want)
			}
		})
	}
}

func TestExpectation_CheckErrors(t *testing.T) {
	cases := []struct {
		name     string
		e        Expectation
		measured any
		want     error
	}{
		{"duration for a count", Expectation{Name: ExpectSplitBrain, Op: EQ, Value: int64(0)}, time.Second, ErrMeasured},
		{"float for a count", Expectation{Name: ExpectSplitBrain, Op: EQ, Value: int64(0)}, 0.0, ErrMeasured},
		{"int for a duration", Expectation{Name: ExpectRTO, Op: LE, Value: time.Second}, 1, ErrMeasured},
		{"string for a bool", Expectation{Name: ExpectTamperDetected, Op: EQ, Value: true}, "true", ErrMeasured},
		{"bool for a word", Expectation{Name: ExpectIntegrity, Op: EQ, Value: Verified}, true, ErrMeasured},
		{"nil", Expectation{Name: ExpectRTO, Op: LE, Value: time.Second}, nil, ErrMeasured},
		{"unknown operator", Expectation{Name: ExpectRTO, Op: "~", Value: time.Second}, time.Second, ErrInvalid},
		{"ordered bool", Expectation{Name: ExpectTamperDetected, Op: LE, Value: true}, true, ErrInvalid},
		{"ordered word", Expectation{Name: ExpectIntegrity, Op: GT, Value: Verified}, "x", ErrInvalid},
		{"no value", Expectation{Name: ExpectRTO, Op: LE}, time.Second, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := tc.e.Check(tc.measured)
			if !errors.Is(err, tc.want) || ok {
				t.Fatalf("got %t, %v; want false, %v", ok, err, tc.want)
			}
		})
	}
}

func TestExpectation_String(t *testing.T) {
	cases := []struct {
		e                     Expectation
		label, expected, want string
		kind                  Kind
	}{
		{Expectation{Name: ExpectRTO, Op: LE, Value: 10 * time.Second}, "rto", "<= 10s", "rto <= 10s", KindDuration},
		{Expectation{Name: ExpectRPO, Op: LE, Value: int64(0)}, "rpo", "<= 0", "rpo <= 0", KindCount},
		{Expectation{Name: ExpectAckedWritesLost, Durability: DurabilityTwin, Op: EQ, Value: int64(0)}, "acked_writes_lost.twin", "== 0", "acked_writes_lost.twin == 0", KindCount},
		{Expectation{Name: ExpectTamperDetected, Op: EQ, Value: true}, "tamper_detected", "== true", "tamper_detected == true", KindBool},
		{Expectation{Name: ExpectIntegrity, Op: EQ, Value: Verified}, "integrity", "== verified", "integrity == verified", KindWord},
		{Expectation{Name: ExpectRTO, Op: LE, Value: 3}, "rto", "<= 3", "rto <= 3", KindNone},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.e.Label(); got != tc.label {
				t.Errorf("Label: got %q, want %q", got, tc.label)
			}
			if got := tc.e.Expected(); got != tc.expected {
				t.Errorf("Expected: got %q, want %q", got, tc.expected)
			}
			if got := tc.e.String(); got != tc.want {
				t.Errorf("String: got %q, want %q", got, tc.want)
			}
			if got := tc.e.Kind(); got != tc.kind {
				t.Errorf("Kind: got %d, want %d", got, tc.kind)
			}
		})
	}
}

func TestParseComparison(t *testing.T) {
	rpo, _, _ := metricOf(ExpectRPO)
	integrity, _, _ := metricOf(ExpectIntegrity)
	tamper, _, _ := metricOf(ExpectTamperDetected)
	cases := []struct {
		m     metric
		in    string
		op    Op
		value any
	}{
		{rpo, "<= 0", LE, int64(0)},
		{rpo, "<=0", LE, int64(0)},
		{rpo, "  <  5s ", LT, 5 * time.Second},
		{rpo, ">= 1m30s", GE, 90 * time.Second},
		{rpo, "== 0s", EQ, time.Duration(0)},
		{rpo, "!= 12", NE, int64(12)},
		{rpo, "> 1", GT, int64(1)},
		{integrity, "verified", EQ, Verified},
		{integrity, "== verified", EQ, Verified},
		{tamper, "== true", EQ, true},
		{tamper, "!= false", NE, false},
		{tamper, "false", EQ, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			op, v, msg := parseComparison(tc.m, tc.in)
			if msg != "" || op != tc.op || v != tc.value {
				t.Fatalf("got %q %v (%T) %q, want %q %v (%T)", op, v, v, msg, tc.op, tc.value, tc.value)
			}
		})
	}
}
