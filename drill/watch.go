package drill

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/node"
	"github.com/monaco-sovereign/jumeau/report"
)

// pollStatus asks every named node for its status at once; a node that
// does not answer within statusTimeout is absent from the result.
func (r *runner) pollStatus(ctx context.Context, names []string) map[string]*node.Status {
	out := map[string]*node.Status{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		c := r.clients[name]
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st node.Status
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			if err := c.Status(sctx, &st); err != nil {
				return
			}
			mu.Lock()
			out[name] = &st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// leaderOf returns the site that is the cell's leader in sts (the highest
// term if several claim it), "" if none.
func leaderOf(sts map[string]*node.Status, sites []string) (string, uint64) {
	var leader string
	var term uint64
	for _, s := range sites {
		st := sts[s]
		if st == nil || st.Cell == nil || st.Cell.RaftState != "Leader" {
			continue
		}
		if st.Failover != nil && st.Failover.Mode != "" && st.Failover.Mode != "cell" {
			continue // a demoted site restarting as a replica
		}
		if leader == "" || st.Cell.Term > term {
			leader, term = s, st.Cell.Term
		}
	}
	return leader, term
}

// epochOf is the epoch a failover status reports, with the nodes that may
// write in it: the promoted node, or the sites of the primary region.
func epochOf(fs *node.FailoverStatus, sites []string) history.Epoch {
	e := history.Epoch{Epoch: fs.Epoch, Began: fs.Changed}
	switch {
	case fs.PrimaryNode != "":
		e.Writers = []string{fs.PrimaryNode}
	case fs.PrimaryRegion == lab.PrimaryRegion:
		e.Writers = slices.Clone(sites)
	case fs.PrimaryRegion == lab.TwinRegion:
		e.Writers = []string{lab.TwinName}
	}
	return e
}

// epochStatus returns the failover status that holds the region epoch:
// the witness's, else the newest epoch any node reports.
func epochStatus(sts map[string]*node.Status) *node.FailoverStatus {
	if w := sts[lab.WitnessName]; w != nil && w.Failover != nil {
		return w.Failover
	}
	var best *node.FailoverStatus
	for _, st := range sts {
		if st.Failover != nil && (best == nil || st.Failover.Epoch > best.Epoch) {
			best = st.Failover
		}
	}
	return best
}

// watcher samples the drill every sampleEvery and marks the events it
// sees in the nodes' status.
type watcher struct {
	r *runner

	mu      sync.Mutex
	samples []timedSample
	leader  string
	primary string // the node that takes writes: the leader, or the promoted node
	epoch   uint64
	refused uint64
	seen    bool // observed once: the refusals counted before the drill are the baseline
	last    sampleCounts
}

// timedSample is one sample for the report's timeline.
type timedSample struct {
	at time.Time
	s  report.Sample
}

type sampleCounts struct {
	at            time.Time
	acked, failed int64
}

// observe polls every node once and updates the watcher's view: leader,
// primary, epoch, alarms. It records epochs in the history.
func (w *watcher) observe(ctx context.Context) map[string]*node.Status {
	r := w.r
	sts := r.pollStatus(ctx, r.all)
	leader, term := leaderOf(sts, r.sites)
	fs := epochStatus(sts)
	w.mu.Lock()
	defer w.mu.Unlock()
	if leader != "" && leader != w.leader {
		if w.leader != "" {
			r.event(report.KindElection, fmt.Sprintf("%s is the cell leader (term %d)", leader, term))
		}
		w.leader = leader
	}
	if fs != nil && fs.Epoch > 0 {
		if r.hist != nil {
			r.hist.EpochBegan(epochOf(fs, r.sites))
		}
		if w.epoch != 0 && fs.Epoch > w.epoch {
			who := fs.PrimaryNode
			if who == "" {
				who = "region " + fs.PrimaryRegion
			}
			r.event(report.KindPromotion, fmt.Sprintf("epoch %d: %s is the primary (region %s)", fs.Epoch, who, fs.PrimaryRegion))
		}
		w.epoch = max(w.epoch, fs.Epoch)
	}
	primary := leader
	if fs != nil && fs.PrimaryNode != "" {
		primary = fs.PrimaryNode
	}
	if primary != "" && primary != w.primary {
		w.primary = primary
		if r.load != nil {
			r.load.setPreferred(primary)
		}
	}
	if tw := sts[lab.TwinName]; tw != nil && tw.Twin != nil {
		if w.seen && tw.Twin.Refused > w.refused {
			r.event(report.KindAlarm, fmt.Sprintf("%s refused %d batch(es): %s", lab.TwinName, tw.Twin.Refused-w.refused, tw.Twin.Alarm))
		}
		w.refused = max(w.refused, tw.Twin.Refused)
	}
	w.seen = true
	return sts
}

// sample records one sample: rates since the last one and the twin's lag
// as the leader reports it.
func (w *watcher) sample(now time.Time, sts map[string]*node.Status) {
	r := w.r
	_, acked, failed := r.load.totals()
	w.mu.Lock()
	defer w.mu.Unlock()
	dt := now.Sub(w.last.at).Seconds()
	s := report.Sample{}
	if !w.last.at.IsZero() && dt > 0 {
		s.AckedPerSec = float64(acked-w.last.acked) / dt
		s.FailedPerSec = float64(failed-w.last.failed) / dt
	}
	if w.leader != "" && w.primary == w.leader {
		if st := sts[w.leader]; st != nil && st.Cell != nil && st.Cell.Ship != nil && st.Cell.Ship.Active {
			s.LagMs = report.Lag(st.Cell.Ship.LagSeconds * 1000)
		}
	}
	if !w.last.at.IsZero() {
		w.samples = append(w.samples, timedSample{at: now, s: s})
	}
	w.last = sampleCounts{at: now, acked: acked, failed: failed}
}

// run samples until ctx ends; the first sample is at start.
func (w *watcher) run(ctx context.Context, start time.Time) {
	next := start
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		sts := w.observe(ctx)
		w.sample(time.Now(), sts)
		w.r.pr.status(w.statusLine())
		next = next.Add(sampleEvery)
		for time.Until(next) < 0 {
			next = next.Add(sampleEvery)
		}
	}
}

// statusLine is the progress line of the last sample.
func (w *watcher) statusLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) == 0 {
		return ""
	}
	s := w.samples[len(w.samples)-1]
	lag := "lag -"
	if s.s.LagMs != nil {
		lag = fmt.Sprintf("lag %.0fms", *s.s.LagMs)
	}
	primary := w.primary
	if primary == "" {
		primary = "none"
	}
	return fmt.Sprintf("[%6.1fs] writes %5.0f/s acked, %4.0f/s failed, %s, primary %s, epoch %d",
		s.at.Sub(w.r.start).Seconds(), s.s.AckedPerSec, s.s.FailedPerSec, lag, primary, w.epoch)
}

// current returns the leader and the primary last seen.
func (w *watcher) current() (leader, primary string, epoch uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.leader, w.primary, w.epoch
}
