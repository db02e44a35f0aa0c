package rule

import "time"

// File is one rule file (rules/<name>.yaml): one rule and its tests.
type File struct {
	// Name identifies the rule in alerts, metrics and subjects; default:
	// the file name without its extension. Unique across the rules.
	Name string `yaml:"name"`
	// Description says what the rule watches for, for people.
	Description string `yaml:"description"`
	// Type is the kind of condition: any, frequency, spike, flatline,
	// change, new_term, cardinality or metric.
	Type string `yaml:"type"`
	// Disabled keeps the rule loaded and checked but not evaluated.
	Disabled bool `yaml:"disabled"`
	// Severity of the rule's alerts (info, warning, critical, …).
	Severity string `yaml:"severity"`
	// Labels are added to every alert of the rule.
	Labels map[string]string `yaml:"labels"`
	// Summary is a text/template rendered into the alert's summary
	// annotation.
	Summary string `yaml:"summary"`
	// Annotations are more templates (description, runbook, …).
	Annotations map[string]string `yaml:"annotations"`
	// Match selects the events the rule looks at.
	Match Match `yaml:"match"`
	// GroupBy are field paths: one alert per distinct combination of
	// their values.
	GroupBy []string `yaml:"group_by"`

	// Window is the length of the sliding window (frequency, spike,
	// flatline, cardinality, metric).
	Window time.Duration `yaml:"window"`
	// Threshold is the count (frequency: at least; flatline: fewer than),
	// the number of distinct values (cardinality) or the value (metric)
	// compared with.
	Threshold *float64 `yaml:"threshold"`
	// Op compares cardinality and metric values with the threshold: >,
	// >=, <, <= (default >=).
	Op string `yaml:"op"`
	// Field is the field whose values a change, cardinality or metric rule
	// looks at.
	Field string `yaml:"field"`
	// Fields are the fields whose combination a new_term rule looks at.
	Fields []string `yaml:"fields"`
	// Agg is the metric's aggregation: avg, min, max, sum, count, p95
	// (also p50, p90, p99).
	Agg string `yaml:"agg"`
	// Spike compares the window with the one before it.
	Spike *SpikeSpec `yaml:"spike"`
	// NewTerm configures learning for new_term.
	NewTerm *NewTermSpec `yaml:"new_term"`

	// For is how long the condition must hold before the alert fires (it
	// is pending meanwhile); 0 fires at once.
	For time.Duration `yaml:"for"`
	// ResolveAfter is how long the condition must stay false before the
	// alert resolves (for any, change and new_term: the quiet time after
	// the last match).
	ResolveAfter *time.Duration `yaml:"resolve_after"`
	// Lateness is how far behind the newest event of its group an event
	// may be and still count (default: the alerter's lateness).
	Lateness *time.Duration `yaml:"lateness"`
	// Align floors the StartsAt of an alert (default 1m), so the streaming
	// path and a scheduled query that see the same events agree on it.
	Align *time.Duration `yaml:"align"`
	// Limits bound the rule's memory.
	Limits Limits `yaml:"limits"`
	// Stream evaluates the rule on every event as it arrives (default
	// true); false runs it only on its schedule.
	Stream *bool `yaml:"stream"`
	// Schedule also runs the rule as a query against OpenSearch.
	Schedule *Schedule `yaml:"schedule"`
	// Tests are example event streams and what must fire, run by `jetlog
	// rules test`.
	Tests []TestSpec `yaml:"tests"`
}

// Match selects events: every given part must hold.
type Match struct {
	// Sources are NATS-style patterns over the event's source: "web",
	// "web.*", "k8s.>".
	Sources []string `yaml:"sources"`
	// Datasets are dataset names, one of which the event must have.
	Datasets []string `yaml:"datasets"`
	// Severities are severity texts (ERROR, WARN, …), one of which the
	// event must have.
	Severities []string `yaml:"severities"`
	// MinSeverity is the lowest severity number (or a level name: warn,
	// error, fatal) the event must have.
	MinSeverity string `yaml:"min_severity"`
	// Fields maps field paths to the value each must equal.
	Fields map[string]any `yaml:"fields"`
	// When is an expr condition that must also hold.
	When string `yaml:"when"`
}

// SpikeSpec configures a spike rule: the count in the window against the count
// in the window before it.
type SpikeSpec struct {
	// Ratio is how many times larger (up) or smaller (down) the window
	// must be than the one before (> 1).
	Ratio float64 `yaml:"ratio"`
	// Direction is up, down or both (default up).
	Direction string `yaml:"direction"`
	// MinCount is the fewest events the larger of the two windows must
	// hold, so a handful of events is no spike (default 10).
	MinCount int `yaml:"min_count"`
}

// NewTermSpec configures a new_term rule.
type NewTermSpec struct {
	// LearningPeriod is how long after the rule first sees a group it only
	// learns terms, when no history could be read from OpenSearch.
	LearningPeriod time.Duration `yaml:"learning_period"`
	// SeedLookback is how much history is read from OpenSearch (a terms
	// aggregation) to learn the known terms at start (default 7 days; 0
	// reads none).
	SeedLookback *time.Duration `yaml:"seed_lookback"`
}

// Limits bound what the rule keeps in memory.
type Limits struct {
	// MaxKeys bounds the groups (group_by combinations) kept; beyond it
	// the least recently seen group without an open alert is evicted.
	MaxKeys int `yaml:"max_keys"`
	// MaxEvents bounds the events (or distinct values, or terms) kept per
	// group; beyond it the oldest are evicted.
	MaxEvents int `yaml:"max_events"`
}

// Schedule runs the rule against OpenSearch.
type Schedule struct {
	// Every is how often (default 1m).
	Every time.Duration `yaml:"every"`
	// Lookback is how far back each run reads, beyond the window: it
	// covers what arrived while the streaming path was down (default 1h).
	Lookback time.Duration `yaml:"lookback"`
	// MaxEvents bounds the documents one run reads (default 100000).
	MaxEvents int `yaml:"max_events"`
}

// TestSpec is one test: events fed to the rule in order, and the alert
// transitions that must result.
type TestSpec struct {
	Name string `yaml:"name"`
	// Events are events in their JSON shape ("@timestamp", body, source,
	// severity, attributes, resource, …). An event without @timestamp
	// comes one second after the one before; the keys count and every
	// repeat it count times, every apart (default 1s).
	Events []map[string]any `yaml:"events"`
	// Until runs the clock on after the last event (flatline, resolve).
	Until time.Duration `yaml:"until"`
	// Expect lists the transitions in order; each names a state and may
	// give the group (a subset) and the StartsAt.
	Expect []Expect `yaml:"expect"`
}

// Expect is one expected alert transition.
type Expect struct {
	State    string            `yaml:"state"`
	Group    map[string]string `yaml:"group"`
	StartsAt string            `yaml:"starts_at"`
	At       string            `yaml:"at"`
}
