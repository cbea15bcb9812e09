package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRole(t *testing.T) {
	for _, r := range Roles() {
		t.Run(string(r), func(t *testing.T) {
			got, err := ParseRole(string(r))
			if err != nil {
				t.Fatalf("ParseRole(%q): %v", r, err)
			}
			if want := r; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
	for _, s := range []string{"", "Site", "sites", "root", " site"} {
		t.Run("bad/"+s, func(t *testing.T) {
			_, err := ParseRole(s)
			if got, want := err, ErrBadRole; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestIdentity_Validate(t *testing.T) {
	ok := []Identity{
		{RoleSite, "monaco", "site-a"},
		{RoleTwin, "lux", "twin"},
		{RoleWitness, "w", "0"},
		{RoleAdmin, "r1", strings.Repeat("a", 63)},
	}
	for _, id := range ok {
		t.Run("ok/"+id.String(), func(t *testing.T) {
			if err := id.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	bad := map[string]Identity{
		"role":         {"root", "monaco", "a"},
		"empty-role":   {"", "monaco", "a"},
		"empty-region": {RoleSite, "", "a"},
		"empty-name":   {RoleSite, "monaco", ""},
		"upper":        {RoleSite, "monaco", "Site-A"},
		"slash":        {RoleSite, "monaco", "a/b"},
		"dash-start":   {RoleSite, "monaco", "-a"},
		"dash-end":     {RoleSite, "monaco-", "a"},
		"dot":          {RoleSite, "monaco", "a.b"},
		"long":         {RoleSite, "monaco", strings.Repeat("a", 64)},
	}
	for name, id := range bad {
		t.Run("bad/"+name, func(t *testing.T) {
			if got, want := id.Validate(), ErrBadIdentity; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestIdentity_String(t *testing.T) {
	id := Identity{RoleSite, "monaco", "site-a"}
	if got, want := id.String(), "site/monaco/site-a"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got, want := id.URI().String(), "jumeau://site/monaco/site-a"; got != want {
		t.Fatalf("URI: got %q, want %q", got, want)
	}
	back, err := ParseIdentity(id.String())
	if err != nil {
		t.Fatalf("ParseIdentity: %v", err)
	}
	if got, want := back, id; got != want {
		t.Fatalf("round trip: got %v, want %v", got, want)
	}
}

func TestParseIdentity(t *testing.T) {
	for _, s := range []string{"", "site", "site/monaco", "site/monaco/a/b", "bogus/monaco/a", "site//a"} {
		t.Run(s, func(t *testing.T) {
			if got, want := func() error { _, err := ParseIdentity(s); return err }(), ErrBadIdentity; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestCheckRole(t *testing.T) {
	id := Identity{RoleSite, "monaco", "site-a"}
	t.Run("allowed", func(t *testing.T) {
		if err := CheckRole(id, RoleTwin, RoleSite); err != nil {
			t.Fatalf("CheckRole: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		err := CheckRole(id, RoleClient, RoleAdmin)
		if got, want := err, ErrRoleNotAllowed; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := err.Error(), `pki: role not allowed: peer site/monaco/site-a has role "site", this endpoint accepts client, admin`; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("none", func(t *testing.T) {
		err := CheckRole(id)
		if got, want := err, ErrRoleNotAllowed; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got, want := err.Error(), "accepts no role"; !strings.HasSuffix(got, want) {
			t.Fatalf("got %q, want suffix %q", got, want)
		}
	})
}

// selfSigned makes a self-signed leaf with the given URIs, for identity
// parsing tests that do not need a CA.
func selfSigned(t testing.TB, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "x"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIdentityFromCert(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		c := selfSigned(t, "https://example.org/x", "jumeau://twin/lux/twin-1")
		got, err := IdentityFromCert(c)
		if err != nil {
			t.Fatalf("IdentityFromCert: %v", err)
		}
		if want := (Identity{RoleTwin, "lux", "twin-1"}); got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	cases := []struct {
		name string
		uris []string
		want error
	}{
		{"none", nil, ErrNoIdentity},
		{"other-scheme", []string{"spiffe://monaco/site-a"}, ErrNoIdentity},
		{"two", []string{"jumeau://site/monaco/a", "jumeau://site/monaco/b"}, ErrBadIdentity},
		{"bad-role", []string{"jumeau://root/monaco/a"}, ErrBadRole},
		{"short-path", []string{"jumeau://site/monaco"}, ErrBadIdentity},
		{"long-path", []string{"jumeau://site/monaco/a/b"}, ErrBadIdentity},
		{"query", []string{"jumeau://site/monaco/a?x=1"}, ErrBadIdentity},
		{"port", []string{"jumeau://site:1/monaco/a"}, ErrBadIdentity},
		{"user", []string{"jumeau://u@site/monaco/a"}, ErrBadIdentity},
		{"fragment", []string{"jumeau://site/monaco/a#f"}, ErrBadIdentity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := IdentityFromCert(selfSigned(t, tc.uris...))
			if got, want := err, tc.want; !errors.Is(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		_, err := IdentityFromCert(nil)
		if got, want := err, ErrNoIdentity; !errors.Is(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
