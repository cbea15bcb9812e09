package scenarios

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxName is the longest scenario name and namespace.
const maxName = 63

// validName reports whether s is a lower-case identifier: a letter or
// digit, then letters, digits and extra (at most maxName bytes).
func validName(s, extra string) bool {
	if s == "" || len(s) > maxName {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && strings.ContainsRune(extra, r):
		default:
			return false
		}
	}
	return true
}

// validate checks everything Parse cannot check field by field, and every
// field of a scenario built in code.
func (s *Scenario) validate(p *parser) {
	if !validName(s.Name, "-") {
		p.invalid("name", "%q: use 1 to %d lower-case letters, digits and '-', starting with a letter or digit (e.g. earthquake-total)", s.Name, maxName)
	}
	switch d := s.Description; {
	case d == "":
		p.invalid("description", "empty: say in one line what the drill simulates")
	case len(d) > MaxDescription:
		p.invalid("description", "%d bytes, at most %d: keep it to one line (details go in a comment)", len(d), MaxDescription)
	case !utf8.ValidString(d) || strings.ContainsFunc(d, unicode.IsControl):
		p.invalid("description", "one line of text, without control characters or line breaks (details go in a comment)")
	}
	durationOK := s.Duration > 0 && s.Duration <= MaxDuration
	if !durationOK {
		p.invalid("duration", "%v: use a duration more than 0 and at most %v (e.g. 20s)", s.Duration, MaxDuration)
	}
	s.Topology.validate(p)
	s.validateLoad(p, durationOK)
	if len(s.Faults)+len(s.Attacks) == 0 {
		p.invalid("", "no fault and no attack: a drill needs at least one step under faults: or attacks:")
	}
	if n := len(s.Faults) + len(s.Attacks); n > MaxSteps {
		p.invalid("faults", "%d steps, at most %d", n, MaxSteps)
	}
	for i, st := range s.Faults {
		s.validateStep(p, st, item("faults", i), false, durationOK)
	}
	for i, st := range s.Attacks {
		s.validateStep(p, st, item("attacks", i), true, durationOK)
	}
	s.validateExpect(p)
}

// validate checks the topology.
func (t Topology) validate(p *parser) {
	if t.Sites < 1 || t.Sites > MaxSites {
		p.invalid("topology.sites", "%d: use 1 to %d Monaco sites (3 is the cell)", t.Sites, MaxSites)
	}
	switch {
	case t.Twin && (t.WANRTT <= 0 || t.WANRTT > 2*MaxLinkDelay):
		p.invalid("topology.wan_rtt", "%v: use a round trip more than 0 and at most %v (12ms is Monaco-Luxembourg)", t.WANRTT, 2*MaxLinkDelay)
	case !t.Twin && t.WANRTT != 0:
		p.invalid("topology.wan_rtt", "%v: wan_rtt shapes the link to the twin: remove it or set twin: true", t.WANRTT)
	}
}

// validateLoad checks the load.
func (s *Scenario) validateLoad(p *parser, durationOK bool) {
	l := s.Load
	if !(l.Rate > 0 && l.Rate <= MaxRate) {
		p.invalid("load.rate", "%g: use writes per second, more than 0 and at most %g (e.g. 200)", l.Rate, float64(MaxRate))
	}
	if l.ValueSize < 1 || l.ValueSize > MaxValueSize {
		p.invalid("load.value_size", "%d: use a value size in bytes from 1 to %d", l.ValueSize, MaxValueSize)
	}
	if l.Clients < 1 || l.Clients > MaxClients {
		p.invalid("load.clients", "%d: use 1 to %d concurrent clients", l.Clients, MaxClients)
	}
	shareOK := true
	for _, sh := range []struct {
		d Durability
		v float64
	}{{DurabilityCell, l.Durability.Cell}, {DurabilityTwin, l.Durability.Twin}} {
		if !(sh.v >= 0 && sh.v <= 1) {
			p.invalid("load.durability."+string(sh.d), "%g: a share is a fraction from 0 to 1", sh.v)
			shareOK = false
		}
	}
	if sum := l.Durability.Cell + l.Durability.Twin; shareOK && math.Abs(sum-1) > sumEpsilon {
		p.invalid("load.durability", "the shares sum to %g: they must sum to 1 (e.g. {cell: 0.8, twin: 0.2})", sum)
	}
	if l.Durability.Twin > 0 && !s.Topology.Twin {
		p.invalid("load.durability.twin", "the topology has no twin: set topology.twin: true, or send every write with cell")
	}
	switch {
	case len(l.Namespaces) == 0:
		p.invalid("load.namespaces", "empty: name at least one namespace the load writes to (e.g. [drill])")
	case len(l.Namespaces) > MaxNamespaces:
		p.invalid("load.namespaces", "%d namespaces, at most %d", len(l.Namespaces), MaxNamespaces)
	}
	for i, ns := range l.Namespaces {
		path := item("load.namespaces", i)
		if len(l.Namespaces) == 1 {
			path = "load.namespaces"
		}
		switch {
		case !validName(ns, "-_."):
			p.invalid(path, "%q: use 1 to %d lower-case letters, digits, '-', '_' and '.', starting with a letter or digit", ns, maxName)
		case slices.Index(l.Namespaces, ns) < i:
			p.invalid(path, "%q: named twice", ns)
		}
	}
	if l.Start < 0 {
		p.invalid("load.start", "%v: an offset is 0 or more", l.Start)
	}
	switch {
	case l.Stop <= l.Start:
		p.invalid("load.stop", "%v: the load stops after it starts (start %v)", l.Stop, l.Start)
	case durationOK && l.Stop > s.Duration:
		p.invalid("load.stop", "%v: past the end of the drill (duration %v): use an offset at most the duration", l.Stop, s.Duration)
	}
}

// selectorUse says which selectors a field takes.
type selectorUse int

const (
	// useAny: every selector (kill, pause).
	useAny selectorUse = iota
	// useDown: names, all-sites, twin, witness (resume, restart: a node
	// that is down has no role in the cell).
	useDown
	// useOneSite: one site (forged-records from).
	useOneSite
	// useOneNode: one node (stolen-cert and replay target).
	useOneNode
)

// validateSelector checks one node selector against the topology.
func (t Topology) validateSelector(p *parser, path string, sel Selector, use selectorUse, what string) {
	n, isSites := sel.SiteCount()
	switch {
	case sel == SelectTwin && !t.Twin:
		p.invalid(path, "twin: the topology has no twin (topology.twin: true)")
	case sel == SelectWitness && !t.Witness:
		p.invalid(path, "witness: the topology has no witness (topology.witness: true)")
	case sel == SelectFollower && t.Sites < 2:
		p.invalid(path, "follower: a cell of %d site has no follower", t.Sites)
	case isSites && (n < 1 || n > t.Sites):
		p.invalid(path, "%s: the topology has %d sites: use sites:1 to sites:%d", sel, t.Sites, t.Sites)
	case !sel.symbolic() && strings.HasPrefix(string(sel), sitesPrefix):
		p.invalid(path, "%q: write sites:N with N a number of sites, e.g. sites:2", sel)
	case !sel.symbolic() && t.role(string(sel)) == "":
		p.invalid(path, "%q: not a node or selector (nodes: %s; selectors: leader, follower, all-sites, twin, witness, sites:N)", sel, strings.Join(t.NodeNames(), ", "))
	}
	switch use {
	case useDown:
		if sel == SelectLeader || sel == SelectFollower || isSites {
			p.invalid(path, "%s: a node that is down has no role in the cell; %s a node by name (site-a) or all-sites (every site that is down)", sel, what)
		}
	case useOneSite:
		if sel == SelectAllSites || sel == SelectTwin || sel == SelectWitness || isSites || (!sel.symbolic() && t.role(string(sel)) != "site" && t.role(string(sel)) != "") {
			p.invalid(path, "%s: %s one site: leader, follower or a site's name (site-a)", sel, what)
		}
	case useOneNode:
		if sel == SelectAllSites || isSites {
			p.invalid(path, "%s: %s one node: leader, follower, twin, witness or a node's name", sel, what)
		}
	}
}

// validateStep checks one fault or attack.
func (s *Scenario) validateStep(p *parser, st Step, path string, attack, durationOK bool) {
	switch {
	case st.At < 0:
		p.invalid(child(path, "at"), "%v: an offset is 0 or more", st.At)
	case durationOK && st.At >= s.Duration:
		p.invalid(child(path, "at"), "%v: past the end of the drill (duration %v): use an offset below it, or lengthen duration", st.At, s.Duration)
	}
	list, others := faultActions, "attacks"
	if attack {
		list, others = attackActions, "faults"
	}
	if !slices.Contains(list, st.Action) {
		if slices.Contains(faultActions, st.Action) || slices.Contains(attackActions, st.Action) {
			p.invalid(path, "%s belongs under %s:", st.Action, others)
		} else {
			p.invalid(path, "unknown action %q", st.Action)
		}
		return
	}
	set := 0
	if len(st.Nodes) > 0 {
		set++
	}
	for _, ok := range []bool{st.Link != nil, st.Ransomware != nil, st.ForgedRecords != nil, st.StolenCert != nil, st.Replay != nil, st.RoguePeer != nil} {
		if ok {
			set++
		}
	}
	at := child(path, string(st.Action))
	t := s.Topology
	switch st.Action {
	case Kill, Pause, Resume, Restart:
		if len(st.Nodes) == 0 || set != 1 {
			p.invalid(at, "which nodes? e.g. %s: leader, %s: [site-a, site-b], %s: all-sites", st.Action, st.Action, st.Action)
			return
		}
		if len(st.Nodes) > MaxSelectors {
			p.invalid(at, "%d selectors, at most %d", len(st.Nodes), MaxSelectors)
			return
		}
		use := useAny
		if st.Action == Resume || st.Action == Restart {
			use = useDown
		}
		for i, sel := range st.Nodes {
			ip := at
			if len(st.Nodes) > 1 {
				ip = item(at, i)
			}
			t.validateSelector(p, ip, sel, use, string(st.Action))
			if slices.Index(st.Nodes, sel) < i {
				p.invalid(ip, "%s: named twice in this step", sel)
			}
		}
	case LinkFault:
		if st.Link == nil || set != 1 {
			p.invalid(at, "a link step has a link change and nothing else")
			return
		}
		s.validateLink(p, path, at, st.Link)
	case Ransomware:
		r := st.Ransomware
		if r == nil || set != 1 {
			p.invalid(at, "a ransomware step has its parameters and nothing else")
			return
		}
		if !slices.Contains(s.Load.Namespaces, r.Namespace) {
			p.invalid(child(at, "namespace"), "%q: not a namespace the load writes (load.namespaces: %s): the attacker overwrites data the load wrote", r.Namespace, strings.Join(s.Load.Namespaces, ", "))
		}
		if r.Keys < 1 || r.Keys > MaxCount {
			p.invalid(child(at, "keys"), "%d: use 1 to %d keys", r.Keys, MaxCount)
		}
		if !(r.Delete >= 0 && r.Delete <= 1) {
			p.invalid(child(at, "delete"), "%g: the share of the keys deleted (the others are overwritten), from 0 to 1", r.Delete)
		}
	case ForgedRecords:
		f := st.ForgedRecords
		if f == nil || set != 1 {
			p.invalid(at, "a forged-records step has its parameters and nothing else")
			return
		}
		if !t.Twin {
			p.invalid(at, "forged records are sent to the twin, and the topology has none (topology.twin: true)")
		}
		t.validateSelector(p, child(at, "from"), f.From, useOneSite, "forged records come from")
		if f.Records < 1 || f.Records > MaxCount {
			p.invalid(child(at, "records"), "%d: use 1 to %d records", f.Records, MaxCount)
		}
		switch f.Kind {
		case ForgeAltered, ForgeRehashed, ForgeStaleEpoch:
		default:
			p.invalid(child(at, "kind"), "%q: use altered, rehashed or stale-epoch", f.Kind)
		}
	case StolenCert:
		c := st.StolenCert
		if c == nil || set != 1 {
			p.invalid(at, "a stolen-cert step has its parameters and nothing else")
			return
		}
		if c.Kind != CertRevoked && c.Kind != CertForeign {
			p.invalid(child(at, "kind"), "%q: use revoked (a certificate of this cluster, revoked) or foreign (another CA's)", c.Kind)
		}
		if len(c.Tries) == 0 {
			p.invalid(child(at, "tries"), "empty: use join, write or [join, write]")
		}
		for i, try := range c.Tries {
			ip := item(child(at, "tries"), i)
			switch {
			case try != TryJoin && try != TryWrite:
				p.invalid(ip, "%q: use join (dial as a peer) or write (write through the API)", try)
			case slices.Index(c.Tries, try) < i:
				p.invalid(ip, "%s: named twice", try)
			}
		}
		t.validateSelector(p, child(at, "target"), c.Target, useOneNode, "the stolen certificate targets")
	case Replay:
		r := st.Replay
		if r == nil || set != 1 {
			p.invalid(at, "a replay step has its parameters and nothing else")
			return
		}
		if r.Frames < 1 || r.Frames > MaxCount {
			p.invalid(child(at, "frames"), "%d: use 1 to %d frames", r.Frames, MaxCount)
		}
		t.validateSelector(p, child(at, "target"), r.Target, useOneNode, "a replay targets")
	case RoguePeer:
		if st.RoguePeer == nil || set != 1 {
			p.invalid(at, "a rogue-peer step has its parameters and nothing else")
			return
		}
		s.validateRoguePeer(p, at, st.RoguePeer)
	}
}

// validateLink checks a link change; its parameters sit beside link: in
// the step (path).
func (s *Scenario) validateLink(p *parser, path, at string, l *LinkChange) {
	t := s.Topology
	switch l.Links {
	case LinkWAN:
		if !t.Twin {
			p.invalid(at, "wan: the Monaco<->Luxembourg links need a twin (topology.twin: true)")
		}
	case LinkWitness:
		if !t.Witness {
			p.invalid(at, "witness: the witness links need a witness (topology.witness: true)")
		}
	case LinkCell:
		if t.Sites < 2 {
			p.invalid(at, "cell: a cell of one site has no site-to-site link")
		}
	default:
		from, to, ok := l.Links.Endpoints()
		switch {
		case !ok:
			p.invalid(at, "%q: use wan, witness, cell or FROM->TO (e.g. site-a->lux-1)", l.Links)
		case t.role(from) == "" || t.role(to) == "":
			p.invalid(at, "%q: FROM and TO are node names (%s)", l.Links, strings.Join(t.NodeNames(), ", "))
		case !t.linkExists(from, to):
			p.invalid(at, "%q: no such link (links join two sites, a site and the twin, or the witness and another node)", l.Links)
		}
	}
	shaped := l.Delay != 0 || l.Jitter != 0 || l.Loss != 0 || l.Bandwidth != 0
	switch {
	case l.Heal && (shaped || l.Blackhole):
		p.invalid(child(path, "heal"), "heal restores the links as the drill found them: remove the other parameters (or drop heal)")
	case l.Blackhole && shaped:
		p.invalid(child(path, "blackhole"), "a blackhole drops everything: remove delay, jitter, loss and bandwidth (or drop blackhole)")
	case !l.Heal && !l.Blackhole && !shaped:
		p.invalid(at, "nothing changes: give delay, jitter, loss, bandwidth, blackhole: true or heal: true")
	}
	if l.Delay < 0 || l.Delay > MaxLinkDelay {
		p.invalid(child(path, "delay"), "%v: use a one-way delay from 0 to %v", l.Delay, MaxLinkDelay)
	}
	if l.Jitter < 0 || l.Jitter > MaxLinkDelay {
		p.invalid(child(path, "jitter"), "%v: use a jitter from 0 to %v", l.Jitter, MaxLinkDelay)
	}
	if !(l.Loss >= 0 && l.Loss <= 1) {
		p.invalid(child(path, "loss"), "%g: a loss is a probability from 0 to 1", l.Loss)
	}
	if l.Bandwidth < 0 {
		p.invalid(child(path, "bandwidth"), "%d: use bytes per second, or leave it out for no cap", l.Bandwidth)
	}
}

// validateExpect checks the expectations together.
func (s *Scenario) validateExpect(p *parser) {
	if len(s.Expect) == 0 {
		p.invalid("expect", "no expectation: a drill that checks nothing cannot fail; add e.g. acked_writes_lost: \"== 0\"")
		return
	}
	seen := map[string]bool{}
	var all, per bool
	for i, e := range s.Expect {
		path := child("expect", e.Name)
		if e.Durability != "" {
			path = child(path, string(e.Durability))
		}
		if _, _, ok := metricOf(e.Name); !ok {
			path = item("expect", i)
		}
		e.validate(p, path)
		if seen[e.Label()] {
			p.invalid(path, "given twice: keep one")
		}
		seen[e.Label()] = true
		if e.Name == ExpectAckedWritesLost {
			all = all || e.Durability == ""
			per = per || e.Durability != ""
		}
		switch {
		case e.Name == ExpectAckedWritesLost && e.Durability == DurabilityTwin && !(s.Load.Durability.Twin > 0):
			p.invalid(path, "the load sends no twin write (load.durability.twin is 0): this check could not fail")
		case e.Name == ExpectAckedWritesLost && e.Durability == DurabilityCell && !(s.Load.Durability.Cell > 0):
			p.invalid(path, "the load sends no cell write (load.durability.cell is 0): this check could not fail")
		case e.Name == ExpectPromotions && !s.Topology.Twin:
			p.invalid(path, "only the twin is promoted, and the topology has none (topology.twin: true)")
		case e.Name == ExpectTamperDetected && e.Value == (e.Op == EQ) && !s.hasTamper():
			p.invalid(path, "no forged-records, stolen-cert, replay or rogue-peer attack to detect: add one under attacks:")
		case e.Name == ExpectRTO && !s.hasOutage():
			p.invalid(path, "no kill, pause or link fault to recover from: add one under faults:")
		}
	}
	if all && per {
		p.invalid(child("expect", ExpectAckedWritesLost), "give it either for every write or per durability, not both")
	}
}

// hasTamper reports whether an attack should raise tamper detection.
func (s *Scenario) hasTamper() bool {
	for _, st := range s.Attacks {
		if st.Action == ForgedRecords || st.Action == StolenCert || st.Action == Replay || st.Action == RoguePeer {
			return true
		}
	}
	return false
}

// hasOutage reports whether a fault can interrupt service.
func (s *Scenario) hasOutage() bool {
	for _, st := range s.Faults {
		if st.Action == Kill || st.Action == Pause || st.Action == LinkFault {
			return true
		}
	}
	return false
}
