package scenarios

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monaco-sovereign/jumeau/lab"
)

// The regions a rogue identity is checked against are the lab's.
func TestRegions_MatchLab(t *testing.T) {
	got := []string{PrimaryRegion, TwinRegion, WitnessRegion}
	want := []string{lab.PrimaryRegion, lab.TwinRegion, lab.WitnessRegion}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want the lab's %q", got, want)
	}
}

func TestPeerIdentity_Parts(t *testing.T) {
	for _, tc := range []struct {
		id                 PeerIdentity
		role, region, name string
		ok                 bool
	}{
		{"site/monaco/site-z", "site", "monaco", "site-z", true},
		{"twin/luxembourg/rogue", "twin", "luxembourg", "rogue", true},
		{"witness/witness/w2", "witness", "witness", "w2", true},
		{"client/monaco/app", "", "", "", false},
		{"site/monaco", "", "", "", false},
		{"site/monaco/site-z/x", "", "", "", false},
		{"site/Monaco/site-z", "", "", "", false},
		{"site/monaco/site-", "", "", "", false},
		{"site//site-z", "", "", "", false},
		{"", "", "", "", false},
	} {
		t.Run(string(tc.id), func(t *testing.T) {
			role, region, name, ok := tc.id.Parts()
			if got, want := []string{role, region, name, strconv.FormatBool(ok)}, []string{tc.role, tc.region, tc.name, strconv.FormatBool(tc.ok)}; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestParse_RoguePeer(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		doc := variantT(t, "forged-records: {from: follower}", "rogue-peer: {}")
		s, err := Parse("t.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		got := s.Attacks[0].RoguePeer
		want := &RoguePeerAttack{
			Identities: []PeerIdentity{"site/monaco/site-z", "site/luxembourg/rogue"}, Raft: SelectLeader,
			Forward: []Selector{SelectLeader, SelectFollower}, Namespace: "a", For: 3 * time.Second, Every: 150 * time.Millisecond,
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if got, want := got.RPCs(), 20; got != want {
			t.Errorf("RPCs: got %d, want %d", got, want)
		}
		roundTripT(t, s)
	})
	t.Run("every parameter", func(t *testing.T) {
		doc := variantT(t, "forged-records: {from: follower}",
			"rogue-peer: {identities: [twin/luxembourg/site-a], raft: site-b, forward: site-c, namespace: b, for: 1s, every: 300ms}")
		s, err := Parse("t.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		got := s.Attacks[0].RoguePeer
		want := &RoguePeerAttack{Identities: []PeerIdentity{"twin/luxembourg/site-a"}, Raft: "site-b", Forward: []Selector{"site-c"},
			Namespace: "b", For: time.Second, Every: 300 * time.Millisecond}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if got, want := got.RPCs(), 4; got != want {
			t.Errorf("RPCs: got %d, want %d (rounded up)", got, want)
		}
		if got, want := s.Attacks[0].String(), "7s rogue-peer identities=twin/luxembourg/site-a raft=site-b forward=site-c namespace=b for=1s every=300ms"; got != want {
			t.Errorf("String: got %q, want %q", got, want)
		}
		b, err := s.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if want := "rogue-peer: {identities: [twin/luxembourg/site-a], raft: site-b, forward: [site-c], namespace: b, for: 1s, every: 300ms}"; !strings.Contains(string(b), want) {
			t.Errorf("YAML: got\n%s\nwant it to contain %q", b, want)
		}
		roundTripT(t, s)
	})
	t.Run("counts as an attack to detect", func(t *testing.T) {
		doc := variantT(t, "forged-records: {from: follower}", "rogue-peer: {}")
		if _, err := Parse("t.yaml", []byte(doc)); err != nil {
			t.Fatalf("tamper_detected: true with only a rogue-peer attack: got %v, want valid", err)
		}
	})
}

func TestParse_RoguePeerErrors(t *testing.T) {
	const step = "forged-records: {from: follower}"
	cases := []struct {
		name  string
		rogue string
		path  string
		msg   string
	}{
		{"unknown parameter", "{identity: site/monaco/x}", "attacks[0].rogue-peer.identity", "unknown field (known here: identities, raft, forward, namespace, for, every)"},
		{"a word", "site-z", "attacks[0].rogue-peer", "want a mapping"},
		{"no identity", "{identities: []}", "attacks[0].rogue-peer.identities", "empty: name at least one identity"},
		{"not an identity", "{identities: [site-z]}", "attacks[0].rogue-peer.identities[0]", "write role/region/name"},
		{"a client role", "{identities: [client/monaco/app]}", "attacks[0].rogue-peer.identities[0]", "a node role (site, twin or witness)"},
		{"a member", "{identities: [site/monaco/site-b]}", "attacks[0].rogue-peer.identities[0]", "that is node site-b itself, a member"},
		{"the twin", "{identities: [twin/luxembourg/lux-1]}", "attacks[0].rogue-peer.identities[0]", "that is node lux-1 itself"},
		{"twice", "{identities: [site/monaco/x, site/monaco/x]}", "attacks[0].rogue-peer.identities[1]", "named twice"},
		{"raft to the twin", "{raft: twin}", "attacks[0].rogue-peer.raft", "one site"},
		{"raft to all sites", "{raft: all-sites}", "attacks[0].rogue-peer.raft", "one site"},
		{"raft to nobody", "{raft: site-q}", "attacks[0].rogue-peer.raft", "not a node or selector"},
		{"forward to nobody", "{forward: []}", "attacks[0].rogue-peer.forward", "empty: name the sites"},
		{"forward to the witness", "{forward: [leader, witness]}", "attacks[0].rogue-peer.forward[1]", "one site"},
		{"forward twice", "{forward: [leader, leader]}", "attacks[0].rogue-peer.forward[1]", "named twice"},
		{"another namespace", "{namespace: z}", "attacks[0].rogue-peer.namespace", "not a namespace the load writes (load.namespaces: a, b)"},
		{"too fast", "{every: 1ms}", "attacks[0].rogue-peer.every", "use a period from 10ms to 1m0s"},
		{"shorter than a period", "{for: 100ms, every: 200ms}", "attacks[0].rogue-peer.for", "use a duration from every (200ms) to 1m0s"},
		{"too long", "{for: 2m}", "attacks[0].rogue-peer.for", "use a duration from every"},
		{"too many RPCs", "{for: 59s, every: 10ms}", "attacks[0].rogue-peer.for", "5900 Raft RPCs per identity, at most 1000"},
		{"for a number", "{for: 3}", "attacks[0].rogue-peer.for", "not a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := variantT(t, step, "rogue-peer: "+tc.rogue)
			_, err := Parse("t.yaml", []byte(doc))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, e := range problemsT(t, err) {
				if e.Line == 17 && e.Path == tc.path && strings.Contains(e.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("got\n%v\nwant a problem at line 17, path %q, saying %q", err, tc.path, tc.msg)
		})
	}
	t.Run("follower of a cell of one", func(t *testing.T) {
		doc := variantT(t, step, "rogue-peer: {}", "sites: 3", "sites: 1")
		_, err := Parse("t.yaml", []byte(doc))
		for _, e := range problemsT(t, err) {
			if e.Path == "attacks[0].rogue-peer.forward[1]" && strings.Contains(e.Msg, "has no follower") {
				return
			}
		}
		t.Fatalf("got %v, want forward[1]: a cell of 1 site has no follower", err)
	})
	t.Run("built in code without parameters", func(t *testing.T) {
		s, err := Parse("t.yaml", []byte(variantT(t, step, "rogue-peer: {}")))
		if err != nil {
			t.Fatal(err)
		}
		s.Attacks[0].RoguePeer = nil
		if err := s.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "a rogue-peer step has its parameters") {
			t.Fatalf("got %v, want a rogue-peer step without parameters refused", err)
		}
		if _, err := s.YAML(); !errors.Is(err, ErrInvalid) {
			t.Fatalf("YAML: got %v, want ErrInvalid", err)
		}
	})
}
