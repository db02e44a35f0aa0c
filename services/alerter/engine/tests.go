package engine

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// TestTime is when a test's events begin when the first gives no
// @timestamp, so results do not depend on when the tests run.
var TestTime = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// TestResult is the outcome of one rule test.
type TestResult struct {
	Rule, File, Test string
	// Alerts are the transitions the test's events raised.
	Alerts []alert.Alert
	// Failures say how they differ from what was expected.
	Failures []string
}

// Passed reports whether the test passed.
func (r TestResult) Passed() bool { return len(r.Failures) == 0 }

// RunTests runs a rule's own tests.
func RunTests(r *rule.Rule) []TestResult {
	out := make([]TestResult, 0, len(r.Tests))
	for _, t := range r.Tests {
		res := TestResult{Rule: r.Name, File: r.File, Test: t.Name}
		evs, err := TestEvents(t.Events)
		if err != nil {
			res.Failures = []string{err.Error()}
			out = append(out, res)
			continue
		}
		res.Alerts = Replay(r, evs, t.Until)
		res.Failures = compare(t.Expect, res.Alerts, start(evs))
		out = append(out, res)
	}
	return out
}

func start(evs []*event.Event) time.Time {
	if len(evs) == 0 {
		return TestTime
	}
	return evs[0].Timestamp
}

// Replay runs one rule over events in the order given, then the clock on
// for until after the last, and returns the transitions.
func Replay(r *rule.Rule, evs []*event.Event, until time.Duration) []alert.Alert {
	return ReplayRules([]*rule.Rule{r}, evs, until).Alerts()
}

// ReplayRules runs rules over events in the order given, then the clock on
// for until after the last, and returns the finished simulation.
func ReplayRules(rules []*rule.Rule, evs []*event.Event, until time.Duration) *Simulation {
	t0 := start(evs)
	sim := NewSimulation(rules, Options{}, t0, DefaultTick)
	last := t0
	for _, ev := range evs {
		sim.Event(ev)
		if ev.Timestamp.After(last) {
			last = ev.Timestamp
		}
	}
	sim.AdvanceTo(last.Add(until))
	return sim
}

// TestEvents builds the events of a test from their JSON shape: an event
// without @timestamp comes a second after the one before, an event without
// id gets one, and the keys count and every repeat an event.
func TestEvents(in []map[string]any) ([]*event.Event, error) {
	var out []*event.Event
	next := TestTime
	for i, m := range in {
		count, every := 1, time.Second
		body := map[string]any{}
		for k, v := range m {
			switch k {
			case "count":
				n, ok := v.(int)
				if f, isFloat := v.(float64); isFloat && f == float64(int(f)) {
					n, ok = int(f), true
				}
				if !ok || n < 1 || n > 1_000_000 {
					return nil, fmt.Errorf("events[%d].count: %v is not a count 1..1000000", i, v)
				}
				count = n
			case "every":
				s, _ := v.(string)
				d, err := time.ParseDuration(s)
				if err != nil || d < 0 {
					return nil, fmt.Errorf("events[%d].every: %v is not a duration", i, v)
				}
				every = d
			default:
				body[k] = v
			}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %w", i, err)
		}
		for j := range count {
			var ev event.Event
			if err := json.Unmarshal(b, &ev); err != nil {
				return nil, fmt.Errorf("events[%d]: %w", i, err)
			}
			if ev.Timestamp.IsZero() {
				ev.Timestamp = next
			} else {
				ev.Timestamp = ev.Timestamp.Add(time.Duration(j) * every)
			}
			if ev.ID == "" || count > 1 {
				ev.ID = fmt.Sprintf("%s%d.%d", orDefault(ev.ID, "test-"), i, j)
			}
			next = ev.Timestamp.Add(every)
			out = append(out, &ev)
		}
	}
	return out, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ParseTestTime reads an expected time: RFC 3339, or an offset from the
// test's first event such as +90s.
func ParseTestTime(s string, t0 time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(s, "+"); ok {
		off, err := time.ParseDuration(d)
		return t0.Add(off), err
	}
	return time.Parse(time.RFC3339Nano, s)
}

func compare(want []rule.Expect, got []alert.Alert, t0 time.Time) []string {
	var fails []string
	if len(want) != len(got) {
		fails = append(fails, fmt.Sprintf("%d transitions, want %d:\n%s", len(got), len(want), Describe(got, t0)))
		return fails
	}
	for i, w := range want {
		g := got[i]
		if string(g.State) != w.State {
			fails = append(fails, fmt.Sprintf("transition %d: state %s, want %s", i+1, g.State, w.State))
		}
		for k, v := range w.Group {
			if g.Group[k] != v {
				fails = append(fails, fmt.Sprintf("transition %d: group %s = %q, want %q", i+1, k, g.Group[k], v))
			}
		}
		for name, spec := range map[string]string{"starts_at": w.StartsAt, "at": w.At} {
			if spec == "" {
				continue
			}
			wt, err := ParseTestTime(spec, t0)
			if err != nil {
				fails = append(fails, fmt.Sprintf("transition %d: %s %q: %v", i+1, name, spec, err))
				continue
			}
			gt := g.StartsAt
			if name == "at" {
				gt = g.At
			}
			if !gt.Equal(wt) {
				fails = append(fails, fmt.Sprintf("transition %d: %s %s, want %s", i+1, name, gt.UTC().Format(time.RFC3339Nano), wt.UTC().Format(time.RFC3339Nano)))
			}
		}
	}
	return fails
}

// Describe lists transitions one per line, with times as offsets from t0.
func Describe(as []alert.Alert, t0 time.Time) string {
	var b strings.Builder
	for _, a := range as {
		keys := make([]string, 0, len(a.Group))
		for k := range a.Group {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var g []string
		for _, k := range keys {
			g = append(g, k+"="+a.Group[k])
		}
		fmt.Fprintf(&b, "  +%-8v %-9s %s {%s} value=%g startsAt=+%v  %s\n", a.At.Sub(t0), a.State, a.Rule, strings.Join(g, " "),
			a.Value, a.StartsAt.Sub(t0), a.Annotations["summary"])
	}
	return b.String()
}
