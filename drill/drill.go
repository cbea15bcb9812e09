package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/monaco-sovereign/jumeau/api"
	"github.com/monaco-sovereign/jumeau/history"
	"github.com/monaco-sovereign/jumeau/lab"
	"github.com/monaco-sovereign/jumeau/report"
	"github.com/monaco-sovereign/jumeau/scenarios"
)

// Errors returned by Run. A drill that ran and did not pass is not an
// error: its report says so (Report.Passed).
var (
	// ErrOptions: Options are incomplete or out of range.
	ErrOptions = errors.New("drill: bad options")
	// ErrLab: the lab in Options.Dir cannot run this scenario (another
	// topology, or a twin left primary by an earlier drill) or did not
	// come up.
	ErrLab = errors.New("drill: lab not usable")
	// ErrNoAttack: no executor is registered for an attack step.
	ErrNoAttack = errors.New("drill: no executor for this attack")
)

// Env is what a step executor gets.
type Env struct {
	Lab    *lab.Lab
	Rec    *history.History
	Logger *slog.Logger
	// Start is the drill's start: step offsets count from it.
	Start time.Time
	// Events marks an event on the report's timeline (kind: fault,
	// attack, promotion, election, alarm, heal, note) and shows it in the
	// progress.
	Events func(kind, text string)
}

// AttackResult is what an attack step reports.
type AttackResult struct {
	Detected bool
	Findings []string
	Refusals int
	// Checks are the step's own checks, computed from what it observed;
	// the report lists them after the scenario's expectations, each name
	// prefixed with the step ("attacks[0].rogue-peer.leader_unchanged"),
	// and a failed one fails the drill.
	Checks []AttackCheck
}

// AttackCheck is one check of an attack step, as the report shows it.
type AttackCheck struct {
	Name     string
	Expected string
	Measured string
	Passed   bool
}

// attacks are the attack executors, implemented in attack.go by the
// attack engineer.
var attacks = map[scenarios.Action]func(ctx context.Context, env *Env, step scenarios.Step) (AttackResult, error){}

// Options configure Run.
type Options struct {
	// Dir is the lab directory; Run creates the lab there if it has none.
	Dir string
	// Binary is the jumeau binary the lab runs.
	Binary string
	// Scenario is the drill to run (parsed and validated).
	Scenario *scenarios.Scenario
	// ScenarioSource is the scenario as read: the bytes of the YAML file,
	// or a built-in's source (scenarios.BuiltinSource). Its SHA-256 goes
	// in the report, for an auditor to match against the file.
	ScenarioSource []byte
	// Operator is who runs the drill; nil: the identity of the lab's
	// client certificate (the one the load writes with), with the OS user.
	Operator *report.Operator
	// Scale multiplies every offset and duration of the timeline (and
	// the load's start and stop), e.g. 0.5 for a drill of half the
	// length; 0 means 1. The expectations are not scaled.
	Scale float64
	// Progress receives progress lines (nil: none). On a terminal the
	// rate line is rewritten in place.
	Progress io.Writer
	// Logger receives debug logs (nil: discarded).
	Logger *slog.Logger
	// Keep leaves the lab's processes running at the end.
	Keep bool
	// WritesFile, if set, receives the load's write history as JSON lines
	// {key, node, durability, acked, wal_index, sent, done} (tests check the
	// measured RPO against it).
	WritesFile string
	// Version is the jumeau version written in the report.
	Version string
}

// Limits and timings of the runner.
const (
	// sampleEvery is the period of the samples and of the status polls.
	sampleEvery = 250 * time.Millisecond
	// writeTimeout bounds one write of the load.
	writeTimeout = 2 * time.Second
	// statusTimeout bounds one status request.
	statusTimeout = 400 * time.Millisecond
	// restartTimeout bounds the wait for a leader when an existing lab
	// starts again.
	restartTimeout = 30 * time.Second
	// readyTimeout bounds the wait for the lab to be ready.
	readyTimeout = 60 * time.Second
	// primaryTimeout bounds the wait for a primary after the timeline.
	primaryTimeout = 60 * time.Second
	// convergeTimeout bounds the wait for the nodes to converge.
	convergeTimeout = 45 * time.Second
	// probeEvery is the period of the recovery probes.
	probeEvery = 25 * time.Millisecond
	// attackGrace is how long attacks may run past the timeline.
	attackGrace = 60 * time.Second
	// maxScale bounds Options.Scale.
	maxScale = 100
)

// Run runs the scenario on the lab in o.Dir and returns its report. The
// error is for a drill that could not run (bad options, a lab that does
// not come up); a drill that ran and failed its checks returns its report
// with Passed false and a nil error. The report is finished (Finish) and
// valid.
func Run(ctx context.Context, o Options) (*report.Report, error) {
	if o.Scenario == nil {
		return nil, fmt.Errorf("%w: no scenario (Options.Scenario)", ErrOptions)
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: no lab directory (Options.Dir, --lab DIR)", ErrOptions)
	}
	if len(o.ScenarioSource) == 0 {
		return nil, fmt.Errorf("%w: no scenario source (Options.ScenarioSource): the report records its SHA-256", ErrOptions)
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if !(o.Scale > 0 && o.Scale <= maxScale) {
		return nil, fmt.Errorf("%w: scale %g: use a factor above 0 and at most %d (0.5 halves every offset)", ErrOptions, o.Scale, maxScale)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sc, err := Scaled(o.Scenario, o.Scale)
	if err != nil {
		return nil, err
	}
	pr := newProgress(o.Progress)
	r := &runner{o: o, sc: sc, log: o.Logger, pr: pr, killed: map[string]bool{}, paused: map[string]bool{}}
	defer r.closeClients()
	l, err := r.setupLab(ctx)
	if l != nil && !o.Keep {
		defer func() {
			for _, n := range l.Nodes {
				_ = l.Resume(n.Name)
			}
			_ = l.Down(5 * time.Second)
			pr.linef("lab stopped (data kept in %s)", l.Dir)
		}()
	}
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// Scaled returns a copy of s with every offset and duration of its
// timeline multiplied by f (offsets rounded to the millisecond); the
// expectations are unchanged.
func Scaled(s *scenarios.Scenario, f float64) (*scenarios.Scenario, error) {
	if !(f > 0 && f <= maxScale) {
		return nil, fmt.Errorf("%w: scale %g: use a factor above 0 and at most %d", ErrOptions, f, maxScale)
	}
	mul := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * f).Round(time.Millisecond)
	}
	c := *s
	c.Duration = max(mul(s.Duration), time.Millisecond)
	c.Load.Start, c.Load.Stop = mul(s.Load.Start), mul(s.Load.Stop)
	c.Load.Stop = min(max(c.Load.Stop, c.Load.Start+time.Millisecond), c.Duration)
	c.Faults = scaleSteps(s.Faults, mul, c.Duration)
	c.Attacks = scaleSteps(s.Attacks, mul, c.Duration)
	return &c, nil
}

func scaleSteps(in []scenarios.Step, mul func(time.Duration) time.Duration, d time.Duration) []scenarios.Step {
	out := make([]scenarios.Step, len(in))
	for i, st := range in {
		st.At = min(mul(st.At), d-time.Millisecond)
		out[i] = st
	}
	return out
}

// runner is one drill in progress.
type runner struct {
	o   Options
	sc  *scenarios.Scenario
	log *slog.Logger
	pr  *progress

	lab     *lab.Lab
	labMu   sync.Mutex // lab.Start writes the node's pid
	clients map[string]*api.Client
	all     []string // every node
	sites   []string // site names
	twin    string   // the twin's name, "" without
	data    []string // the nodes holding data: sites and twin
	runID   string

	hist  *history.History
	start time.Time
	load  *loadGen
	watch *watcher

	mu         sync.Mutex
	events     []timedEvent
	killed     map[string]bool
	paused     map[string]bool
	disrupted  []disruption
	attackRes  []attackRun
	probes     sync.WaitGroup // recovery probes after disruptions
	startEpoch uint64
}

// timedEvent is one event for the report's timeline.
type timedEvent struct {
	at   time.Time
	kind report.EventKind
	text string
}

// disruption is a fault that interrupts writes: RTO is measured from it.
type disruption struct {
	at   time.Time
	what string
}

// attackRun is one attack step and its outcome.
type attackRun struct {
	step       scenarios.Event
	began, end time.Time
	res        AttackResult
	err        error
}

// event records an event and prints it.
func (r *runner) event(kind report.EventKind, text string) {
	now := time.Now()
	r.mu.Lock()
	r.events = append(r.events, timedEvent{at: now, kind: kind, text: text})
	r.mu.Unlock()
	r.pr.linef("[%6.1fs] %-9s %s", now.Sub(r.start).Seconds(), kind, text)
}

// env is the Env of the attack executors.
func (r *runner) env() *Env {
	return &Env{
		Lab: r.lab, Rec: r.hist, Logger: r.log, Start: r.start,
		Events: func(kind, text string) {
			k := report.EventKind(kind)
			if !k.Valid() {
				k = report.KindNote
			}
			r.event(k, text)
		},
	}
}

func (r *runner) closeClients() {
	for _, c := range r.clients {
		c.Close()
	}
}
