package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func compile(t *testing.T, src string) *rule.Rule {
	t.Helper()
	r, err := rule.Compile("test.yaml", []byte(src), rule.DefaultOptions())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return r
}

// ev is an event at t0+at from host with attributes.
func ev(at time.Duration, host string, attrs ...any) *event.Event {
	e := &event.Event{ID: fmt.Sprintf("%s-%v-%v", host, at, attrs), Timestamp: t0.Add(at), Source: "web", Body: "GET /x",
		Severity: event.Severity{Text: "ERROR", Number: 17}, Resource: map[string]any{"host.name": host}, Attributes: map[string]any{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Attributes[attrs[i].(string)] = attrs[i+1]
	}
	return e
}

// series returns n events of host, every d apart from start.
func series(start time.Duration, n int, d time.Duration, host string, attrs ...any) []*event.Event {
	var out []*event.Event
	for i := range n {
		out = append(out, ev(start+time.Duration(i)*d, host, attrs...))
	}
	return out
}

func cat(evs ...[]*event.Event) []*event.Event {
	var out []*event.Event
	for _, e := range evs {
		out = append(out, e...)
	}
	return out
}

// want is a transition: state, host (the group, "" for none) and when.
type want struct {
	state alert.State
	host  string
	at    time.Duration
}

func (w want) String() string { return fmt.Sprintf("%s %s at +%v", w.state, w.host, w.at) }

type ruleCase struct {
	name   string
	rule   string
	events []*event.Event
	until  time.Duration
	want   []want
}

func run(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := compile(t, c.rule)
			got := engine.Replay(r, c.events, c.until)
			start := t0
			if len(c.events) == 0 {
				start = engine.TestTime
			}
			var g []string
			for _, a := range got {
				g = append(g, want{a.State, a.Group["resource.host.name"], a.At.Sub(start)}.String())
			}
			var w []string
			for _, x := range c.want {
				w = append(w, x.String())
			}
			if strings.Join(g, "\n") != strings.Join(w, "\n") {
				t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		})
	}
}

const byHost = "group_by: [resource.host.name]\n"

func TestAny(t *testing.T) {
	run(t, []ruleCase{
		{name: "fires on the first match per group and resolves after quiet", rule: "type: any\nresolve_after: 1m\n" + byHost,
			events: cat(series(0, 3, time.Second, "a"), series(10*time.Second, 1, 0, "b")), until: 5 * time.Minute,
			want: []want{{"firing", "a", 0}, {"firing", "b", 10 * time.Second},
				{"resolved", "a", 2*time.Second + time.Minute}, {"resolved", "b", 10*time.Second + time.Minute}}},
		{name: "an event the match clause refuses raises nothing", rule: "type: any\nmatch: {fields: {attributes.status: 500}}\n",
			events: []*event.Event{ev(0, "a", "status", 200.0)}, until: time.Hour},
		{name: "a match keeps it firing", rule: "type: any\nresolve_after: 1m\n",
			events: series(0, 5, 50*time.Second, "a"), until: 2 * time.Minute,
			want: []want{{"firing", "", 0}, {"resolved", "", 200*time.Second + time.Minute}}},
	})
}

func TestFrequency(t *testing.T) {
	const rl = "type: frequency\nwindow: 1m\nthreshold: 3\nresolve_after: 0s\nlateness: 10s\n" + byHost
	run(t, []ruleCase{
		{name: "fires on the event that crosses the threshold", rule: rl,
			events: series(0, 5, 10*time.Second, "a"), until: 3 * time.Minute,
			// the third event (+20s) crosses; the window (t-1m, t] drops below 3 at +80s (ticks judge at now-lateness)
			want: []want{{"firing", "a", 20 * time.Second}, {"resolved", "a", 80 * time.Second}}},
		{name: "below the threshold nothing fires", rule: rl,
			events: series(0, 2, 10*time.Second, "a"), until: 3 * time.Minute},
		{name: "window edge: an event exactly one window before does not count", rule: rl,
			events: cat(series(0, 1, 0, "a"), series(30*time.Second, 1, 0, "a"), series(60*time.Second, 1, 0, "a")), until: time.Minute},
		{name: "window edge: one nanosecond inside counts", rule: rl,
			events: cat(series(0, 1, 0, "a"), series(30*time.Second, 1, 0, "a"), series(60*time.Second-time.Nanosecond, 1, 0, "a")), until: 0,
			want: []want{{"firing", "a", 60*time.Second - time.Nanosecond}}},
		{name: "groups count apart", rule: rl,
			events: cat(series(0, 2, time.Second, "a"), series(0, 2, time.Second, "b"), series(5*time.Second, 1, 0, "b")), until: 0,
			want: []want{{"firing", "b", 5 * time.Second}}},
		{name: "an out-of-order event within lateness counts", rule: rl,
			events: []*event.Event{ev(20*time.Second, "a"), ev(25*time.Second, "a"), ev(15*time.Second, "a")}, until: 0,
			// the late event completes the window that ends at the newest one
			want: []want{{"firing", "a", 25 * time.Second}}},
		{name: "an event later than lateness is ignored", rule: rl,
			events: []*event.Event{ev(20*time.Second, "a"), ev(40*time.Second, "a"), ev(5*time.Second, "a")}, until: 0},
	})
}

func TestFrequencyPendingThenFiring(t *testing.T) {
	run(t, []ruleCase{
		{name: "for: pending first, firing once held long enough", rule: "type: frequency\nwindow: 1m\nthreshold: 2\nfor: 20s\nlateness: 0s\nresolve_after: 0s\n",
			events: series(0, 10, 5*time.Second, "a"), until: 2 * time.Minute,
			want: []want{{"pending", "", 5 * time.Second}, {"firing", "", 25 * time.Second}, {"resolved", "", 100 * time.Second}}},
		{name: "for: a condition that stops while pending never fires", rule: "type: frequency\nwindow: 10s\nthreshold: 2\nfor: 1m\nlateness: 0s\n",
			events: series(0, 2, time.Second, "a"), until: time.Minute,
			want: []want{{"pending", "", time.Second}, {"resolved", "", 10 * time.Second}}},
	})
}

func TestSpike(t *testing.T) {
	const up = "type: spike\nwindow: 1m\nspike: {ratio: 3, direction: up, min_count: 5}\nlateness: 0s\nresolve_after: 0s\n"
	run(t, []ruleCase{
		{name: "three times the previous window fires", rule: up,
			events: cat(series(0, 4, 15*time.Second, "a"), series(60*time.Second, 4, 15*time.Second, "a"), series(120*time.Second, 12, 4*time.Second, "a")), until: 0,
			// counted at 3s resolution: 12 events now against 4 the minute before
			want: []want{{"firing", "", 160 * time.Second}}},
		{name: "a steady rate does not", rule: up,
			events: series(0, 60, 3*time.Second, "a"), until: 0},
		{name: "down: a drop fires on the timer", rule: "type: spike\nwindow: 1m\nspike: {ratio: 4, direction: down, min_count: 8}\nlateness: 0s\nresolve_after: 0s\n",
			events: cat(series(0, 40, 3*time.Second, "a"), series(120*time.Second, 1, 0, "a")), until: time.Minute,
			// 5 events in the minute to 165s against 20 in the minute before
			want: []want{{"firing", "", 165 * time.Second}}},
	})
}

func TestFlatline(t *testing.T) {
	const rl = "type: flatline\nwindow: 1m\nthreshold: 1\nlateness: 0s\nresolve_after: 0s\n"
	run(t, []ruleCase{
		{name: "a group that goes silent fires on the timer, with no event", rule: rl + byHost,
			events: cat(series(0, 10, 10*time.Second, "a"), series(0, 20, 10*time.Second, "b")), until: 2 * time.Minute,
			want: []want{{"firing", "a", 150 * time.Second}, {"firing", "b", 250 * time.Second}}},
		{name: "it resolves when events come back", rule: rl + byHost,
			events: cat(series(0, 1, 0, "a"), series(3*time.Minute, 1, 0, "a")), until: 2 * time.Second,
			// the tick after the event judges it
			want: []want{{"firing", "a", 60 * time.Second}, {"resolved", "a", 3*time.Minute + time.Second}}},
		{name: "without groups it fires even if no event ever comes", rule: rl,
			events: nil, until: 90 * time.Second,
			want: []want{{"firing", "", 60 * time.Second}}},
		{name: "steady events never fire", rule: rl,
			events: series(0, 30, 10*time.Second, "a"), until: 0},
	})
}

func TestChange(t *testing.T) {
	const rl = "type: change\nfield: attributes.version\nresolve_after: 1m\n" + byHost
	run(t, []ruleCase{
		{name: "a new value fires, the same does not", rule: rl,
			events: []*event.Event{ev(0, "a", "version", "1.0"), ev(10*time.Second, "a", "version", "1.0"), ev(20*time.Second, "a", "version", "1.1"),
				ev(30*time.Second, "b", "version", "2.0")},
			until: 2 * time.Minute,
			want:  []want{{"firing", "a", 20 * time.Second}, {"resolved", "a", 80 * time.Second}}},
		{name: "an older event is no change", rule: rl,
			events: []*event.Event{ev(10*time.Second, "a", "version", "1.1"), ev(5*time.Second, "a", "version", "1.0")}},
	})
}

func TestNewTerm(t *testing.T) {
	const rl = "type: new_term\nfields: [attributes.user]\nnew_term: {learning_period: 1m, seed_lookback: 0s}\nresolve_after: 1m\n"
	run(t, []ruleCase{
		{name: "terms seen while learning are known, a new one later fires", rule: rl,
			events: []*event.Event{ev(0, "a", "user", "ann"), ev(30*time.Second, "a", "user", "bob"), ev(2*time.Minute, "a", "user", "ann"),
				ev(3*time.Minute, "a", "user", "eve"), ev(3*time.Minute+time.Second, "a", "user", "eve")},
			until: 2 * time.Minute,
			// eve again is no longer new: the alert resolves a minute after it was
			want: []want{{"firing", "", 3 * time.Minute}, {"resolved", "", 4 * time.Minute}}},
	})
	r := compile(t, rl)
	got := engine.Replay(r, []*event.Event{ev(0, "a", "user", "ann"), ev(2*time.Minute, "a", "user", "eve")}, 0)
	if len(got) != 1 || got[0].Group["attributes.user"] != "eve" || got[0].Fingerprint != alert.Fingerprint(r.Name, map[string]string{"attributes.user": "eve"}) {
		t.Errorf("the alert of a new term names the term: %+v", got)
	}
}

func TestCardinality(t *testing.T) {
	run(t, []ruleCase{
		{name: "distinct values above the threshold fire", rule: "type: cardinality\nfield: attributes.user\nwindow: 1m\nthreshold: 3\nlateness: 0s\nresolve_after: 0s\n" + byHost,
			events: []*event.Event{ev(0, "a", "user", "u1"), ev(time.Second, "a", "user", "u1"), ev(2*time.Second, "a", "user", "u2"),
				ev(3*time.Second, "b", "user", "u3"), ev(4*time.Second, "a", "user", "u3")},
			until: 2 * time.Minute,
			want:  []want{{"firing", "a", 4 * time.Second}, {"resolved", "a", 61 * time.Second}}},
		{name: "below: too few distinct values fire on the timer", rule: "type: cardinality\nfield: attributes.user\nwindow: 1m\nthreshold: 2\nop: \"<\"\nlateness: 0s\nresolve_after: 0s\n",
			events: []*event.Event{ev(0, "a", "user", "u1"), ev(10*time.Second, "a", "user", "u2"), ev(70*time.Second, "a", "user", "u2")},
			until:  0,
			want:   []want{{"firing", "", 60 * time.Second}}},
	})
}

func TestMetric(t *testing.T) {
	run(t, []ruleCase{
		{name: "avg above the threshold fires", rule: "type: metric\nfield: attributes.ms\nagg: avg\nwindow: 1m\nthreshold: 100\nlateness: 0s\nresolve_after: 0s\n",
			events: []*event.Event{ev(0, "a", "ms", 50.0), ev(time.Second, "a", "ms", 100.0), ev(2*time.Second, "a", "ms", 300.0)}, until: 2 * time.Minute,
			want: []want{{"firing", "", 2 * time.Second}, {"resolved", "", 62 * time.Second}}},
		{name: "p95 sees the tail an average hides", rule: "type: metric\nfield: attributes.ms\nagg: p95\nwindow: 1m\nthreshold: 500\nlateness: 0s\n",
			events: cat(series(0, 18, time.Second, "a", "ms", 10.0), series(18*time.Second, 2, time.Second, "a", "ms", "900")), until: 0,
			// nearest rank: of 19 values the 95th percentile is the largest
			want: []want{{"firing", "", 18 * time.Second}}},
		{name: "max at the threshold does not fire with >", rule: "type: metric\nfield: attributes.ms\nagg: max\nwindow: 1m\nthreshold: 100\n",
			events: series(0, 5, time.Second, "a", "ms", 100.0)},
		{name: "min below fires", rule: "type: metric\nfield: attributes.ms\nagg: min\nop: \"<\"\nwindow: 1m\nthreshold: 5\nlateness: 0s\n",
			events: []*event.Event{ev(0, "a", "ms", 10.0), ev(time.Second, "a", "ms", 2.0)}, until: 0,
			want: []want{{"firing", "", time.Second}}},
		{name: "sum", rule: "type: metric\nfield: attributes.bytes\nagg: sum\nwindow: 1m\nthreshold: 1000\nlateness: 0s\n",
			events: series(0, 5, time.Second, "a", "bytes", 300.0), until: 0,
			want: []want{{"firing", "", 3 * time.Second}}},
	})
}

// A hit applied twice (a redelivery after a restart) is counted once.
func TestAHitIsAppliedOnce(t *testing.T) {
	r := compile(t, "type: frequency\nwindow: 1m\nthreshold: 2\n")
	e := engine.New(engine.Options{})
	e.SetRules([]*rule.Rule{r}, t0)
	h := engine.NewHit(r, ev(0, "a"))
	if out := e.Apply(h, 1); len(out) != 0 {
		t.Fatal(out)
	}
	if out := e.Apply(h, 1); len(out) != 0 {
		t.Fatalf("the same hit twice crossed the threshold: %v", out)
	}
	if out := e.Apply(h, 2); len(out) != 0 {
		t.Fatalf("the same event in a later hit was counted again: %v", out)
	}
	if out := e.Apply(engine.NewHit(r, ev(time.Second, "a")), 3); len(out) != 1 || out[0].State != alert.StateFiring {
		t.Fatalf("a second event did not fire: %v", out)
	}
}

// Alerts carry what a subscriber needs: fingerprint, labels, the rendered
// summary, the query that finds the events and their first ids.
func TestAlertContent(t *testing.T) {
	r := compile(t, `name: errors
type: frequency
window: 1m
threshold: 2
severity: critical
labels: {team: web}
summary: "{{.Value}} errors on {{index .Group \"resource.host.name\"}}: {{.Event.Body}}"
match: {sources: [web], fields: {attributes.status: 500}}
group_by: [resource.host.name]
`)
	got := engine.Replay(r, series(0, 2, time.Second, "h1", "status", 500.0), 0)
	if len(got) != 1 {
		t.Fatalf("%d alerts", len(got))
	}
	a := got[0]
	if a.Fingerprint != alert.Fingerprint("errors", map[string]string{"resource.host.name": "h1"}) || a.Subject() != "alerts.firing.critical.errors" {
		t.Errorf("fingerprint %s subject %s", a.Fingerprint, a.Subject())
	}
	if a.Labels["team"] != "web" || a.Labels["resource_host_name"] != "h1" || a.Labels["alertname"] != "errors" {
		t.Errorf("labels %v", a.Labels)
	}
	if a.Annotations["summary"] != "2 errors on h1: GET /x" {
		t.Errorf("summary %q", a.Annotations["summary"])
	}
	if len(a.EventIDs) != 2 || !a.StartsAt.Equal(t0) || a.Value != 2 {
		t.Errorf("ids %v startsAt %v value %v", a.EventIDs, a.StartsAt, a.Value)
	}
	q := string(a.Query)
	for _, s := range []string{`"source":"web"`, `"attributes.status":"500"`, `"resource.host.name":"h1"`, `"@timestamp"`} {
		if !strings.Contains(q, s) {
			t.Errorf("query lacks %s: %s", s, q)
		}
	}
}

// BenchmarkMetricPercentile judges a p95 rule on every event of a steady
// service whose window holds limits.max_events (2 000) events.
func BenchmarkMetricPercentile(b *testing.B) {
	r, err := rule.Compile("p95.yaml", []byte("type: metric\nfield: attributes.ms\nagg: p95\nwindow: 5m\nthreshold: 1000\n"), rule.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	e := engine.New(engine.Options{})
	e.SetRules([]*rule.Rule{r}, t0)
	hits := make([]engine.Hit, 4000)
	for i := range hits {
		hits[i] = engine.NewHit(r, ev(time.Duration(i)*50*time.Millisecond, "a", "ms", float64(i*7919%500)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := hits[i%len(hits)]
		h.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
		h.ID = fmt.Sprint(i)
		e.Apply(h, uint64(i+1))
	}
}
