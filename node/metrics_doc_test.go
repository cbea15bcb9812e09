package node_test

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/monaco-sovereign/jumeau/cluster"
	"github.com/monaco-sovereign/jumeau/node"
)

// documentedMetric is one row of the table in docs/metrics.md.
type documentedMetric struct {
	name   string
	labels []string // label names, sorted
	roles  []string // site, twin, witness
}

// readMetricsDoc parses the table of docs/metrics.md.
func readMetricsDoc(tb testing.TB) map[string]documentedMetric {
	tb.Helper()
	data, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		tb.Fatal(err)
	}
	paren := regexp.MustCompile(`\([^)]*\)`)
	out := map[string]documentedMetric{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| `jumeau_") {
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) != 7 {
			tb.Fatalf("docs/metrics.md: row %q: got %d columns, want 5", line, len(cols)-2)
		}
		m := documentedMetric{name: strings.Trim(strings.TrimSpace(cols[1]), "`")}
		for _, l := range strings.Split(paren.ReplaceAllString(cols[3], ""), ",") {
			if l = strings.TrimSpace(l); l != "" {
				m.labels = append(m.labels, l)
			}
		}
		sort.Strings(m.labels)
		for _, r := range strings.Split(cols[4], ",") {
			m.roles = append(m.roles, strings.TrimSpace(r))
		}
		if _, dup := out[m.name]; dup {
			tb.Fatalf("docs/metrics.md lists %s twice", m.name)
		}
		out[m.name] = m
	}
	if len(out) == 0 {
		tb.Fatal("docs/metrics.md: no metric rows")
	}
	return out
}

// gathered maps each jumeau_ metric family of n to its sorted label names.
func gathered(tb testing.TB, n *node.Node) map[string][]string {
	tb.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "jumeau_") {
			continue
		}
		var labels []string
		if ms := mf.GetMetric(); len(ms) > 0 {
			for _, l := range ms[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		sort.Strings(labels)
		out[mf.GetName()] = labels
	}
	return out
}

// TestNode_MetricsExistAtStart starts a site, the twin and the witness and
// checks that each serves, before any event, every metric docs/metrics.md
// lists for its role (with the documented labels), and nothing else; and
// that every metric the README names is one of them.
func TestNode_MetricsExistAtStart(t *testing.T) {
	doc := readMetricsDoc(t)
	c := cluster.New(t, cluster.Options{Sites: 1, Twin: true, Witness: true})
	roles := map[string]string{c.Sites()[0]: "site", c.TwinName(): "twin", c.WitnessName(): "witness"}
	for name, role := range roles {
		t.Run(role, func(t *testing.T) {
			got := gathered(t, c.Node(name))
			for _, m := range doc {
				labels, ok := got[m.name]
				switch {
				case slices.Contains(m.roles, role) && !ok:
					t.Errorf("%s: no series of %s (listed for %s in docs/metrics.md)", name, m.name, role)
				case ok && !slices.Contains(m.roles, role):
					t.Errorf("%s serves %s, which docs/metrics.md does not list for %s", name, m.name, role)
				case ok && !slices.Equal(labels, m.labels):
					t.Errorf("%s labels: got %v, want %v (docs/metrics.md)", m.name, labels, m.labels)
				}
			}
			for n := range got {
				if _, ok := doc[n]; !ok {
					t.Errorf("%s serves %s, which docs/metrics.md does not list", name, n)
				}
			}
		})
	}
	t.Run("README", func(t *testing.T) {
		readme, err := os.ReadFile("../README.md")
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile("jumeau_[a-z_]*[a-z]").FindAllString(string(readme), -1)
		if len(names) == 0 {
			t.Fatal("README.md names no metric")
		}
		for _, n := range names {
			if _, ok := doc[n]; !ok {
				t.Errorf("README.md names %s, which docs/metrics.md does not list", n)
			}
		}
	})
}
