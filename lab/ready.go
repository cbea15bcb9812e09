package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
)

// A lab is ready when the primary of the current region epoch takes
// writes. The epoch is the witness's (it holds the region epoch; a site
// that was down through a promotion still has the old one in its store
// until the witness tells it), or, in a lab without a witness, the highest
// any node reports. The primary of the epoch is:
//
//	primary region is the sites'  a site in mode cell leading the cell
//	primary region is the twin's  the twin in mode primary leading its
//	                              one-site cell
//
// In either case the primary reports that epoch and, in a lab with a
// witness, holds a valid primary lease. Sites that are replicas or fenced
// do not count: after a promotion, readiness never waits for a Monaco
// cell leader.

// Mode is a node's part in the region epoch, as its status document
// reports it (node.FailoverStatus.Mode).
type Mode string

// The modes of node.FailoverStatus.Mode.
const (
	// ModeCell: a site of the primary region, member of the primary cell.
	ModeCell Mode = "cell"
	// ModeReplica: a site of another region than the primary's, a
	// read-only copy fed by the primary.
	ModeReplica Mode = "replica"
	// ModePrimary: a promoted twin, a cell of one.
	ModePrimary Mode = "primary"
	// ModeTwin: the twin receiving the primary's WAL.
	ModeTwin Mode = "twin"
	// ModeWitness: the witness.
	ModeWitness Mode = "witness"
)

// Primary is the node that takes the lab's writes in the current epoch.
type Primary struct {
	Name string `json:"name"`
	// Epoch is the region epoch it leads (0: no node reported one).
	Epoch  uint64 `json:"epoch"`
	Region string `json:"region"`
	// Mode is ModeCell (a site leading the cell) or ModePrimary (the
	// promoted twin).
	Mode Mode `json:"mode"`
}

// String renders p for people: "site-b (cell leader, epoch 1, region
// monaco)".
func (p Primary) String() string {
	what := "cell leader"
	if p.Mode == ModePrimary {
		what = "promoted twin"
	}
	return fmt.Sprintf("%s (%s, epoch %d, region %s)", p.Name, what, p.Epoch, p.Region)
}

// statusTimeout bounds one status request while polling.
const statusTimeout = 500 * time.Millisecond

// pollEvery is the pause between two rounds of status requests.
const pollEvery = 50 * time.Millisecond

// statusPoller asks the lab's nodes for their status document, keeping one
// client per node across rounds.
type statusPoller struct {
	l       *Lab
	clients map[string]*api.Client
}

func (l *Lab) newPoller() *statusPoller {
	return &statusPoller{l: l, clients: map[string]*api.Client{}}
}

func (p *statusPoller) close() {
	for _, c := range p.clients {
		c.Close()
	}
}

// poll asks every node at once (each request bounded by statusTimeout)
// and returns the documents of those that answered, and the error of each
// that did not. Nodes are asked whether or not their process is known to
// run: a stopped node refuses the connection at once. The error is a
// client that cannot be made (the lab's credentials).
func (p *statusPoller) poll(ctx context.Context) (map[string]*node.Status, map[string]error, error) {
	for _, n := range p.l.Nodes {
		if p.clients[n.Name] == nil {
			c, err := p.l.Client(n.Name)
			if err != nil {
				return nil, nil, err
			}
			p.clients[n.Name] = c
		}
	}
	var mu sync.Mutex
	sts, errs := map[string]*node.Status{}, map[string]error{}
	var wg sync.WaitGroup
	for _, n := range p.l.Nodes {
		c := p.clients[n.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			var st node.Status
			err := c.Status(sctx, &st)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[n.Name] = err
				return
			}
			sts[n.Name] = &st
		}()
	}
	wg.Wait()
	return sts, errs, nil
}

// WaitPrimary polls the nodes until the primary of the current epoch takes
// writes (see the rules above), and returns it. When ctx ends first, the
// error wraps ErrNotReady and says what was missing last.
func (l *Lab) WaitPrimary(ctx context.Context) (Primary, error) {
	p := l.newPoller()
	defer p.close()
	start := time.Now()
	for {
		sts, errs, err := p.poll(ctx)
		if err != nil {
			return Primary{}, err
		}
		pr, why := l.PrimaryIn(sts)
		if why == "" {
			return pr, nil
		}
		if len(sts) == 0 && len(errs) > 0 {
			why = fmt.Sprintf("%s (no node answers)", why)
		}
		select {
		case <-ctx.Done():
			return Primary{}, fmt.Errorf("%w after %v: %s", ErrNotReady, time.Since(start).Round(100*time.Millisecond), why)
		case <-time.After(pollEvery):
		}
	}
}

// Statuses asks every node for its status document once, and returns the
// documents of those that answered and the error of each that did not.
// The error is a client that cannot be made (the lab's credentials).
func (l *Lab) Statuses(ctx context.Context) (map[string]*node.Status, map[string]error, error) {
	p := l.newPoller()
	defer p.close()
	return p.poll(ctx)
}

// epochIn returns the current epoch the documents show: the witness's in a
// lab with one ("" and why if it did not answer), else the highest any
// node reports (nil when none does: a lab without region failover).
func (l *Lab) epochIn(sts map[string]*node.Status) (*node.FailoverStatus, string) {
	if w, ok := l.Witness(); ok {
		st := sts[w.Name]
		if st == nil || st.Failover == nil {
			return nil, fmt.Sprintf("the witness %s does not answer yet (it holds the region epoch)", w.Name)
		}
		return st.Failover, ""
	}
	var best *node.FailoverStatus
	for _, n := range l.Nodes {
		if st := sts[n.Name]; st != nil && st.Failover != nil && (best == nil || st.Failover.Epoch > best.Epoch) {
			best = st.Failover
		}
	}
	return best, ""
}

// PrimaryIn returns the primary of the current epoch that the status
// documents sts (by node name) show, or the zero Primary and why there is
// none yet.
func (l *Lab) PrimaryIn(sts map[string]*node.Status) (Primary, string) {
	ep, why := l.epochIn(sts)
	if why != "" {
		return Primary{}, why
	}
	region, epoch, primaryNode := PrimaryRegion, uint64(0), ""
	if ep != nil {
		region, epoch, primaryNode = ep.PrimaryRegion, ep.Epoch, ep.PrimaryNode
	}
	_, leased := l.Witness()
	where := fmt.Sprintf("epoch %d, primary region %s", epoch, region)
	if ep == nil {
		where = fmt.Sprintf("primary region %s (no node reports an epoch yet)", region)
	}
	leader := raft.Leader.String()
	if tw, ok := l.Twin(); ok && region == tw.Region && (primaryNode == "" || primaryNode == tw.Name) {
		st := sts[tw.Name]
		switch {
		case st == nil:
			return Primary{}, fmt.Sprintf("%s: the twin %s does not answer yet", where, tw.Name)
		case st.Failover == nil || st.Failover.Epoch != epoch:
			return Primary{}, fmt.Sprintf("%s: the twin %s does not know epoch %d yet", where, tw.Name, epoch)
		case Mode(st.Failover.Mode) != ModePrimary:
			return Primary{}, fmt.Sprintf("%s: the twin %s runs as %s, not yet as the primary", where, tw.Name, st.Failover.Mode)
		case st.Cell == nil || st.Cell.RaftState != leader:
			return Primary{}, fmt.Sprintf("%s: the twin %s does not lead its one-site cell yet", where, tw.Name)
		case leased && !st.Failover.LeaseValid:
			return Primary{}, fmt.Sprintf("%s: the twin %s holds no primary lease yet", where, tw.Name)
		}
		return Primary{Name: tw.Name, Epoch: epoch, Region: region, Mode: ModePrimary}, ""
	}
	why = fmt.Sprintf("%s: no site of %s leads the cell yet", where, region)
	for _, n := range l.Nodes {
		st := sts[n.Name]
		if pki.Role(n.Role) != pki.RoleSite || n.Region != region || st == nil || st.Cell == nil || st.Cell.RaftState != leader {
			continue
		}
		fs := st.Failover
		switch {
		case fs != nil && fs.Epoch != epoch:
			why = fmt.Sprintf("%s: %s leads a cell of epoch %d, not yet told of epoch %d", where, n.Name, fs.Epoch, epoch)
		case fs != nil && Mode(fs.Mode) != ModeCell:
			why = fmt.Sprintf("%s: %s runs as %s, not as a member of the primary cell", where, n.Name, fs.Mode)
		case leased && (fs == nil || !fs.LeaseValid):
			why = fmt.Sprintf("%s: %s leads the cell but holds no primary lease yet", where, n.Name)
		default:
			return Primary{Name: n.Name, Epoch: epoch, Region: region, Mode: ModeCell}, ""
		}
	}
	return Primary{}, why
}
