package scenarios

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// The scenario format names nodes and bounds values as the lab and the
// API do.
func TestNames_MatchLab(t *testing.T) {
	if TwinName != lab.TwinName || WitnessName != lab.WitnessName {
		t.Errorf("got twin %q, witness %q; want the lab's %q, %q", TwinName, WitnessName, lab.TwinName, lab.WitnessName)
	}
	if MaxValueSize != api.MaxValueSize {
		t.Errorf("MaxValueSize: got %d, want api.MaxValueSize %d", MaxValueSize, api.MaxValueSize)
	}
	if MaxLinkDelay != faultlink.MaxDelay {
		t.Errorf("MaxLinkDelay: got %v, want faultlink.MaxDelay %v", MaxLinkDelay, faultlink.MaxDelay)
	}
	if DefaultWANRTT != lab.DefaultWANRTT {
		t.Errorf("DefaultWANRTT: got %v, want lab.DefaultWANRTT %v", DefaultWANRTT, lab.DefaultWANRTT)
	}
}

func TestTopology_NodeNames(t *testing.T) {
	full := Topology{Sites: 3, Twin: true, Witness: true}
	if got, want := full.NodeNames(), []string{"site-a", "site-b", "site-c", "lux-1", "witness-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (Topology{Sites: 1}).NodeNames(), []string{"site-a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := (Topology{Sites: -1}).SiteNames(); len(got) != 0 {
		t.Errorf("negative sites: got %q, want none", got)
	}
}

func TestTopology_Resolve(t *testing.T) {
	topo := Topology{Sites: 3, Twin: true, Witness: true}
	down := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, d := range names {
				if d == n {
					return false
				}
			}
			return true
		}
	}
	cases := []struct {
		name   string
		sel    Selector
		leader string
		up     func(string) bool
		want   []string
	}{
		{"leader", SelectLeader, "site-b", nil, []string{"site-b"}},
		{"follower", SelectFollower, "site-a", nil, []string{"site-b"}},
		{"follower skips the down", SelectFollower, "site-a", down("site-b"), []string{"site-c"}},
		{"sites:2 leader first", SelectSites(2), "site-c", nil, []string{"site-c", "site-a"}},
		{"sites:3", SelectSites(3), "site-b", nil, []string{"site-b", "site-a", "site-c"}},
		{"sites:1 without leader", SelectSites(1), "", nil, []string{"site-a"}},
		{"sites:2 with a site down", SelectSites(2), "site-a", down("site-b"), []string{"site-a", "site-c"}},
		{"all sites, down or not", SelectAllSites, "site-a", down("site-b"), []string{"site-a", "site-b", "site-c"}},
		{"twin", SelectTwin, "", nil, []string{"lux-1"}},
		{"witness", SelectWitness, "", nil, []string{"witness-1"}},
		{"name", "site-c", "site-a", nil, []string{"site-c"}},
		{"twin by name", "lux-1", "", nil, []string{"lux-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := topo.Resolve(tc.sel, tc.leader, tc.up)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	errCases := []struct {
		name   string
		topo   Topology
		sel    Selector
		leader string
		up     func(string) bool
	}{
		{"no leader", topo, SelectLeader, "", nil},
		{"leader down", topo, SelectLeader, "site-a", down("site-a")},
		{"leader not a site", topo, SelectLeader, "lux-1", nil},
		{"no follower up", topo, SelectFollower, "site-a", down("site-b", "site-c")},
		{"too few sites up", topo, SelectSites(3), "site-a", down("site-c")},
		{"sites:0", topo, SelectSites(0), "site-a", nil},
		{"no twin", Topology{Sites: 3}, SelectTwin, "", nil},
		{"no witness", Topology{Sites: 3}, SelectWitness, "", nil},
		{"unknown name", topo, "site-z", "", nil},
		{"twin name without twin", Topology{Sites: 3}, "lux-1", "", nil},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.topo.Resolve(tc.sel, tc.leader, tc.up)
			if !errors.Is(err, ErrNoTarget) {
				t.Fatalf("got %q, %v; want ErrNoTarget", got, err)
			}
		})
	}
}

func TestSelector_SiteCount(t *testing.T) {
	cases := []struct {
		sel  Selector
		n    int
		isOK bool
	}{
		{"sites:2", 2, true}, {SelectSites(9), 9, true}, {"sites:02", 0, false}, {"sites:+2", 0, false},
		{"sites:", 0, false}, {"sites:x", 0, false}, {"leader", 0, false}, {"site-a", 0, false},
	}
	for _, tc := range cases {
		n, ok := tc.sel.SiteCount()
		if n != tc.n || ok != tc.isOK {
			t.Errorf("%q: got %d %t, want %d %t", tc.sel, n, ok, tc.n, tc.isOK)
		}
	}
}

func TestTopology_Links(t *testing.T) {
	topo := Topology{Sites: 2, Twin: true, Witness: true}
	cases := []struct {
		sel  LinkSelector
		want []string
	}{
		{LinkWAN, []string{"site-a->lux-1", "site-b->lux-1", "lux-1->site-a", "lux-1->site-b"}},
		{LinkCell, []string{"site-a->site-b", "site-b->site-a"}},
		{LinkWitness, []string{"site-a->witness-1", "site-b->witness-1", "lux-1->witness-1", "witness-1->site-a", "witness-1->site-b", "witness-1->lux-1"}},
		{"site-b->lux-1", []string{"site-b->lux-1"}},
		{"site-a->site-a", nil},
		{"site-a->site-c", nil},
		{"moon", nil},
	}
	for _, tc := range cases {
		t.Run(string(tc.sel), func(t *testing.T) {
			if got := topo.Links(tc.sel); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := (Topology{Sites: 3}).Links(LinkWAN); got != nil {
		t.Errorf("wan without twin: got %q, want none", got)
	}
}

// A topology names the nodes and links that lab.Prepare makes for it.
func TestTopology_MatchesLab(t *testing.T) {
	for _, topo := range []Topology{{Sites: 3, Twin: true, Witness: true}, {Sites: 2, Twin: true}, {Sites: 1}} {
		t.Run(fmt.Sprintf("%d sites twin %t witness %t", topo.Sites, topo.Twin, topo.Witness), func(t *testing.T) {
			l, err := lab.Prepare(lab.Options{Dir: t.TempDir(), Sites: topo.Sites, Twin: topo.Twin, Witness: topo.Witness, Binary: "jumeau"})
			if err != nil {
				t.Fatal(err)
			}
			var nodes []string
			for _, n := range l.Nodes {
				nodes = append(nodes, n.Name)
			}
			if got, want := topo.NodeNames(), nodes; !reflect.DeepEqual(got, want) {
				t.Errorf("nodes: got %q, want the lab's %q", got, want)
			}
			for _, c := range []struct {
				sel LinkSelector
				lab []string
			}{{LinkWAN, l.WANLinks()}, {LinkCell, l.CellLinks()}, {LinkWitness, l.WitnessLinks()}} {
				got, want := topo.Links(c.sel), slices.Clone(c.lab)
				slices.Sort(got)
				slices.Sort(want)
				if len(got) != 0 || len(want) != 0 {
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s links: got %q, want the lab's %q", c.sel, got, want)
					}
				}
			}
			var all []string
			for _, s := range l.Links.Links {
				all = append(all, s.Name)
				if got := topo.Links(LinkSelector(s.Name)); len(got) != 1 {
					t.Errorf("link %s: got %q, want it alone", s.Name, got)
				}
			}
			var ours []string
			for _, sel := range []LinkSelector{LinkWAN, LinkCell, LinkWitness} {
				ours = append(ours, topo.Links(sel)...)
			}
			slices.Sort(all)
			slices.Sort(ours)
			if !slices.Equal(all, slices.Compact(ours)) {
				t.Errorf("every link: got %q, want the lab's %q", ours, all)
			}
		})
	}
}
