package drill

// The rogue-peer attack. A certificate issued by the lab's own CA proves
// who its holder is; it does not make the holder a node. The attacker
// holds such certificates for identities that are no node of the lab
// (site/monaco/site-z, site/luxembourg/rogue) and tries what a member of
// the cell does: Raft RPCs that would depose the leader, Forward streams
// that would read plaintext values and write through the leader. Every
// try uses a new QUIC endpoint, so each one is a connection of its own
// and the targets' count of refused connections can be compared with the
// attacker's count of connections. The checks of the step are computed
// from that evidence only (rogueEvidence.checks).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/scenarios"
	"github.com/monaco-sovereign/jumeau/transport"
)

func init() { attacks[scenarios.RoguePeer] = roguePeer }

// Timings and bounds of the rogue-peer attack.
const (
	// rogueTryTimeout bounds one try (dial, handshake, RPC or request).
	rogueTryTimeout = 3 * time.Second
	// rogueTermJump is how far above the cell's term the Raft RPCs claim
	// to be: any term above the current one deposes a leader that accepts
	// the RPC.
	rogueTermJump = 1000
	// rogueSettle bounds the wait, after the attack, for the nodes that
	// answered before to answer again and for a leader.
	rogueSettle = 5 * time.Second
	// rogueListLimit is how many values a list asks for.
	rogueListLimit = 20
	// rogueReadBackTries bounds the reads of an attacker's key.
	rogueReadBackTries = 5
)

// The names of the metrics the attack reads.
const (
	// metricPeersRefused counts, on a target, the peers with a valid
	// certificate it refused; the attack reads the series of refused
	// connections of non-members.
	metricPeersRefused = "jumeau_transport_peers_refused_total"
	// metricDials counts an endpoint's outgoing connections (the
	// attacker's own registry).
	metricDials = "jumeau_transport_dials_total"
)

// refusedConnLabels select the series of metricPeersRefused the attack
// compares before and after.
var refusedConnLabels = []string{`kind="connection"`, `reason="not_member"`}

// rogueTry is what one try of the rogue peer does.
type rogueTry string

// The tries.
const (
	rogueRaft rogueTry = "raft"
	rogueList rogueTry = "list"
	rogueGet  rogueTry = "get"
	roguePut  rogueTry = "put"
)

// rogueOutcome is what came of one try.
type rogueOutcome int

// Outcomes of a try.
const (
	// outcomeUnconfirmed: the try failed without a refusal the attacker
	// could see (a timeout, an endpoint that could not start). It proves
	// nothing either way.
	outcomeUnconfirmed rogueOutcome = iota
	// outcomeRefused: the target refused the connection or the stream.
	outcomeRefused
	// outcomeAnswered: the target answered: it served the rogue peer.
	outcomeAnswered
)

// rogueAttempt is one try of the rogue peer and its outcome.
type rogueAttempt struct {
	identity string
	target   string
	try      rogueTry
	// dials is how many connections the attacker's endpoint made for it
	// (-1: its metrics could not be read).
	dials   int
	outcome rogueOutcome
	// how says how the target refused, or what it answered.
	how string
	// values and bytes are what an answered get or list brought back.
	values, bytes int
	// key is the key a put wrote; committed is true when the target
	// answered it with a WAL index.
	key       string
	committed bool
	// term is the term a Raft RPC claimed.
	term uint64
}

// cellSnapshot is the cell as the nodes' status shows it at one moment.
type cellSnapshot struct {
	// leader and term: the site that says it leads, with the highest term.
	leader string
	term   uint64
	// epochs are the region epochs the nodes report, by node.
	epochs map[string]uint64
	// silent are the nodes that did not answer.
	silent []string
}

func (s cellSnapshot) String() string {
	if s.leader == "" {
		return "no leader"
	}
	return fmt.Sprintf("%s term %d", s.leader, s.term)
}

// writeCheck is an attacker's key read back on the cell.
type writeCheck struct {
	key, node string
	present   bool
	// err is why it could not be read back ("" when it was).
	err string
}

// rogueEvidence is what the checks of the attack are computed from.
type rogueEvidence struct {
	before, after cellSnapshot
	attempts      []rogueAttempt
	// targets are the nodes tried; refusedBefore and refusedAfter their
	// count of refused non-member connections; metricErr why one could
	// not be read.
	targets                     []string
	refusedBefore, refusedAfter map[string]float64
	metricErr                   map[string]string
	written                     []writeCheck
}

// The names of the checks (the report prefixes them with the step).
const (
	checkAttempts = "attempts_refused"
	checkCounted  = "refusals_counted"
	checkLeader   = "leader_unchanged"
	checkEpochs   = "epochs_unchanged"
	checkValues   = "values_received"
	checkWrites   = "writes_stored"
	checkRan      = "ran"
)

// checks computes the verdict of the attack from its evidence. Each check
// fails unless the evidence shows what it claims: no attempt at all, a
// metric that could not be read, a node that did not answer, a key that
// could not be read back are failures.
func (e rogueEvidence) checks() []AttackCheck {
	var refused, answered, unconfirmed int
	dials := map[string]int{}
	uncounted := map[string]int{}
	values, bytes := 0, 0
	for _, at := range e.attempts {
		switch at.outcome {
		case outcomeRefused:
			refused++
		case outcomeAnswered:
			answered++
		default:
			unconfirmed++
		}
		if at.dials < 0 {
			uncounted[at.target]++
		} else {
			dials[at.target] += at.dials
		}
		values += at.values
		bytes += at.bytes
	}
	out := []AttackCheck{{
		Name: checkAttempts, Expected: "> 0, each refused",
		Measured: fmt.Sprintf("%d attempts: %d refused, %d answered, %d unconfirmed", len(e.attempts), refused, answered, unconfirmed),
		Passed:   len(e.attempts) > 0 && refused == len(e.attempts),
	}}

	counted := AttackCheck{Name: checkCounted, Expected: "each target counts >= the attacker's connections", Passed: true}
	var parts []string
	total := 0
	for _, t := range e.targets {
		n := dials[t]
		total += n
		if why, bad := e.metricErr[t]; bad {
			parts = append(parts, fmt.Sprintf("%s not measured (%s)", t, why))
			counted.Passed = false
			continue
		}
		d := e.refusedAfter[t] - e.refusedBefore[t]
		parts = append(parts, fmt.Sprintf("%s %g -> %g (+%g for %d connections)", t, e.refusedBefore[t], e.refusedAfter[t], d, n))
		if d < float64(n) {
			counted.Passed = false
		}
		if u := uncounted[t]; u > 0 {
			parts = append(parts, fmt.Sprintf("%s: the connections of %d attempts are unknown", t, u))
			counted.Passed = false
		}
	}
	if total == 0 {
		parts = append(parts, "no connection made: nothing to count")
		counted.Passed = false
	}
	counted.Measured = strings.Join(parts, "; ")
	out = append(out, counted)

	out = append(out, AttackCheck{
		Name: checkLeader, Expected: "== " + e.before.String(), Measured: e.before.String() + " -> " + e.after.String(),
		Passed: e.before.leader != "" && e.after.leader == e.before.leader && e.after.term == e.before.term,
	})

	ep := AttackCheck{Name: checkEpochs, Expected: "== before, on every node", Passed: len(e.before.epochs) > 0}
	names := keysOfEpochs(e.before.epochs)
	parts = parts[:0]
	for _, n := range names {
		b := e.before.epochs[n]
		a, ok := e.after.epochs[n]
		switch {
		case !ok:
			parts = append(parts, fmt.Sprintf("%s %d -> silent", n, b))
			ep.Passed = false
		case a != b:
			parts = append(parts, fmt.Sprintf("%s %d -> %d", n, b, a))
			ep.Passed = false
		default:
			parts = append(parts, fmt.Sprintf("%s %d", n, b))
		}
	}
	if len(names) == 0 {
		parts = append(parts, "no node answered before the attack")
	}
	for _, n := range e.before.silent {
		parts = append(parts, n+" silent before")
	}
	ep.Measured = strings.Join(parts, ", ")
	out = append(out, ep)

	out = append(out, AttackCheck{
		Name: checkValues, Expected: "== 0", Measured: fmt.Sprintf("%d values (%d B)", values, bytes),
		Passed: values == 0 && bytes == 0,
	})

	wr := AttackCheck{Name: checkWrites, Expected: "== 0", Passed: len(e.written) > 0}
	stored, unknown := 0, 0
	var where []string
	for _, w := range e.written {
		switch {
		case w.present:
			stored++
		case w.err != "":
			unknown++
		}
		if !slices.Contains(where, w.node) && w.node != "" {
			where = append(where, w.node)
		}
	}
	committed := 0
	for _, at := range e.attempts {
		if at.try == roguePut && at.committed {
			committed++
		}
	}
	wr.Measured = fmt.Sprintf("%d of %d attacker keys on %s, %d writes acknowledged", stored, len(e.written), joinNames(where), committed)
	if unknown > 0 {
		wr.Measured += fmt.Sprintf(", %d not readable back", unknown)
	}
	if len(e.written) == 0 {
		wr.Measured = "no write attempted: nothing to read back"
	}
	wr.Passed = wr.Passed && stored == 0 && unknown == 0 && committed == 0
	out = append(out, wr)
	return out
}

func keysOfEpochs(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// roguePeer runs a rogue-peer step. It always reports its checks: when it
// cannot run, one failed check says why, so the report fails whatever its
// expectations.
func roguePeer(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error) {
	res, err := runRoguePeer(ctx, env, step)
	if err != nil {
		res.Detected = false
		res.Checks = append(res.Checks, AttackCheck{Name: checkRan, Expected: "the attack ran", Measured: err.Error()})
	}
	return res, err
}

func runRoguePeer(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error) {
	r := step.RoguePeer
	if r == nil {
		return AttackResult{}, fmt.Errorf("%w: rogue-peer step without its parameters", ErrAttackStep)
	}
	a := newAttacker(env, "rogue-peer")
	defer a.close()
	ids, err := a.rogueIdentities(r.Identities)
	if err != nil {
		return AttackResult{}, err
	}
	before := a.snapshot(ctx)
	if before.leader == "" {
		return AttackResult{}, fmt.Errorf("%w: rogue-peer: no cell leader answers: its term is unknown, a leader change could not be seen", ErrAttackStep)
	}
	topo := a.topology()
	up := func(n string) bool { _, ok := before.epochs[n]; return ok }
	resolve := func(sel scenarios.Selector) (*lab.Node, error) {
		names, err := topo.Resolve(sel, before.leader, up)
		if err != nil {
			return nil, fmt.Errorf("%w: rogue-peer: %w", ErrAttackStep, err)
		}
		n, err := env.Lab.Node(names[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAttackStep, err)
		}
		return n, nil
	}
	raftTarget, err := resolve(r.Raft)
	if err != nil {
		return AttackResult{}, err
	}
	var forward []*lab.Node
	for _, sel := range r.Forward {
		n, err := resolve(sel)
		if err != nil {
			return AttackResult{}, err
		}
		if !slices.ContainsFunc(forward, func(f *lab.Node) bool { return f.Name == n.Name }) {
			forward = append(forward, n)
		}
	}
	key, err := a.someKey(ctx, before.leader, r.Namespace)
	if err != nil {
		return AttackResult{}, err
	}
	mats := make([]*pki.Material, len(ids))
	for i, id := range ids {
		if mats[i], err = a.issueRogue(id); err != nil {
			return AttackResult{}, err
		}
	}

	ev := rogueEvidence{before: before, refusedBefore: map[string]float64{}, refusedAfter: map[string]float64{}, metricErr: map[string]string{}}
	targets := []*lab.Node{raftTarget}
	for _, n := range forward {
		if n.Name != raftTarget.Name {
			targets = append(targets, n)
		}
	}
	for _, t := range targets {
		ev.targets = append(ev.targets, t.Name)
		v, err := refusedConnections(ctx, t.Metrics)
		if err != nil {
			ev.metricErr[t.Name] = err.Error()
			continue
		}
		ev.refusedBefore[t.Name] = v
	}
	a.event(fmt.Sprintf("rogue-peer: certificates of the lab's own CA for %s, no node of the lab: Forward list, get and put of %s on %s, then Raft AppendEntries of term %d+ to %s every %v for %v (cell: %s)",
		joinIdentities(ids), r.Namespace, joinNodes(forward), before.term+rogueTermJump, raftTarget.Name, r.Every, r.For, before))

	// Forward first: a cell that accepted the Raft flood would have no
	// leader left to read from.
	for i, mat := range mats {
		for _, t := range forward {
			for _, req := range []replicator.ForwardRequest{
				{Op: replicator.ForwardList, Namespace: r.Namespace, Limit: rogueListLimit},
				{Op: replicator.ForwardGet, Namespace: r.Namespace, Key: key},
				{Op: replicator.ForwardPut, Namespace: r.Namespace, Key: fmt.Sprintf("rogue-%s-%s-%d", ids[i].Name, t.Name, time.Now().UnixNano()),
					Value: []byte("written by a rogue peer: " + ids[i].String())},
			} {
				if ctx.Err() != nil {
					return AttackResult{}, fmt.Errorf("%w: rogue-peer: %w", ErrAttackFailed, ctx.Err())
				}
				ev.attempts = append(ev.attempts, a.rogueForward(ctx, mat, t, req))
			}
		}
	}
	ev.attempts = append(ev.attempts, a.rogueFlood(ctx, mats, raftTarget, before.term, r)...)
	if err := ctx.Err(); err != nil {
		return AttackResult{}, fmt.Errorf("%w: rogue-peer: %w", ErrAttackFailed, err)
	}

	ev.after = a.settle(ctx, before)
	for _, t := range targets {
		if _, bad := ev.metricErr[t.Name]; bad {
			continue
		}
		v, err := refusedConnections(ctx, t.Metrics)
		if err != nil {
			ev.metricErr[t.Name] = err.Error()
			continue
		}
		ev.refusedAfter[t.Name] = v
	}
	reader := ev.after.leader
	if reader == "" {
		reader = before.leader
	}
	for _, at := range ev.attempts {
		if at.try == roguePut {
			ev.written = append(ev.written, a.readBack(ctx, reader, r.Namespace, at.key))
		}
	}
	return ev.result(a), nil
}

// result turns the evidence into the step's result and reports it.
func (e rogueEvidence) result(a *attacker) AttackResult {
	res := AttackResult{Checks: e.checks(), Detected: true}
	for _, c := range res.Checks {
		res.Detected = res.Detected && c.Passed
	}
	for _, at := range e.attempts {
		if at.outcome == outcomeRefused {
			res.Refusals++
		}
	}
	res.Findings = append(res.Findings, e.findings()...)
	for _, c := range res.Checks {
		verdict := "passed"
		if !c.Passed {
			verdict = "FAILED"
		}
		res.Findings = append(res.Findings, fmt.Sprintf("rogue-peer check %s %s: %s (want %s)", c.Name, verdict, c.Measured, c.Expected))
	}
	for _, f := range res.Findings {
		a.event(f)
	}
	if res.Detected {
		a.eventKind("alarm", fmt.Sprintf("rogue-peer: all %d attempts of the non-members refused, each connection counted by its target (%s); the cell kept its leader and term",
			len(e.attempts), metricPeersRefused))
	}
	return res
}

// findings summarise the attempts, one line per identity, target and
// try, and the refusals each target counted.
func (e rogueEvidence) findings() []string {
	type group struct {
		identity, target string
		try              rogueTry
	}
	type tally struct {
		n, dials, refused, answered, unconfirmed, values, bytes int
		how                                                     []string
		minTerm, maxTerm                                        uint64
	}
	var order []group
	tallies := map[group]*tally{}
	for _, at := range e.attempts {
		g := group{at.identity, at.target, at.try}
		t := tallies[g]
		if t == nil {
			t = &tally{}
			tallies[g] = t
			order = append(order, g)
		}
		t.n++
		t.dials += at.dials
		t.values += at.values
		t.bytes += at.bytes
		switch at.outcome {
		case outcomeRefused:
			t.refused++
		case outcomeAnswered:
			t.answered++
		default:
			t.unconfirmed++
		}
		if at.how != "" && !slices.Contains(t.how, at.how) && len(t.how) < 3 {
			t.how = append(t.how, at.how)
		}
		if at.term > 0 && (t.minTerm == 0 || at.term < t.minTerm) {
			t.minTerm = at.term
		}
		t.maxTerm = max(t.maxTerm, at.term)
	}
	var out []string
	for _, g := range order {
		t := tallies[g]
		what := string(g.try)
		if g.try == rogueRaft {
			what = fmt.Sprintf("Raft AppendEntries (terms %d..%d)", t.minTerm, t.maxTerm)
		} else {
			what = "Forward " + what
		}
		line := fmt.Sprintf("rogue peer %s -> %s: %d %s over %d connections: %d refused, %d answered, %d unconfirmed",
			g.identity, g.target, t.n, what, t.dials, t.refused, t.answered, t.unconfirmed)
		if t.answered > 0 {
			line = "NOT REFUSED: " + line
		}
		if t.values > 0 {
			line += fmt.Sprintf("; %d value(s) (%d B) received", t.values, t.bytes)
		}
		if len(t.how) > 0 {
			line += " (" + strings.Join(t.how, "; ") + ")"
		}
		out = append(out, line)
	}
	for _, t := range e.targets {
		if why, bad := e.metricErr[t]; bad {
			out = append(out, fmt.Sprintf("%s: %s{%s} not read: %s", t, metricPeersRefused, strings.Join(refusedConnLabels, ","), why))
			continue
		}
		out = append(out, fmt.Sprintf("%s counted the refusals: %s{%s} %g -> %g", t, metricPeersRefused, strings.Join(refusedConnLabels, ","), e.refusedBefore[t], e.refusedAfter[t]))
	}
	out = append(out, fmt.Sprintf("cell before the attack: %s; after: %s", e.before, e.after))
	return out
}

// rogueIdentities parses the step's identities and refuses one that is a
// node of the lab (that would be a member, not a rogue peer).
func (a *attacker) rogueIdentities(in []scenarios.PeerIdentity) ([]pki.Identity, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: rogue-peer: no identity", ErrAttackStep)
	}
	out := make([]pki.Identity, 0, len(in))
	for _, s := range in {
		id, err := pki.ParseIdentity(string(s))
		if err != nil {
			return nil, fmt.Errorf("%w: rogue-peer identity %q: %w", ErrAttackStep, s, err)
		}
		for _, n := range a.env.Lab.Nodes {
			if n.Name == id.Name && n.Role == string(id.Role) && n.Region == id.Region {
				return nil, fmt.Errorf("%w: rogue-peer identity %s is node %s of the lab, a member: name one outside it", ErrAttackStep, id, n.Name)
			}
		}
		out = append(out, id)
	}
	return out, nil
}

// issueRogue issues a certificate for id with the lab's own CA.
func (a *attacker) issueRogue(id pki.Identity) (*pki.Material, error) {
	labCA := a.env.Lab.ClientCreds.CA
	ca, err := pki.LoadCA(filepath.Dir(labCA))
	if err != nil {
		return nil, fmt.Errorf("%w: rogue-peer: the lab's CA: %w", ErrAttackFailed, err)
	}
	certPEM, keyPEM, err := ca.Issue(id, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("%w: rogue-peer: issue %s: %w", ErrAttackFailed, id, err)
	}
	return attackerMaterial(certPEM, keyPEM, labCA)
}

// snapshot reads every node's status, in parallel.
func (a *attacker) snapshot(ctx context.Context) cellSnapshot {
	s := cellSnapshot{epochs: map[string]uint64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range a.env.Lab.Nodes {
		wg.Go(func() {
			st, err := a.status(ctx, n.Name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.silent = append(s.silent, n.Name)
				return
			}
			s.epochs[n.Name] = nodeEpoch(st)
			if st.Cell != nil && st.Cell.RaftState == "Leader" && st.Cell.Term >= s.term {
				s.leader, s.term = n.Name, st.Cell.Term
			}
		})
	}
	wg.Wait()
	slices.Sort(s.silent)
	return s
}

// nodeEpoch is the region epoch a node reports.
func nodeEpoch(st node.Status) uint64 {
	switch {
	case st.Failover != nil:
		return st.Failover.Epoch
	case st.Cell != nil:
		return st.Cell.Epoch
	case st.Twin != nil:
		return st.Twin.Epoch
	}
	return 0
}

// settle reads the cell after the attack: at once when a leader and every
// node that answered before answer, else again until rogueSettle.
func (a *attacker) settle(ctx context.Context, before cellSnapshot) cellSnapshot {
	deadline := time.Now().Add(rogueSettle)
	for {
		s := a.snapshot(ctx)
		all := true
		for n := range before.epochs {
			if _, ok := s.epochs[n]; !ok {
				all = false
			}
		}
		if (s.leader != "" && all) || time.Now().After(deadline) || ctx.Err() != nil {
			return s
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// someKey returns a key the load wrote in ns, read with the lab's client
// credentials: the get of the attack asks for a value that exists.
func (a *attacker) someKey(ctx context.Context, leader, ns string) (string, error) {
	cl, err := a.client(leader)
	if err != nil {
		return "", fmt.Errorf("%w: rogue-peer: %w", ErrAttackFailed, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cl.List(lctx, ns, "", 1, false)
	if err != nil {
		return "", fmt.Errorf("%w: rogue-peer: list %s on %s: %w", ErrAttackFailed, ns, leader, err)
	}
	if len(list.Items) == 0 {
		return "", fmt.Errorf("%w: rogue-peer: namespace %s holds no key yet on %s: start the attack after the load has written (a later at:), so that a read would have something to leak", ErrAttackStep, ns, leader)
	}
	return list.Items[0].Key, nil
}

// readBack reads an attacker's key with the lab's client credentials on
// the node (a linearizable read).
func (a *attacker) readBack(ctx context.Context, on, ns, key string) writeCheck {
	w := writeCheck{key: key, node: on}
	cl, err := a.client(on)
	if err != nil {
		w.err = err.Error()
		return w
	}
	for i := 0; i < rogueReadBackTries && ctx.Err() == nil; i++ {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = cl.Get(gctx, ns, key, false)
		cancel()
		switch {
		case err == nil:
			w.present, w.err = true, ""
			return w
		case errors.Is(err, api.ErrNotFound):
			w.err = ""
			return w
		}
		w.err = err.Error()
		sleep(ctx, 300*time.Millisecond)
	}
	return w
}

// rogueForward sends one Forward request to target with mat, on an
// endpoint of its own.
func (a *attacker) rogueForward(ctx context.Context, mat *pki.Material, target *lab.Node, req replicator.ForwardRequest) rogueAttempt {
	at := rogueAttempt{identity: mat.Identity.String(), target: target.Name, try: rogueTry(req.Op.String()), key: req.Key}
	ep, err := a.endpoint(mat, target.Name, target.QUIC)
	if err != nil {
		at.how = err.Error()
		return at
	}
	defer ep.Close()
	req.Timeout = rogueTryTimeout
	ans, err := replicator.ProbeForward(ctx, ep, target.Name, req)
	at.dials = dialsOf(ep)
	if err != nil {
		at.outcome, at.how = classifyRefusal(err)
		return at
	}
	at.outcome = outcomeAnswered
	for _, kv := range ans.KVs {
		at.values++
		at.bytes += len(kv.Value)
	}
	switch {
	case ans.Err != nil:
		at.how = "answered: " + ans.Err.Error()
	case req.Op == replicator.ForwardPut:
		at.committed = ans.WALIndex > 0
		at.how = fmt.Sprintf("answered: committed %s/%s at WAL index %d", req.Namespace, req.Key, ans.WALIndex)
	default:
		at.how = fmt.Sprintf("answered with %d value(s)", len(ans.KVs))
	}
	return at
}

// rogueFlood sends, for each identity concurrently, Raft AppendEntries to
// target every r.Every for r.For (at most r.RPCs() each). Each RPC claims
// a term rogueTermJump above the highest the attacker knows of.
func (a *attacker) rogueFlood(ctx context.Context, mats []*pki.Material, target *lab.Node, term uint64, r *scenarios.RoguePeerAttack) []rogueAttempt {
	per := make([][]rogueAttempt, len(mats))
	var wg sync.WaitGroup
	for i, mat := range mats {
		wg.Go(func() {
			start := time.Now()
			known := term
			for n := 0; n < r.RPCs() && ctx.Err() == nil; n++ {
				next := start.Add(time.Duration(n) * r.Every)
				if next.Sub(start) >= r.For || !sleepUntil(ctx, next) {
					break
				}
				at, seen := a.rogueRaft(ctx, mat, target, known+rogueTermJump)
				known = max(known, seen)
				per[i] = append(per[i], at)
			}
		})
	}
	wg.Wait()
	var out []rogueAttempt
	for _, p := range per {
		out = append(out, p...)
	}
	return out
}

// rogueRaft sends one AppendEntries of term to target through
// hashicorp/raft's own transport over a KindRaft stream of a new
// endpoint: the RPC a leader of that term would send. It returns the
// attempt and the term the target answered with (0 if none).
func (a *attacker) rogueRaft(ctx context.Context, mat *pki.Material, target *lab.Node, term uint64) (rogueAttempt, uint64) {
	at := rogueAttempt{identity: mat.Identity.String(), target: target.Name, try: rogueRaft, term: term}
	ep, err := a.endpoint(mat, target.Name, target.QUIC)
	if err != nil {
		at.how = err.Error()
		return at, 0
	}
	defer ep.Close()
	layer := &errLayer{StreamLayer: ep.StreamLayer(transport.KindRaft)}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 1, Timeout: rogueTryTimeout,
		Logger: hclog.NewNullLogger(),
	})
	defer trans.Close()
	name := []byte(mat.Identity.Name)
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: name, Addr: name},
		Term:      term,
	}
	var resp raft.AppendEntriesResponse
	done := make(chan error, 1)
	go func() {
		done <- trans.AppendEntries(raft.ServerID(target.Name), raft.ServerAddress(target.Name), req, &resp)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		ep.Close() // unblocks the RPC
		err = <-done
	}
	at.dials = dialsOf(ep)
	if err != nil {
		// raft's decoder flattens the stream's error into text: classify
		// the stream's own.
		if first := layer.firstErr(); first != nil {
			err = first
		}
		at.outcome, at.how = classifyRefusal(err)
		return at, 0
	}
	at.outcome = outcomeAnswered
	at.how = fmt.Sprintf("answered: term %d, success %v", resp.Term, resp.Success)
	return at, resp.Term
}

// errLayer is a raft.StreamLayer that keeps the first error of its
// dials and of its connections' reads and writes, as the transport
// returned it.
type errLayer struct {
	raft.StreamLayer
	mu  sync.Mutex
	err error
}

func (l *errLayer) record(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

func (l *errLayer) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Dial dials through the wrapped layer and wraps the connection.
func (l *errLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := l.StreamLayer.Dial(address, timeout)
	if err != nil {
		l.record(err)
		return nil, err
	}
	return &errConn{Conn: c, l: l}, nil
}

// errConn records the errors of its reads and writes in its layer.
type errConn struct {
	net.Conn
	l *errLayer
}

func (c *errConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.l.record(err)
	}
	return n, err
}

func (c *errConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.l.record(err)
	}
	return n, err
}

// classifyRefusal says whether an error of a try is a refusal by the
// target (and how), or proves nothing.
func classifyRefusal(err error) (rogueOutcome, string) {
	if how := joinRefusal(err); how != "" {
		return outcomeRefused, how
	}
	return outcomeUnconfirmed, "not a refusal: " + err.Error()
}

// dialsOf is how many connections ep dialed (its dials metric, every
// result), -1 when it cannot be read (the check then fails: a count of
// refusals means nothing against an unknown number of connections).
func dialsOf(ep *transport.Endpoint) int {
	reg := prometheus.NewRegistry()
	for _, c := range ep.Collectors() {
		if err := reg.Register(c); err != nil {
			return -1
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != metricDials {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return int(n)
}

// refusedConnections scrapes a node's count of refused non-member
// connections from its metrics endpoint.
func refusedConnections(ctx context.Context, addr string) (float64, error) {
	return scrapeCounter(ctx, addr, metricPeersRefused, refusedConnLabels...)
}

// parseCounter sums the Prometheus text samples of metric whose labels
// include every one of labels (`name="value"`). A metric with no such
// sample is an error: a node that does not export it cannot show a
// refusal.
func parseCounter(r io.Reader, metric string, labels ...string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric+"{")
		if !ok {
			continue
		}
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			return 0, fmt.Errorf("%w: metrics line without its labels' end: %.100q", ErrAttackFailed, line)
		}
		have := strings.Split(rest[:end], ",")
		if !allLabels(have, labels) {
			continue
		}
		fields := strings.Fields(rest[end+1:])
		if len(fields) == 0 {
			return 0, fmt.Errorf("%w: metrics line without a value: %.100q", ErrAttackFailed, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%w: metrics line %.100q: %w", ErrAttackFailed, line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%w: metrics: %w", ErrAttackFailed, err)
	}
	if !found {
		return 0, fmt.Errorf("%w: metrics have no %s{%s}", ErrAttackFailed, metric, strings.Join(labels, ","))
	}
	return sum, nil
}

func allLabels(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func joinIdentities(ids []pki.Identity) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, " and ")
}

func joinNodes(ns []*lab.Node) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = n.Name
	}
	return joinNames(s)
}
