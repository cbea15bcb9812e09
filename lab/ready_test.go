package lab

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/replicator"
)

// statusDoc builds a node's status document: its mode and epoch (with the
// epoch's primary region and node), its Raft state ("" = no cell) and
// whether it holds a valid lease.
func statusDoc(mode Mode, epoch uint64, primaryRegion, primaryNode string, raftState raft.RaftState, cell, lease bool) *node.Status {
	st := &node.Status{Failover: &node.FailoverStatus{
		Epoch: epoch, PrimaryRegion: primaryRegion, PrimaryNode: primaryNode, Mode: string(mode), LeaseValid: lease,
	}}
	if cell {
		st.Cell = &replicator.Status{RaftState: raftState.String()}
	}
	return st
}

func TestLab_PrimaryIn(t *testing.T) {
	full := prepareT(t, Options{Sites: 3, Twin: true, Witness: true})
	plain := prepareT(t, Options{Sites: 3})
	const mc, lx = PrimaryRegion, TwinRegion
	// Epoch 1: Monaco primary, site-b leads with the lease.
	epoch1 := func(lease bool) map[string]*node.Status {
		return map[string]*node.Status{
			"site-a":    statusDoc(ModeCell, 1, mc, "", raft.Follower, true, false),
			"site-b":    statusDoc(ModeCell, 1, mc, "", raft.Leader, true, lease),
			"site-c":    statusDoc(ModeCell, 1, mc, "", raft.Follower, true, false),
			TwinName:    statusDoc(ModeTwin, 1, mc, "", 0, false, false),
			WitnessName: statusDoc(ModeWitness, 1, mc, "", 0, false, false),
		}
	}
	// Epoch 2 after a promotion: the twin is primary, the sites replicas.
	promoted := func(twinRaft raft.RaftState, twinMode Mode, lease bool) map[string]*node.Status {
		return map[string]*node.Status{
			"site-a":    statusDoc(ModeReplica, 2, lx, TwinName, 0, false, false),
			"site-b":    statusDoc(ModeReplica, 2, lx, TwinName, 0, false, false),
			"site-c":    statusDoc(ModeReplica, 2, lx, TwinName, 0, false, false),
			TwinName:    statusDoc(twinMode, 2, lx, TwinName, twinRaft, true, lease),
			WitnessName: statusDoc(ModeWitness, 2, lx, TwinName, 0, false, false),
		}
	}
	// A site restarted after the promotion still has epoch 1 in its store
	// and leads a cell of it until the witness tells it.
	stale := promoted(raft.Follower, ModeTwin, false)
	stale["site-a"] = statusDoc(ModeCell, 1, mc, "", raft.Leader, true, false)
	noWitness := epoch1(true)
	delete(noWitness, WitnessName)

	cases := []struct {
		name string
		l    *Lab
		sts  map[string]*node.Status
		want Primary
		why  string // substring of why there is no primary ("" = there is one)
	}{
		{"epoch 1 leader with lease", full, epoch1(true), Primary{Name: "site-b", Epoch: 1, Region: mc, Mode: ModeCell}, ""},
		{"epoch 1 leader without lease", full, epoch1(false), Primary{}, "site-b leads the cell but holds no primary lease yet"},
		{"promoted twin", full, promoted(raft.Leader, ModePrimary, true), Primary{Name: TwinName, Epoch: 2, Region: lx, Mode: ModePrimary}, ""},
		{"promoted twin without lease", full, promoted(raft.Leader, ModePrimary, false), Primary{}, "lux-1 holds no primary lease yet"},
		{"promoted twin not leading yet", full, promoted(raft.Follower, ModePrimary, false), Primary{}, "lux-1 does not lead its one-site cell yet"},
		{"twin still a receiver", full, promoted(0, ModeTwin, false), Primary{}, "lux-1 runs as twin"},
		{"stale site leading epoch 1", full, stale, Primary{}, "the twin lux-1 runs as twin"},
		{"witness silent", full, noWitness, Primary{}, "the witness witness-1 does not answer"},
		{"twin silent", full, map[string]*node.Status{WitnessName: statusDoc(ModeWitness, 2, lx, TwinName, 0, false, false)}, Primary{}, "the twin lux-1 does not answer yet"},
		{"no witness: leader, no lease needed", plain, map[string]*node.Status{
			"site-a": statusDoc(ModeCell, 1, mc, "", raft.Leader, true, false),
		}, Primary{Name: "site-a", Epoch: 1, Region: mc, Mode: ModeCell}, ""},
		{"no witness: no leader", plain, map[string]*node.Status{
			"site-a": statusDoc(ModeCell, 1, mc, "", raft.Candidate, true, false),
		}, Primary{}, "no site of monaco leads the cell yet"},
		{"nobody answers", full, map[string]*node.Status{}, Primary{}, "does not answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := tc.l.PrimaryIn(tc.sts)
			if got != tc.want {
				t.Errorf("primary: got %+v, want %+v (why: %q)", got, tc.want, why)
			}
			switch {
			case tc.why == "" && why != "":
				t.Errorf("why: got %q, want a primary", why)
			case tc.why != "" && !strings.Contains(why, tc.why):
				t.Errorf("why: got %q, want it to mention %q", why, tc.why)
			}
		})
	}
}

func TestPrimary_String(t *testing.T) {
	cases := []struct {
		p    Primary
		want string
	}{
		{Primary{Name: "site-b", Epoch: 1, Region: PrimaryRegion, Mode: ModeCell}, "site-b (cell leader, epoch 1, region monaco)"},
		{Primary{Name: TwinName, Epoch: 2, Region: TwinRegion, Mode: ModePrimary}, "lux-1 (promoted twin, epoch 2, region luxembourg)"},
	}
	for _, tc := range cases {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestLab_WaitPrimary_BadCredentials: a client that cannot be made is an
// error at once, not a wait until the deadline.
func TestLab_WaitPrimary_BadCredentials(t *testing.T) {
	l := prepareT(t, Options{Sites: 1})
	l.ClientCreds.Cert = filepath.Join(t.TempDir(), "missing.crt")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := l.WaitPrimary(ctx)
	if err == nil || errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "client credentials") {
		t.Fatalf("got %v, want the credentials error (not ErrNotReady)", err)
	}
}
