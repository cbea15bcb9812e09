package drill

// The attack steps of a drill (scenarios: ransomware, forged-records,
// stolen-cert, replay). Each runs against the lab as an attacker would,
// then measures what the cluster did: refused where, alarmed or not,
// stored nothing or not. Nothing is claimed that was not observed.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/pki"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/scenarios"
	"github.com/monaco-sovereign/jumeau/transport"
)

// Errors of the attack steps. An attack the cluster refused is not an
// error: it is reported in AttackResult. These are failures to run the
// attack at all.
var (
	// ErrAttackStep means the step cannot run as written: a missing
	// parameter block, a target the lab does not have (no twin, no
	// leader up), a target kind the attack does not support.
	ErrAttackStep = errors.New("drill: attack step cannot run")
	// ErrAttackFailed means the attack started but could not be carried
	// out or measured (the API or the twin did not answer).
	ErrAttackFailed = errors.New("drill: attack failed")
)

// AttackNodePrefix starts history.Write.Node for every write an attack
// made ("attack:ransomware@site-a"), so measurements can tell the
// attacker's writes (and the keys it destroyed) from the load's. The
// Key of such a write is "namespace/key" (the load records bare keys).
const AttackNodePrefix = "attack:"

// IsAttackWrite reports whether a recorded write was made by an attack.
func IsAttackWrite(w history.Write) bool { return strings.HasPrefix(w.Node, AttackNodePrefix) }

// Bounds of the attacks, whatever the scenario asks (scenarios.MaxCount
// is far beyond what a drill of seconds can send).
const (
	// maxRansomKeys bounds the keys a ransomware step touches.
	maxRansomKeys = 100_000
	// ransomWorkers is the attacker's concurrency.
	ransomWorkers = 4
	// maxRansomValue bounds a garbage value.
	maxRansomValue = 64 << 10
	// maxTwinChecks bounds the attacked keys read back from the twin.
	maxTwinChecks = 1000
	// maxReplayFrames bounds the frames a replay step sends (each one is
	// a stream the twin refuses).
	maxReplayFrames = 100
	// probeAttempts is how often a probe is tried when the stream ended
	// without the twin's answer (the genuine leader took it back) or the
	// cell's term moved.
	probeAttempts = 4
	// attackStatusTimeout bounds one status request.
	attackStatusTimeout = 2 * time.Second
)

func init() {
	attacks[scenarios.Ransomware] = ransomware
	attacks[scenarios.ForgedRecords] = forgedRecords
	attacks[scenarios.StolenCert] = stolenCert
	attacks[scenarios.Replay] = replay
}

// attacker holds the API clients of one attack step.
type attacker struct {
	env     *Env
	log     *slog.Logger
	mu      sync.Mutex
	clients map[string]*api.Client
}

func newAttacker(env *Env, what string) *attacker {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &attacker{env: env, log: log.With("attack", what), clients: map[string]*api.Client{}}
}

func (a *attacker) close() {
	for _, c := range a.clients {
		c.Close()
	}
}

// event reports a line to the runner's timeline (if it listens).
func (a *attacker) event(text string) { a.eventKind("attack", text) }

// eventKind reports a line of a given kind (attack, alarm).
func (a *attacker) eventKind(kind, text string) {
	a.log.Info(text, "kind", kind)
	if a.env.Events != nil {
		a.env.Events(kind, text)
	}
}

// client returns the lab's client-credential API client for a node.
func (a *attacker) client(name string) (*api.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.clients[name]; c != nil {
		return c, nil
	}
	c, err := a.env.Lab.Client(name)
	if err != nil {
		return nil, err
	}
	a.clients[name] = c
	return c, nil
}

// status reads a node's status document.
func (a *attacker) status(ctx context.Context, name string) (node.Status, error) {
	var st node.Status
	c, err := a.client(name)
	if err != nil {
		return st, err
	}
	sctx, cancel := context.WithTimeout(ctx, attackStatusTimeout)
	defer cancel()
	err = c.Status(sctx, &st)
	return st, err
}

// cellView is the cell as the attacker sees it through the sites' status.
type cellView struct {
	leader string
	up     map[string]bool
	term   uint64
	epoch  uint64
	// walLast is the leader's last WAL index when asked.
	walLast uint64
}

func (a *attacker) topology() scenarios.Topology {
	t := scenarios.Topology{}
	for _, n := range a.env.Lab.Nodes {
		switch pki.Role(n.Role) {
		case pki.RoleSite:
			t.Sites++
		case pki.RoleTwin:
			t.Twin = true
		case pki.RoleWitness:
			t.Witness = true
		}
	}
	return t
}

// cell asks every node for its status, in parallel, and returns who
// answered and which site leads the cell.
func (a *attacker) cell(ctx context.Context) cellView {
	v := cellView{up: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range a.env.Lab.Nodes {
		wg.Go(func() {
			st, err := a.status(ctx, n.Name)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			v.up[n.Name] = true
			if st.Cell != nil && st.Cell.RaftState == "Leader" && st.Cell.Term >= v.term {
				v.leader, v.term, v.epoch, v.walLast = n.Name, st.Cell.Term, st.Cell.Epoch, st.Cell.WALLast
			}
			if st.Failover != nil {
				v.epoch = max(v.epoch, st.Failover.Epoch)
			}
		})
	}
	wg.Wait()
	return v
}

// resolve returns the one node sel designates now.
func (a *attacker) resolve(ctx context.Context, sel scenarios.Selector) (string, cellView, error) {
	v := a.cell(ctx)
	names, err := a.topology().Resolve(sel, v.leader, func(n string) bool { return v.up[n] })
	if err != nil {
		return "", v, fmt.Errorf("%w: %w", ErrAttackStep, err)
	}
	return names[0], v, nil
}

// ---- ransomware -------------------------------------------------------

// ransomWrite is one write of the ransomware.
type ransomWrite struct {
	key    string
	value  []byte // nil: a delete
	sent   time.Time
	done   time.Time
	index  uint64
	err    error
	target string
}

// ransomware overwrites and deletes keys of the load's namespace through
// the cell leader's API with the lab's valid client credentials. jumeau
// cannot tell these writes from legitimate ones: Detected is false. The
// findings name the last clean WAL index (the record before the first
// attack write), how many keys were hit, and whether the twin holds the
// same destruction (it should: replication is not a backup).
func ransomware(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error) {
	r := step.Ransomware
	if r == nil {
		return AttackResult{}, fmt.Errorf("%w: ransomware step without its parameters", ErrAttackStep)
	}
	if r.Keys <= 0 || r.Delete < 0 || r.Delete > 1 {
		return AttackResult{}, fmt.Errorf("%w: ransomware keys %d, delete %g: use keys >= 1 and delete within 0..1", ErrAttackStep, r.Keys, r.Delete)
	}
	a := newAttacker(env, "ransomware")
	defer a.close()
	v := a.cell(ctx)
	if v.leader == "" {
		return AttackResult{}, fmt.Errorf("%w: ransomware: no cell leader answers (sites up: %v)", ErrAttackStep, keysOf(v.up))
	}
	target := v.leader
	cl, err := a.client(target)
	if err != nil {
		return AttackResult{}, fmt.Errorf("%w: ransomware: %w", ErrAttackFailed, err)
	}
	want := min(r.Keys, maxRansomKeys)
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	list, err := cl.List(lctx, r.Namespace, "", want, false)
	cancel()
	if err != nil {
		return AttackResult{}, fmt.Errorf("%w: ransomware: list %s on %s: %w", ErrAttackFailed, r.Namespace, target, err)
	}
	if len(list.Items) == 0 {
		return AttackResult{}, fmt.Errorf("%w: ransomware: namespace %s holds no key yet on %s: start the attack after the load has written (a later at:)", ErrAttackStep, r.Namespace, target)
	}
	deletes := int(math.Round(r.Delete * float64(len(list.Items))))
	writes := make([]*ransomWrite, len(list.Items))
	for i, kv := range list.Items {
		w := &ransomWrite{key: kv.Key, target: target}
		if i >= deletes {
			w.value = make([]byte, min(max(len(kv.Value), 16), maxRansomValue))
			_, _ = rand.Read(w.value)
		}
		writes[i] = w
	}
	a.event(fmt.Sprintf("ransomware: %d keys of %s through %s's API with valid client credentials (%d overwritten, %d deleted)",
		len(writes), r.Namespace, target, len(writes)-deletes, deletes))
	began := time.Now()
	runRansom(ctx, cl, r.Namespace, writes)

	res := AttackResult{}
	var overwritten, deleted, failed int
	var first, last *ransomWrite
	for _, w := range writes {
		if env.Rec != nil {
			hw := history.Write{Key: r.Namespace + "/" + w.key, Size: len(w.value), Node: AttackNodePrefix + "ransomware@" + w.target,
				Durability: replicator.DurabilityCell, Sent: w.sent, Done: w.done, Acked: w.err == nil}
			if w.err != nil {
				hw.Err = w.err.Error()
			}
			env.Rec.Record(hw)
		}
		if w.err != nil {
			failed++
			continue
		}
		if w.value == nil {
			deleted++
		} else {
			overwritten++
		}
		if first == nil || w.index < first.index {
			first = w
		}
		if last == nil || w.index > last.index {
			last = w
		}
	}
	if first == nil {
		return res, fmt.Errorf("%w: ransomware: none of %d writes was acknowledged (first error: %v)", ErrAttackFailed, len(writes), writes[0].err)
	}
	clean := first.index - 1
	res.Findings = append(res.Findings,
		fmt.Sprintf("ransomware with valid client credentials overwrote %d and deleted %d keys of %s through %s (%d attempts failed), WAL indexes %d..%d, from %s to %s",
			overwritten, deleted, r.Namespace, target, failed, first.index, last.index, offset(env, began), offset(env, last.done)),
		fmt.Sprintf("last clean WAL index: %d (the record before the first ransomware write, committed before %s, %s; the attack began at %s): restore to it",
			clean, first.done.UTC().Format(time.RFC3339Nano), offset(env, first.done), began.UTC().Format(time.RFC3339Nano)),
		"not detected: jumeau does not detect misuse of valid credentials; every ransomware write is authenticated, sealed and chained like any other",
		"point-in-time restore to the last clean index is not implemented: the WAL and the twin's copy keep the clean history up to it, recovery is manual")
	if twin, ok := env.Lab.Twin(); ok {
		res.Findings = append(res.Findings, a.twinHoldsRansom(ctx, twin.Name, r.Namespace, last.index, writes))
	}
	for _, f := range res.Findings {
		a.event(f)
	}
	return res, nil
}

// runRansom sends the writes with a few concurrent workers and fills
// their outcome.
func runRansom(ctx context.Context, cl *api.Client, ns string, writes []*ransomWrite) {
	next := make(chan *ransomWrite)
	var wg sync.WaitGroup
	for range ransomWorkers {
		wg.Go(func() {
			for w := range next {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				w.sent = time.Now()
				var r api.WriteResult
				if w.value == nil {
					r, w.err = cl.Delete(wctx, ns, w.key, "cell")
				} else {
					r, w.err = cl.Put(wctx, ns, w.key, w.value, "cell")
				}
				w.done = time.Now()
				w.index = r.WALIndex
				cancel()
			}
		})
	}
	for _, w := range writes {
		if ctx.Err() != nil {
			w.err = ctx.Err()
			continue
		}
		next <- w
	}
	close(next)
	wg.Wait()
}

// twinHoldsRansom waits for the twin to reach the attack's last index and
// reads the attacked keys back from it (stale reads).
func (a *attacker) twinHoldsRansom(ctx context.Context, twin, ns string, lastIndex uint64, writes []*ransomWrite) string {
	deadline := time.Now().Add(15 * time.Second)
	var reached uint64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := a.status(ctx, twin)
		if err == nil && st.Twin != nil {
			reached = st.Twin.WALLast
		} else if err == nil && st.Cell != nil {
			reached = st.Cell.WALLast // a promoted twin
		}
		if reached >= lastIndex {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if reached < lastIndex {
		return fmt.Sprintf("twin %s did not receive the ransomware's writes within 15s (at index %d, the attack ended at %d): cannot say what it holds", twin, reached, lastIndex)
	}
	cl, err := a.client(twin)
	if err != nil {
		return fmt.Sprintf("twin %s: cannot read it back: %v", twin, err)
	}
	var checked, same, other int
	for _, w := range writes {
		if w.err != nil {
			continue
		}
		if checked == maxTwinChecks || ctx.Err() != nil {
			break
		}
		checked++
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := cl.Get(gctx, ns, w.key, true)
		cancel()
		switch {
		case w.value == nil && errors.Is(err, api.ErrNotFound):
			same++
		case w.value != nil && err == nil && string(v) == string(w.value):
			same++
		default:
			other++
		}
	}
	if other == 0 {
		return fmt.Sprintf("twin %s holds the same destruction: %d of %d attacked keys read back overwritten or deleted (replication copies valid-credential writes; it is not a backup)", twin, same, checked)
	}
	return fmt.Sprintf("twin %s: %d of %d attacked keys read back as the ransomware left them, %d differ (later writes of the load, or the twin lags)", twin, same, checked, other)
}

// ---- forged records and replay ---------------------------------------

// forgeKinds maps a scenario forgery to the probe that performs it.
var forgeKinds = map[scenarios.ForgeKind]replicator.ProbeKind{
	scenarios.ForgeAltered:    replicator.ProbeForgedPayload,
	scenarios.ForgeRehashed:   replicator.ProbeBrokenChain,
	scenarios.ForgeStaleEpoch: replicator.ProbeStaleEpoch,
}

// forgedRecords: the site From, compromised, sends the twin a frame of
// forged records with its own certificate. Detected when the twin refused
// it, its status shows the alarm and nothing of it reached its state.
func forgedRecords(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error) {
	f := step.ForgedRecords
	if f == nil {
		return AttackResult{}, fmt.Errorf("%w: forged-records step without its parameters", ErrAttackStep)
	}
	kind, ok := forgeKinds[f.Kind]
	if !ok {
		return AttackResult{}, fmt.Errorf("%w: forged-records kind %q: use altered, rehashed or stale-epoch", ErrAttackStep, f.Kind)
	}
	a := newAttacker(env, "forged-records")
	defer a.close()
	from, _, err := a.resolve(ctx, f.From)
	if err != nil {
		return AttackResult{}, err
	}
	return a.probeTwin(ctx, from, kind, 1, f.Records, fmt.Sprintf("%s, compromised, sends %d %s forged record(s)", from, f.Records, f.Kind))
}

// replay sends Frames frames of records the twin already holds again, on
// Ship streams of the cell leader's certificate.
func replay(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error) {
	r := step.Replay
	if r == nil {
		return AttackResult{}, fmt.Errorf("%w: replay step without its parameters", ErrAttackStep)
	}
	a := newAttacker(env, "replay")
	defer a.close()
	target, v, err := a.resolve(ctx, r.Target)
	if err != nil {
		return AttackResult{}, err
	}
	if twin, ok := env.Lab.Twin(); !ok || twin.Name != target {
		return AttackResult{}, fmt.Errorf("%w: replay to %s: only the twin can be the target of a replay today (target: twin)", ErrAttackStep, target)
	}
	if v.leader == "" {
		return AttackResult{}, fmt.Errorf("%w: replay: no cell leader answers: no shipping stream to replay", ErrAttackStep)
	}
	frames := min(r.Frames, maxReplayFrames)
	res, err := a.probeTwin(ctx, v.leader, replicator.ProbeReplayedFrame, frames, 1,
		fmt.Sprintf("replay of %d frame(s) to %s on Ship streams of %s's certificate (frames re-announcing records it holds; a verbatim datagram replay would not pass QUIC's packet protection)", frames, target, v.leader))
	if frames < r.Frames {
		res.Findings = append(res.Findings, fmt.Sprintf("replay capped at %d frames of the %d asked", frames, r.Frames))
	}
	return res, err
}

// probeTwin opens an endpoint with the certificate of site from, sends
// probes forged frames of kind (records each) to the twin, and checks
// the twin's refusals, alarm and state.
func (a *attacker) probeTwin(ctx context.Context, from string, kind replicator.ProbeKind, probes, records int, what string) (AttackResult, error) {
	var res AttackResult
	twin, ok := a.env.Lab.Twin()
	if !ok {
		return res, fmt.Errorf("%w: %s: the lab has no twin", ErrAttackStep, kind)
	}
	ep, err := a.siteEndpoint(from, twin.Name)
	if err != nil {
		return res, err
	}
	defer ep.Close()
	a.event(what)
	var results []replicator.ProbeResult
	for i := 0; i < probes && ctx.Err() == nil; i++ {
		pr, err := a.probeOnce(ctx, ep, twin.Name, kind, records)
		if err != nil {
			return res, fmt.Errorf("%w: %s probe %d of %d from %s: %w", ErrAttackFailed, kind, i+1, probes, from, err)
		}
		results = append(results, pr)
		if pr.Refused {
			res.Refusals++
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%w: %s: %w", ErrAttackFailed, kind, err)
	}
	// One line per distinct outcome; the count says how many.
	seen := map[string]int{}
	var order []string
	for _, pr := range results {
		line := pr.String()
		if pr.Refused && !pr.AtHello {
			line = fmt.Sprintf("%s refused %s from %s: %s", pr.Twin, pr.Kind.Phrase(), pr.Sender, pr.Reason)
		}
		if seen[line] == 0 {
			order = append(order, line)
		}
		seen[line]++
	}
	for _, line := range order {
		if n := seen[line]; n > 1 {
			line = fmt.Sprintf("%s (%d times)", line, n)
		}
		res.Findings = append(res.Findings, line)
	}
	st, err := a.status(ctx, twin.Name)
	alarm := ""
	if err == nil && st.Twin != nil {
		alarm = st.Twin.Alarm
	}
	switch {
	case err != nil:
		res.Findings = append(res.Findings, fmt.Sprintf("twin %s status unreadable after the attack: %v", twin.Name, err))
	case alarm != "":
		line := fmt.Sprintf("twin %s raised its alarm (status twin.alarm, metric jumeau_twin_refused_total; it stays until the twin restarts): %s", twin.Name, alarm)
		res.Findings = append(res.Findings, line)
		a.eventKind("alarm", line)
	default:
		res.Findings = append(res.Findings, fmt.Sprintf("twin %s shows no alarm after the attack", twin.Name))
	}
	stored := a.forgedStored(ctx, twin.Name, results)
	res.Findings = append(res.Findings, stored...)
	res.Detected = len(results) == probes && res.Refusals == probes && alarm != "" && len(stored) == 1 && strings.HasPrefix(stored[0], "nothing")
	for _, f := range res.Findings {
		if !strings.Contains(f, "raised its alarm") {
			a.event(f)
		}
	}
	return res, nil
}

// probeOnce runs one probe, again when the stream ended without an answer
// (the genuine leader took the twin's stream back) or the term moved.
func (a *attacker) probeOnce(ctx context.Context, ep *transport.Endpoint, twin string, kind replicator.ProbeKind, records int) (replicator.ProbeResult, error) {
	var last error
	for range probeAttempts {
		v := a.cell(ctx)
		if v.leader == "" {
			last = errors.New("no cell leader answers: its term is unknown")
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		pr, err := replicator.ProbeTwin(ctx, ep, twin, kind, replicator.ProbeOptions{Term: v.term, Epoch: max(v.epoch, 1), Records: records, Timeout: 5 * time.Second})
		if err == nil {
			return pr, nil
		}
		if errors.Is(err, replicator.ErrProbeKind) || ctx.Err() != nil {
			return pr, err
		}
		last = err
		sleep(ctx, 50*time.Millisecond)
	}
	return replicator.ProbeResult{}, fmt.Errorf("%d attempts: %w", probeAttempts, last)
}

// forgedStored checks that nothing of the probes reached the twin: no
// forged key in its state (stale read) and no divergence reported by the
// leader that ships to it. It returns one line starting with "nothing"
// when that holds, else the evidence of what was stored.
func (a *attacker) forgedStored(ctx context.Context, twin string, results []replicator.ProbeResult) []string {
	cl, err := a.client(twin)
	if err != nil {
		return []string{fmt.Sprintf("cannot check what twin %s stored: %v", twin, err)}
	}
	var bad []string
	checked := 0
	for _, pr := range results {
		if pr.Accepted {
			bad = append(bad, fmt.Sprintf("twin %s ACCEPTED a forged frame: %s", twin, pr))
		}
		for i := 0; i < pr.Count && checked < maxTwinChecks; i++ {
			checked++
			key := "forged-" + strconv.FormatUint(pr.First+uint64(i), 10)
			gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := cl.Get(gctx, "drill-forged", key, true)
			cancel()
			if !errors.Is(err, api.ErrNotFound) {
				bad = append(bad, fmt.Sprintf("twin %s: forged key drill-forged/%s is readable or unreadable for another reason (%v)", twin, key, err))
			}
		}
	}
	// The leader re-dials the twin after each probe; a twin that stored a
	// forged record no longer agrees with it.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		v := a.cell(ctx)
		if v.leader == "" {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		st, err := a.status(ctx, v.leader)
		if err != nil || st.Cell == nil || st.Cell.Ship == nil {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if d := st.Cell.Ship.Diverged; d != "" {
			bad = append(bad, fmt.Sprintf("leader %s reports the twin diverged: %s", v.leader, d))
			break
		}
		if st.Cell.Ship.Connected {
			break
		}
		sleep(ctx, 100*time.Millisecond)
	}
	if len(bad) > 0 {
		return bad
	}
	return []string{fmt.Sprintf("nothing of the forgery was stored: %d forged key(s) absent from twin %s, and the leader ships to it again without divergence", checked, twin)}
}

// siteEndpoint is an attacker's QUIC endpoint holding site from's own
// certificate and key (read from its node configuration), dialing the
// twin through the site's WAN link when the lab has one.
func (a *attacker) siteEndpoint(from, twin string) (*transport.Endpoint, error) {
	n, err := a.env.Lab.Node(from)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAttackStep, err)
	}
	cfg, err := node.LoadConfig(n.Config, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: the certificate of %s: %w", ErrAttackFailed, from, err)
	}
	mat, err := pki.LoadTLS(pki.TLSFiles{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key})
	if err != nil {
		return nil, fmt.Errorf("%w: the certificate of %s: %w", ErrAttackFailed, from, err)
	}
	addr, err := a.route(from, twin)
	if err != nil {
		return nil, err
	}
	return a.endpoint(mat, twin, addr)
}

// route is the address from dials to reach to: the fault link from->to
// if the lab has one (the WAN, with its faults), else to's QUIC address.
func (a *attacker) route(from, to string) (string, error) {
	for _, l := range a.env.Lab.Links.Links {
		if l.From == from && l.To == to {
			return l.Listen, nil
		}
	}
	n, err := a.env.Lab.Node(to)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrAttackStep, err)
	}
	return n.QUIC, nil
}

// endpoint starts a QUIC endpoint with mat that reaches peer at addr.
func (a *attacker) endpoint(mat *pki.Material, peer, addr string) (*transport.Endpoint, error) {
	tc := transport.DefaultConfig()
	tc.Listen, tc.TLS, tc.Logger = "127.0.0.1:0", mat, a.log
	tc.HandshakeTimeout = 3 * time.Second
	tc.Resolve = func(name string) (string, error) {
		if name != peer {
			return "", fmt.Errorf("%w: the attacker only dials %s, not %s", ErrAttackStep, peer, name)
		}
		return addr, nil
	}
	ep, err := transport.Listen(tc)
	if err != nil {
		return nil, fmt.Errorf("%w: attacker endpoint: %w", ErrAttackFailed, err)
	}
	return ep, nil
}

// ---- stolen certificates ---------------------------------------------

// stolenCert: a certificate of another CA (foreign) or of this cluster's
// CA that was revoked tries to join Target as a peer (QUIC) and to write
// through its API. Detected when every try was refused by the target and
// nothing was written.
func stolenCert(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error) {
	s := step.StolenCert
	if s == nil {
		return AttackResult{}, fmt.Errorf("%w: stolen-cert step without its parameters", ErrAttackStep)
	}
	a := newAttacker(env, "stolen-cert")
	defer a.close()
	target, _, err := a.resolve(ctx, s.Target)
	if err != nil {
		return AttackResult{}, err
	}
	tn, err := env.Lab.Node(target)
	if err != nil {
		return AttackResult{}, fmt.Errorf("%w: %w", ErrAttackStep, err)
	}
	if _, err := a.status(ctx, target); err != nil {
		return AttackResult{}, fmt.Errorf("%w: stolen-cert: target %s does not answer its API, a refusal would prove nothing: %w", ErrAttackStep, target, err)
	}
	tries := s.Tries
	if len(tries) == 0 {
		tries = []scenarios.Try{scenarios.TryJoin, scenarios.TryWrite}
	}
	certs, desc, err := a.stolenCerts(s.Kind, target)
	if err != nil {
		return AttackResult{}, err
	}
	a.event(fmt.Sprintf("stolen-cert: %s tries %v against %s", desc, tries, target))
	res := AttackResult{Detected: true}
	for _, t := range tries {
		var refused bool
		var finding string
		switch t {
		case scenarios.TryJoin:
			refused, finding = a.tryJoin(ctx, certs.peer, tn, s.Kind)
		case scenarios.TryWrite:
			refused, finding = a.tryWrite(ctx, certs.client, tn, s.Kind)
		default:
			return res, fmt.Errorf("%w: stolen-cert try %q: use join or write", ErrAttackStep, t)
		}
		if refused {
			res.Refusals++
		} else {
			res.Detected = false
		}
		res.Findings = append(res.Findings, finding)
		a.event(finding)
	}
	return res, nil
}

// attackerCerts are the stolen certificates of one step: one with a
// site's identity (join), one with a client's (write).
type attackerCerts struct{ peer, client *pki.Material }

// stolenCerts makes the certificates of kind: issued by a fresh foreign
// CA, or by the lab's CA and then revoked.
func (a *attacker) stolenCerts(kind scenarios.CertKind, target string) (attackerCerts, string, error) {
	var out attackerCerts
	// The peer identity is a real site's (not the target's): a
	// valid-looking member of the cell.
	peerName := ""
	for _, n := range a.env.Lab.Nodes {
		if n.Role == string(pki.RoleSite) && n.Name != target {
			peerName = n.Name
			break
		}
	}
	if peerName == "" {
		peerName = "site-a"
	}
	ids := []pki.Identity{
		{Role: pki.RoleSite, Region: lab.PrimaryRegion, Name: peerName},
		{Role: pki.RoleClient, Region: lab.PrimaryRegion, Name: "client"},
	}
	labCA := a.env.Lab.ClientCreds.CA
	var ca *pki.CA
	var desc string
	switch kind {
	case scenarios.CertForeign:
		dir, err := os.MkdirTemp("", "jumeau-foreign-ca-")
		if err != nil {
			return out, "", fmt.Errorf("%w: foreign CA: %w", ErrAttackFailed, err)
		}
		defer os.RemoveAll(dir)
		if ca, err = pki.InitCA(dir, "jumeau lab CA"); err != nil {
			return out, "", fmt.Errorf("%w: foreign CA: %w", ErrAttackFailed, err)
		}
		desc = fmt.Sprintf("certificates of a foreign CA (same CA name) for %s and %s", ids[0], ids[1])
	case scenarios.CertRevoked:
		var err error
		if ca, err = pki.LoadCA(filepath.Dir(labCA)); err != nil {
			return out, "", fmt.Errorf("%w: revoked certificate: the lab's CA: %w", ErrAttackFailed, err)
		}
		desc = fmt.Sprintf("certificates of the cluster's CA, revoked, for %s and %s", ids[0], ids[1])
	default:
		return out, "", fmt.Errorf("%w: stolen-cert kind %q: use foreign or revoked", ErrAttackStep, kind)
	}
	mats := make([]*pki.Material, len(ids))
	var serials []*big.Int
	for i, id := range ids {
		certPEM, keyPEM, err := ca.Issue(id, []string{"127.0.0.1", "localhost"}, time.Hour)
		if err != nil {
			return out, "", fmt.Errorf("%w: issue %s: %w", ErrAttackFailed, id, err)
		}
		if mats[i], err = attackerMaterial(certPEM, keyPEM, labCA); err != nil {
			return out, "", err
		}
		serials = append(serials, mats[i].Certificate.Leaf.SerialNumber)
	}
	if kind == scenarios.CertRevoked {
		if err := ca.Revoke(filepath.Dir(labCA), serials...); err != nil {
			return out, "", fmt.Errorf("%w: revoke: %w", ErrAttackFailed, err)
		}
		desc += fmt.Sprintf(" (serials %x, %x added to %s)", serials[0], serials[1], filepath.Join(filepath.Dir(labCA), pki.CRLFile))
	}
	out.peer, out.client = mats[0], mats[1]
	return out, desc, nil
}

// attackerMaterial is TLS material presenting a stolen certificate and
// trusting the lab's CA (the attacker wants to reach the real nodes).
// Unlike pki.LoadTLS it does not require the certificate to verify.
func attackerMaterial(certPEM, keyPEM []byte, labCA string) (*pki.Material, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: stolen key pair: %w", ErrAttackFailed, err)
	}
	caPEM, err := os.ReadFile(labCA)
	if err != nil {
		return nil, fmt.Errorf("%w: the lab's CA: %w", ErrAttackFailed, err)
	}
	cas, err := pki.ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: the lab's CA %s: %w", ErrAttackFailed, labCA, err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	id, err := pki.IdentityFromCert(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: stolen certificate: %w", ErrAttackFailed, err)
	}
	return &pki.Material{Certificate: cert, Pool: pool, Identity: id}, nil
}

// joinKind is the stream a peer of target's role opens to it.
func joinKind(role string) transport.Kind {
	switch pki.Role(role) {
	case pki.RoleTwin:
		return transport.KindShip
	case pki.RoleWitness:
		return transport.KindLease
	}
	return transport.KindRaft
}

// tryJoin dials target's QUIC endpoint with the stolen certificate and
// opens the stream a member would. Refused when the handshake or the
// stream fails (the target is known to be up); the target's count of
// refused handshakes is the evidence of where.
func (a *attacker) tryJoin(ctx context.Context, mat *pki.Material, target *lab.Node, kind scenarios.CertKind) (bool, string) {
	before, mErr := handshakeFailures(ctx, target.Metrics)
	ep, err := a.endpoint(mat, target.Name, target.QUIC)
	if err != nil {
		return false, fmt.Sprintf("join %s with the %s certificate could not be tried: %v", target.Name, kind, err)
	}
	defer ep.Close()
	k := joinKind(target.Role)
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := ep.Open(jctx, target.Name, k)
	if err == nil {
		// Open does not wait for the peer; a refused handshake or stream
		// shows on the first read.
		_ = st.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = st.Read(make([]byte, 1))
		st.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false, fmt.Sprintf("NOT REFUSED: %s accepted a QUIC %s stream from the %s certificate of %s (no answer, no reset within 3s)", target.Name, k, kind, mat.Identity)
		}
	}
	counted := false
	evidence := ""
	if mErr == nil {
		if after, err := handshakeFailures(ctx, target.Metrics); err == nil && after > before {
			counted = true
			evidence = fmt.Sprintf("; %s counted it (jumeau_transport_handshake_failures_total{direction=\"in\"} %g -> %g)", target.Name, before, after)
		}
	}
	how := joinRefusal(err)
	if how == "" && !counted {
		return false, fmt.Sprintf("join %s with the %s certificate of %s failed, but not by a refusal of %s (%v): not confirmed as refused", target.Name, kind, mat.Identity, target.Name, err)
	}
	if how == "" {
		how = "failed"
	}
	return true, fmt.Sprintf("QUIC join refused by %s: the %s certificate of %s %s (%v)%s", target.Name, kind, mat.Identity, how, err, evidence)
}

// joinRefusal says how the target refused a join, from the error the
// attacker saw: a TLS alert in the QUIC handshake, the identity refused
// after it, a stream refused by role policy; "" for anything else (a
// timeout proves nothing).
func joinRefusal(err error) string {
	var te *quic.TransportError
	var ae *quic.ApplicationError
	switch {
	case errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError():
		return "was refused in the mutual-TLS handshake (TLS alert from the target)"
	case errors.As(err, &ae) && ae.Remote:
		return fmt.Sprintf("was refused after the handshake (connection closed with code %#x)", uint64(ae.ErrorCode))
	case errors.Is(err, transport.ErrRefused):
		return "was refused by the target's stream policy"
	}
	return ""
}

// tryWrite writes a fresh key through target's API with the stolen
// client certificate, then checks with the lab's credentials that the
// key does not exist.
func (a *attacker) tryWrite(ctx context.Context, mat *pki.Material, target *lab.Node, kind scenarios.CertKind) (bool, string) {
	cl, err := api.NewClient(target.API, mat, api.ClientOptions{})
	if err != nil {
		return false, fmt.Sprintf("write to %s with the %s certificate could not be tried: %v", target.Name, kind, err)
	}
	defer cl.Close()
	key := fmt.Sprintf("stolen-%d", time.Now().UnixNano())
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, werr := cl.Put(wctx, "drill-stolen", key, []byte("written with a stolen certificate"), "cell")
	cancel()
	if werr == nil {
		return false, fmt.Sprintf("NOT REFUSED: %s's API accepted a write of drill-stolen/%s from the %s certificate of %s", target.Name, key, kind, mat.Identity)
	}
	var where string
	var oe *net.OpError
	switch {
	case errors.Is(werr, api.ErrUnauthenticated):
		where = target.Name + "'s API refused it (HTTP 401 unauthenticated)"
	case errors.Is(werr, api.ErrForbidden):
		where = target.Name + "'s API refused it (HTTP 403 forbidden)"
	case errors.As(werr, &oe) && oe.Op == "remote error":
		where = "TLS handshake refused by " + target.Name + "'s API (TLS alert)"
	default:
		return false, fmt.Sprintf("write to %s with the %s certificate of %s failed, but not by a refusal of its API (%v): not confirmed as refused", target.Name, kind, mat.Identity, werr)
	}
	stored := ""
	if lc, err := a.client(target.Name); err == nil {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, gerr := lc.Get(gctx, "drill-stolen", key, true)
		cancel()
		if gerr == nil {
			return false, fmt.Sprintf("write of drill-stolen/%s with the %s certificate failed (%v) but the key exists on %s", key, kind, werr, target.Name)
		}
		if errors.Is(gerr, api.ErrNotFound) {
			stored = "; nothing stored"
		}
	}
	return true, fmt.Sprintf("API write refused: %s: the %s certificate of %s (%v)%s", where, kind, mat.Identity, werr, stored)
}

// handshakeFailures scrapes the node's count of refused incoming
// handshakes from its metrics endpoint.
func handshakeFailures(ctx context.Context, addr string) (float64, error) {
	return scrapeCounter(ctx, addr, metricHandshakeFailures, `direction="in"`)
}

const metricHandshakeFailures = "jumeau_transport_handshake_failures_total"

// parseHandshakeFailures sums the Prometheus text samples of
// jumeau_transport_handshake_failures_total with direction="in".
func parseHandshakeFailures(r io.Reader) (float64, error) {
	return parseCounter(r, metricHandshakeFailures, `direction="in"`)
}

// scrapeCounter reads a node's metrics endpoint and sums the samples of
// metric that carry every one of labels (parseCounter).
func scrapeCounter(ctx context.Context, addr, metric string, labels ...string) (float64, error) {
	if addr == "" {
		return 0, fmt.Errorf("%w: no metrics address", ErrAttackFailed)
	}
	mctx, cancel := context.WithTimeout(ctx, attackStatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(mctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("%w: metrics of %s: %w", ErrAttackFailed, addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: metrics of %s: %w", ErrAttackFailed, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: metrics of %s: HTTP %d", ErrAttackFailed, addr, resp.StatusCode)
	}
	return parseCounter(io.LimitReader(resp.Body, 8<<20), metric, labels...)
}

// ---- helpers -----------------------------------------------------------

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// offset renders t from the drill's start ("+8.123s").
func offset(env *Env, t time.Time) string {
	if env.Start.IsZero() || t.IsZero() {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return "+" + t.Sub(env.Start).Round(time.Millisecond).String()
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
