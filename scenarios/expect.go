package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Names of the expectations (the keys of the expect section).
const (
	// ExpectRPO: acknowledged writes missing on the primary after the
	// drill, as a count (a whole number) or as the commit-time window
	// they span (a duration).
	ExpectRPO = "rpo"
	// ExpectRTO: the longest time from a fault to the first write the
	// (new) primary accepts after it.
	ExpectRTO = "rto"
	// ExpectAckedWritesLost: acknowledged writes missing on the primary
	// after the drill, all of them or those of one durability.
	ExpectAckedWritesLost = "acked_writes_lost"
	// ExpectSplitBrain: moments at which two regions (or two cells)
	// accepted writes in the same epoch.
	ExpectSplitBrain = "split_brain"
	// ExpectPromotions: promotions of the twin during the drill (region
	// epoch bumps).
	ExpectPromotions = "promotions"
	// ExpectIntegrity: the outcome of verifying the hash chain, the
	// signatures and the state digests of every node holding data
	// ("verified", or what broke).
	ExpectIntegrity = "integrity"
	// ExpectTamperDetected: whether every attack that should be refused
	// was refused and raised an alarm.
	ExpectTamperDetected = "tamper_detected"
)

// Verified is the measured integrity of a cluster whose checks all pass.
const Verified = "verified"

// Op is a comparison operator.
type Op string

// Comparison operators.
const (
	LE Op = "<="
	LT Op = "<"
	EQ Op = "=="
	NE Op = "!="
	GE Op = ">="
	GT Op = ">"
)

// ops lists the operators, two-character ones first for prefix matching.
var ops = []Op{LE, GE, EQ, NE, LT, GT}

// Kind is the kind of value an expectation compares.
type Kind int

// Kinds of values.
const (
	KindNone     Kind = iota
	KindCount         // int64: a number of writes, of split brains...
	KindDuration      // time.Duration
	KindBool          // bool
	KindWord          // string
)

// valueKinds is the set of kinds a metric accepts.
type valueKinds int

const (
	kindsCount valueKinds = 1 << iota
	kindsDuration
	kindsBool
	kindsWord
)

// metric describes one expectation name.
type metric struct {
	name         string
	kinds        valueKinds
	byDurability bool   // acked_writes_lost may be given per durability
	hint         string // what to write, for messages
}

// metrics lists the expectations in canonical order.
var metrics = []metric{
	{ExpectRPO, kindsCount | kindsDuration, false, `write a comparison with a count of writes or a duration, e.g. "<= 0" or "<= 5s"`},
	{ExpectRTO, kindsDuration, false, `write a comparison with a duration, e.g. "<= 10s"`},
	{ExpectAckedWritesLost, kindsCount, true, `write a comparison with a count, e.g. "== 0", or one per durability: {twin: "== 0"}`},
	{ExpectSplitBrain, kindsCount, false, `write a comparison with a count, e.g. "== 0"`},
	{ExpectPromotions, kindsCount, false, `write a comparison with a count, e.g. "== 0" (no promotion) or "== 1"`},
	{ExpectIntegrity, kindsWord, false, `write verified`},
	{ExpectTamperDetected, kindsBool, false, `write true or false`},
}

// metricOf returns the description of an expectation name.
func metricOf(name string) (metric, int, bool) {
	for i, m := range metrics {
		if m.name == name {
			return m, i, true
		}
	}
	return metric{}, 0, false
}

// Expectation is one check of a drill's outcome: the measured value of
// Name (for acked_writes_lost, of the writes of Durability, "" for all)
// compared with Op to Value. Value is an int64 (a count), a
// time.Duration, a bool or a string (a word), as Kind says.
type Expectation struct {
	Name       string
	Durability Durability
	Op         Op
	Value      any
}

// Kind returns the kind of e.Value, KindNone for another type.
func (e Expectation) Kind() Kind {
	switch e.Value.(type) {
	case int64:
		return KindCount
	case time.Duration:
		return KindDuration
	case bool:
		return KindBool
	case string:
		return KindWord
	}
	return KindNone
}

// Label names what is checked: "rto", "acked_writes_lost.twin".
func (e Expectation) Label() string {
	if e.Durability != "" {
		return e.Name + "." + string(e.Durability)
	}
	return e.Name
}

// Expected is the comparison as the report shows it: "<= 10s", "== 0",
// "== true".
func (e Expectation) Expected() string {
	return fmt.Sprintf("%s %s", e.Op, formatValue(e.Value))
}

// String is the check in one line: "rto <= 10s".
func (e Expectation) String() string { return e.Label() + " " + e.Expected() }

// formatValue writes a value as the format spells it.
func formatValue(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case time.Duration:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case string:
		return v
	}
	return fmt.Sprintf("%v", v)
}

// Check compares a measured value with the expectation. measured is of
// the expectation's Kind: any Go integer type for a count (rpo with a
// count: the lost writes), a time.Duration (rpo with a duration: the
// window the lost writes span), a bool, or a string (integrity: Verified
// or what failed). Another type is ErrMeasured.
func (e Expectation) Check(measured any) (bool, error) {
	if !e.Op.valid() {
		return false, fmt.Errorf("check %s: operator %q: %w (use <=, <, ==, !=, >=, >)", e.Label(), e.Op, ErrInvalid)
	}
	var c int
	switch want := e.Value.(type) {
	case int64:
		m, ok := cmpCount(measured, want)
		if !ok {
			return false, fmt.Errorf("check %s: measured %v (%T): want a whole number: %w", e, measured, measured, ErrMeasured)
		}
		c = m
	case time.Duration:
		m, ok := measured.(time.Duration)
		if !ok {
			return false, fmt.Errorf("check %s: measured %v (%T): want a time.Duration: %w", e, measured, measured, ErrMeasured)
		}
		c = cmpOrdered(m, want)
	case bool:
		m, ok := measured.(bool)
		if !ok {
			return false, fmt.Errorf("check %s: measured %v (%T): want a bool: %w", e, measured, measured, ErrMeasured)
		}
		if e.Op != EQ && e.Op != NE {
			return false, fmt.Errorf("check %s: a boolean is compared with == or !=: %w", e, ErrInvalid)
		}
		c = 1
		if m == want {
			c = 0
		}
	case string:
		m, ok := measured.(string)
		if !ok {
			return false, fmt.Errorf("check %s: measured %v (%T): want a string: %w", e, measured, measured, ErrMeasured)
		}
		if e.Op != EQ && e.Op != NE {
			return false, fmt.Errorf("check %s: a word is compared with == or !=: %w", e, ErrInvalid)
		}
		c = 1
		if m == want {
			c = 0
		}
	default:
		return false, fmt.Errorf("check %s: expected value of type %T: %w (want int64, time.Duration, bool or string)", e.Label(), e.Value, ErrInvalid)
	}
	return e.Op.holds(c), nil
}

// valid reports whether o is a known operator.
func (o Op) valid() bool {
	for _, k := range ops {
		if o == k {
			return true
		}
	}
	return false
}

// holds reports whether "measured OP expected" is true given c, the sign
// of measured minus expected.
func (o Op) holds(c int) bool {
	switch o {
	case LE:
		return c <= 0
	case LT:
		return c < 0
	case EQ:
		return c == 0
	case NE:
		return c != 0
	case GE:
		return c >= 0
	case GT:
		return c > 0
	}
	return false
}

func cmpOrdered[T int64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpCount compares a measured integer of any Go integer type with want.
func cmpCount(measured any, want int64) (int, bool) {
	var u uint64
	switch m := measured.(type) {
	case int:
		return cmpOrdered(int64(m), want), true
	case int8:
		return cmpOrdered(int64(m), want), true
	case int16:
		return cmpOrdered(int64(m), want), true
	case int32:
		return cmpOrdered(int64(m), want), true
	case int64:
		return cmpOrdered(m, want), true
	case uint:
		u = uint64(m)
	case uint8:
		u = uint64(m)
	case uint16:
		u = uint64(m)
	case uint32:
		u = uint64(m)
	case uint64:
		u = m
	default:
		return 0, false
	}
	if u > math.MaxInt64 {
		return 1, true
	}
	return cmpOrdered(int64(u), want), true
}

// parseComparison reads "OP VALUE" (or a bare word for integrity)
// against what metric m accepts. msg is empty on success, else says what
// is wrong and what to write.
func parseComparison(m metric, s string) (op Op, value any, msg string) {
	t := strings.TrimSpace(s)
	for _, o := range ops {
		if strings.HasPrefix(t, string(o)) {
			op = o
			t = strings.TrimSpace(t[len(o):])
			break
		}
	}
	if op == "" {
		switch {
		case m.kinds&(kindsWord|kindsBool) != 0:
			op = EQ
		case strings.HasPrefix(t, "="):
			return "", nil, "no operator: use == (two signs), <=, <, !=, >=, >"
		default:
			return "", nil, "no operator: " + m.hint
		}
	}
	if t == "" {
		return "", nil, "no value after " + string(op) + ": " + m.hint
	}
	if m.kinds&kindsCount != 0 {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			if n < 0 {
				return "", nil, "a count is 0 or more: " + m.hint
			}
			return op, n, ""
		}
	}
	if m.kinds&kindsDuration != 0 {
		if d, err := time.ParseDuration(t); err == nil {
			if d < 0 {
				return "", nil, "a duration is 0 or more: " + m.hint
			}
			return op, d, ""
		}
	}
	if m.kinds&kindsBool != 0 {
		if t == "true" || t == "false" {
			if op != EQ && op != NE {
				return "", nil, "true or false is compared with == or != only"
			}
			return op, t == "true", ""
		}
	}
	if m.kinds&kindsWord != 0 && t == Verified {
		if op != EQ && op != NE {
			return "", nil, "verified is compared with == or != only"
		}
		return op, t, ""
	}
	return "", nil, "not understood: " + m.hint
}

// validate checks one expectation built in code or parsed.
func (e Expectation) validate(p *parser, path string) {
	m, _, ok := metricOf(e.Name)
	if !ok {
		names := make([]string, len(metrics))
		for i, m := range metrics {
			names[i] = m.name
		}
		p.invalid(path, "unknown expectation %q (use %s)", e.Name, strings.Join(names, ", "))
		return
	}
	if e.Durability != "" && (!m.byDurability || (e.Durability != DurabilityCell && e.Durability != DurabilityTwin)) {
		p.invalid(path, "durability %q: only acked_writes_lost is given per durability, cell or twin", e.Durability)
	}
	if !e.Op.valid() {
		p.invalid(path, "operator %q: use <=, <, ==, !=, >=, >", e.Op)
		return
	}
	switch v := e.Value.(type) {
	case int64:
		if m.kinds&kindsCount == 0 {
			p.invalid(path, "a count: %s", m.hint)
		} else if v < 0 {
			p.invalid(path, "%d: a count is 0 or more", v)
		}
	case time.Duration:
		if m.kinds&kindsDuration == 0 {
			p.invalid(path, "a duration: %s", m.hint)
		} else if v < 0 {
			p.invalid(path, "%v: a duration is 0 or more", v)
		}
	case bool:
		if m.kinds&kindsBool == 0 {
			p.invalid(path, "a boolean: %s", m.hint)
		} else if e.Op != EQ && e.Op != NE {
			p.invalid(path, "%s: true or false is compared with == or != only", e.Op)
		}
	case string:
		if m.kinds&kindsWord == 0 || v != Verified {
			p.invalid(path, "%q: %s", v, m.hint)
		} else if e.Op != EQ && e.Op != NE {
			p.invalid(path, "%s: verified is compared with == or != only", e.Op)
		}
	default:
		p.invalid(path, "value of type %T: %s", e.Value, m.hint)
	}
}
