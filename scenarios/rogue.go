package scenarios

import (
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Regions of a topology's nodes: the lab's (lab.PrimaryRegion,
// lab.TwinRegion, lab.WitnessRegion). A rogue peer's identity is checked
// against them: one equal to a node's is that node, not a rogue.
const (
	PrimaryRegion = "monaco"
	TwinRegion    = "luxembourg"
	WitnessRegion = "witness"
)

// Defaults and bounds of a rogue-peer step.
const (
	// DefaultRogueFor is how long the Raft flood lasts.
	DefaultRogueFor = 3 * time.Second
	// DefaultRogueEvery is the period of the Raft flood: about the
	// election timeout of a cell, so a peer the cell accepted would keep
	// it leaderless.
	DefaultRogueEvery = 150 * time.Millisecond
	// MinRogueEvery is the shortest period of the flood.
	MinRogueEvery = 10 * time.Millisecond
	// MaxRogueFor is the longest flood.
	MaxRogueFor = time.Minute
	// MaxRogueRPCs bounds the Raft RPCs of one identity (for / every).
	MaxRogueRPCs = 1000
)

// DefaultRogueIdentities are the identities a rogue-peer step uses when it
// names none: a site of the primary region that is not in the cell, and a
// site of the twin's region.
var DefaultRogueIdentities = []PeerIdentity{"site/" + PrimaryRegion + "/site-z", "site/" + TwinRegion + "/rogue"}

// PeerIdentity is the identity a certificate carries, "role/region/name"
// (pki.Identity's String form): "site/monaco/site-z".
type PeerIdentity string

// Parts splits the identity; ok is false when it does not have the form
// role/region/name with a node role (site, twin, witness) and region and
// name lower-case DNS labels.
func (id PeerIdentity) Parts() (role, region, name string, ok bool) {
	parts := strings.Split(string(id), "/")
	if len(parts) != 3 {
		return "", "", "", false
	}
	role, region, name = parts[0], parts[1], parts[2]
	switch role {
	case "site", "twin", "witness":
	default:
		return "", "", "", false
	}
	if !dnsLabel(region) || !dnsLabel(name) {
		return "", "", "", false
	}
	return role, region, name, true
}

// dnsLabel reports whether s is 1 to 63 of a-z, 0-9 and '-', not starting
// or ending with '-' (pki's rule for regions and names).
func dnsLabel(s string) bool {
	return validName(s, "-") && !strings.HasSuffix(s, "-")
}

// RoguePeerAttack: a peer holding a certificate of the deployment's own CA
// for an identity that is not one of its nodes (Identities, each in turn)
// tries what a member of the cell does. It sends Raft AppendEntries of a
// term far above the cell's to Raft every Every for For (a peer the cell
// accepted would depose its leader each time); and it opens Forward
// streams to each of Forward to list and get values of Namespace and to
// write a key there.
type RoguePeerAttack struct {
	Identities []PeerIdentity
	Raft       Selector
	Forward    []Selector
	Namespace  string
	For        time.Duration
	Every      time.Duration
}

// RPCs is how many Raft RPCs the flood sends for one identity.
func (r *RoguePeerAttack) RPCs() int {
	if r.Every <= 0 {
		return 0
	}
	return int((r.For + r.Every - 1) / r.Every)
}

// nodeIdentity is the identity the lab gives node name, "" for a name
// the topology does not have.
func (t Topology) nodeIdentity(name string) PeerIdentity {
	switch t.role(name) {
	case "site":
		return PeerIdentity("site/" + PrimaryRegion + "/" + name)
	case "twin":
		return PeerIdentity("twin/" + TwinRegion + "/" + name)
	case "witness":
		return PeerIdentity("witness/" + WitnessRegion + "/" + name)
	}
	return ""
}

// roguePeer parses the parameters of a rogue-peer step.
func (p *parser) roguePeer(st *Step, v *yaml.Node, path string) {
	r := &RoguePeerAttack{
		Identities: slices.Clone(DefaultRogueIdentities), Raft: SelectLeader,
		Forward: []Selector{SelectLeader, SelectFollower}, For: DefaultRogueFor, Every: DefaultRogueEvery,
	}
	st.RoguePeer = r
	m := p.mapping(v, path, "identities", "raft", "forward", "namespace", "for", "every")
	if n := m.get("identities"); n != nil {
		words, _ := p.words(n, child(path, "identities"))
		r.Identities = r.Identities[:0]
		for _, w := range words {
			r.Identities = append(r.Identities, PeerIdentity(w))
		}
	}
	if n := m.get("raft"); n != nil {
		s, _ := p.str(n, child(path, "raft"))
		r.Raft = Selector(s)
	}
	if n := m.get("forward"); n != nil {
		words, _ := p.words(n, child(path, "forward"))
		r.Forward = r.Forward[:0]
		for _, w := range words {
			r.Forward = append(r.Forward, Selector(w))
		}
	}
	if n := m.get("namespace"); n != nil {
		r.Namespace, _ = p.str(n, child(path, "namespace"))
	} else {
		p.rogueNoNamespace = append(p.rogueNoNamespace, r)
	}
	if n := m.get("for"); n != nil {
		r.For, _ = p.duration(n, child(path, "for"))
	}
	if n := m.get("every"); n != nil {
		r.Every, _ = p.duration(n, child(path, "every"))
	}
}

// validateRoguePeer checks a rogue-peer step; at is its action's path.
func (s *Scenario) validateRoguePeer(p *parser, at string, r *RoguePeerAttack) {
	t := s.Topology
	ids := child(at, "identities")
	switch {
	case len(r.Identities) == 0:
		p.invalid(ids, "empty: name at least one identity outside the deployment, e.g. [site/monaco/site-z]")
	case len(r.Identities) > MaxSelectors:
		p.invalid(ids, "%d identities, at most %d", len(r.Identities), MaxSelectors)
	}
	for i, id := range r.Identities {
		ip := item(ids, i)
		_, _, name, ok := id.Parts()
		switch {
		case !ok:
			p.invalid(ip, "%q: write role/region/name with a node role (site, twin or witness), e.g. site/monaco/site-z", id)
		case t.nodeIdentity(name) == id:
			p.invalid(ip, "%s: that is node %s itself, a member: a rogue peer is outside the deployment (another name, or %s's name with another role or region)", id, name, name)
		case slices.Index(r.Identities, id) < i:
			p.invalid(ip, "%s: named twice", id)
		}
	}
	t.validateSelector(p, child(at, "raft"), r.Raft, useOneSite, "the Raft flood targets")
	fw := child(at, "forward")
	switch {
	case len(r.Forward) == 0:
		p.invalid(fw, "empty: name the sites to open Forward streams to, e.g. [leader, follower]")
	case len(r.Forward) > MaxSelectors:
		p.invalid(fw, "%d selectors, at most %d", len(r.Forward), MaxSelectors)
	}
	for i, sel := range r.Forward {
		ip := item(fw, i)
		t.validateSelector(p, ip, sel, useOneSite, "a Forward stream goes to")
		if slices.Index(r.Forward, sel) < i {
			p.invalid(ip, "%s: named twice", sel)
		}
	}
	if !slices.Contains(s.Load.Namespaces, r.Namespace) {
		p.invalid(child(at, "namespace"), "%q: not a namespace the load writes (load.namespaces: %s): the attacker reads data the load wrote", r.Namespace, strings.Join(s.Load.Namespaces, ", "))
	}
	switch {
	case r.Every < MinRogueEvery || r.Every > MaxRogueFor:
		p.invalid(child(at, "every"), "%v: use a period from %v to %v (150ms is about a cell's election timeout)", r.Every, MinRogueEvery, MaxRogueFor)
	case r.For < r.Every || r.For > MaxRogueFor:
		p.invalid(child(at, "for"), "%v: use a duration from every (%v) to %v", r.For, r.Every, MaxRogueFor)
	case r.RPCs() > MaxRogueRPCs:
		p.invalid(child(at, "for"), "%v every %v is %d Raft RPCs per identity, at most %d: shorten for or lengthen every", r.For, r.Every, r.RPCs(), MaxRogueRPCs)
	}
}

// roguePeerNode encodes the parameters of a rogue-peer step.
func roguePeerNode(r *RoguePeerAttack) *yaml.Node {
	p := newMap(true)
	p.add("identities", flowList(r.Identities))
	p.add("raft", scalar(string(r.Raft)))
	p.add("forward", flowList(r.Forward))
	p.add("namespace", scalar(r.Namespace))
	p.add("for", scalar(r.For))
	p.add("every", scalar(r.Every))
	return p.n
}
