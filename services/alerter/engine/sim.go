package engine

import (
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// DefaultTick is how often the alerter judges what no event decides.
const DefaultTick = time.Second

// Simulation runs rules over a sequence of events on a simulated clock
// that follows the events' own times, ticking in between: `jetlog rules
// test` and the rules' own tests run it, and so does a scheduled query,
// over the documents it reads from OpenSearch.
type Simulation struct {
	e      *Engine
	ix     *rule.Index
	now    time.Time
	tick   time.Duration
	out    []alert.Alert
	buf    []*rule.Rule
	Errors int // events a rule's condition failed on
}

// NewSimulation starts a simulation at start.
func NewSimulation(rules []*rule.Rule, o Options, start time.Time, tick time.Duration) *Simulation {
	if tick <= 0 {
		tick = DefaultTick
	}
	s := &Simulation{e: New(o), ix: rule.NewIndex(withStream(rules)), now: start, tick: tick}
	s.out = s.e.SetRules(rules, start)
	return s
}

// withStream returns the rules with their stream evaluation on, since a
// simulation replays what the stream would have seen.
func withStream(rules []*rule.Rule) []*rule.Rule {
	out := make([]*rule.Rule, len(rules))
	for i, r := range rules {
		c := *r
		c.Stream = true
		out[i] = &c
	}
	return out
}

// Engine returns the simulation's engine.
func (s *Simulation) Engine() *Engine { return s.e }

// Event advances the clock to the event's time (never backwards: an event
// older than the clock arrives late, as on the stream) and applies it to
// every rule it matches.
func (s *Simulation) Event(ev *event.Event) {
	s.AdvanceTo(ev.Timestamp)
	env := eventexpr.EnvOf(ev)
	s.buf = s.ix.Candidates(ev, s.buf[:0])
	for _, r := range s.buf {
		ok, err := r.Matches(ev, &env)
		if err != nil {
			s.Errors++
			continue
		}
		if ok {
			s.out = append(s.out, s.e.Apply(NewHit(s.e.Rule(r.Name), ev), 0)...)
		}
	}
}

// AdvanceTo ticks the clock forward to t.
func (s *Simulation) AdvanceTo(t time.Time) {
	for !s.now.Add(s.tick).After(t) {
		s.now = s.now.Add(s.tick)
		s.out = append(s.out, s.e.Tick(s.now)...)
	}
	if t.After(s.now) {
		s.now = t
		s.out = append(s.out, s.e.Tick(s.now)...)
	}
}

// Alerts returns every transition so far, in order.
func (s *Simulation) Alerts() []alert.Alert { return s.out }
