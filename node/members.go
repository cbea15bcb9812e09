package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/transport"
)

// identity is the identity a peers entry says the peer's certificate
// carries.
func (p Peer) identity() pki.Identity {
	return pki.Identity{Role: pki.Role(p.Role), Region: p.Region, Name: p.Name}
}

// validateIdentity checks the entry's role and region.
func (p Peer) validateIdentity() error {
	switch pki.Role(p.Role) {
	case pki.RoleSite, pki.RoleTwin, pki.RoleWitness:
	case "":
		return errors.New("role is empty: set the role its certificate carries (site, twin or witness); only the identities listed under peers may connect to this node")
	default:
		return fmt.Errorf("role %q: a peer is a site, twin or witness (the role its certificate carries)", p.Role)
	}
	if p.Region == "" {
		return errors.New("region is empty: set the region its certificate carries (its node.region); only the identities listed under peers may connect to this node")
	}
	if err := p.identity().Validate(); err != nil {
		return fmt.Errorf("%w: fix the name or region (lower-case letters, digits and '-')", err)
	}
	return nil
}

// cellRegion is the region of the cell whose sites cell.sites names: the
// site's own region, or on the twin the region that ships to it.
func (c Config) cellRegion() string {
	if pki.Role(c.Node.Role) == pki.RoleTwin {
		return c.Twin.PrimaryRegion
	}
	return c.Node.Region
}

// validatePeerRoles checks that the peers entries of the nodes named by
// cell.sites, twin.name and failover.witness carry the roles those keys
// give them.
func (c Config) validatePeerRoles() error {
	for _, p := range c.Peers {
		want := pki.Role("")
		switch {
		case slices.Contains(c.Cell.Sites, p.Name):
			want = pki.RoleSite
			if region := c.cellRegion(); region != "" && p.Region != region {
				return fmt.Errorf("config: peers entry %s has region %q, but cell.sites makes it a site of the %s cell: set its region to %s", p.Name, p.Region, region, region)
			}
		case p.Name == c.Twin.Name:
			want = pki.RoleTwin
		case p.Name == c.Failover.Witness:
			want = pki.RoleWitness
		}
		if want != "" && pki.Role(p.Role) != want {
			return fmt.Errorf("config: peers entry %s has role %q, but the config names it as a %s: set its role to %s", p.Name, p.Role, want, want)
		}
	}
	return nil
}

// memberIdentities is every node this node accepts connections from: the
// peers entries, and the sites of cell.sites without one (a twin receives
// from sites it never dials).
func (c Config) memberIdentities() []pki.Identity {
	var ids []pki.Identity
	listed := map[string]bool{}
	for _, p := range c.Peers {
		ids = append(ids, p.identity())
		listed[p.Name] = true
	}
	if pki.Role(c.Node.Role) != pki.RoleWitness {
		for _, s := range c.Cell.Sites {
			if !listed[s] && s != c.Node.Name {
				ids = append(ids, pki.Identity{Role: pki.RoleSite, Region: c.cellRegion(), Name: s})
			}
		}
	}
	return ids
}

// cellFor is the Raft cell this node is a voter of in mode: the configured
// sites while a site is in its cell, the promoted twin's own one-node cell,
// none otherwise.
func (c Config) cellFor(mode string) []string {
	switch mode {
	case modeCell:
		return slices.Clone(c.Cell.Sites)
	case modePrimary:
		return []string{c.Node.Name}
	}
	return nil
}

// newMembers builds the transport's membership for this node in mode.
func (c Config) newMembers(self pki.Identity, mode string) (*transport.Members, error) {
	m, err := transport.NewMembers(self, c.memberIdentities(), c.cellFor(mode))
	if err != nil {
		return nil, fmt.Errorf("node: %w: fix the peers entries", err)
	}
	return m, nil
}
