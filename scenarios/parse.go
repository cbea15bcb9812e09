package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxErrors bounds the problems one Parse reports.
const maxErrors = 20

// maxListLen bounds a list of words (selectors, namespaces, tries) before
// validation applies the tighter limit of each field.
const maxListLen = 128

// parser turns a YAML node tree into a Scenario, remembering the line of
// every field path it reads (lines) so that the later validation can name
// the line of the field it blames, and collecting problems (errs).
type parser struct {
	file  string
	lines map[string]int
	errs  []*Error
	// noNamespace are the ransomware attacks without a namespace: they
	// get the load's first once the whole document is read.
	noNamespace []*RansomwareAttack
	// rogueNoNamespace are the rogue-peer attacks without a namespace,
	// likewise.
	rogueNoNamespace []*RoguePeerAttack
}

// fail records a problem at an explicit line.
func (p *parser) fail(line int, path, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}

// invalid records a problem at the line of path (or of its closest
// parent with a known line).
func (p *parser) invalid(path, format string, args ...any) {
	p.fail(p.lineOf(path), path, format, args...)
}

// lineOf returns the line of path, or of its nearest ancestor read from
// the source; 0 when none is known (a scenario built in code).
func (p *parser) lineOf(path string) int {
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return p.lines[""]
}

// err joins the problems, in line order, at most maxErrors of them.
func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	errs := make([]error, 0, maxErrors+1)
	for i, e := range p.errs {
		if i == maxErrors {
			errs = append(errs, &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown: fix these first", len(p.errs)-maxErrors), Err: ErrInvalid})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// child is the path of field key under path.
func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// item is the path of element i of the list at path.
func item(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// maxAliasHops bounds following an alias to its anchor.
const maxAliasHops = 64

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasHops; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or an explicit null ("~", "null",
// nothing after the colon).
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "not a value"
}

// fields are the entries of a mapping by key; a null value is kept (as a
// node for which isNull is true) so that the caller decides what it means.
type fields map[string]*yaml.Node

// get returns the value of key, nil if absent or null.
func (f fields) get(key string) *yaml.Node {
	if n := f[key]; !isNull(n) {
		return n
	}
	return nil
}

// mapping checks that n is a mapping whose keys are among known, each at
// most once, and records each field's line. Unknown and repeated keys are
// problems. It returns nil if n is not a mapping.
func (p *parser) mapping(n *yaml.Node, path string, known ...string) fields {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if n != nil {
			p.fail(n.Line, path, "%s: want a mapping of %s", kindName(n), strings.Join(known, ", "))
		}
		return nil
	}
	f := fields{}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			line := n.Line
			if k != nil {
				line = k.Line
			}
			p.fail(line, path, "a key must be a plain word (one of %s)", strings.Join(known, ", "))
			continue
		}
		at := child(path, k.Value)
		switch {
		case !slices.Contains(known, k.Value):
			p.fail(k.Line, at, "unknown field (known here: %s)", strings.Join(known, ", "))
			continue
		case first[k.Value] != 0:
			p.fail(k.Line, at, "given twice (first on line %d): keep one", first[k.Value])
			continue
		}
		first[k.Value] = k.Line
		p.lines[at] = k.Line
		f[k.Value] = deref(v)
	}
	return f
}

// scalar checks that n is a scalar, naming what it wants otherwise.
func (p *parser) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		p.fail(n.Line, path, "%s: want %s", kindName(n), want)
		return false
	}
	return true
}

// str reads a string. A scalar YAML would read as a number or a boolean
// must be quoted.
func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if !p.scalar(n, path, "a string") {
		return "", false
	}
	if isNull(n) {
		p.fail(n.Line, path, "empty: write a value")
		return "", false
	}
	if n.ShortTag() != "!!str" {
		p.fail(n.Line, path, "%q: not a string (quote it: \"%s\")", n.Value, n.Value)
		return "", false
	}
	return n.Value, true
}

// duration reads a Go duration string ("1s", "500ms", "1m30s").
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if !p.scalar(n, path, "a duration (use 1s, 500ms)") {
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.fail(n.Line, path, "%q: not a duration (use 1s, 500ms)", n.Value)
		return 0, false
	}
	return d, true
}

// integer reads a whole number.
func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	if !p.scalar(n, path, "a whole number") {
		return 0, false
	}
	var v int64
	if n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.fail(n.Line, path, "%q: not a whole number (write digits, e.g. 200)", n.Value)
		return 0, false
	}
	return v, true
}

// float reads a number.
func (p *parser) float(n *yaml.Node, path string) (float64, bool) {
	if !p.scalar(n, path, "a number") {
		return 0, false
	}
	var v float64
	if t := n.ShortTag(); (t != "!!float" && t != "!!int") || n.Decode(&v) != nil {
		p.fail(n.Line, path, "%q: not a number (write e.g. 0.25)", n.Value)
		return 0, false
	}
	return v, true
}

// boolean reads true or false.
func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if !p.scalar(n, path, "true or false") {
		return false, false
	}
	var v bool
	if n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		p.fail(n.Line, path, "%q: not true or false", n.Value)
		return false, false
	}
	return v, true
}

// words reads one string or a list of strings, recording each element's
// line at path[i].
func (p *parser) words(n *yaml.Node, path string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := p.str(n, path)
		if !ok {
			return nil, false
		}
		return []string{s}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n.Line, path, "%s: want a word or a list of words", kindName(n))
		return nil, false
	}
	if len(n.Content) > maxListLen {
		p.fail(n.Line, path, "%d elements, at most %d", len(n.Content), maxListLen)
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, e := range n.Content {
		e = deref(e)
		at := item(path, i)
		p.lines[at] = e.Line
		s, good := p.str(e, at)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// document parses a whole scenario; nil if it is not one YAML mapping.
func (p *parser) document(data []byte) *Scenario {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(0, "", "empty: start from a built-in (`jumeau drill show earthquake-total`)")
			return nil
		}
		p.errs = append(p.errs, &Error{File: p.file, Msg: err.Error(), Err: ErrSyntax})
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.fail(extra.Line, "", "a second YAML document: one scenario per file (remove the second ---)")
		return nil
	case !errors.Is(err, io.EOF):
		p.errs = append(p.errs, &Error{File: p.file, Msg: err.Error(), Err: ErrSyntax})
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.fail(doc.Line, "", "empty: start from a built-in (`jumeau drill show earthquake-total`)")
		return nil
	}
	root := deref(doc.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		if root == nil || isNull(root) {
			p.fail(doc.Line, "", "empty: start from a built-in (`jumeau drill show earthquake-total`)")
		} else {
			p.fail(root.Line, "", "%s: want a mapping of name, description, duration, topology, load, faults, attacks, expect", kindName(root))
		}
		return nil
	}
	p.lines[""] = root.Line
	f := p.mapping(root, "", "name", "description", "duration", "topology", "load", "faults", "attacks", "expect")
	if f == nil {
		return nil
	}
	s := &Scenario{}
	for _, key := range []string{"name", "description", "duration", "load", "expect"} {
		if f.get(key) == nil {
			p.fail(root.Line, key, "missing (every scenario has name, description, duration, load and expect)")
		}
	}
	if n := f.get("name"); n != nil {
		s.Name, _ = p.str(n, "name")
	}
	if n := f.get("description"); n != nil {
		s.Description, _ = p.str(n, "description")
	}
	durationOK := false
	if n := f.get("duration"); n != nil {
		s.Duration, durationOK = p.duration(n, "duration")
	}
	s.Topology = p.topology(f.get("topology"))
	if n := f.get("load"); n != nil {
		s.Load = p.load(n, s.Duration, durationOK)
	}
	s.Faults = p.steps(f.get("faults"), "faults", false)
	s.Attacks = p.steps(f.get("attacks"), "attacks", true)
	if len(s.Load.Namespaces) > 0 {
		for _, r := range p.noNamespace {
			r.Namespace = s.Load.Namespaces[0]
		}
		for _, r := range p.rogueNoNamespace {
			r.Namespace = s.Load.Namespaces[0]
		}
	}
	if n := f.get("expect"); n != nil {
		s.Expect = p.expect(n)
	}
	return s
}

// topology parses the topology section, defaults filled in.
func (p *parser) topology(n *yaml.Node) Topology {
	t := Topology{Sites: DefaultSites, Twin: true, Witness: true}
	f := p.mapping(n, "topology", "sites", "twin", "witness", "wan_rtt")
	if n := f.get("sites"); n != nil {
		v, _ := p.integer(n, "topology.sites")
		t.Sites = int(v)
	}
	if n := f.get("twin"); n != nil {
		t.Twin, _ = p.boolean(n, "topology.twin")
	}
	if n := f.get("witness"); n != nil {
		t.Witness, _ = p.boolean(n, "topology.witness")
	}
	if n := f.get("wan_rtt"); n != nil {
		t.WANRTT, _ = p.duration(n, "topology.wan_rtt")
	} else if t.Twin {
		t.WANRTT = DefaultWANRTT
	}
	return t
}

// load parses the load section, defaults filled in (Stop: the duration).
func (p *parser) load(n *yaml.Node, duration time.Duration, durationOK bool) Workload {
	l := Workload{ValueSize: DefaultValueSize, Clients: DefaultClients, Durability: Mix{Cell: 1},
		Namespaces: []string{DefaultNamespace}, Stop: duration}
	f := p.mapping(n, "load", "rate", "value_size", "clients", "durability", "namespaces", "start", "stop")
	if f == nil {
		return l
	}
	if n := f.get("rate"); n != nil {
		l.Rate, _ = p.float(n, "load.rate")
	} else {
		p.invalid("load", "rate missing: say how many writes per second the load sends (e.g. rate: 200)")
	}
	if n := f.get("value_size"); n != nil {
		v, _ := p.integer(n, "load.value_size")
		l.ValueSize = int(v)
	}
	if n := f.get("clients"); n != nil {
		v, _ := p.integer(n, "load.clients")
		l.Clients = int(v)
	}
	if n := f.get("durability"); n != nil {
		m := p.mapping(n, "load.durability", "cell", "twin")
		if m != nil {
			l.Durability = Mix{}
		}
		if n := m.get("cell"); n != nil {
			l.Durability.Cell, _ = p.float(n, "load.durability.cell")
		}
		if n := m.get("twin"); n != nil {
			l.Durability.Twin, _ = p.float(n, "load.durability.twin")
		}
	}
	if n := f.get("namespaces"); n != nil {
		l.Namespaces, _ = p.words(n, "load.namespaces")
	}
	if n := f.get("start"); n != nil {
		l.Start, _ = p.duration(n, "load.start")
	}
	if n := f.get("stop"); n != nil {
		l.Stop, _ = p.duration(n, "load.stop")
	} else if !durationOK {
		l.Stop = 0
	}
	return l
}

// Keys of a fault step besides its action: the parameters of link.
var linkParams = []string{"delay", "jitter", "loss", "bandwidth", "blackhole", "heal"}

// steps parses the faults or the attacks list.
func (p *parser) steps(n *yaml.Node, path string, attacks bool) []Step {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n.Line, path, "%s: want a list of steps (- at: 5s ...)", kindName(n))
		return nil
	}
	if len(n.Content) > MaxSteps {
		p.fail(n.Line, path, "%d steps, at most %d", len(n.Content), MaxSteps)
		return nil
	}
	actions := faultActions
	if attacks {
		actions = attackActions
	}
	known := []string{"at"}
	for _, a := range actions {
		known = append(known, string(a))
	}
	if !attacks {
		known = append(known, linkParams...)
	}
	var out []Step
	for i, e := range n.Content {
		e = deref(e)
		at := item(path, i)
		p.lines[at] = e.Line
		if isNull(e) {
			p.fail(e.Line, at, "empty step: write at: and an action, or remove the dash")
			continue
		}
		f := p.mapping(e, at, known...)
		if f == nil {
			continue
		}
		var st Step
		if n := f.get("at"); n != nil {
			st.At, _ = p.duration(n, child(at, "at"))
		} else {
			p.fail(e.Line, child(at, "at"), "missing: say when the step happens, as an offset from the start (at: 5s)")
		}
		var found []Action
		for _, a := range actions {
			if _, ok := f[string(a)]; ok {
				found = append(found, a)
			}
		}
		switch {
		case len(found) == 0:
			names := make([]string, len(actions))
			for i, a := range actions {
				names[i] = string(a)
			}
			p.fail(e.Line, at, "no action: add one of %s", strings.Join(names, ", "))
			continue
		case len(found) > 1:
			p.invalid(child(at, string(found[1])), "a step has one action and this one also has %s: split it into two steps at the same offset", found[0])
			continue
		}
		st.Action = found[0]
		if !attacks && st.Action != LinkFault {
			for _, k := range linkParams {
				if _, ok := f[k]; ok {
					p.invalid(child(at, k), "only a link step takes %s (add link: wan, or move it to a step of its own)", k)
				}
			}
		}
		p.action(&st, f, at)
		out = append(out, st)
	}
	return out
}

// action parses the parameters of st.Action from the step's fields.
func (p *parser) action(st *Step, f fields, at string) {
	path := child(at, string(st.Action))
	v := f[string(st.Action)]
	switch st.Action {
	case Kill, Pause, Resume, Restart:
		if isNull(v) {
			p.invalid(path, "which nodes? e.g. %s: leader, %s: [site-a, site-b], %s: all-sites", st.Action, st.Action, st.Action)
			return
		}
		words, _ := p.words(v, path)
		for _, w := range words {
			st.Nodes = append(st.Nodes, Selector(w))
		}
	case LinkFault:
		l := &LinkChange{}
		st.Link = l
		if isNull(v) {
			p.invalid(path, "which links? wan, witness, cell or FROM->TO (site-a->lux-1)")
		} else if s, ok := p.str(v, path); ok {
			l.Links = LinkSelector(s)
		}
		if n := f.get("delay"); n != nil {
			l.Delay, _ = p.duration(n, child(at, "delay"))
		}
		if n := f.get("jitter"); n != nil {
			l.Jitter, _ = p.duration(n, child(at, "jitter"))
		}
		if n := f.get("loss"); n != nil {
			l.Loss, _ = p.float(n, child(at, "loss"))
		}
		if n := f.get("bandwidth"); n != nil {
			l.Bandwidth, _ = p.integer(n, child(at, "bandwidth"))
		}
		if n := f.get("blackhole"); n != nil {
			l.Blackhole, _ = p.boolean(n, child(at, "blackhole"))
		}
		if n := f.get("heal"); n != nil {
			l.Heal, _ = p.boolean(n, child(at, "heal"))
		}
	case Ransomware:
		r := &RansomwareAttack{Delete: DefaultDelete}
		st.Ransomware = r
		m := p.mapping(v, path, "namespace", "keys", "delete")
		if n := m.get("namespace"); n != nil {
			r.Namespace, _ = p.str(n, child(path, "namespace"))
		} else {
			p.noNamespace = append(p.noNamespace, r)
		}
		if n := m.get("keys"); n != nil {
			k, _ := p.integer(n, child(path, "keys"))
			r.Keys = int(k)
		} else {
			p.invalid(path, "keys missing: say how many keys the attacker overwrites or deletes (keys: 200)")
		}
		if n := m.get("delete"); n != nil {
			r.Delete, _ = p.float(n, child(path, "delete"))
		}
	case ForgedRecords:
		r := &ForgedRecordsAttack{From: SelectLeader, Records: DefaultRecords, Kind: ForgeAltered}
		st.ForgedRecords = r
		m := p.mapping(v, path, "from", "records", "kind")
		if n := m.get("from"); n != nil {
			s, _ := p.str(n, child(path, "from"))
			r.From = Selector(s)
		}
		if n := m.get("records"); n != nil {
			k, _ := p.integer(n, child(path, "records"))
			r.Records = int(k)
		}
		if n := m.get("kind"); n != nil {
			s, _ := p.str(n, child(path, "kind"))
			r.Kind = ForgeKind(s)
		}
	case StolenCert:
		c := &StolenCertAttack{Tries: []Try{TryJoin, TryWrite}, Target: SelectLeader}
		st.StolenCert = c
		m := p.mapping(v, path, "kind", "tries", "target")
		if n := m.get("kind"); n != nil {
			s, _ := p.str(n, child(path, "kind"))
			c.Kind = CertKind(s)
		} else {
			p.invalid(path, "kind missing: revoked (a certificate of this cluster, revoked) or foreign (another CA's)")
		}
		if n := m.get("tries"); n != nil {
			words, _ := p.words(n, child(path, "tries"))
			c.Tries = c.Tries[:0]
			for _, w := range words {
				c.Tries = append(c.Tries, Try(w))
			}
		}
		if n := m.get("target"); n != nil {
			s, _ := p.str(n, child(path, "target"))
			c.Target = Selector(s)
		}
	case Replay:
		r := &ReplayAttack{Frames: DefaultFrames, Target: SelectTwin}
		st.Replay = r
		m := p.mapping(v, path, "frames", "target")
		if n := m.get("frames"); n != nil {
			k, _ := p.integer(n, child(path, "frames"))
			r.Frames = int(k)
		}
		if n := m.get("target"); n != nil {
			s, _ := p.str(n, child(path, "target"))
			r.Target = Selector(s)
		}
	case RoguePeer:
		p.roguePeer(st, v, path)
	}
}

// expect parses the expect section into canonical order.
func (p *parser) expect(n *yaml.Node) []Expectation {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.name
	}
	f := p.mapping(n, "expect", names...)
	var out []Expectation
	for _, m := range metrics {
		v := f.get(m.name)
		if v == nil {
			if _, given := f[m.name]; given {
				p.invalid(child("expect", m.name), "empty: %s", m.hint)
			}
			continue
		}
		path := child("expect", m.name)
		if m.byDurability && v.Kind == yaml.MappingNode {
			d := p.mapping(v, path, string(DurabilityCell), string(DurabilityTwin))
			if len(d) == 0 {
				p.fail(v.Line, path, "empty: give cell, twin or both, e.g. {twin: \"== 0\"}, or one comparison for every write")
			}
			for _, dur := range []Durability{DurabilityCell, DurabilityTwin} {
				if dv := d.get(string(dur)); dv != nil {
					if e, ok := p.comparison(m, dur, dv, child(path, string(dur))); ok {
						out = append(out, e)
					}
				} else if _, given := d[string(dur)]; given {
					p.invalid(child(path, string(dur)), "empty: %s", m.hint)
				}
			}
			continue
		}
		if e, ok := p.comparison(m, "", v, path); ok {
			out = append(out, e)
		}
	}
	return out
}

// comparison parses one expectation's value: "<= 10s", "== 0", true,
// verified.
func (p *parser) comparison(m metric, dur Durability, n *yaml.Node, path string) (Expectation, bool) {
	e := Expectation{Name: m.name, Durability: dur}
	if n.Kind != yaml.ScalarNode {
		p.fail(n.Line, path, "%s: want %s", kindName(n), m.hint)
		return e, false
	}
	if m.kinds == kindsBool && n.ShortTag() == "!!bool" {
		var b bool
		if n.Decode(&b) != nil {
			p.fail(n.Line, path, "%q: %s", n.Value, m.hint)
			return e, false
		}
		e.Op, e.Value = EQ, b
		return e, true
	}
	op, value, msg := parseComparison(m, n.Value)
	if msg != "" {
		p.fail(n.Line, path, "%q: %s", n.Value, msg)
		return e, false
	}
	e.Op, e.Value = op, value
	return e, true
}
