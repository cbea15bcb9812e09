package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

// Node names of a topology: the lab's (lab.TwinName, lab.WitnessName, and
// sites "site-a", "site-b", ... in order).
const (
	TwinName    = "lux-1"
	WitnessName = "witness-1"
)

// SiteName returns the name of site i (0-based): "site-a" for 0.
func SiteName(i int) string { return "site-" + string(rune('a'+i)) }

// SiteNames returns the names of the topology's sites, in order.
func (t Topology) SiteNames() []string {
	out := make([]string, 0, max(t.Sites, 0))
	for i := 0; i < t.Sites && i < MaxSites; i++ {
		out = append(out, SiteName(i))
	}
	return out
}

// NodeNames returns every node of the topology: the sites, then the twin
// and the witness if it has them.
func (t Topology) NodeNames() []string {
	out := t.SiteNames()
	if t.Twin {
		out = append(out, TwinName)
	}
	if t.Witness {
		out = append(out, WitnessName)
	}
	return out
}

// role returns "site", "twin" or "witness" for a node of the topology,
// "" for a name it does not have.
func (t Topology) role(name string) string {
	switch {
	case name == TwinName && t.Twin:
		return "twin"
	case name == WitnessName && t.Witness:
		return "witness"
	}
	for _, s := range t.SiteNames() {
		if s == name {
			return "site"
		}
	}
	return ""
}

// Selector designates nodes in a step: a node name, or one of the
// symbolic selectors below, resolved when the step runs (Resolve).
type Selector string

// Symbolic selectors.
const (
	// SelectLeader is the cell leader at the time of the step.
	SelectLeader Selector = "leader"
	// SelectFollower is the first site, in name order, that is up and not
	// the leader.
	SelectFollower Selector = "follower"
	// SelectAllSites is every Monaco site.
	SelectAllSites Selector = "all-sites"
	// SelectTwin is the Luxembourg twin.
	SelectTwin Selector = "twin"
	// SelectWitness is the witness.
	SelectWitness Selector = "witness"
)

// sitesPrefix starts the selector "sites:N".
const sitesPrefix = "sites:"

// SelectSites returns the selector of n sites: "sites:N".
func SelectSites(n int) Selector { return Selector(sitesPrefix + strconv.Itoa(n)) }

// SiteCount returns N for a selector "sites:N".
func (s Selector) SiteCount() (int, bool) {
	rest, ok := strings.CutPrefix(string(s), sitesPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// symbolic reports whether s is a symbolic selector (not a node name).
func (s Selector) symbolic() bool {
	switch s {
	case SelectLeader, SelectFollower, SelectAllSites, SelectTwin, SelectWitness:
		return true
	}
	_, ok := s.SiteCount()
	return ok
}

// Resolve returns the nodes sel designates when a step runs. leader is
// the cell leader then ("" if none) and up reports whether a node runs
// (neither killed nor paused); a nil up counts every node as up.
//
//   - a node name: that node;
//   - leader: the leader, if it is up;
//   - follower: the first site in name order that is up and not the leader;
//   - sites:N: the leader first (if up), then the followers that are up,
//     in name order, N in all;
//   - all-sites: every site, up or not (kill acts on those up, restart on
//     those down);
//   - twin, witness: that node.
//
// It returns ErrNoTarget when no node (or fewer than N) matches.
func (t Topology) Resolve(sel Selector, leader string, up func(name string) bool) ([]string, error) {
	if up == nil {
		up = func(string) bool { return true }
	}
	live := func() []string {
		var out []string
		if leader != "" && t.role(leader) == "site" && up(leader) {
			out = append(out, leader)
		}
		for _, s := range t.SiteNames() {
			if s != leader && up(s) {
				out = append(out, s)
			}
		}
		return out
	}
	switch sel {
	case SelectLeader:
		if leader == "" || t.role(leader) != "site" || !up(leader) {
			return nil, fmt.Errorf("resolve leader: the cell has no leader up: %w", ErrNoTarget)
		}
		return []string{leader}, nil
	case SelectFollower:
		for _, s := range t.SiteNames() {
			if s != leader && up(s) {
				return []string{s}, nil
			}
		}
		return nil, fmt.Errorf("resolve follower: no site is up besides the leader: %w", ErrNoTarget)
	case SelectAllSites:
		return t.SiteNames(), nil
	case SelectTwin:
		if !t.Twin {
			return nil, fmt.Errorf("resolve twin: the topology has no twin: %w", ErrNoTarget)
		}
		return []string{TwinName}, nil
	case SelectWitness:
		if !t.Witness {
			return nil, fmt.Errorf("resolve witness: the topology has no witness: %w", ErrNoTarget)
		}
		return []string{WitnessName}, nil
	}
	if n, ok := sel.SiteCount(); ok {
		l := live()
		if n < 1 || len(l) < n {
			return nil, fmt.Errorf("resolve %s: %d sites up: %w", sel, len(l), ErrNoTarget)
		}
		return l[:n], nil
	}
	if t.role(string(sel)) == "" {
		return nil, fmt.Errorf("resolve %q: not a node of the topology (%s): %w", sel, strings.Join(t.NodeNames(), ", "), ErrNoTarget)
	}
	return []string{string(sel)}, nil
}

// LinkSelector designates fault links: one of the groups below or one
// link "FROM->TO" (the link carrying what FROM dials to TO).
type LinkSelector string

// Link groups.
const (
	// LinkWAN is every Monaco<->Luxembourg link, both directions.
	LinkWAN LinkSelector = "wan"
	// LinkWitness is every link to or from the witness.
	LinkWitness LinkSelector = "witness"
	// LinkCell is every site-to-site link.
	LinkCell LinkSelector = "cell"
)

// linkArrow separates the two ends of a link name.
const linkArrow = "->"

// Endpoints returns FROM and TO of a selector "FROM->TO".
func (l LinkSelector) Endpoints() (from, to string, ok bool) {
	return strings.Cut(string(l), linkArrow)
}

// linkExists reports whether the topology has a fault link from -> to:
// between two sites, a site and the twin, and between the witness and
// any other node (the lab's links).
func (t Topology) linkExists(from, to string) bool {
	a, b := t.role(from), t.role(to)
	switch {
	case a == "" || b == "" || from == to:
		return false
	case a == "witness" || b == "witness":
		return true
	case a == "site" && b == "site":
		return true
	}
	return (a == "site" && b == "twin") || (a == "twin" && b == "site")
}

// Links returns the names ("FROM->TO") of the links sel selects, ordered
// by FROM then TO as NodeNames orders them; nil if it selects none.
func (t Topology) Links(sel LinkSelector) []string {
	var out []string
	nodes := t.NodeNames()
	for _, from := range nodes {
		for _, to := range nodes {
			if !t.linkExists(from, to) {
				continue
			}
			a, b := t.role(from), t.role(to)
			var in bool
			switch sel {
			case LinkWAN:
				in = (a == "site" && b == "twin") || (a == "twin" && b == "site")
			case LinkWitness:
				in = a == "witness" || b == "witness"
			case LinkCell:
				in = a == "site" && b == "site"
			default:
				in = string(sel) == from+linkArrow+to
			}
			if in {
				out = append(out, from+linkArrow+to)
			}
		}
	}
	return out
}
