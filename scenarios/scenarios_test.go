package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// baseYAML is a valid scenario; the error cases below change it. Its
// line numbers matter: the cases name them.
const baseYAML = `name: t
description: a test drill
duration: 20s
topology: {sites: 3, twin: true, witness: true, wan_rtt: 12ms}
load:
  rate: 100
  durability: {cell: 0.5, twin: 0.5}
  namespaces: [a, b]
faults:
  - at: 5s
    kill: leader
  - at: 6s
    link: wan
    delay: 10ms
attacks:
  - at: 7s
    forged-records: {from: follower}
expect:
  rto: "<= 10s"
  acked_writes_lost: {twin: "== 0"}
  tamper_detected: true
`

// variantT returns baseYAML with each pair (old, new) replaced once.
func variantT(tb testing.TB, pairs ...string) string {
	tb.Helper()
	doc := baseYAML
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			tb.Fatalf("test bug: %q is not in the document:\n%s", pairs[i], doc)
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

// problemsT returns every *Error joined in err.
func problemsT(tb testing.TB, err error) []*Error {
	tb.Helper()
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}

func TestParse_Base(t *testing.T) {
	s, err := Parse("t.yaml", []byte(baseYAML))
	if err != nil {
		t.Fatalf("the base document of the error cases: got %v, want it valid", err)
	}
	if got, want := len(s.Timeline()), 3; got != want {
		t.Fatalf("timeline: got %d steps, want %d", got, want)
	}
}

func TestParse_Errors(t *testing.T) {
	cases := []struct {
		name  string
		pairs []string // (old, new) replacements of baseYAML
		line  int
		path  string
		msg   string // substring of the message
	}{
		{"unknown top field", []string{"name: t\n", "name: t\nnmae: u\n"}, 2, "nmae", "unknown field (known here: name, description"},
		{"field given twice", []string{"name: t\n", "name: t\nname: u\n"}, 2, "name", "given twice (first on line 1)"},
		{"missing name", []string{"name: t\n", ""}, 1, "name", "missing"},
		{"name not a string", []string{"name: t", "name: 12"}, 1, "name", "\"12\": not a string (quote it: \"12\")"},
		{"bad name", []string{"name: t", "name: Bad_Name"}, 1, "name", "lower-case letters"},
		{"empty description", []string{"description: a test drill", "description: \"\""}, 2, "description", "empty"},
		{"description with a line break", []string{"description: a test drill", "description: \"a\\nb\""}, 2, "description", "line breaks"},
		{"bad duration", []string{"duration: 20s", "duration: 90x"}, 3, "duration", "\"90x\": not a duration (use 1s, 500ms)"},
		{"zero duration", []string{"duration: 20s", "duration: 0s"}, 3, "duration", "more than 0"},
		{"duration too long", []string{"duration: 20s", "duration: 25h"}, 3, "duration", "at most 24h0m0s"},
		{"sites not a number", []string{"sites: 3", "sites: three"}, 4, "topology.sites", "\"three\": not a whole number"},
		{"ten sites", []string{"sites: 3", "sites: 10"}, 4, "topology.sites", "use 1 to 9"},
		{"twin yes", []string{"twin: true,", "twin: yes,"}, 4, "topology.twin", "\"yes\": not true or false"},
		{"wan_rtt without twin", []string{"twin: true, witness: true, wan_rtt: 12ms", "twin: false, witness: true, wan_rtt: 12ms"}, 4, "topology.wan_rtt", "set twin: true"},
		{"zero wan_rtt", []string{"wan_rtt: 12ms", "wan_rtt: 0s"}, 4, "topology.wan_rtt", "more than 0"},
		{"unknown topology field", []string{"wan_rtt: 12ms}", "wan_rtt: 12ms, wan: 1}"}, 4, "topology.wan", "unknown field"},
		{"topology a list", []string{"topology: {sites: 3, twin: true, witness: true, wan_rtt: 12ms}", "topology: [3]"}, 4, "topology", "a list: want a mapping"},
		{"load not a mapping", []string{"load:\n  rate: 100\n  durability: {cell: 0.5, twin: 0.5}\n  namespaces: [a, b]\n", "load: 5\n"}, 5, "load", "\"5\": want a mapping"},
		{"missing load", []string{"load:\n  rate: 100\n  durability: {cell: 0.5, twin: 0.5}\n  namespaces: [a, b]\n", ""}, 1, "load", "missing"},
		{"missing rate", []string{"  rate: 100\n", ""}, 5, "load", "rate missing"},
		{"rate not a number", []string{"rate: 100", "rate: fast"}, 6, "load.rate", "\"fast\": not a number"},
		{"zero rate", []string{"rate: 100", "rate: 0"}, 6, "load.rate", "more than 0"},
		{"NaN rate", []string{"rate: 100", "rate: .nan"}, 6, "load.rate", "more than 0"},
		{"zero value size", []string{"  rate: 100\n", "  rate: 100\n  value_size: 0\n"}, 7, "load.value_size", "from 1 to 8388608"},
		{"no clients", []string{"  rate: 100\n", "  rate: 100\n  clients: 0\n"}, 7, "load.clients", "use 1 to 4096"},
		{"share over 1", []string{"{cell: 0.5, twin: 0.5}", "{cell: 1.5, twin: 0.5}"}, 7, "load.durability.cell", "from 0 to 1"},
		{"shares do not sum to 1", []string{"{cell: 0.5, twin: 0.5}", "{cell: 0.5, twin: 0.4}"}, 7, "load.durability", "sum to 0.9"},
		{"unknown durability", []string{"{cell: 0.5, twin: 0.5}", "{cell: 0.5, disk: 0.5}"}, 7, "load.durability.disk", "unknown field (known here: cell, twin)"},
		{"twin writes without a twin", []string{"twin: true, witness: true, wan_rtt: 12ms", "twin: false, witness: true"}, 7, "load.durability.twin", "the topology has no twin"},
		{"bad namespace", []string{"[a, b]", "[a, B c]"}, 8, "load.namespaces[1]", "lower-case letters"},
		{"namespace twice", []string{"[a, b]", "[a, a]"}, 8, "load.namespaces[1]", "named twice"},
		{"no namespace", []string{"[a, b]", "[]"}, 8, "load.namespaces", "empty"},
		{"namespace not a string", []string{"[a, b]", "[a, 12]"}, 8, "load.namespaces[1]", "not a string"},
		{"negative start", []string{"  namespaces: [a, b]\n", "  namespaces: [a, b]\n  start: -1s\n"}, 9, "load.start", "0 or more"},
		{"stop before start", []string{"  namespaces: [a, b]\n", "  namespaces: [a, b]\n  start: 5s\n  stop: 5s\n"}, 10, "load.stop", "stops after it starts"},
		{"stop past the end", []string{"  namespaces: [a, b]\n", "  namespaces: [a, b]\n  stop: 21s\n"}, 9, "load.stop", "past the end of the drill (duration 20s)"},
		{"faults not a list", []string{"faults:\n  - at: 5s\n    kill: leader\n  - at: 6s\n    link: wan\n    delay: 10ms\n", "faults: kill\n"}, 9, "faults", "want a list of steps"},
		{"empty step", []string{"  - at: 5s\n    kill: leader\n", "  -\n"}, 10, "faults[0]", "empty step"},
		{"step not a mapping", []string{"  - at: 5s\n    kill: leader\n", "  - kill\n"}, 10, "faults[0]", "want a mapping"},
		{"missing at", []string{"  - at: 5s\n    kill: leader\n", "  - kill: leader\n"}, 10, "faults[0].at", "missing"},
		{"bad at", []string{"at: 5s", "at: 90x"}, 10, "faults[0].at", "\"90x\": not a duration (use 1s, 500ms)"},
		{"negative at", []string{"at: 5s", "at: -5s"}, 10, "faults[0].at", "0 or more"},
		{"at past the end", []string{"at: 5s", "at: 20s"}, 10, "faults[0].at", "past the end of the drill"},
		{"no action", []string{"    kill: leader\n", ""}, 10, "faults[0]", "no action: add one of kill, pause, resume, restart, link"},
		{"two actions", []string{"    kill: leader\n", "    kill: leader\n    pause: follower\n"}, 12, "faults[0].pause", "a step has one action and this one also has kill"},
		{"link parameter without link", []string{"    kill: leader\n", "    kill: leader\n    delay: 5ms\n"}, 12, "faults[0].delay", "only a link step takes delay"},
		{"attack under faults", []string{"    kill: leader\n", "    ransomware: {keys: 1}\n"}, 11, "faults[0].ransomware", "unknown field"},
		{"kill nothing", []string{"kill: leader", "kill:"}, 11, "faults[0].kill", "which nodes?"},
		{"kill a mapping", []string{"kill: leader", "kill: {a: b}"}, 11, "faults[0].kill", "want a word or a list"},
		{"unknown node", []string{"kill: leader", "kill: site-z"}, 11, "faults[0].kill", "\"site-z\": not a node or selector"},
		{"too many sites", []string{"kill: leader", "kill: sites:4"}, 11, "faults[0].kill", "use sites:1 to sites:3"},
		{"sites without a number", []string{"kill: leader", "kill: sites:x"}, 11, "faults[0].kill", "write sites:N"},
		{"witness without a witness", []string{"kill: leader", "kill: witness", "witness: true", "witness: false"}, 11, "faults[0].kill", "no witness"},
		{"follower of one site", []string{"kill: leader", "kill: follower", "sites: 3", "sites: 1"}, 11, "faults[0].kill", "has no follower"},
		{"restart the leader", []string{"kill: leader", "restart: leader"}, 11, "faults[0].restart", "a node that is down has no role"},
		{"resume sites:N", []string{"kill: leader", "resume: sites:2"}, 11, "faults[0].resume", "a node that is down has no role"},
		{"selector twice", []string{"kill: leader", "kill: [site-a, site-b, site-a]"}, 11, "faults[0].kill[2]", "named twice"},
		{"selector in a block list", []string{"kill: leader", "kill:\n      - site-a\n      - site-q"}, 13, "faults[0].kill[1]", "\"site-q\": not a node"},
		{"unknown link", []string{"link: wan", "link: moon"}, 13, "faults[1].link", "use wan, witness, cell or FROM->TO"},
		{"link to an unknown node", []string{"link: wan", "link: site-a->site-z"}, 13, "faults[1].link", "FROM and TO are node names"},
		{"link to itself", []string{"link: wan", "link: site-a->site-a"}, 13, "faults[1].link", "no such link"},
		{"twin to twin", []string{"link: wan", "link: lux-1->lux-1"}, 13, "faults[1].link", "no such link"},
		{"wan without a twin", []string{"twin: true, witness: true, wan_rtt: 12ms", "twin: false, witness: true"}, 13, "faults[1].link", "need a twin"},
		{"witness links without a witness", []string{"link: wan", "link: witness", "witness: true", "witness: false"}, 13, "faults[1].link", "need a witness"},
		{"cell of one site", []string{"link: wan", "link: cell", "sites: 3", "sites: 1"}, 13, "faults[1].link", "no site-to-site link"},
		{"link changes nothing", []string{"    delay: 10ms\n", ""}, 13, "faults[1].link", "nothing changes"},
		{"heal with a delay", []string{"delay: 10ms", "delay: 10ms\n    heal: true"}, 15, "faults[1].heal", "heal restores the links"},
		{"blackhole with a delay", []string{"delay: 10ms", "delay: 10ms\n    blackhole: true"}, 15, "faults[1].blackhole", "drops everything"},
		{"delay too long", []string{"delay: 10ms", "delay: 2m"}, 14, "faults[1].delay", "from 0 to 1m0s"},
		{"negative jitter", []string{"delay: 10ms", "jitter: -1ms"}, 14, "faults[1].jitter", "from 0 to 1m0s"},
		{"loss over 1", []string{"delay: 10ms", "loss: 1.5"}, 14, "faults[1].loss", "probability from 0 to 1"},
		{"negative bandwidth", []string{"delay: 10ms", "bandwidth: -1"}, 14, "faults[1].bandwidth", "bytes per second"},
		{"blackhole yes", []string{"delay: 10ms", "blackhole: yes"}, 14, "faults[1].blackhole", "not true or false"},
		{"link to a list", []string{"link: wan", "link: [wan]"}, 13, "faults[1].link", "want a string"},
		{"unknown attack parameter", []string{"{from: follower}", "{form: follower}"}, 17, "attacks[0].forged-records.form", "unknown field (known here: from, records, kind)"},
		{"forged from the twin", []string{"{from: follower}", "{from: twin}"}, 17, "attacks[0].forged-records.from", "one site"},
		{"forged from all sites", []string{"{from: follower}", "{from: all-sites}"}, 17, "attacks[0].forged-records.from", "one site"},
		{"forged from the witness by name", []string{"{from: follower}", "{from: witness-1}"}, 17, "attacks[0].forged-records.from", "one site"},
		{"zero forged records", []string{"{from: follower}", "{from: follower, records: 0}"}, 17, "attacks[0].forged-records.records", "use 1 to 1000000"},
		{"unknown forgery", []string{"{from: follower}", "{kind: bogus}"}, 17, "attacks[0].forged-records.kind", "use altered, rehashed or stale-epoch"},
		{"forged records without a twin", []string{"twin: true, witness: true, wan_rtt: 12ms", "twin: false, witness: true"}, 17, "attacks[0].forged-records", "has none"},
		{"ransomware without keys", []string{"forged-records: {from: follower}", "ransomware: {namespace: a}"}, 17, "attacks[0].ransomware", "keys missing"},
		{"ransomware on another namespace", []string{"forged-records: {from: follower}", "ransomware: {namespace: z, keys: 5}"}, 17, "attacks[0].ransomware.namespace", "not a namespace the load writes (load.namespaces: a, b)"},
		{"ransomware with no key", []string{"forged-records: {from: follower}", "ransomware: {keys: 0}"}, 17, "attacks[0].ransomware.keys", "use 1 to 1000000"},
		{"ransomware deletes twice", []string{"forged-records: {from: follower}", "ransomware: {keys: 5, delete: 2}"}, 17, "attacks[0].ransomware.delete", "from 0 to 1"},
		{"ransomware a word", []string{"forged-records: {from: follower}", "ransomware: lots"}, 17, "attacks[0].ransomware", "want a mapping"},
		{"stolen cert without kind", []string{"forged-records: {from: follower}", "stolen-cert: {target: leader}"}, 17, "attacks[0].stolen-cert", "kind missing"},
		{"stolen cert of unknown kind", []string{"forged-records: {from: follower}", "stolen-cert: {kind: stolen}"}, 17, "attacks[0].stolen-cert.kind", "use revoked"},
		{"stolen cert tries to fly", []string{"forged-records: {from: follower}", "stolen-cert: {kind: revoked, tries: [fly]}"}, 17, "attacks[0].stolen-cert.tries[0]", "use join"},
		{"stolen cert tries twice", []string{"forged-records: {from: follower}", "stolen-cert: {kind: revoked, tries: [join, join]}"}, 17, "attacks[0].stolen-cert.tries[1]", "named twice"},
		{"stolen cert tries nothing", []string{"forged-records: {from: follower}", "stolen-cert: {kind: revoked, tries: []}"}, 17, "attacks[0].stolen-cert.tries", "empty"},
		{"stolen cert on all sites", []string{"forged-records: {from: follower}", "stolen-cert: {kind: foreign, target: all-sites}"}, 17, "attacks[0].stolen-cert.target", "one node"},
		{"replay no frame", []string{"forged-records: {from: follower}", "replay: {frames: 0}"}, 17, "attacks[0].replay.frames", "use 1 to 1000000"},
		{"replay on sites:2", []string{"forged-records: {from: follower}", "replay: {target: sites:2}"}, 17, "attacks[0].replay.target", "one node"},
		{"two attacks in a step", []string{"    forged-records: {from: follower}\n", "    forged-records: {from: follower}\n    replay: {}\n"}, 18, "attacks[0].replay", "this one also has forged-records"},
		{"fault under attacks", []string{"    forged-records: {from: follower}\n", "    kill: leader\n"}, 17, "attacks[0].kill", "unknown field"},
		{"unknown expectation", []string{"  rto: \"<= 10s\"", "  rtoo: \"<= 10s\""}, 19, "expect.rtoo", "unknown field (known here: rpo, rto"},
		{"expectation without operator", []string{"rto: \"<= 10s\"", "rto: 10s"}, 19, "expect.rto", "\"10s\": no operator"},
		{"expectation with one equal sign", []string{"rto: \"<= 10s\"", "rto: \"= 10s\""}, 19, "expect.rto", "use == (two signs)"},
		{"rto not a duration", []string{"rto: \"<= 10s\"", "rto: \"<= soon\""}, 19, "expect.rto", "not understood"},
		{"rto without a unit", []string{"rto: \"<= 10s\"", "rto: \"<= 5\""}, 19, "expect.rto", "not understood"},
		{"rpo in kilograms", []string{"rto: \"<= 10s\"", "rpo: \"<= 5kg\""}, 19, "expect.rpo", "not understood"},
		{"negative count", []string{"{twin: \"== 0\"}", "{twin: \"== -1\"}"}, 20, "expect.acked_writes_lost.twin", "a count is 0 or more"},
		{"negative duration", []string{"rto: \"<= 10s\"", "rto: \"<= -1s\""}, 19, "expect.rto", "a duration is 0 or more"},
		{"comparison without value", []string{"rto: \"<= 10s\"", "rto: \"<=\""}, 19, "expect.rto", "no value after <="},
		{"empty per-durability", []string{"{twin: \"== 0\"}", "{}"}, 20, "expect.acked_writes_lost", "empty"},
		{"unknown durability expectation", []string{"{twin: \"== 0\"}", "{disk: \"== 0\"}"}, 20, "expect.acked_writes_lost.disk", "unknown field (known here: cell, twin)"},
		{"expectation a list", []string{"rto: \"<= 10s\"", "rto: [\"<= 10s\"]"}, 19, "expect.rto", "want write a comparison"},
		{"empty expectation", []string{"rto: \"<= 10s\"", "rto:"}, 19, "expect.rto", "empty"},
		{"tamper ordered", []string{"tamper_detected: true", "tamper_detected: \"<= true\""}, 21, "expect.tamper_detected", "compared with == or != only"},
		{"tamper maybe", []string{"tamper_detected: true", "tamper_detected: maybe"}, 21, "expect.tamper_detected", "write true or false"},
		{"integrity broken", []string{"  tamper_detected: true\n", "  tamper_detected: true\n  integrity: broken\n"}, 22, "expect.integrity", "\"broken\": not understood: write verified"},
		{"no expectation", []string{"expect:\n  rto: \"<= 10s\"\n  acked_writes_lost: {twin: \"== 0\"}\n  tamper_detected: true\n", "expect: {}\n"}, 18, "expect", "no expectation"},
		{"expect a list", []string{"expect:\n  rto: \"<= 10s\"\n  acked_writes_lost: {twin: \"== 0\"}\n  tamper_detected: true\n", "expect: [rto]\n"}, 18, "expect", "want a mapping"},
		{"acked twin writes without twin writes", []string{"{cell: 0.5, twin: 0.5}", "{cell: 1}"}, 20, "expect.acked_writes_lost.twin", "this check could not fail"},
		{"acked cell writes without cell writes", []string{"{cell: 0.5, twin: 0.5}", "{twin: 1}", "{twin: \"== 0\"}", "{cell: \"== 0\"}"}, 20, "expect.acked_writes_lost.cell", "this check could not fail"},
		{"tamper without an attack", []string{"forged-records: {from: follower}", "ransomware: {keys: 10}"}, 21, "expect.tamper_detected", "no forged-records, stolen-cert, replay or rogue-peer attack"},
		{"rto without an outage", []string{"faults:\n  - at: 5s\n    kill: leader\n  - at: 6s\n    link: wan\n    delay: 10ms\n", "faults:\n  - at: 5s\n    restart: site-a\n"}, 16, "expect.rto", "no kill, pause or link fault"},
		{"promotions without a twin", []string{"  tamper_detected: true\n", "  tamper_detected: true\n  promotions: \"== 0\"\n", "twin: true, witness: true, wan_rtt: 12ms", "twin: false, witness: true"}, 22, "expect.promotions", "only the twin is promoted"},
		{"no step", []string{"faults:\n  - at: 5s\n    kill: leader\n  - at: 6s\n    link: wan\n    delay: 10ms\nattacks:\n  - at: 7s\n    forged-records: {from: follower}\n", "", "  rto: \"<= 10s\"\n", "", "  tamper_detected: true\n", ""}, 1, "", "no fault and no attack"},
		{"second document", []string{"  tamper_detected: true\n", "  tamper_detected: true\n---\nname: u\n"}, 22, "", "a second YAML document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := variantT(t, tc.pairs...)
			s, err := Parse("t.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("got %+v, want an error at line %d, %s\n%s", s, tc.line, tc.path, doc)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want it to wrap ErrInvalid", err)
			}
			for _, e := range problemsT(t, err) {
				if e.Line == tc.line && e.Path == tc.path && strings.Contains(e.Msg, tc.msg) {
					prefix := "scenarios: t.yaml:" + strconv.Itoa(tc.line) + ": "
					if tc.path != "" {
						prefix += tc.path + ": "
					}
					if got := e.Error(); !strings.HasPrefix(got, prefix) {
						t.Errorf("message: got %q, want it to start with %q", got, prefix)
					}
					if !strings.Contains(err.Error(), e.Error()) {
						t.Errorf("joined message: got %q, want it to contain %q", err, e)
					}
					return
				}
			}
			t.Fatalf("got\n%v\nwant a problem at line %d, path %q, saying %q; document:\n%s", err, tc.line, tc.path, tc.msg, doc)
		})
	}
}

func TestParse_Document(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		sentinel error
		want     string // the whole message
	}{
		{"empty", "", ErrInvalid, "scenarios: t.yaml: empty: start from a built-in (`jumeau drill show earthquake-total`)"},
		{"only a comment", "# nothing\n", ErrInvalid, "scenarios: t.yaml: empty: start from a built-in (`jumeau drill show earthquake-total`)"},
		{"a list", "- a\n- b\n", ErrInvalid, "scenarios: t.yaml:1: a list: want a mapping of name, description, duration, topology, load, faults, attacks, expect"},
		{"a word", "hello\n", ErrInvalid, `scenarios: t.yaml:1: "hello": want a mapping of name, description, duration, topology, load, faults, attacks, expect`},
		{"not YAML", "name: [\n", ErrSyntax, "scenarios: t.yaml: yaml: line 1: did not find expected node content"},
		{"bad indentation", "name: t\n  description: x\n", ErrSyntax, "scenarios: t.yaml: yaml: line 2: mapping values are not allowed in this context"},
		{"second document", baseYAML + "---\nname: u\n", ErrInvalid, "scenarios: t.yaml:22: a second YAML document: one scenario per file (remove the second ---)"},
		{"tab", "name:\tt\n\tdescription: x\n", ErrSyntax, "scenarios: t.yaml: yaml: line 2: found a tab character that violates indentation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.doc))
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("got %v, want %v", err, tc.sentinel)
			}
			if got := err.Error(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParse_ErrorFormat(t *testing.T) {
	doc := variantT(t, "at: 6s", "at: 90x")
	_, err := Parse("earthquake.yaml", []byte(doc))
	want := `scenarios: earthquake.yaml:12: faults[1].at: "90x": not a duration (use 1s, 500ms)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 12 || e.Path != "faults[1].at" || e.File != "earthquake.yaml" {
		t.Fatalf("got %#v, want an *Error at earthquake.yaml:12 faults[1].at", e)
	}
}

func TestParse_ManyErrors(t *testing.T) {
	// Every problem is reported, in line order, at most maxErrors.
	doc := variantT(t, "rate: 100", "rate: 0", "at: 5s", "at: 90x", "kill: leader", "kill: {a: b}")
	_, err := Parse("t.yaml", []byte(doc))
	ps := problemsT(t, err)
	if len(ps) != 2 || ps[0].Path != "faults[0].at" || ps[1].Path != "faults[0].kill" {
		// rate: 0 is only checked once the document reads well.
		t.Fatalf("got %v, want the two field problems (at, kill), the range check of rate after them", err)
	}
	var b strings.Builder
	b.WriteString(baseYAML)
	for i := 0; i < 30; i++ {
		b.WriteString("nope" + strconv.Itoa(i) + ": 1\n")
	}
	_, err = Parse("t.yaml", []byte(b.String()))
	ps = problemsT(t, err)
	if got, want := len(ps), maxErrors+1; got != want || !strings.Contains(ps[maxErrors].Msg, "10 more problems") {
		t.Fatalf("got %d problems (%v), want %d, the last one counting the 10 not shown", got, err, want)
	}
	for i := 1; i < len(ps)-1; i++ {
		if ps[i].Line < ps[i-1].Line {
			t.Fatalf("problem %d at line %d after line %d: want line order", i, ps[i].Line, ps[i-1].Line)
		}
	}
}

func TestParse_TooLarge(t *testing.T) {
	doc := baseYAML + "# " + strings.Repeat("x", MaxFileSize) + "\n"
	if _, err := Parse("big.yaml", []byte(doc)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestParse_Defaults(t *testing.T) {
	doc := `name: minimal
description: the least a scenario says
duration: 10s
load: {rate: 50}
attacks:
  - at: 2s
    ransomware: {keys: 20}
expect:
  integrity: verified
`
	got, err := Parse("min.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		Name: "minimal", Description: "the least a scenario says", Duration: 10 * time.Second,
		Topology: Topology{Sites: 3, Twin: true, Witness: true, WANRTT: 12 * time.Millisecond},
		Load: Workload{Rate: 50, ValueSize: DefaultValueSize, Clients: DefaultClients, Durability: Mix{Cell: 1},
			Namespaces: []string{"drill"}, Start: 0, Stop: 10 * time.Second},
		Attacks: []Step{{At: 2 * time.Second, Action: Ransomware, Ransomware: &RansomwareAttack{Namespace: "drill", Keys: 20, Delete: 0.5}}},
		Expect:  []Expectation{{Name: ExpectIntegrity, Op: EQ, Value: Verified}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Defaults of the other attacks, and of a topology without twin.
	doc = `name: defaults
description: d
duration: 10s
topology: {twin: false, witness: false, sites: 2}
load: {rate: 5, namespaces: [x]}
attacks:
  - {at: 1s, stolen-cert: {kind: foreign}}
  - {at: 2s, replay: {target: leader}}
  - {at: 3s, forged-records: ~}
expect:
  tamper_detected: "== false"
`
	_, err = Parse("d.yaml", []byte(doc))
	if ps := problemsT(t, err); len(ps) != 1 || ps[0].Path != "attacks[2].forged-records" {
		t.Fatalf("got %v, want one problem: forged records need a twin", err)
	}
	doc = strings.Replace(doc, "  - {at: 3s, forged-records: ~}\n", "", 1)
	got, err = Parse("d.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got.Topology.WANRTT != 0 {
		t.Errorf("wan_rtt without twin: got %v, want 0", got.Topology.WANRTT)
	}
	if c := got.Attacks[0].StolenCert; !reflect.DeepEqual(c, &StolenCertAttack{Kind: CertForeign, Tries: []Try{TryJoin, TryWrite}, Target: SelectLeader}) {
		t.Errorf("stolen-cert: got %+v, want join and write on the leader", c)
	}
	if r := got.Attacks[1].Replay; !reflect.DeepEqual(r, &ReplayAttack{Frames: DefaultFrames, Target: SelectLeader}) {
		t.Errorf("replay: got %+v, want %d frames on the leader", r, DefaultFrames)
	}
	if e := got.Expect[0]; e.Op != EQ || e.Value != false {
		t.Errorf("tamper_detected: got %v, want == false", e)
	}
}

func TestParse_Aliases(t *testing.T) {
	doc := variantT(t, "  - at: 6s\n    link: wan\n    delay: 10ms\n",
		"  - &slow {at: 6s, link: wan, delay: 10ms}\n  - *slow\n")
	s, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.Faults), 3; got != want || !reflect.DeepEqual(s.Faults[1], s.Faults[2]) {
		t.Fatalf("got %d faults %+v, want 3, the last two equal", got, s.Faults)
	}
}

func TestParse_Selectors(t *testing.T) {
	// Every selector a kill takes, and every link selector, on the full
	// topology.
	doc := variantT(t, "kill: leader", "kill: [leader, follower, all-sites, twin, witness, sites:3, site-a, lux-1, witness-1]",
		"    delay: 10ms\n", "    delay: 10ms\n  - {at: 7s, link: witness, loss: 0.1}\n  - {at: 8s, link: cell, bandwidth: 1000}\n"+
			"  - {at: 9s, link: site-b->lux-1, blackhole: true}\n  - {at: 9s, link: lux-1->witness-1, jitter: 1ms}\n  - {at: 10s, link: wan, heal: true}\n"+
			"  - {at: 11s, restart: [site-c, all-sites, twin, witness]}\n  - {at: 12s, pause: sites:1}\n  - {at: 13s, resume: all-sites}\n")
	s, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.Faults), 10; got != want {
		t.Fatalf("got %d faults, want %d", got, want)
	}
}

func TestScenario_Timeline(t *testing.T) {
	doc := `name: order
description: steps out of order
duration: 10s
load: {rate: 5}
faults:
  - {at: 5s, kill: leader}
  - {at: 1s, pause: follower}
  - {at: 5s, restart: site-a}
attacks:
  - {at: 5s, replay: {}}
  - {at: 0s, replay: {}}
expect:
  tamper_detected: true
`
	s, err := Parse("o.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range s.Timeline() {
		got = append(got, e.Path+" "+e.String())
	}
	want := []string{
		"attacks[1] 0s replay frames=10 target=twin",
		"faults[1] 1s pause follower",
		"faults[0] 5s kill leader",
		"faults[2] 5s restart site-a",
		"attacks[0] 5s replay frames=10 target=twin",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStep_String(t *testing.T) {
	cases := []struct {
		step Step
		want string
	}{
		{Step{At: time.Second, Action: Kill, Nodes: []Selector{SelectLeader, "site-b"}}, "1s kill leader,site-b"},
		{Step{At: 4 * time.Second, Action: LinkFault, Link: &LinkChange{Links: LinkWAN, Delay: 156 * time.Millisecond, Jitter: 50 * time.Millisecond, Loss: 0.3, Bandwidth: 100}}, "4s link wan delay=156ms jitter=50ms loss=0.3 bandwidth=100"},
		{Step{At: 8 * time.Second, Action: LinkFault, Link: &LinkChange{Links: LinkWAN, Blackhole: true}}, "8s link wan blackhole"},
		{Step{At: 9 * time.Second, Action: LinkFault, Link: &LinkChange{Links: "site-a->lux-1", Heal: true}}, "9s link site-a->lux-1 heal"},
		{Step{At: 0, Action: Ransomware, Ransomware: &RansomwareAttack{Namespace: "x", Keys: 3, Delete: 0.5}}, "0s ransomware namespace=x keys=3 delete=0.5"},
		{Step{Action: ForgedRecords, ForgedRecords: &ForgedRecordsAttack{From: SelectLeader, Records: 2, Kind: ForgeRehashed}}, "0s forged-records from=leader records=2 kind=rehashed"},
		{Step{Action: StolenCert, StolenCert: &StolenCertAttack{Kind: CertRevoked, Tries: []Try{TryJoin}, Target: SelectTwin}}, "0s stolen-cert kind=revoked tries=join target=twin"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.step.String(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScenario_YAML(t *testing.T) {
	s, err := Parse("t.yaml", []byte(baseYAML))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	want := `name: t
description: a test drill
duration: 20s
topology: {sites: 3, twin: true, witness: true, wan_rtt: 12ms}
load:
  rate: 100
  value_size: 256
  clients: 4
  durability: {cell: 0.5, twin: 0.5}
  namespaces: [a, b]
  start: 0s
  stop: 20s
faults:
  - at: 5s
    kill: [leader]
  - at: 6s
    link: wan
    delay: 10ms
attacks:
  - at: 7s
    forged-records: {from: follower, records: 1, kind: altered}
expect:
  rto: "<= 10s"
  acked_writes_lost: {twin: "== 0"}
  tamper_detected: true
`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	roundTripT(t, s)
}

// roundTripT checks that YAML encodes s into a document Parse reads back
// equal.
func roundTripT(tb testing.TB, s *Scenario) {
	tb.Helper()
	b, err := s.YAML()
	if err != nil {
		tb.Fatalf("YAML: %v", err)
	}
	back, err := Parse("roundtrip.yaml", b)
	if err != nil {
		tb.Fatalf("Parse(YAML()): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, s) {
		tb.Fatalf("round trip: got\n%+v\nwant\n%+v\nfrom\n%s", back, s, b)
	}
}

func TestScenario_YAMLQuotes(t *testing.T) {
	// Strings YAML would read as something else are quoted.
	doc := variantT(t, "name: t", "name: \"123\"", "description: a test drill", "description: \"true\"",
		"[a, b]", "[\"1\", \"0x1f\", null.x, \"yes\"]", "rto: \"<= 10s\"", "rto: \"< 1m30s\"",
		"tamper_detected: true", "tamper_detected: \"!= false\"")
	s, err := Parse("q.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	roundTripT(t, s)
}

func TestScenario_YAMLSortsExpectations(t *testing.T) {
	s, err := Parse("t.yaml", []byte(baseYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := slicesClone(s.Expect)
	// A scenario built in code may list its checks in any order; YAML
	// writes them in the canonical order Parse returns.
	s.Expect = append([]Expectation{s.Expect[2], s.Expect[1]}, s.Expect[0])
	b, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("t.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Expect, want) {
		t.Fatalf("got %v, want %v", back.Expect, want)
	}
}

func slicesClone(e []Expectation) []Expectation { return append([]Expectation(nil), e...) }

func TestScenario_Validate(t *testing.T) {
	base := func() *Scenario {
		s, err := Parse("t.yaml", []byte(baseYAML))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("a parsed scenario: got %v, want valid", err)
	}
	cases := []struct {
		name   string
		change func(s *Scenario)
		path   string
		msg    string
	}{
		{"zero load", func(s *Scenario) { s.Load = Workload{} }, "load.rate", "more than 0"},
		{"acked for all and per durability", func(s *Scenario) {
			s.Expect = append(s.Expect, Expectation{Name: ExpectAckedWritesLost, Op: EQ, Value: int64(0)})
		}, "expect.acked_writes_lost", "not both"},
		{"expectation twice", func(s *Scenario) { s.Expect = append(s.Expect, s.Expect[0]) }, "expect.rto", "given twice"},
		{"unknown expectation", func(s *Scenario) {
			s.Expect = append(s.Expect, Expectation{Name: "uptime", Op: EQ, Value: int64(1)})
		}, "expect[3]", `unknown expectation "uptime"`},
		{"bad operator", func(s *Scenario) { s.Expect[0].Op = "=<" }, "expect.rto", `operator "=<"`},
		{"int for a count", func(s *Scenario) { s.Expect[1].Value = 0 }, "expect.acked_writes_lost.twin", "value of type int"},
		{"count for rto", func(s *Scenario) { s.Expect[0].Value = int64(3) }, "expect.rto", "a count"},
		{"durability for rto", func(s *Scenario) { s.Expect[0].Durability = DurabilityTwin }, "expect.rto.twin", "only acked_writes_lost"},
		{"word for integrity", func(s *Scenario) {
			s.Expect = append(s.Expect, Expectation{Name: ExpectIntegrity, Op: EQ, Value: "fine"})
		}, "expect.integrity", `"fine"`},
		{"ordered bool", func(s *Scenario) { s.Expect[2].Op = GT }, "expect.tamper_detected", "== or != only"},
		{"attack under faults", func(s *Scenario) { s.Faults = append(s.Faults, s.Attacks[0]) }, "faults[2]", "forged-records belongs under attacks:"},
		{"unknown action", func(s *Scenario) { s.Faults[0].Action = "explode" }, "faults[0]", `unknown action "explode"`},
		{"kill with a link change", func(s *Scenario) { s.Faults[0].Link = &LinkChange{Links: LinkWAN, Heal: true} }, "faults[0].kill", "which nodes?"},
		{"link without change", func(s *Scenario) { s.Faults[1].Link = nil }, "faults[1].link", "a link change and nothing else"},
		{"attack without parameters", func(s *Scenario) { s.Attacks[0].ForgedRecords = nil }, "attacks[0].forged-records", "its parameters and nothing else"},
		{"too many selectors", func(s *Scenario) { s.Faults[0].Nodes = make([]Selector, MaxSelectors+1) }, "faults[0].kill", "at most 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(s)
			err := s.Validate()
			for _, e := range problemsT(t, err) {
				if e.Path == tc.path && strings.Contains(e.Msg, tc.msg) {
					if e.Line != 0 || e.File != "" {
						t.Errorf("got line %d file %q, want neither for a scenario built in code", e.Line, e.File)
					}
					return
				}
			}
			t.Fatalf("got %v, want a problem at %s saying %q", err, tc.path, tc.msg)
		})
	}
	if _, err := (&Scenario{}).YAML(); err != nil {
		t.Fatalf("YAML of an empty scenario: got %v, want a document (it encodes, Parse refuses it)", err)
	}
	bad := base()
	bad.Faults[0].Action = "explode"
	if _, err := bad.YAML(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("YAML of an unknown action: got %v, want ErrInvalid", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "quake.yaml")
	if err := os.WriteFile(path, []byte(variantT(t, "at: 5s", "at: 90x")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if want := path + `:10: faults[0].at: "90x": not a duration`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v, want os.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big file: got %v, want ErrTooLarge", err)
	}
	if err := os.WriteFile(path, []byte(baseYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Load(path); err != nil || s.Name != "t" {
		t.Fatalf("got %v, %v; want scenario t", s, err)
	}
}

func TestError_Error(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Path: "load.rate", Msg: "bad"}, "scenarios: a.yaml:3: load.rate: bad"},
		{Error{File: "a.yaml", Path: "load.rate", Msg: "bad"}, "scenarios: a.yaml: load.rate: bad"},
		{Error{Path: "load.rate", Msg: "bad"}, "scenarios: load.rate: bad"},
		{Error{Line: 2, Msg: "bad"}, "scenarios: line 2: bad"},
		{Error{File: "a.yaml", Line: 1, Msg: "bad"}, "scenarios: a.yaml:1: bad"},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// The example of docs/drills.md is a valid scenario.
func TestParse_DocsExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "drills.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	doc, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/drills.md: want a ```yaml example")
	}
	s, err := Parse("docs/drills.md", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	roundTripT(t, s)
}
