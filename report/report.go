package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

var (
	// ErrInvalid is returned by Validate (and by Sign, History.Save and
	// Verify, which call it) for a report whose content breaks a rule of
	// the model: a negative number, no checks, Passed not equal to "every
	// check passed", an unknown event kind...
	ErrInvalid = errors.New("report: invalid report")
	// ErrMalformed is returned by Verify and History.List for bytes that
	// are not a signed report envelope: not JSON, unknown fields, wrong
	// format or version, too large, or a signature field of the wrong
	// shape.
	ErrMalformed = errors.New("report: malformed report")
	// ErrBadSignature is returned by Verify when the signature does not
	// verify with the named key: the report was altered after signing, or
	// the signature was.
	ErrBadSignature = errors.New("report: bad signature")
	// ErrUnknownKey is returned by Verify when the envelope names a key
	// that the verifier does not hold.
	ErrUnknownKey = errors.New("report: unknown key")
	// ErrUnsupportedAlg is returned by Verify for a signature algorithm
	// other than ed25519.
	ErrUnsupportedAlg = errors.New("report: unsupported signature algorithm")
	// ErrBadKey is returned by LoadSigner, LoadVerifier and GenerateKey for
	// a key file that holds no usable PEM block of the expected type, or a
	// key that is not Ed25519.
	ErrBadKey = errors.New("report: malformed drill key")
	// ErrKeyPermissions is returned by LoadSigner for a private key file
	// that group or others may read.
	ErrKeyPermissions = errors.New("report: drill key file is readable by others")
	// ErrKeyMismatch is returned by GenerateKey when drill.key and drill.pub
	// both exist but are not one key pair.
	ErrKeyMismatch = errors.New("report: drill.key and drill.pub are not a key pair")
	// ErrBadKeyID is returned by Verifier.Pin for a pin that is neither a
	// key fingerprint (64 hex characters) nor a key id (16).
	ErrBadKeyID = errors.New("report: malformed key id")
	// ErrKeyNotPinned is returned by Verifier.Pin when none of the keys
	// given is the pinned one: the public key file is not the cluster's.
	ErrKeyNotPinned = errors.New("report: the drill public key is not the pinned one")
	// ErrKeyInReportTree is returned by FindPublicKey for a drill.pub
	// found beside the report or in its drill history: whoever can alter
	// the report can put a key there, so it proves nothing.
	ErrKeyInReportTree = errors.New("report: drill public key inside the report tree refused")
	// ErrNoPublicKey is returned by FindPublicKey when no drill.pub lies
	// in the directories above the report tree.
	ErrNoPublicKey = errors.New("report: no drill public key found")
)

// FormatVersion is the version of the report model (Report.Version) that
// New writes. Version 2 added the provenance and evidence fields
// (scenario_sha256, scenario_scale, operator, wal, load.failures) and
// requires scenario_sha256 and operator. Readers accept versions
// MinFormatVersion to FormatVersion and refuse any other.
const FormatVersion = 2

// MinFormatVersion is the oldest report version readers accept (a
// version 1 report has none of the version 2 fields).
const MinFormatVersion = 1

// Report is the outcome of one drill. The drill runner fills it (New, then
// the fields, AddSample, AddEvent, AddCheck, AddFinding, then Finish);
// WriteJSON, WriteHTML, Sign and History.Save turn it into files. The JSON
// field names of the first six fields are a fixed interface (machines
// read them); doc.go documents every field.
type Report struct {
	// Scenario is the scenario's name (from the built-in list or the
	// user's YAML: any text, escaped wherever it is shown).
	Scenario string `json:"scenario"`
	// Passed is true when every check passed (Finish sets it).
	Passed bool `json:"passed"`
	// RPO is the data the drill measured as lost.
	RPO RPO `json:"rpo"`
	// RTOMs is the time from the fault to the first write accepted by the
	// new primary, in milliseconds; 0 when the scenario has no failover.
	RTOMs int64 `json:"rto_ms"`
	// Checks are the scenario's expectations against what was measured.
	Checks []Check `json:"checks"`
	// Timeline holds samples and events in offset order (Finish sorts it).
	Timeline []Entry `json:"timeline"`

	// Version is FormatVersion (New sets it).
	Version int `json:"version"`
	// Description is the scenario's one-line description, if any.
	Description string `json:"description,omitempty"`
	// Mode is how the drill ran: ModeLab or ModeLive.
	Mode string `json:"mode,omitempty"`
	// StartedAt and FinishedAt bound the drill; timeline offsets count
	// from StartedAt.
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// JumeauVersion is the version of the jumeau binary that ran the drill.
	JumeauVersion string `json:"jumeau_version"`
	// ScenarioSHA256 is the SHA-256, in lower-case hex, of the scenario
	// as the drill read it: the bytes of the user's YAML file, or of the
	// built-in's source (what `jumeau drill show NAME` prints). Required
	// from version 2.
	ScenarioSHA256 string `json:"scenario_sha256,omitempty"`
	// ScenarioScale is the factor the drill multiplied the scenario's
	// offsets and durations by (drill run --scale); 0 (absent) is 1.
	ScenarioScale float64 `json:"scenario_scale,omitempty"`
	// Operator is who ran the drill. Required from version 2.
	Operator *Operator `json:"operator,omitempty"`
	// Topology is the lab or deployment the drill ran on.
	Topology Topology `json:"topology"`
	// Load sums up the load generator's writes.
	Load Load `json:"load"`
	// WAL is the last WAL record of each data node as the drill verified
	// it (the integrity check), in node order.
	WAL []WALPosition `json:"wal,omitempty"`
	// Findings are free-text lines for people: the last clean index of a
	// ransomware drill, which node refused a forged frame, and so on.
	Findings []string `json:"findings,omitempty"`
}

// Operator is who ran a drill.
type Operator struct {
	// Identity is the jumeau identity (role/region/name) of the client
	// certificate the drill used when Source is OperatorCertificate, else
	// the OS user.
	Identity string `json:"identity"`
	// Source says what Identity is.
	Source OperatorSource `json:"source"`
	// CertSHA256 is the SHA-256 of that certificate's DER, in lower-case
	// hex, when Source is OperatorCertificate.
	CertSHA256 string `json:"cert_sha256,omitempty"`
	// OSUser is the account of the machine that ran jumeau (its name, or
	// "uid N" when it has none).
	OSUser string `json:"os_user,omitempty"`
	// Host is the machine's host name.
	Host string `json:"host,omitempty"`
}

// OperatorSource is where Operator.Identity comes from.
type OperatorSource string

// Operator sources.
const (
	// OperatorCertificate: the identity of the client certificate the
	// drill used against the nodes.
	OperatorCertificate OperatorSource = "certificate"
	// OperatorOSUser: no certificate; the OS user that ran jumeau.
	OperatorOSUser OperatorSource = "os_user"
)

// Valid reports whether s is one of the OperatorSource constants.
func (s OperatorSource) Valid() bool { return s == OperatorCertificate || s == OperatorOSUser }

// WALPosition is the last WAL record of one node, as a drill verified it.
type WALPosition struct {
	// Node is the node's name.
	Node string `json:"node"`
	// Index is the index of its last WAL record.
	Index uint64 `json:"wal_index"`
	// Hash is that record's chain hash, in lower-case hex; empty when the
	// node could not be read (Note says why).
	Hash string `json:"wal_hash,omitempty"`
	// Note says what else was verified, or why there is no position.
	Note string `json:"note,omitempty"`
}

// FailureCount is the number of failed writes of one cause.
type FailureCount struct {
	// Cause is the class of the failure: the API's error code
	// ("no_leader", "read_only", "fenced"...) or what the client saw
	// ("connection_refused", "client_timeout"...).
	Cause string `json:"cause"`
	// Count is the number of failed writes of this cause (at least 1).
	Count int64 `json:"count"`
	// Example is the first error message of this cause, for people.
	Example string `json:"example,omitempty"`
}

// Drill modes (Report.Mode).
const (
	ModeLab  = "lab"
	ModeLive = "live"
)

// RPO is the data lost by a drill: acknowledged writes that the new primary
// does not hold.
type RPO struct {
	// LostWrites is the number of acknowledged writes missing.
	LostWrites int64 `json:"lost_writes"`
	// LostBytes is the sum of their value sizes.
	LostBytes int64 `json:"lost_bytes"`
	// WindowMs is the commit-time span of the lost writes (last commit
	// minus first), in milliseconds; 0 when none or one was lost.
	WindowMs int64 `json:"window_ms"`
}

// Check is one expectation of the scenario (an SLA line) and its outcome.
type Check struct {
	// Name is what is checked, e.g. "rto" or "acked_writes_lost".
	Name string `json:"name"`
	// Expected is the bound, as people write it: "<= 5s", "== 0".
	Expected string `json:"expected"`
	// Measured is what the drill measured, as people read it: "3.62s".
	Measured string `json:"measured"`
	// Passed reports whether Measured satisfies Expected.
	Passed bool `json:"passed"`
}

// Topology is the set of nodes a drill ran on and the WAN between regions.
type Topology struct {
	Nodes []Node `json:"nodes"`
	// WANRTTMs is the Monaco-Luxembourg round trip, in milliseconds.
	WANRTTMs float64 `json:"wan_rtt_ms"`
	// WANLoss is the packet loss of the WAN links, a fraction (0.01 = 1%).
	WANLoss float64 `json:"wan_loss,omitempty"`
	// WANBandwidth is the WAN bandwidth each way in bytes per second; 0
	// for unlimited.
	WANBandwidth int64 `json:"wan_bandwidth_bytes_per_sec,omitempty"`
}

// Node is one member of the topology.
type Node struct {
	Name   string `json:"name"`
	Role   string `json:"role"`   // site, twin, witness
	Region string `json:"region"` // monaco, luxembourg, witness
}

// Load sums up the writes of the load generator.
type Load struct {
	// Sent counts every write sent, Acked those acknowledged, Failed those
	// answered with an error or timed out. Acked + Failed <= Sent (the
	// rest were in flight when the drill ended).
	Sent   int64 `json:"sent"`
	Acked  int64 `json:"acked"`
	Failed int64 `json:"failed"`
	// TargetRate is the rate the generator aimed at, writes per second;
	// 0 for as fast as possible.
	TargetRate float64 `json:"target_per_sec,omitempty"`
	// ValueBytes is the size of each value written.
	ValueBytes int64 `json:"value_bytes,omitempty"`
	// ByDurability splits the counts by durability level ("cell",
	// "twin"); when present its sums equal Sent, Acked and Failed.
	ByDurability []DurabilityLoad `json:"by_durability,omitempty"`
	// Failures groups the failed writes by cause, most frequent first;
	// when present the counts sum to Failed (version 2).
	Failures []FailureCount `json:"failures,omitempty"`
}

// DurabilityLoad is the share of the load of one durability level.
type DurabilityLoad struct {
	Durability string `json:"durability"`
	Sent       int64  `json:"sent"`
	Acked      int64  `json:"acked"`
	Failed     int64  `json:"failed"`
}

// Entry is one element of the timeline: a sample or an event, never both.
type Entry struct {
	// OffsetMs is the time since Report.StartedAt, in milliseconds.
	OffsetMs int64   `json:"t_ms"`
	Sample   *Sample `json:"sample,omitempty"`
	Event    *Event  `json:"event,omitempty"`
}

// Sample is a measurement of the write rate and the twin's lag over the
// interval that ends at its entry's offset.
type Sample struct {
	// AckedPerSec is the rate of acknowledged writes.
	AckedPerSec float64 `json:"acked_per_sec"`
	// LagMs is the twin's lag behind the primary in milliseconds; nil
	// (absent in JSON) when it could not be measured, e.g. with no primary
	// leader or after the twin's promotion.
	LagMs *float64 `json:"lag_ms,omitempty"`
	// FailedPerSec is the rate of failed writes (optional; absent is 0).
	FailedPerSec float64 `json:"failed_per_sec,omitempty"`
}

// Event is something that happened at its entry's offset.
type Event struct {
	Kind EventKind `json:"kind"`
	// Text says what happened, for people: "SIGKILL site-a, site-b".
	Text string `json:"text"`
}

// EventKind is the kind of an Event.
type EventKind string

// Event kinds. The HTML timeline draws a marker for every kind but
// KindNote.
const (
	// KindFault is an injected fault: a site killed, paused, a link cut.
	KindFault EventKind = "fault"
	// KindAttack is an injected attack: forged records, a stolen
	// certificate, mass overwrites.
	KindAttack EventKind = "attack"
	// KindPromotion is the twin (or a sandbox clone) becoming primary.
	KindPromotion EventKind = "promotion"
	// KindElection is a new Raft leader inside a cell.
	KindElection EventKind = "election"
	// KindAlarm is an alarm a node raised (refused record, RPO guard).
	KindAlarm EventKind = "alarm"
	// KindHeal is a fault undone: a site restarted, a link restored.
	KindHeal EventKind = "heal"
	// KindNote is anything else worth a line.
	KindNote EventKind = "note"
)

// EventKinds lists every event kind, in a stable order.
func EventKinds() []EventKind {
	return []EventKind{KindFault, KindAttack, KindPromotion, KindElection, KindAlarm, KindHeal, KindNote}
}

// Valid reports whether k is one of the EventKind constants.
func (k EventKind) Valid() bool { return slices.Contains(EventKinds(), k) }

// Lag returns a pointer to ms, for Sample.LagMs.
func Lag(ms float64) *float64 { return &ms }

// New returns a report of scenario started at started, with Version set
// and empty checks and timeline.
func New(scenario string, started time.Time) *Report {
	return &Report{
		Version:   FormatVersion,
		Scenario:  scenario,
		StartedAt: started,
		Checks:    []Check{},
		Timeline:  []Entry{},
	}
}

// offsetMs turns the offset of at from StartedAt into milliseconds (0 if
// at is before StartedAt).
func (r *Report) offsetMs(at time.Time) int64 {
	return max(at.Sub(r.StartedAt).Milliseconds(), 0)
}

// AddSample appends a sample taken at at.
func (r *Report) AddSample(at time.Time, s Sample) {
	r.Timeline = append(r.Timeline, Entry{OffsetMs: r.offsetMs(at), Sample: &s})
}

// AddEvent appends an event that happened at at.
func (r *Report) AddEvent(at time.Time, kind EventKind, text string) {
	r.Timeline = append(r.Timeline, Entry{OffsetMs: r.offsetMs(at), Event: &Event{Kind: kind, Text: text}})
}

// AddCheck appends a check.
func (r *Report) AddCheck(name, expected, measured string, passed bool) {
	r.Checks = append(r.Checks, Check{Name: name, Expected: expected, Measured: measured, Passed: passed})
}

// AddFinding appends a line of findings (fmt.Sprintf of format and args).
func (r *Report) AddFinding(format string, args ...any) {
	r.Findings = append(r.Findings, fmt.Sprintf(format, args...))
}

// Finish ends the report: it sets FinishedAt, sorts the timeline by offset
// (stable: entries of one offset keep their order), sets Passed to "every
// check passed" and returns Validate's verdict.
func (r *Report) Finish(finished time.Time) error {
	r.FinishedAt = finished
	slices.SortStableFunc(r.Timeline, func(a, b Entry) int {
		switch {
		case a.OffsetMs < b.OffsetMs:
			return -1
		case a.OffsetMs > b.OffsetMs:
			return 1
		}
		return 0
	})
	r.Passed = len(r.Checks) > 0
	for _, c := range r.Checks {
		r.Passed = r.Passed && c.Passed
	}
	return r.Validate()
}

// Samples returns the timeline's samples with their offsets.
func (r *Report) Samples() []Entry {
	var out []Entry
	for _, e := range r.Timeline {
		if e.Sample != nil {
			out = append(out, e)
		}
	}
	return out
}

// Events returns the timeline's events with their offsets.
func (r *Report) Events() []Entry {
	var out []Entry
	for _, e := range r.Timeline {
		if e.Event != nil {
			out = append(out, e)
		}
	}
	return out
}

// Duration is FinishedAt minus StartedAt.
func (r *Report) Duration() time.Duration { return r.FinishedAt.Sub(r.StartedAt) }

// Validate checks the rules of the model and returns an error wrapping
// ErrInvalid that names the first field that breaks one, or nil.
func (r *Report) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if r == nil {
		return fail("nil report")
	}
	if r.Version < MinFormatVersion || r.Version > FormatVersion {
		return fail("version is %d, want %d to %d (create reports with report.New)", r.Version, MinFormatVersion, FormatVersion)
	}
	if err := r.validateProvenance(); err != nil {
		return fail("%v", err)
	}
	if strings.TrimSpace(r.Scenario) == "" {
		return fail("scenario is empty: name the scenario the drill ran")
	}
	if r.Mode != "" && r.Mode != ModeLab && r.Mode != ModeLive {
		return fail("mode %q: want %q, %q or empty", r.Mode, ModeLab, ModeLive)
	}
	if r.StartedAt.IsZero() {
		return fail("started_at is not set")
	}
	if r.FinishedAt.Before(r.StartedAt) {
		return fail("finished_at %s is before started_at %s (call Finish when the drill ends)",
			r.FinishedAt.Format(time.RFC3339Nano), r.StartedAt.Format(time.RFC3339Nano))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"rpo.lost_writes", r.RPO.LostWrites}, {"rpo.lost_bytes", r.RPO.LostBytes}, {"rpo.window_ms", r.RPO.WindowMs},
		{"rto_ms", r.RTOMs}, {"load.sent", r.Load.Sent}, {"load.acked", r.Load.Acked}, {"load.failed", r.Load.Failed},
		{"load.value_bytes", r.Load.ValueBytes}, {"topology.wan_bandwidth_bytes_per_sec", r.Topology.WANBandwidth},
	} {
		if f.v < 0 {
			return fail("%s is %d: it must not be negative", f.name, f.v)
		}
	}
	if err := checkFloat("topology.wan_rtt_ms", r.Topology.WANRTTMs); err != nil {
		return fail("%v", err)
	}
	if err := checkFloat("topology.wan_loss", r.Topology.WANLoss); err != nil {
		return fail("%v", err)
	}
	if r.Topology.WANLoss > 1 {
		return fail("topology.wan_loss is %g: it is a fraction between 0 and 1", r.Topology.WANLoss)
	}
	if err := checkFloat("load.target_per_sec", r.Load.TargetRate); err != nil {
		return fail("%v", err)
	}
	for i, n := range r.Topology.Nodes {
		if n.Name == "" {
			return fail("topology.nodes[%d] has no name", i)
		}
	}
	if err := r.Load.validate(); err != nil {
		return fail("%v", err)
	}
	if len(r.Checks) == 0 {
		return fail("checks are empty: a report needs at least one check (the scenario's expectations)")
	}
	all := true
	for i, c := range r.Checks {
		if strings.TrimSpace(c.Name) == "" {
			return fail("checks[%d] has no name", i)
		}
		all = all && c.Passed
	}
	if r.Passed != all {
		return fail("passed is %t but %s (call Finish, which sets it)", r.Passed, checksVerdict(r.Checks))
	}
	if r.Timeline == nil {
		return fail("timeline is null: use an empty list")
	}
	prev := int64(0)
	for i, e := range r.Timeline {
		if err := e.validate(); err != nil {
			return fail("timeline[%d]: %v", i, err)
		}
		if e.OffsetMs < prev {
			return fail("timeline[%d]: t_ms %d is before the previous entry's %d (call Finish, which sorts the timeline)", i, e.OffsetMs, prev)
		}
		prev = e.OffsetMs
	}
	if d := r.Duration().Milliseconds(); prev > d+1000 {
		return fail("timeline ends at t_ms %d, after finished_at (%d ms after started_at)", prev, d)
	}
	for i, f := range r.Findings {
		if strings.TrimSpace(f) == "" {
			return fail("findings[%d] is empty", i)
		}
	}
	return nil
}

// validateProvenance checks the version 2 fields: required from version
// 2, absent from version 1.
func (r *Report) validateProvenance() error {
	if r.Version < 2 {
		switch {
		case r.ScenarioSHA256 != "":
			return errors.New("scenario_sha256 needs version 2")
		case r.ScenarioScale != 0:
			return errors.New("scenario_scale needs version 2")
		case r.Operator != nil:
			return errors.New("operator needs version 2")
		case len(r.WAL) > 0:
			return errors.New("wal needs version 2")
		case len(r.Load.Failures) > 0:
			return errors.New("load.failures needs version 2")
		}
		return nil
	}
	if err := checkSHA256("scenario_sha256", r.ScenarioSHA256); err != nil {
		return fmt.Errorf("%w (the SHA-256 of the scenario the drill ran)", err)
	}
	if err := checkFloat("scenario_scale", r.ScenarioScale); err != nil {
		return err
	}
	o := r.Operator
	switch {
	case o == nil:
		return errors.New("operator is not set: say who ran the drill (the certificate identity, or the OS user)")
	case strings.TrimSpace(o.Identity) == "":
		return errors.New("operator.identity is empty")
	case !o.Source.Valid():
		return fmt.Errorf("operator.source %q: want %q or %q", o.Source, OperatorCertificate, OperatorOSUser)
	case o.Source == OperatorCertificate:
		if err := checkSHA256("operator.cert_sha256", o.CertSHA256); err != nil {
			return err
		}
	case o.CertSHA256 != "":
		return fmt.Errorf("operator.cert_sha256 is set but the source is %q", o.Source)
	}
	seen := map[string]bool{}
	for i, w := range r.WAL {
		switch {
		case w.Node == "":
			return fmt.Errorf("wal[%d] has no node", i)
		case seen[w.Node]:
			return fmt.Errorf("wal[%d]: node %s is listed twice", i, w.Node)
		case w.Hash == "" && strings.TrimSpace(w.Note) == "":
			return fmt.Errorf("wal[%d] (%s) has no hash and no note saying why", i, w.Node)
		case w.Hash != "" && !isLowerHex(w.Hash):
			return fmt.Errorf("wal[%d] (%s): wal_hash %q is not lower-case hex", i, w.Node, w.Hash)
		}
		seen[w.Node] = true
	}
	if len(r.Load.Failures) > 0 {
		var sum int64
		causes := map[string]bool{}
		for i, f := range r.Load.Failures {
			switch {
			case strings.TrimSpace(f.Cause) == "":
				return fmt.Errorf("load.failures[%d] has no cause", i)
			case causes[f.Cause]:
				return fmt.Errorf("load.failures[%d]: cause %s is listed twice", i, f.Cause)
			case f.Count <= 0:
				return fmt.Errorf("load.failures[%d] (%s): count %d, want at least 1", i, f.Cause, f.Count)
			}
			causes[f.Cause] = true
			sum += f.Count
		}
		if sum != r.Load.Failed {
			return fmt.Errorf("load.failures sum to %d, load.failed is %d", sum, r.Load.Failed)
		}
	}
	return nil
}

// checkSHA256 checks that v is a SHA-256 in lower-case hex.
func checkSHA256(name, v string) error {
	if len(v) != 64 || !isLowerHex(v) {
		return fmt.Errorf("%s %q is not a SHA-256 in lower-case hex (64 characters)", name, v)
	}
	return nil
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

func checksVerdict(cs []Check) string {
	failed := 0
	for _, c := range cs {
		if !c.Passed {
			failed++
		}
	}
	if failed == 0 {
		return "every check passed"
	}
	return fmt.Sprintf("%d of %d checks failed", failed, len(cs))
}

func (l Load) validate() error {
	if l.Acked+l.Failed > l.Sent {
		return fmt.Errorf("load: acked %d + failed %d is more than sent %d", l.Acked, l.Failed, l.Sent)
	}
	if len(l.ByDurability) == 0 {
		return nil
	}
	var sent, acked, failed int64
	for i, d := range l.ByDurability {
		if d.Durability == "" {
			return fmt.Errorf("load.by_durability[%d] has no durability", i)
		}
		if d.Sent < 0 || d.Acked < 0 || d.Failed < 0 {
			return fmt.Errorf("load.by_durability[%d] (%s) has a negative count", i, d.Durability)
		}
		if d.Acked+d.Failed > d.Sent {
			return fmt.Errorf("load.by_durability[%d] (%s): acked %d + failed %d is more than sent %d", i, d.Durability, d.Acked, d.Failed, d.Sent)
		}
		sent, acked, failed = sent+d.Sent, acked+d.Acked, failed+d.Failed
	}
	if sent != l.Sent || acked != l.Acked || failed != l.Failed {
		return fmt.Errorf("load.by_durability sums to sent %d, acked %d, failed %d; the totals say %d, %d, %d",
			sent, acked, failed, l.Sent, l.Acked, l.Failed)
	}
	return nil
}

func (e Entry) validate() error {
	if e.OffsetMs < 0 {
		return fmt.Errorf("t_ms is %d: it must not be negative", e.OffsetMs)
	}
	switch {
	case e.Sample != nil && e.Event != nil:
		return errors.New("holds both a sample and an event: use one entry each")
	case e.Sample != nil:
		s := e.Sample
		if err := checkFloat("sample.acked_per_sec", s.AckedPerSec); err != nil {
			return err
		}
		if err := checkFloat("sample.failed_per_sec", s.FailedPerSec); err != nil {
			return err
		}
		if s.LagMs != nil {
			if err := checkFloat("sample.lag_ms", *s.LagMs); err != nil {
				return err
			}
		}
	case e.Event != nil:
		if !e.Event.Kind.Valid() {
			return fmt.Errorf("event kind %q: want one of %s", e.Event.Kind, kindList())
		}
		if strings.TrimSpace(e.Event.Text) == "" {
			return fmt.Errorf("%s event has no text: say what happened", e.Event.Kind)
		}
	default:
		return errors.New("holds neither a sample nor an event")
	}
	return nil
}

func kindList() string {
	var s []string
	for _, k := range EventKinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func checkFloat(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is %v: want a finite number", name, v)
	}
	if v < 0 {
		return fmt.Errorf("%s is %g: it must not be negative", name, v)
	}
	return nil
}

// canonical returns a copy of r in the form that is signed and written:
// times in UTC, no nil slices where the JSON has a list.
func (r *Report) canonical() *Report {
	c := *r
	c.StartedAt = r.StartedAt.UTC()
	c.FinishedAt = r.FinishedAt.UTC()
	if c.Checks == nil {
		c.Checks = []Check{}
	}
	if c.Timeline == nil {
		c.Timeline = []Entry{}
	}
	if c.Topology.Nodes == nil {
		c.Topology.Nodes = []Node{}
	}
	return &c
}

// MarshalCanonical returns the canonical JSON of r (compact, times in UTC):
// the bytes Sign signs. It refuses an invalid report.
func (r *Report) MarshalCanonical() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b, err := marshalJSON(r.canonical(), "")
	if err != nil {
		return nil, fmt.Errorf("report: marshal %q: %w", r.Scenario, err)
	}
	return b, nil
}

// marshalJSON is json.Marshal (json.MarshalIndent with indent) without
// HTML escaping ("<= 5s" stays as is), with no trailing newline.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// WriteJSON writes r as indented JSON (the output of `jumeau drill run
// --json`), unsigned. It refuses an invalid report.
func WriteJSON(w io.Writer, r *Report) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := marshalJSON(r.canonical(), "  ")
	if err != nil {
		return fmt.Errorf("report: marshal %q: %w", r.Scenario, err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("report: write JSON of %q: %w", r.Scenario, err)
	}
	return nil
}

// decodeReport parses the JSON of a report strictly (unknown fields
// refused) and validates it.
func decodeReport(data []byte) (*Report, error) {
	var r Report
	if err := decodeStrict(data, &r); err != nil {
		return nil, fmt.Errorf("%w: report: %v", ErrMalformed, err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeStrict decodes exactly one JSON value of data into v, refusing
// unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}
