package drill

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/replicator"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
	"github.com/monaco-sovereign/jumeau/transport/faultlink"
)

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// run runs the drill on the ready lab and measures it.
func (r *runner) run(ctx context.Context) (*report.Report, error) {
	sc := r.sc
	r.hist = history.New()
	r.start = r.hist.Start()
	r.runID = fmt.Sprintf("d%s%04x", r.start.UTC().Format("150405"), rand.Uint32()&0xffff)
	r.load = newLoadGen(r.log, sc.Load, r.runID, r.hist, r.clients, r.data)
	if _, primary, _ := r.watch.current(); primary != "" {
		r.load.setPreferred(primary)
	}
	r.pr.linef("drill %s: %s (%v, %d steps, load %g writes/s)", sc.Name, sc.Description, sc.Duration, len(sc.Faults)+len(sc.Attacks), sc.Load.Rate)

	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); r.watch.run(wctx, r.start) }()
	defer func() { stopWatch(); <-watchDone }()

	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		r.load.run(ctx, r.start.Add(sc.Load.Start), r.start.Add(sc.Load.Stop))
	}()

	actx, cancelAttacks := context.WithDeadline(ctx, r.start.Add(sc.Duration+attackGrace))
	defer cancelAttacks()
	var attackWG sync.WaitGroup
	for _, ev := range sc.Timeline() {
		if !sleepUntil(ctx, r.start.Add(ev.At)) {
			break
		}
		if ev.Action.IsAttack() {
			attackWG.Add(1)
			go func() {
				defer attackWG.Done()
				r.attack(actx, ev)
			}()
			continue
		}
		r.fault(ctx, ev)
	}
	sleepUntil(ctx, r.start.Add(sc.Duration))
	<-loadDone
	attackWG.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("drill %s: interrupted: %w", sc.Name, err)
	}
	r.heal(ctx)
	primary, err := r.waitPrimary(ctx)
	r.probes.Wait()
	stopWatch()
	<-watchDone
	r.pr.done()
	m := r.measure(ctx, primary, err)
	r.log.Debug("drill history", "summary", r.hist.Summary())
	if r.o.WritesFile != "" {
		if err := writeWrites(r.o.WritesFile, r.load.own.Writes()); err != nil {
			return nil, err
		}
	}
	return r.buildReport(m)
}

// attack runs one attack step through its executor.
func (r *runner) attack(ctx context.Context, ev scenarios.Event) {
	run := attackRun{step: ev, began: time.Now()}
	r.event(report.KindAttack, fmt.Sprintf("%s: %s", ev.Path, stepText(ev.Step)))
	if fn := attacks[ev.Action]; fn == nil {
		run.err = fmt.Errorf("%w %q (%s): this build has no attack executor for it", ErrNoAttack, ev.Action, ev.Path)
	} else {
		run.res, run.err = fn(ctx, r.env(), ev.Step)
	}
	run.end = time.Now()
	switch {
	case run.err != nil:
		r.event(report.KindNote, fmt.Sprintf("%s %s failed: %v", ev.Path, ev.Action, run.err))
	case run.res.Detected:
		r.event(report.KindAlarm, fmt.Sprintf("%s %s detected: %d attempt(s) refused", ev.Path, ev.Action, run.res.Refusals))
	default:
		r.event(report.KindNote, fmt.Sprintf("%s %s not detected (%d refusals)", ev.Path, ev.Action, run.res.Refusals))
	}
	r.mu.Lock()
	r.attackRes = append(r.attackRes, run)
	r.mu.Unlock()
}

// up reports whether a node runs and is not paused (for the selectors).
func (r *runner) up(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.killed[name] && !r.paused[name]
}

// freshLeader polls the sites for the cell leader, for up to 3 s while
// there is none (an election in progress).
func (r *runner) freshLeader(ctx context.Context) string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		var live []string
		for _, s := range r.sites {
			if r.up(s) {
				live = append(live, s)
			}
		}
		leader, _ := leaderOf(r.pollStatus(ctx, live), live)
		if leader != "" || time.Now().After(deadline) || ctx.Err() != nil {
			return leader
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fault applies one fault step.
func (r *runner) fault(ctx context.Context, ev scenarios.Event) {
	st := ev.Step
	if st.Action == scenarios.LinkFault {
		r.linkFault(ctx, ev)
		return
	}
	leader := ""
	for _, sel := range st.Nodes {
		if sel == scenarios.SelectLeader || sel == scenarios.SelectFollower || r.isSites(sel) {
			leader = r.freshLeader(ctx)
			break
		}
	}
	var names []string
	for _, sel := range st.Nodes {
		ns, err := r.sc.Topology.Resolve(sel, leader, r.up)
		if err != nil {
			r.event(report.KindNote, fmt.Sprintf("%s (%s): %v", ev.Path, stepText(st), err))
			continue
		}
		for _, n := range ns {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	_, primary, _ := r.watch.current()
	now := time.Now()
	var acted []string
	switch st.Action {
	case scenarios.Kill:
		// The fault is in effect once every SIGKILL is sent: a node the
		// step kills can still answer a write sent before its signal
		// (the kills go out concurrently, a few ms apart on a busy
		// machine), which must not count as the recovery.
		acted, now = r.killAll(ctx, names)
		if len(acted) > 0 {
			r.event(report.KindFault, fmt.Sprintf("SIGKILL %s", joinNames(acted)))
		}
	case scenarios.Pause:
		for _, n := range names {
			if !r.up(n) {
				continue
			}
			if err := r.lab.Pause(n); err != nil {
				r.event(report.KindNote, fmt.Sprintf("pause %s: %v", n, err))
				continue
			}
			r.mu.Lock()
			r.paused[n] = true
			r.mu.Unlock()
			acted = append(acted, n)
		}
		now = time.Now() // every node of the step is stopped (see Kill)
		if len(acted) > 0 {
			r.event(report.KindFault, fmt.Sprintf("SIGSTOP %s (hung)", joinNames(acted)))
		}
	case scenarios.Resume:
		for _, n := range names {
			r.mu.Lock()
			p := r.paused[n]
			r.mu.Unlock()
			if !p {
				continue
			}
			if err := r.lab.Resume(n); err != nil {
				r.event(report.KindNote, fmt.Sprintf("resume %s: %v", n, err))
				continue
			}
			r.mu.Lock()
			delete(r.paused, n)
			r.mu.Unlock()
			acted = append(acted, n)
		}
		if len(acted) > 0 {
			r.event(report.KindHeal, fmt.Sprintf("SIGCONT %s", joinNames(acted)))
		}
	case scenarios.Restart:
		for _, n := range names {
			r.mu.Lock()
			k := r.killed[n]
			r.mu.Unlock()
			if !k {
				continue
			}
			r.labMu.Lock()
			err := r.lab.Start(n)
			r.labMu.Unlock()
			if err != nil {
				r.event(report.KindNote, fmt.Sprintf("restart %s: %v", n, err))
				continue
			}
			r.mu.Lock()
			delete(r.killed, n)
			r.mu.Unlock()
			acted = append(acted, n)
		}
		if len(acted) > 0 {
			r.event(report.KindHeal, fmt.Sprintf("restart %s%s", joinNames(acted), onData(len(acted))))
		}
	}
	if len(acted) == 0 {
		r.event(report.KindNote, fmt.Sprintf("%s (%s): no node to act on", ev.Path, stepText(st)))
		return
	}
	r.hist.Fault(history.Fault{At: now, What: fmt.Sprintf("%s %s", st.Action, joinNames(acted)), Nodes: acted})
	if (st.Action == scenarios.Kill || st.Action == scenarios.Pause) &&
		(slices.Contains(acted, leader) || slices.Contains(acted, primary) || (leader == "" && primary == "")) {
		r.disrupt(ctx, disruption{at: now, what: fmt.Sprintf("%s %s", st.Action, joinNames(acted))})
	}
}

// disrupt records a disruptive fault and starts probing for the first
// write accepted after it: durability=cell writes of 64 bytes every
// probeEvery, moving through the data nodes on errors like the load's, so
// the RTO does not depend on the load's durability mix (a promoted twin
// cannot acknowledge durability=twin writes while no twin of its own is
// up). Probes are writes of the load's history: read back like the others.
func (r *runner) disrupt(ctx context.Context, d disruption) {
	r.mu.Lock()
	r.disrupted = append(r.disrupted, d)
	r.mu.Unlock()
	r.probes.Add(1)
	go func() {
		defer r.probes.Done()
		ns := r.sc.Load.Namespaces[0]
		deadline := time.Now().Add(r.sc.Duration + primaryTimeout)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			if _, ok := r.load.write(ctx, r.load.seq.Add(1), ns, replicator.DurabilityCell, 64); ok {
				return
			}
			sleepUntil(ctx, time.Now().Add(probeEvery))
		}
	}()
}

// isSites reports whether sel is "sites:N".
func (r *runner) isSites(sel scenarios.Selector) bool {
	_, ok := sel.SiteCount()
	return ok
}

// killAll SIGKILLs the named nodes that are up, at once, and waits until
// they are gone; it returns those it killed and when the last signal was
// sent (the moment none of them can take a new request).
func (r *runner) killAll(ctx context.Context, names []string) ([]string, time.Time) {
	var targets []string
	for _, n := range names {
		r.mu.Lock()
		k := r.killed[n]
		r.mu.Unlock()
		if !k && r.lab.Alive(n) {
			targets = append(targets, n)
		}
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, n := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.lab.Kill(n, syscall.SIGKILL)
		}()
	}
	wg.Wait()
	signalled := time.Now()
	var out []string
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i, n := range targets {
		if errs[i] != nil {
			r.event(report.KindNote, fmt.Sprintf("kill %s: %v", n, errs[i]))
			continue
		}
		if err := r.lab.WaitExit(wctx, n); err != nil {
			r.event(report.KindNote, fmt.Sprintf("kill %s: %v", n, err))
		}
		r.mu.Lock()
		r.killed[n] = true
		delete(r.paused, n)
		r.mu.Unlock()
		out = append(out, n)
	}
	return out, signalled
}

// baseline returns the faults lab up gave the link.
func (r *runner) baseline(name string) faultlink.Params {
	for _, s := range r.lab.Links.Links {
		if s.Name == name {
			return s.Params
		}
	}
	return faultlink.Params{}
}

// linkFault applies a link step.
func (r *runner) linkFault(ctx context.Context, ev scenarios.Event) {
	lc := ev.Link
	names := r.sc.Topology.Links(lc.Links)
	var failed []string
	for _, name := range names {
		p := faultlink.Params{Delay: lc.Delay, Jitter: lc.Jitter, Loss: lc.Loss, Bandwidth: lc.Bandwidth, Blackhole: lc.Blackhole}
		if lc.Heal {
			p = r.baseline(name)
		}
		if err := r.lab.SetLink(ctx, name, p); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
		}
	}
	now := time.Now()
	text := stepText(ev.Step)
	if lc.Heal {
		r.event(report.KindHeal, text)
	} else {
		r.event(report.KindFault, text)
	}
	if len(failed) > 0 {
		r.event(report.KindNote, fmt.Sprintf("%s: %d of %d links not changed: %s", ev.Path, len(failed), len(names), failed[0]))
	}
	if lc.Heal {
		return
	}
	r.hist.Fault(history.Fault{At: now, What: text})
	if lc.Blackhole && lc.Links != scenarios.LinkWAN {
		r.disrupt(ctx, disruption{at: now, what: text})
	}
}

// heal ends the drill's faults: paused nodes resumed, links back to their
// baseline, killed nodes restarted on their data.
func (r *runner) heal(ctx context.Context) {
	r.mu.Lock()
	paused := slices.Sorted(mapKeys(r.paused))
	killed := slices.Sorted(mapKeys(r.killed))
	r.mu.Unlock()
	for _, n := range paused {
		_ = r.lab.Resume(n)
	}
	err := r.lab.HealAll(ctx)
	for _, n := range killed {
		r.labMu.Lock()
		serr := r.lab.Start(n)
		r.labMu.Unlock()
		if serr != nil {
			r.event(report.KindNote, fmt.Sprintf("restart %s: %v", n, serr))
		}
	}
	r.mu.Lock()
	r.paused, r.killed = map[string]bool{}, map[string]bool{}
	r.mu.Unlock()
	text := "drill over: links healed"
	if len(paused) > 0 {
		text += "; resumed " + joinNames(paused)
	}
	if len(killed) > 0 {
		text += "; restarted " + joinNames(killed) + onData(len(killed))
	}
	if err != nil {
		text += fmt.Sprintf(" (heal: %v)", err)
	}
	r.event(report.KindHeal, text)
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// waitPrimary sends probe writes until one is acknowledged and returns the
// node that holds the primary then (the promoted node, or the cell
// leader), for the read-back.
func (r *runner) waitPrimary(ctx context.Context) (string, error) {
	deadline := time.Now().Add(primaryTimeout)
	ns := r.sc.Load.Namespaces[0]
	for {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no node accepted a write within %v after the drill", primaryTimeout)
		}
		seq := r.load.seq.Add(1)
		if _, ok := r.load.write(ctx, seq, ns, replicator.DurabilityCell, 64); ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		sts := r.watch.observe(ctx)
		if fs := epochStatus(sts); fs != nil && fs.PrimaryNode != "" {
			return fs.PrimaryNode, nil
		}
		if l, _ := leaderOf(sts, r.sites); l != "" {
			return l, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("a write was accepted, but no node says it is the primary (no promoted node, no cell leader)")
}

// stepText is a step without its offset: "link wan blackhole".
func stepText(st scenarios.Step) string {
	return strings.TrimPrefix(st.String(), st.At.String()+" ")
}

// onData is " on its data" or " on their data".
func onData(n int) string {
	if n == 1 {
		return " on its data"
	}
	return " on their data"
}
