package pki

import (
	"net/url"
	"testing"
)

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"site/monaco/site-a", "twin/lux/twin", "witness/w/0", "", "a/b", "site//x", "site/monaco/a/b", "admin/r/-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseIdentity(%q) returned an invalid identity: %v", s, err)
		}
		if got, want := id.String(), s; got != want {
			t.Fatalf("round trip: got %q, want %q", got, want)
		}
		back, err := parseIdentityURI(id.URI())
		if err != nil {
			t.Fatalf("parseIdentityURI(%v): %v", id.URI(), err)
		}
		if got, want := back, id; got != want {
			t.Fatalf("URI round trip: got %v, want %v", got, want)
		}
	})
}

func FuzzIdentityURI(f *testing.F) {
	for _, s := range []string{"jumeau://site/monaco/site-a", "jumeau://site:1/monaco/a", "jumeau://u@site/m/a",
		"jumeau://site/monaco/a?x", "jumeau://site/m%2Fx/a", "JUMEAU://site/m/a", "jumeau:site/m/a", "jumeau:///m/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		id, err := parseIdentityURI(u)
		if err != nil {
			return
		}
		if got, want := id.URI().String(), u.String(); got != want {
			t.Fatalf("accepted non-canonical URI: got %q, want %q", got, want)
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("accepted invalid identity %v: %v", id, err)
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	ca, _ := newCA(f)
	certPEM, keyPEM, err := ca.Issue(Identity{RoleSite, "monaco", "site-a"}, []string{"127.0.0.1"}, DefaultValidity)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(certPEM)
	f.Add(keyPEM)
	f.Add(append(append([]byte{}, keyPEM...), certPEM...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificatesPEM(data)
		if err == nil {
			for _, c := range certs {
				_, _ = IdentityFromCert(c)
			}
		}
		_, _ = ParsePrivateKeyPEM(data)
	})
}
