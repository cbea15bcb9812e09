package transport

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/monaco-sovereign/jumeau/pki"
)

// ErrNotMember is returned (wrapped) when a peer's certificate is valid but
// its identity is not one of the deployment's nodes, or is a node that has
// no business on a stream kind (a twin on the cell's Raft, a site of
// another region on Forward).
var ErrNotMember = errors.New("transport: peer is not a member")

// Members is the set of node identities an endpoint talks to, and the rule
// saying which of them may open, or serve, each stream kind. A certificate
// from the deployment CA proves who a peer is; Members says whether that
// peer belongs here. The rule (the matrix in the package documentation):
//
//   - every stream, and the connection itself: the peer's role, region and
//     name equal one of the nodes exactly;
//   - KindRaft and KindForward: also the peer is a voter of the cell this
//     node belongs to now (SetCell), with this node's role and region;
//   - KindShip: also the peer is in another region (the stream crosses
//     regions: the primary's leader to the twin, or a promoted twin to the
//     sites it replaced);
//   - KindLease and KindControl: a node is enough (the grantors check the
//     lease protocol's own rules: region of the primary, epoch);
//   - a witness takes part in KindLease and KindControl only.
//
// The role policy (Config.Policy) applies on top. Members is safe for
// concurrent use; SetCell takes effect on the next stream.
type Members struct {
	self  pki.Identity
	nodes map[string]pki.Identity

	mu   sync.RWMutex
	cell []string
}

// NewMembers returns the members of self's deployment: nodes are every other
// node self may talk to (self among them is ignored), cell the names of
// the voters of the cell self belongs to now (empty: none). Two nodes with
// one name, or an invalid identity, is an error.
func NewMembers(self pki.Identity, nodes []pki.Identity, cell []string) (*Members, error) {
	if err := self.Validate(); err != nil {
		return nil, fmt.Errorf("transport: members: self: %w", err)
	}
	m := &Members{self: self, nodes: make(map[string]pki.Identity, len(nodes))}
	for _, n := range nodes {
		if err := n.Validate(); err != nil {
			return nil, fmt.Errorf("transport: members: %w", err)
		}
		if n.Name == self.Name {
			if n != self {
				return nil, fmt.Errorf("transport: members: %s has this node's name but is not this node (%s)", n, self)
			}
			continue
		}
		if old, ok := m.nodes[n.Name]; ok && old != n {
			return nil, fmt.Errorf("transport: members: name %q is both %s and %s", n.Name, old, n)
		}
		m.nodes[n.Name] = n
	}
	m.SetCell(cell)
	return m, nil
}

// SetCell replaces the names of the voters of the cell this node belongs
// to (after a promotion, a demotion or a switchover).
func (m *Members) SetCell(names []string) {
	c := slices.Clone(names)
	sort.Strings(c)
	m.mu.Lock()
	m.cell = c
	m.mu.Unlock()
}

// Cell returns the voters of this node's cell, sorted.
func (m *Members) Cell() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.cell)
}

// Nodes returns the member identities, sorted by name.
func (m *Members) Nodes() []pki.Identity {
	out := make([]pki.Identity, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Member returns nil if peer is one of the nodes, else an error wrapping
// ErrNotMember that says what the deployment expects of that name.
func (m *Members) Member(peer pki.Identity) error {
	want, ok := m.nodes[peer.Name]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is not a node of this deployment (its nodes are %s)", ErrNotMember, peer, m.names())
	case want != peer:
		return fmt.Errorf("%w: %s presents the name of %s with another role or region", ErrNotMember, peer, want)
	}
	return nil
}

// Admit returns nil if peer may open, or serve, streams of kind; the error
// wraps ErrNotMember (or ErrUnknownKind).
func (m *Members) Admit(kind Kind, peer pki.Identity) error {
	if err := m.Member(peer); err != nil {
		return err
	}
	if m.self.Role == pki.RoleWitness && kind != KindLease && kind != KindControl {
		return fmt.Errorf("%w: %s is a witness: it holds no data and takes only lease and control streams, not %s", ErrNotMember, m.self, kind)
	}
	switch kind {
	case KindRaft, KindForward:
		m.mu.RLock()
		voter := slices.Contains(m.cell, peer.Name)
		m.mu.RUnlock()
		if !voter || peer.Role != m.self.Role || peer.Region != m.self.Region {
			return fmt.Errorf("%w: %s is not a voter of %s's cell %v (%s, region %s): it may not use %s streams",
				ErrNotMember, peer, m.self.Name, m.Cell(), m.self.Role, m.self.Region, kind)
		}
	case KindShip:
		if peer.Region == m.self.Region {
			return fmt.Errorf("%w: %s is in this node's region %s: the WAL is shipped between regions only", ErrNotMember, peer, m.self.Region)
		}
	case KindLease, KindControl:
	default:
		return fmt.Errorf("%w: %d", ErrUnknownKind, kind)
	}
	return nil
}

func (m *Members) names() string {
	ns := m.Nodes()
	if len(ns) == 0 {
		return "none"
	}
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n.String()
	}
	return s
}
