package scenarios

import (
	"fmt"
	"io"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// newEncoder returns a YAML encoder indenting by two spaces.
func newEncoder(w io.Writer) *yaml.Encoder {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	return enc
}

// yamlMap is a mapping node under construction.
type yamlMap struct{ n *yaml.Node }

func newMap(flow bool) yamlMap {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return yamlMap{n}
}

// add appends key: v.
func (m yamlMap) add(key string, v *yaml.Node) {
	m.n.Content = append(m.n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// scalar encodes a Go string, number or bool as YAML resolves it back:
// a string that would read as something else is quoted.
func scalar(v any) *yaml.Node {
	var n yaml.Node
	switch v := v.(type) {
	case string:
		n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	case time.Duration:
		n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
	case bool:
		n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}
	default:
		// Numbers: yaml's own encoding (floats in the shortest form that
		// reads back to the same value).
		if err := n.Encode(v); err != nil {
			n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v)}
		}
	}
	return &n
}

// flowList encodes words as [a, b].
func flowList[T ~string](words []T) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, w := range words {
		n.Content = append(n.Content, scalar(string(w)))
	}
	return n
}

// node builds the YAML document of s.
func (s *Scenario) node() (*yaml.Node, error) {
	root := newMap(false)
	root.add("name", scalar(s.Name))
	root.add("description", scalar(s.Description))
	root.add("duration", scalar(s.Duration))

	t := newMap(true)
	t.add("sites", scalar(s.Topology.Sites))
	t.add("twin", scalar(s.Topology.Twin))
	t.add("witness", scalar(s.Topology.Witness))
	if s.Topology.Twin || s.Topology.WANRTT != 0 {
		t.add("wan_rtt", scalar(s.Topology.WANRTT))
	}
	root.add("topology", t.n)

	l := newMap(false)
	l.add("rate", scalar(s.Load.Rate))
	l.add("value_size", scalar(s.Load.ValueSize))
	l.add("clients", scalar(s.Load.Clients))
	mix := newMap(true)
	if s.Load.Durability.Cell != 0 || s.Load.Durability.Twin == 0 {
		mix.add("cell", scalar(s.Load.Durability.Cell))
	}
	if s.Load.Durability.Twin != 0 {
		mix.add("twin", scalar(s.Load.Durability.Twin))
	}
	l.add("durability", mix.n)
	l.add("namespaces", flowList(s.Load.Namespaces))
	l.add("start", scalar(s.Load.Start))
	l.add("stop", scalar(s.Load.Stop))
	root.add("load", l.n)

	for _, list := range []struct {
		key   string
		steps []Step
	}{{"faults", s.Faults}, {"attacks", s.Attacks}} {
		if len(list.steps) == 0 {
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, st := range list.steps {
			n, err := st.node()
			if err != nil {
				return nil, fmt.Errorf("scenarios: encode %s: %s[%d]: %w", s.Name, list.key, i, err)
			}
			seq.Content = append(seq.Content, n)
		}
		root.add(list.key, seq)
	}

	exp := slices.Clone(s.Expect)
	slices.SortStableFunc(exp, func(a, b Expectation) int {
		_, i, _ := metricOf(a.Name)
		_, j, _ := metricOf(b.Name)
		if i != j {
			return i - j
		}
		return durabilityRank(a.Durability) - durabilityRank(b.Durability)
	})
	e := newMap(false)
	for i := 0; i < len(exp); i++ {
		x := exp[i]
		if _, _, ok := metricOf(x.Name); !ok {
			return nil, fmt.Errorf("scenarios: encode %s: expectation %q: %w", s.Name, x.Name, ErrInvalid)
		}
		if x.Durability == "" {
			e.add(x.Name, x.node())
			continue
		}
		per := newMap(true)
		for ; i < len(exp) && exp[i].Name == x.Name && exp[i].Durability != ""; i++ {
			per.add(string(exp[i].Durability), exp[i].node())
		}
		i--
		e.add(x.Name, per.n)
	}
	root.add("expect", e.n)
	return root.n, nil
}

// durabilityRank orders all, cell, twin.
func durabilityRank(d Durability) int {
	switch d {
	case "":
		return 0
	case DurabilityCell:
		return 1
	}
	return 2
}

// node encodes the value of an expectation: a bare word or boolean for
// ==, else a quoted comparison.
func (e Expectation) node() *yaml.Node {
	switch v := e.Value.(type) {
	case bool:
		if e.Op == EQ {
			return scalar(v)
		}
	case string:
		if e.Op == EQ {
			return scalar(v)
		}
	}
	n := scalar(e.Expected())
	n.Style = yaml.DoubleQuotedStyle
	return n
}

// node encodes one step.
func (st Step) node() (*yaml.Node, error) {
	m := newMap(false)
	m.add("at", scalar(st.At))
	key := string(st.Action)
	switch st.Action {
	case Kill, Pause, Resume, Restart:
		m.add(key, flowList(st.Nodes))
	case LinkFault:
		l := st.Link
		if l == nil {
			return nil, fmt.Errorf("link step without a link change: %w", ErrInvalid)
		}
		m.add(key, scalar(string(l.Links)))
		if l.Delay != 0 {
			m.add("delay", scalar(l.Delay))
		}
		if l.Jitter != 0 {
			m.add("jitter", scalar(l.Jitter))
		}
		if l.Loss != 0 {
			m.add("loss", scalar(l.Loss))
		}
		if l.Bandwidth != 0 {
			m.add("bandwidth", scalar(l.Bandwidth))
		}
		if l.Blackhole {
			m.add("blackhole", scalar(true))
		}
		if l.Heal {
			m.add("heal", scalar(true))
		}
	case Ransomware:
		r := st.Ransomware
		if r == nil {
			return nil, fmt.Errorf("ransomware step without parameters: %w", ErrInvalid)
		}
		p := newMap(true)
		p.add("namespace", scalar(r.Namespace))
		p.add("keys", scalar(r.Keys))
		p.add("delete", scalar(r.Delete))
		m.add(key, p.n)
	case ForgedRecords:
		f := st.ForgedRecords
		if f == nil {
			return nil, fmt.Errorf("forged-records step without parameters: %w", ErrInvalid)
		}
		p := newMap(true)
		p.add("from", scalar(string(f.From)))
		p.add("records", scalar(f.Records))
		p.add("kind", scalar(string(f.Kind)))
		m.add(key, p.n)
	case StolenCert:
		c := st.StolenCert
		if c == nil {
			return nil, fmt.Errorf("stolen-cert step without parameters: %w", ErrInvalid)
		}
		p := newMap(true)
		p.add("kind", scalar(string(c.Kind)))
		p.add("tries", flowList(c.Tries))
		p.add("target", scalar(string(c.Target)))
		m.add(key, p.n)
	case Replay:
		r := st.Replay
		if r == nil {
			return nil, fmt.Errorf("replay step without parameters: %w", ErrInvalid)
		}
		p := newMap(true)
		p.add("frames", scalar(r.Frames))
		p.add("target", scalar(string(r.Target)))
		m.add(key, p.n)
	case RoguePeer:
		if st.RoguePeer == nil {
			return nil, fmt.Errorf("rogue-peer step without parameters: %w", ErrInvalid)
		}
		m.add(key, roguePeerNode(st.RoguePeer))
	default:
		return nil, fmt.Errorf("action %q: %w", st.Action, ErrInvalid)
	}
	return m.n, nil
}
