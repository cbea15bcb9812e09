package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

var (
	// ErrCAExists is returned by InitCA when the directory already holds a
	// CA certificate or key: a CA is never overwritten.
	ErrCAExists = errors.New("pki: CA already exists")
	// ErrBadRole is returned for a role name that is not one of the Role
	// constants.
	ErrBadRole = errors.New("pki: unknown role")
	// ErrBadIdentity is returned for an identity whose role, region or name
	// is missing or malformed.
	ErrBadIdentity = errors.New("pki: invalid identity")
	// ErrNoIdentity is returned when a certificate carries no jumeau:// URI
	// SAN.
	ErrNoIdentity = errors.New("pki: certificate has no jumeau identity")
	// ErrRoleNotAllowed is returned by CheckRole when a peer's role is not
	// one the endpoint accepts.
	ErrRoleNotAllowed = errors.New("pki: role not allowed")
	// ErrUntrusted is returned when a certificate does not verify against
	// the CA pool: foreign CA, expired or not yet valid, tampered, or
	// missing the node key usages.
	ErrUntrusted = errors.New("pki: certificate not trusted")
	// ErrNoPeerCert is returned when a TLS peer presented no certificate.
	ErrNoPeerCert = errors.New("pki: peer presented no certificate")
	// ErrBadPEM is returned when a PEM file holds no usable block of the
	// expected type.
	ErrBadPEM = errors.New("pki: malformed PEM")
	// ErrKeyMismatch is returned when a private key does not belong to the
	// certificate it is loaded with.
	ErrKeyMismatch = errors.New("pki: private key does not match certificate")
	// ErrKeyPermissions is returned when a private key file may be read
	// (or written) by its group or others: it must be mode 0600 or 0400.
	ErrKeyPermissions = errors.New("pki: private key file is accessible to group or others")
	// ErrValidity is returned for a certificate validity that is not
	// positive or that outlives the CA.
	ErrValidity = errors.New("pki: invalid validity")
	// ErrIdentityChanged is returned by Material.Reload for a certificate
	// of another identity than the one loaded first: a node's identity
	// (its name, role and region) does not change while it runs.
	ErrIdentityChanged = errors.New("pki: reloaded certificate carries another identity")
	// ErrNotReloadable is returned by Material.Reload for a Material that
	// LoadTLS did not make (it has no files to read again).
	ErrNotReloadable = errors.New("pki: TLS material was not loaded from files")
)

// Role is what a node or user is allowed to be in a deployment. It is carried
// in the certificate (URI SAN host and OU).
type Role string

// The roles of a jumeau deployment.
const (
	// RoleSite is a primary site: a voter of the primary cell.
	RoleSite Role = "site"
	// RoleTwin is the distant twin that receives the shipped WAL.
	RoleTwin Role = "twin"
	// RoleWitness is the tie-breaker that holds the region epoch.
	RoleWitness Role = "witness"
	// RoleClient is an application client of the API.
	RoleClient Role = "client"
	// RoleAuditor may verify integrity but holds no data keys.
	RoleAuditor Role = "auditor"
	// RoleAdmin is an operator.
	RoleAdmin Role = "admin"
)

// Roles lists every known role, in a stable order.
func Roles() []Role {
	return []Role{RoleSite, RoleTwin, RoleWitness, RoleClient, RoleAuditor, RoleAdmin}
}

// ParseRole returns the Role named s. It is case-sensitive: roles are lower
// case.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want one of %s)", ErrBadRole, s, joinRoles(Roles()))
}

// Valid reports whether r is one of the Role constants.
func (r Role) Valid() bool {
	_, err := ParseRole(string(r))
	return err == nil
}

// URIScheme is the scheme of the URI SAN that carries an Identity.
const URIScheme = "jumeau"

// Identity names a node or user: its role, the region it lives in and its
// unique name. Name is also the node's address for Raft and the transport.
type Identity struct {
	Role   Role
	Region string
	Name   string
}

// Validate checks that the role is known and that region and name are DNS
// labels: 1 to 63 characters of a-z, 0-9 and '-', not starting or ending
// with '-'.
func (id Identity) Validate() error {
	if !id.Role.Valid() {
		return fmt.Errorf("%w: role %q: %w", ErrBadIdentity, id.Role, ErrBadRole)
	}
	if err := checkLabel(id.Region); err != nil {
		return fmt.Errorf("%w: region %q: %s", ErrBadIdentity, id.Region, err)
	}
	if err := checkLabel(id.Name); err != nil {
		return fmt.Errorf("%w: name %q: %s", ErrBadIdentity, id.Name, err)
	}
	return nil
}

// String returns "role/region/name", e.g. "site/monaco/site-a".
func (id Identity) String() string {
	return string(id.Role) + "/" + id.Region + "/" + id.Name
}

// URI returns the URI SAN form "jumeau://role/region/name".
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: URIScheme, Host: string(id.Role), Path: "/" + id.Region + "/" + id.Name}
}

// ParseIdentity parses the String form "role/region/name".
func ParseIdentity(s string) (Identity, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Identity{}, fmt.Errorf("%w: %q: want role/region/name", ErrBadIdentity, s)
	}
	id := Identity{Role: Role(parts[0]), Region: parts[1], Name: parts[2]}
	if err := id.Validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// parseIdentityURI parses a jumeau://role/region/name URI. Anything but the
// canonical form (user info, port, query, fragment, escapes, extra path
// segments) is refused.
func parseIdentityURI(u *url.URL) (Identity, error) {
	if u.Scheme != URIScheme {
		return Identity{}, fmt.Errorf("%w: URI %q: scheme is not %s", ErrBadIdentity, u.String(), URIScheme)
	}
	path, ok := strings.CutPrefix(u.Path, "/")
	if !ok {
		return Identity{}, fmt.Errorf("%w: URI %q: want %s://role/region/name", ErrBadIdentity, u.String(), URIScheme)
	}
	id, err := ParseIdentity(u.Host + "/" + path)
	if err != nil {
		return Identity{}, fmt.Errorf("URI %q: %w", u.String(), err)
	}
	if got, want := u.String(), id.URI().String(); got != want {
		return Identity{}, fmt.Errorf("%w: URI %q is not canonical (want %q)", ErrBadIdentity, got, want)
	}
	return id, nil
}

// IdentityFromCert extracts the Identity from the certificate's jumeau://
// URI SAN. It does not verify the certificate: use VerifyCert or VerifyPeer
// for that. Exactly one jumeau URI must be present.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("identity from nil certificate: %w", ErrNoIdentity)
	}
	var found []*url.URL
	for _, u := range cert.URIs {
		if u.Scheme == URIScheme {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return Identity{}, fmt.Errorf("certificate %q serial %x: %w (want a %s://role/region/name URI SAN)",
			cert.Subject.CommonName, cert.SerialNumber, ErrNoIdentity, URIScheme)
	case 1:
	default:
		return Identity{}, fmt.Errorf("certificate %q serial %x: %w: %d %s:// URI SANs, want exactly one",
			cert.Subject.CommonName, cert.SerialNumber, ErrBadIdentity, len(found), URIScheme)
	}
	id, err := parseIdentityURI(found[0])
	if err != nil {
		return Identity{}, fmt.Errorf("certificate %q serial %x: %w", cert.Subject.CommonName, cert.SerialNumber, err)
	}
	return id, nil
}

// CheckRole returns nil if id's role is one of allowed, else an error
// wrapping ErrRoleNotAllowed that names the peer and the accepted roles.
func CheckRole(id Identity, allowed ...Role) error {
	for _, r := range allowed {
		if id.Role == r {
			return nil
		}
	}
	accepts := joinRoles(allowed)
	if accepts == "" {
		accepts = "no role"
	}
	return fmt.Errorf("%w: peer %s has role %q, this endpoint accepts %s", ErrRoleNotAllowed, id, id.Role, accepts)
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// checkLabel accepts a DNS label: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?.
func checkLabel(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 63 {
		return fmt.Errorf("%d characters, at most 63", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i == 0 || i == len(s)-1 {
				return errors.New("starts or ends with '-'")
			}
		default:
			return fmt.Errorf("character %q at %d: use a-z, 0-9 and '-'", c, i)
		}
	}
	return nil
}
