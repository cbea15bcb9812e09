package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Errors returned by this package. Callers match them with errors.Is; a
// problem in a scenario is an *Error (errors.As) wrapping ErrInvalid or
// ErrSyntax, and Parse, Load and Validate join every problem they find
// (errors.Join), in line order.
var (
	// ErrInvalid means a scenario does not follow the format of doc.go:
	// an unknown or missing field, a value of the wrong type or out of
	// range, an unknown selector or action, an offset past the duration.
	ErrInvalid = errors.New("scenarios: invalid scenario")
	// ErrSyntax means the bytes are not one YAML document.
	ErrSyntax = errors.New("scenarios: not a YAML document")
	// ErrTooLarge means a scenario file is larger than MaxFileSize.
	ErrTooLarge = errors.New("scenarios: scenario file too large")
	// ErrUnknownBuiltin means no built-in scenario has that name.
	ErrUnknownBuiltin = errors.New("scenarios: no such built-in scenario")
	// ErrMeasured means Expectation.Check was given a measured value of
	// another kind than the expectation's (a count for a duration, ...).
	ErrMeasured = errors.New("scenarios: measured value does not fit the expectation")
	// ErrNoTarget means Topology.Resolve found no node for a selector at
	// that moment: no leader, no follower up, fewer sites up than asked.
	ErrNoTarget = errors.New("scenarios: no node matches the selector")
)

// Limits of the format. A scenario outside them is refused with ErrInvalid.
const (
	// MaxFileSize is the largest scenario file Parse and Load accept.
	MaxFileSize = 1 << 20
	// MaxDuration is the longest drill.
	MaxDuration = 24 * time.Hour
	// MaxSites is the most Monaco sites a topology has (the lab's limit).
	MaxSites = 9
	// MaxSteps is the most faults plus attacks of one scenario.
	MaxSteps = 1000
	// MaxSelectors is the most node selectors of one step.
	MaxSelectors = 16
	// MaxRate is the highest load rate, in writes per second.
	MaxRate = 1e6
	// MaxClients is the most concurrent load clients.
	MaxClients = 4096
	// MaxValueSize is the largest value the load writes, in bytes (the
	// API's limit, api.MaxValueSize).
	MaxValueSize = 8 << 20
	// MaxNamespaces is the most namespaces the load writes to.
	MaxNamespaces = 64
	// MaxLinkDelay is the largest link delay and jitter
	// (faultlink.MaxDelay).
	MaxLinkDelay = time.Minute
	// MaxCount is the largest count of an attack (keys, records, frames).
	MaxCount = 1_000_000
	// MaxDescription is the longest description, in bytes.
	MaxDescription = 300
)

// Defaults filled in by Parse when a field is absent.
const (
	DefaultSites     = 3
	DefaultWANRTT    = 12 * time.Millisecond
	DefaultValueSize = 256
	DefaultClients   = 4
	DefaultNamespace = "drill"
	DefaultDelete    = 0.5
	DefaultRecords   = 1
	DefaultFrames    = 10
)

// sumEpsilon is how far from 1 the durability shares may sum (rounding).
const sumEpsilon = 1e-9

// Scenario is one drill: a topology, a load, a timeline of faults and
// attacks at offsets from the start, and the expectations the measured
// outcome is checked against. Parse returns it with every default filled
// in and validated; YAML encodes it back.
type Scenario struct {
	// Name is a lower-case identifier (letters, digits, '-').
	Name string
	// Description says in one line what the drill simulates.
	Description string
	// Duration is the length of the drill, from the start of the load
	// to the final measurements.
	Duration time.Duration
	// Topology is the cluster the drill runs on.
	Topology Topology
	// Load is the write load running during the drill.
	Load Workload
	// Faults are site and link faults, in file order.
	Faults []Step
	// Attacks are cyberattacks, in file order.
	Attacks []Step
	// Expect are the checks of the outcome, in canonical order (see
	// doc.go): rpo, rto, acked_writes_lost (all, cell, twin),
	// split_brain, promotions, integrity, tamper_detected.
	Expect []Expectation
}

// Topology is the cluster a drill runs on, named as the lab names it
// (SiteName, TwinName, WitnessName).
type Topology struct {
	// Sites is the number of Monaco sites (1 to MaxSites), the cell.
	Sites int
	// Twin adds the Luxembourg twin.
	Twin bool
	// Witness adds the witness.
	Witness bool
	// WANRTT is the round trip of a Monaco<->Luxembourg link; 0 without
	// a twin.
	WANRTT time.Duration
}

// Durability is the durability level of a write.
type Durability string

// The durability levels (replicator.Durability's names).
const (
	DurabilityCell Durability = "cell"
	DurabilityTwin Durability = "twin"
)

// Mix is the share of writes sent with each durability; the shares are
// in [0,1] and sum to 1.
type Mix struct {
	Cell float64
	Twin float64
}

// Workload is the write load of a drill: Rate writes per second spread over
// Clients concurrent clients, each write a new key of one of Namespaces
// (round robin) with a random value of ValueSize bytes and a durability
// drawn from Durability. It runs from Start to Stop.
type Workload struct {
	Rate       float64
	ValueSize  int
	Clients    int
	Durability Mix
	Namespaces []string
	Start      time.Duration
	Stop       time.Duration
}

// Action is what a step does.
type Action string

// Fault actions.
const (
	// Kill SIGKILLs the nodes (a crash: power loss, destroyed site).
	Kill Action = "kill"
	// Pause SIGSTOPs the nodes (a hung machine).
	Pause Action = "pause"
	// Resume SIGCONTs paused nodes.
	Resume Action = "resume"
	// Restart starts killed nodes again, on their data.
	Restart Action = "restart"
	// LinkFault changes the faults of fault links.
	LinkFault Action = "link"
)

// Attack actions.
const (
	// Ransomware overwrites and deletes many keys with valid client
	// credentials.
	Ransomware Action = "ransomware"
	// ForgedRecords: a compromised site sends altered WAL records to the
	// twin.
	ForgedRecords Action = "forged-records"
	// StolenCert: a revoked or foreign certificate tries to join the
	// cluster or to write.
	StolenCert Action = "stolen-cert"
	// Replay: captured traffic is sent again to a node.
	Replay Action = "replay"
	// RoguePeer: a certificate of the deployment's CA for an identity
	// that is not one of its nodes tries to take part in the cell (Raft,
	// Forward).
	RoguePeer Action = "rogue-peer"
)

// faultActions and attackActions are the actions of each list, in the
// order error messages name them.
var (
	faultActions  = []Action{Kill, Pause, Resume, Restart, LinkFault}
	attackActions = []Action{Ransomware, ForgedRecords, StolenCert, Replay, RoguePeer}
)

// IsAttack reports whether a is an attack (else a fault).
func (a Action) IsAttack() bool { return slices.Contains(attackActions, a) }

// Step is one event of the timeline: at offset At, Action, with the
// parameters of that action in the one matching field (Nodes for kill,
// pause, resume and restart; Link for link; the field named after the
// attack for an attack). The other fields are zero.
type Step struct {
	At     time.Duration
	Action Action

	Nodes []Selector
	Link  *LinkChange

	Ransomware    *RansomwareAttack
	ForgedRecords *ForgedRecordsAttack
	StolenCert    *StolenCertAttack
	Replay        *ReplayAttack
	RoguePeer     *RoguePeerAttack
}

// LinkChange sets the faults of every link Links selects, in each
// direction, replacing what they had: a field left zero is no fault.
// Heal restores the links' baseline instead (Topology.Baseline);
// Blackhole drops everything.
type LinkChange struct {
	Links     LinkSelector
	Delay     time.Duration // one way
	Jitter    time.Duration
	Loss      float64 // probability, 0 to 1
	Bandwidth int64   // bytes per second; 0 is unlimited
	Blackhole bool
	Heal      bool
}

// RansomwareAttack overwrites Keys keys the load wrote in Namespace with
// random bytes, through a valid client certificate, and deletes a share
// Delete of them instead.
type RansomwareAttack struct {
	Namespace string
	Keys      int
	Delete    float64
}

// ForgeKind is how forged records are altered.
type ForgeKind string

// Forgeries.
const (
	// ForgeAltered changes a record's payload and keeps its hash: the
	// hash no longer matches.
	ForgeAltered ForgeKind = "altered"
	// ForgeRehashed changes a record's payload and recomputes its hash:
	// the record is self-consistent, the chain (and the signed
	// checkpoints) are not.
	ForgeRehashed ForgeKind = "rehashed"
	// ForgeStaleEpoch sends records of an older epoch.
	ForgeStaleEpoch ForgeKind = "stale-epoch"
)

// ForgedRecordsAttack: the site From, compromised (its own certificate
// and key), sends Records forged WAL records of kind Kind to the twin.
type ForgedRecordsAttack struct {
	From    Selector
	Records int
	Kind    ForgeKind
}

// CertKind is the kind of a stolen certificate.
type CertKind string

// Stolen certificates.
const (
	// CertRevoked is a certificate of this cluster's CA that was revoked.
	CertRevoked CertKind = "revoked"
	// CertForeign is a certificate of another CA with a valid-looking
	// identity.
	CertForeign CertKind = "foreign"
)

// Try is what a stolen certificate is used for.
type Try string

// Uses of a stolen certificate.
const (
	// TryJoin dials the target's QUIC endpoint as a peer (a site).
	TryJoin Try = "join"
	// TryWrite writes through the target's HTTPS API as a client.
	TryWrite Try = "write"
)

// StolenCertAttack: a certificate of kind Kind tries each of Tries
// against Target.
type StolenCertAttack struct {
	Kind   CertKind
	Tries  []Try
	Target Selector
}

// ReplayAttack sends Frames datagrams captured on the way to Target
// again, verbatim, to Target's QUIC endpoint.
type ReplayAttack struct {
	Frames int
	Target Selector
}

// Event is a step of the timeline with where it comes from.
type Event struct {
	// Path is the step's field path: "faults[2]", "attacks[0]".
	Path string
	Step
}

// Timeline returns every fault and attack as one list sorted by offset;
// steps at the same offset keep their file order, faults before attacks.
func (s *Scenario) Timeline() []Event {
	out := make([]Event, 0, len(s.Faults)+len(s.Attacks))
	for i, st := range s.Faults {
		out = append(out, Event{Path: fmt.Sprintf("faults[%d]", i), Step: st})
	}
	for i, st := range s.Attacks {
		out = append(out, Event{Path: fmt.Sprintf("attacks[%d]", i), Step: st})
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	return out
}

// String describes a step in one line for logs and reports:
// "5s kill leader", "9s link wan blackhole".
func (st Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", st.At, st.Action)
	switch {
	case st.Link != nil:
		l := st.Link
		fmt.Fprintf(&b, " %s", l.Links)
		switch {
		case l.Heal:
			b.WriteString(" heal")
		case l.Blackhole:
			b.WriteString(" blackhole")
		default:
			if l.Delay != 0 {
				fmt.Fprintf(&b, " delay=%v", l.Delay)
			}
			if l.Jitter != 0 {
				fmt.Fprintf(&b, " jitter=%v", l.Jitter)
			}
			if l.Loss != 0 {
				fmt.Fprintf(&b, " loss=%g", l.Loss)
			}
			if l.Bandwidth != 0 {
				fmt.Fprintf(&b, " bandwidth=%d", l.Bandwidth)
			}
		}
	case st.Ransomware != nil:
		r := st.Ransomware
		fmt.Fprintf(&b, " namespace=%s keys=%d delete=%g", r.Namespace, r.Keys, r.Delete)
	case st.ForgedRecords != nil:
		f := st.ForgedRecords
		fmt.Fprintf(&b, " from=%s records=%d kind=%s", f.From, f.Records, f.Kind)
	case st.StolenCert != nil:
		c := st.StolenCert
		tries := make([]string, len(c.Tries))
		for i, t := range c.Tries {
			tries[i] = string(t)
		}
		fmt.Fprintf(&b, " kind=%s tries=%s target=%s", c.Kind, strings.Join(tries, ","), c.Target)
	case st.Replay != nil:
		fmt.Fprintf(&b, " frames=%d target=%s", st.Replay.Frames, st.Replay.Target)
	case st.RoguePeer != nil:
		r := st.RoguePeer
		ids := make([]string, len(r.Identities))
		for i, id := range r.Identities {
			ids[i] = string(id)
		}
		fw := make([]string, len(r.Forward))
		for i, f := range r.Forward {
			fw[i] = string(f)
		}
		fmt.Fprintf(&b, " identities=%s raft=%s forward=%s namespace=%s for=%v every=%v",
			strings.Join(ids, ","), r.Raft, strings.Join(fw, ","), r.Namespace, r.For, r.Every)
	default:
		for i, n := range st.Nodes {
			if i == 0 {
				b.WriteByte(' ')
			} else {
				b.WriteByte(',')
			}
			b.WriteString(string(n))
		}
	}
	return b.String()
}

// Parse decodes and validates a scenario. name is what error messages
// call the source (a file name); it is not stored. Every problem found is
// an *Error naming the line and the field path; they are joined.
func Parse(name string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s: more than %d bytes (a scenario is a short YAML file)", ErrTooLarge, name, MaxFileSize)
	}
	p := &parser{file: name, lines: map[string]int{}}
	s := p.document(data)
	if s == nil && len(p.errs) == 0 {
		p.fail(0, "", "not a scenario")
	}
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	s.validate(p)
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	return s, nil
}

// Load reads and parses the scenario file at path; errors name it as
// given.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenarios: load: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("scenarios: load %s: %w", path, err)
	}
	return Parse(path, data)
}

// Validate checks a scenario built or changed in code against the rules
// Parse applies (defaults are not filled in: every field must be set).
// Its errors name the field path but no line.
func (s *Scenario) Validate() error {
	p := &parser{lines: map[string]int{}}
	s.validate(p)
	return p.err()
}

// YAML encodes the scenario in the format Parse reads, every default
// written out; Parse of the result returns an equal scenario.
func (s *Scenario) YAML() ([]byte, error) {
	n, err := s.node()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := newEncoder(&b)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("scenarios: encode %s: %w", s.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("scenarios: encode %s: %w", s.Name, err)
	}
	return b.Bytes(), nil
}

// Error is one problem of a scenario: where it is and what is wrong.
type Error struct {
	// File is the name given to Parse (the path given to Load); empty
	// for Validate.
	File string
	// Line is the 1-based line of the field; 0 when unknown.
	Line int
	// Path is the field path ("faults[2].at", "load.durability.cell");
	// list indexes count from 0. Empty for the whole document.
	Path string
	// Msg says what is wrong and how to fix it.
	Msg string
	// Err is the sentinel: ErrInvalid or ErrSyntax.
	Err error
}

// Error formats e as "scenarios: FILE:LINE: PATH: MSG".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("scenarios: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }
