package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
)

// setupLab loads or creates the lab of the scenario's topology, starts it
// with gate logs, and waits until it is ready for the drill. It returns
// the lab whenever processes may have been started (to stop them).
func (r *runner) setupLab(ctx context.Context) (*lab.Lab, error) {
	t := r.sc.Topology
	opts := lab.Options{Dir: r.o.Dir, Sites: t.Sites, Binary: r.o.Binary, Twin: t.Twin, WANRTT: t.WANRTT, Witness: t.Witness, GateLog: true, ReadyTimeout: readyTimeout}
	if !t.Twin {
		opts.WANRTT = 0
	}
	l, err := lab.Load(r.o.Dir)
	switch {
	case errors.Is(err, lab.ErrNoLab):
		if r.o.Binary == "" {
			return nil, fmt.Errorf("%w: no jumeau binary to start the lab with (Options.Binary)", ErrOptions)
		}
		r.pr.linef("creating a lab in %s: %d Monaco sites%s%s", r.o.Dir, t.Sites, cond(t.Twin, fmt.Sprintf(", twin %s (WAN round trip %v)", lab.TwinName, t.WANRTT)), cond(t.Witness, ", witness "+lab.WitnessName))
		l, err = lab.Up(ctx, opts)
		if err != nil {
			return l, fmt.Errorf("%w: %w", ErrLab, err)
		}
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrLab, err)
	default:
		if err := checkTopology(l, r.o.Dir, t.Sites, t.Twin, t.Witness); err != nil {
			return nil, err
		}
		if opts.Binary == "" {
			opts.Binary = l.Binary
		}
		gateless := false
		for _, n := range l.Nodes {
			gateless = gateless || n.GateLog == ""
		}
		running := len(l.Running()) > 0
		if running && gateless {
			r.pr.linef("restarting the lab in %s with gate logs (the split-brain check reads them)", r.o.Dir)
			if err := l.Down(5 * time.Second); err != nil {
				return l, fmt.Errorf("%w: stop: %w", ErrLab, err)
			}
			running = false
		}
		if !running {
			if gateless {
				if err := l.EnableGateLogs(); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrLab, err)
				}
			}
			r.pr.linef("starting the lab in %s", r.o.Dir)
			opts.ReadyTimeout = restartTimeout
			l, err = lab.Up(ctx, opts)
			if err != nil {
				if l != nil {
					if why := r.otherPrimary(ctx, l); why != nil {
						return l, why
					}
				}
				return l, fmt.Errorf("%w: %w", ErrLab, err)
			}
		} else {
			r.pr.linef("using the running lab in %s", r.o.Dir)
		}
	}
	if err := r.useLab(l); err != nil {
		return l, err
	}
	return l, r.waitReady(ctx)
}

// useLab makes the clients of the lab's nodes.
func (r *runner) useLab(l *lab.Lab) error {
	r.closeClients()
	r.lab = l
	r.clients = map[string]*api.Client{}
	r.all, r.sites, r.data, r.twin = nil, nil, nil, ""
	for _, n := range l.Nodes {
		c, err := l.Client(n.Name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLab, err)
		}
		r.clients[n.Name] = c
		r.all = append(r.all, n.Name)
		switch pki.Role(n.Role) {
		case pki.RoleSite:
			r.sites = append(r.sites, n.Name)
			r.data = append(r.data, n.Name)
		case pki.RoleTwin:
			r.twin = n.Name
		}
	}
	if r.twin != "" {
		r.data = append(r.data, r.twin)
	}
	return nil
}

// otherPrimary returns ErrLab saying so when the lab's primary is not the
// Monaco cell (a twin promoted by an earlier drill), nil otherwise.
func (r *runner) otherPrimary(ctx context.Context, l *lab.Lab) error {
	if err := r.useLab(l); err != nil {
		return nil
	}
	if fs := epochStatus(r.pollStatus(ctx, r.all)); fs != nil {
		return otherPrimaryErr(fs, r.o.Dir)
	}
	return nil
}

// otherPrimaryErr is the error of a lab whose primary is not in Monaco.
func otherPrimaryErr(fs *node.FailoverStatus, dir string) error {
	if fs.PrimaryRegion == "" || fs.PrimaryRegion == lab.PrimaryRegion {
		return nil
	}
	return fmt.Errorf("%w: the primary of the lab in %s is %s (epoch %d, region %s), left by an earlier drill: use a new --lab DIR, or switch back: `jumeau lab up --dir %s` (it comes back with the twin as primary), then `jumeau failover switchover --lab %s --to %s`",
		ErrLab, dir, fs.PrimaryNode, fs.Epoch, fs.PrimaryRegion, dir, dir, lab.PrimaryRegion)
}

// checkTopology refuses a lab made for another topology.
func checkTopology(l *lab.Lab, dir string, sites int, twin, witness bool) error {
	n := 0
	for _, nd := range l.Nodes {
		if nd.Role == string(pki.RoleSite) {
			n++
		}
	}
	_, hasTwin := l.Twin()
	_, hasWitness := l.Witness()
	if n != sites || hasTwin != twin || hasWitness != witness {
		return fmt.Errorf("%w: the lab in %s has %d sites, twin %v, witness %v; the scenario wants %d sites, twin %v, witness %v: use another --lab DIR (a new one is created)",
			ErrLab, dir, n, hasTwin, hasWitness, sites, twin, witness)
	}
	return nil
}

// waitReady waits until a site leads the cell with the primary lease in
// an epoch of the Monaco region and, with a twin, ships to it.
func (r *runner) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	r.watch = &watcher{r: r}
	last := "no status yet"
	for {
		sts := r.watch.observe(ctx)
		leader, _, _ := r.watch.current()
		fs := epochStatus(sts)
		switch {
		case fs != nil && otherPrimaryErr(fs, r.o.Dir) != nil:
			return otherPrimaryErr(fs, r.o.Dir)
		case leader == "" || sts[leader] == nil:
			last = "no cell leader"
		case sts[leader].Failover != nil && !sts[leader].Failover.LeaseValid:
			last = fmt.Sprintf("the leader %s holds no primary lease yet", leader)
		case r.twin != "" && (sts[leader].Cell.Ship == nil || !sts[leader].Cell.Ship.Connected):
			last = fmt.Sprintf("the leader %s does not ship to %s yet", leader, r.twin)
		default:
			if fs != nil {
				r.startEpoch = fs.Epoch
			}
			r.pr.linef("lab ready: leader %s%s", leader, cond(fs != nil, fmt.Sprintf(", epoch %d", r.startEpoch)))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the lab in %s is not ready after %v: %s (see the node logs under %s/nodes)", ErrLab, r.o.Dir, readyTimeout, last, r.o.Dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cond returns s if ok, else "".
func cond(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// joinNames joins node names for event texts.
func joinNames(names []string) string { return strings.Join(names, ", ") }
