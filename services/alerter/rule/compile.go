package rule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

// Type is a rule's kind of condition.
type Type string

// The rule types.
const (
	TypeAny         Type = "any"         // every matching event
	TypeFrequency   Type = "frequency"   // at least threshold events in a sliding window
	TypeSpike       Type = "spike"       // the window's count against the window before it
	TypeFlatline    Type = "flatline"    // fewer than threshold events in the window (a timer fires it)
	TypeChange      Type = "change"      // a field's value changes for a group
	TypeNewTerm     Type = "new_term"    // a value never seen before for a group
	TypeCardinality Type = "cardinality" // distinct values of a field in the window
	TypeMetric      Type = "metric"      // an aggregate of a numeric field in the window
)

var types = []Type{TypeAny, TypeFrequency, TypeSpike, TypeFlatline, TypeChange, TypeNewTerm, TypeCardinality, TypeMetric}

// HasWindowEntries reports whether the type keeps each event of its
// window (frequency, flatline, metric), which also recognise an event
// applied twice.
func (t Type) HasWindowEntries() bool {
	return t == TypeFrequency || t == TypeFlatline || t == TypeMetric
}

// Instantaneous reports whether the type's condition holds at an event only
// (any, change, new_term), rather than over a window.
func (t Type) Instantaneous() bool { return t == TypeAny || t == TypeChange || t == TypeNewTerm }

// Options are the alerter-wide defaults a rule falls back to.
type Options struct {
	Lateness     time.Duration
	ResolveAfter time.Duration
	Align        time.Duration
	MaxKeys      int
	MaxEvents    int
}

// DefaultOptions returns the alerter's defaults.
func DefaultOptions() Options {
	return Options{Lateness: time.Minute, ResolveAfter: 5 * time.Minute, Align: time.Minute, MaxKeys: 10000, MaxEvents: 2000}
}

// Rule is a compiled rule.
type Rule struct {
	Name, File, Description string
	Type                    Type
	Disabled                bool
	Severity                string
	Labels                  map[string]string
	// Version changes whenever the rule's file does; state kept for an
	// older version is dropped.
	Version string
	// GroupBy are the group fields, in the rule's order.
	GroupBy []eventexpr.Path

	Window, For, ResolveAfter, Lateness, Align time.Duration
	Threshold                                  float64
	Op                                         string
	Field                                      *eventexpr.Path
	Fields                                     []eventexpr.Path
	Agg                                        string
	Spike                                      SpikeSpec
	LearningPeriod, SeedLookback               time.Duration
	MaxKeys, MaxEvents                         int
	Stream                                     bool
	Schedule                                   *Schedule
	Tests                                      []TestSpec

	match       matcher
	summary     *template.Template
	annotations map[string]*template.Template
}

// matcher is the compiled match clause.
type matcher struct {
	sources    [][]string // patterns split into tokens
	datasets   []string
	severities []string
	minSev     int
	fields     []fieldEq
	when       *vm.Program
}

type fieldEq struct {
	path  eventexpr.Path
	value string
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Compile parses and compiles one rule file's bytes. Errors are
// config.Errors whose entries carry the file, line and key path.
func Compile(file string, data []byte, o Options) (*Rule, error) {
	var f File
	root, err := config.DecodeStrict(file, data, &f)
	if err != nil {
		return nil, err
	}
	r, errs := build(file, &f, o)
	if err := config.Locate(file, root, errs.Err()); err != nil {
		return nil, err
	}
	r.Version = version(&f)
	return r, nil
}

func build(file string, f *File, o Options) (*Rule, *config.Errors) {
	var errs config.Errors
	if f.Name == "" {
		f.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	r := &Rule{
		Name: f.Name, File: file, Description: f.Description, Type: Type(f.Type), Disabled: f.Disabled,
		Severity: orDefault(f.Severity, "warning"), Labels: f.Labels, Window: f.Window, For: f.For,
		Op: f.Op, Agg: f.Agg, Stream: f.Stream == nil || *f.Stream, Schedule: f.Schedule, Tests: f.Tests,
		ResolveAfter: durOr(f.ResolveAfter, o.ResolveAfter), Lateness: durOr(f.Lateness, o.Lateness), Align: durOr(f.Align, o.Align),
		MaxKeys: intOr(f.Limits.MaxKeys, o.MaxKeys), MaxEvents: intOr(f.Limits.MaxEvents, o.MaxEvents),
	}
	if strings.ContainsAny(r.Name, "\x00\n") || r.Name == "" || len(r.Name) > 128 {
		errs.Addf("name", "%q: a rule name is 1..128 characters on one line", r.Name)
	}
	if strings.ContainsAny(r.Severity, ".*> \t") {
		errs.Addf("severity", "%q must be one word (it is a subject token: alerts.<state>.<severity>.<rule>)", r.Severity)
	}
	for k := range r.Labels {
		if !labelName.MatchString(k) {
			errs.Addf("labels."+k, "%q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", k)
		}
	}
	if !validType(r.Type) {
		errs.Addf("type", "%q: use one of %s", f.Type, typeList())
	}
	r.match = compileMatch(&f.Match, &errs)
	for i, g := range f.GroupBy {
		p, err := eventexpr.ParsePath(g)
		if err != nil {
			errs.Addf(fmt.Sprintf("group_by[%d]", i), "%v", err)
			continue
		}
		r.GroupBy = append(r.GroupBy, p)
	}
	r.checkType(f, &errs)
	if r.ResolveAfter < 0 {
		errs.Addf("resolve_after", "must be >= 0")
	}
	if r.Lateness < 0 {
		errs.Addf("lateness", "must be >= 0")
	}
	if r.Align < 0 {
		errs.Addf("align", "must be >= 0 (0 keeps the exact time)")
	}
	if r.MaxKeys < 1 || r.MaxKeys > 10_000_000 {
		errs.Addf("limits.max_keys", "%d is outside 1..10000000", r.MaxKeys)
	}
	if r.MaxEvents < 1 || r.MaxEvents > 1_000_000 {
		errs.Addf("limits.max_events", "%d is outside 1..1000000", r.MaxEvents)
	}
	if !r.Stream && r.Schedule == nil {
		errs.Addf("stream", "false with no schedule: the rule would never run")
	}
	if s := r.Schedule; s != nil {
		if s.Every == 0 {
			s.Every = time.Minute
		}
		if s.Lookback == 0 {
			s.Lookback = time.Hour
		}
		if s.MaxEvents == 0 {
			s.MaxEvents = 100000
		}
		if s.Every < time.Second {
			errs.Addf("schedule.every", "%v is below 1s", s.Every)
		}
		if s.Lookback < 0 {
			errs.Addf("schedule.lookback", "must be >= 0")
		}
		if s.MaxEvents < 1 {
			errs.Addf("schedule.max_events", "must be >= 1")
		}
	}
	r.compileTemplates(f, &errs)
	for i, t := range f.Tests {
		p := fmt.Sprintf("tests[%d]", i)
		if t.Name == "" {
			errs.Addf(p+".name", "is empty")
		}
		if len(t.Events) == 0 && t.Until == 0 {
			errs.Addf(p+".events", "is empty")
		}
		for j, e := range t.Expect {
			if !validState(e.State) {
				errs.Addf(fmt.Sprintf("%s.expect[%d].state", p, j), "%q: use pending, firing, resolved", e.State)
			}
		}
	}
	return r, &errs
}

// version hashes what decides the rule's state (its type, match, groups,
// window, threshold, fields, limits), so a change to its wording, labels or
// tests keeps the state across a reload, and any other change starts the
// rule afresh.
func version(f *File) string {
	b, _ := json.Marshal([]any{f.Type, f.Match, f.GroupBy, f.Window, f.Threshold, f.Op, f.Field, f.Fields, f.Agg, f.Spike, f.NewTerm,
		f.Lateness, f.Limits, f.Disabled})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func validState(s string) bool {
	return s == "pending" || s == "firing" || s == "resolved" || s == "acknowledged"
}

// checkType checks the keys each type takes, and fills their defaults.
func (r *Rule) checkType(f *File, errs *config.Errors) {
	windowed := !r.Type.Instantaneous()
	if windowed && r.Window <= 0 {
		errs.Addf("window", "a %s rule needs a window > 0 (e.g. 5m)", r.Type)
	}
	if !windowed {
		if f.Window != 0 {
			errs.Addf("window", "a %s rule has no window", r.Type)
		}
		if f.For != 0 {
			errs.Addf("for", "a %s rule fires on one event; for applies to window rules", r.Type)
		}
	}
	if r.For < 0 {
		errs.Addf("for", "must be >= 0")
	}
	th := func(def float64, need bool) {
		switch {
		case f.Threshold != nil:
			r.Threshold = *f.Threshold
		case need:
			errs.Addf("threshold", "a %s rule needs a threshold", r.Type)
		default:
			r.Threshold = def
		}
	}
	field := func(need bool) {
		if f.Field == "" {
			if need {
				errs.Addf("field", "a %s rule needs a field (e.g. attributes.user)", r.Type)
			}
			return
		}
		p, err := eventexpr.ParsePath(f.Field)
		if err != nil {
			errs.Addf("field", "%v", err)
			return
		}
		r.Field = &p
	}
	unused := func(keys ...string) {
		for _, k := range keys {
			set := map[string]bool{"threshold": f.Threshold != nil, "field": f.Field != "", "fields": len(f.Fields) > 0, "agg": f.Agg != "",
				"op": f.Op != "", "spike": f.Spike != nil, "new_term": f.NewTerm != nil}[k]
			if set {
				errs.Addf(k, "a %s rule does not take %s", r.Type, k)
			}
		}
	}
	switch r.Type {
	case TypeAny:
		unused("threshold", "field", "fields", "agg", "op", "spike", "new_term")
	case TypeFrequency:
		th(0, true)
		unused("field", "fields", "agg", "op", "spike", "new_term")
		if r.Threshold < 1 || r.Threshold != math.Trunc(r.Threshold) {
			errs.Addf("threshold", "%v: a frequency rule counts events, so a whole number >= 1", r.Threshold)
		} else if int(r.Threshold) > r.MaxEvents {
			errs.Addf("threshold", "%v is above limits.max_events %d: raise the limit (it bounds the events kept per group)", r.Threshold, r.MaxEvents)
		}
	case TypeFlatline:
		th(1, false)
		unused("field", "fields", "agg", "op", "spike", "new_term")
		if r.Threshold < 1 || r.Threshold != math.Trunc(r.Threshold) {
			errs.Addf("threshold", "%v: a flatline rule fires below a count, so a whole number >= 1", r.Threshold)
		}
	case TypeSpike:
		unused("threshold", "field", "fields", "agg", "op", "new_term")
		if f.Spike == nil {
			errs.Addf("spike", "a spike rule needs spike: {ratio: 3, direction: up, min_count: 10}")
			break
		}
		r.Spike = *f.Spike
		r.Spike.Direction = orDefault(r.Spike.Direction, "up")
		if r.Spike.MinCount == 0 {
			r.Spike.MinCount = 10
		}
		if r.Spike.Ratio <= 1 {
			errs.Addf("spike.ratio", "%v must be > 1 (3 means three times the previous window)", r.Spike.Ratio)
		}
		if d := r.Spike.Direction; d != "up" && d != "down" && d != "both" {
			errs.Addf("spike.direction", "%q: use up, down or both", d)
		}
		if r.Spike.MinCount < 1 {
			errs.Addf("spike.min_count", "must be >= 1")
		}
	case TypeChange:
		field(true)
		unused("threshold", "fields", "agg", "op", "spike", "new_term")
	case TypeNewTerm:
		unused("threshold", "field", "agg", "op", "spike")
		if len(f.Fields) == 0 {
			errs.Addf("fields", "a new_term rule needs fields (e.g. [attributes.user_agent])")
		}
		for i, s := range f.Fields {
			p, err := eventexpr.ParsePath(s)
			if err != nil {
				errs.Addf(fmt.Sprintf("fields[%d]", i), "%v", err)
				continue
			}
			r.Fields = append(r.Fields, p)
		}
		r.SeedLookback = 7 * 24 * time.Hour
		if nt := f.NewTerm; nt != nil {
			r.LearningPeriod = nt.LearningPeriod
			if nt.SeedLookback != nil {
				r.SeedLookback = *nt.SeedLookback
			}
			if r.LearningPeriod < 0 || r.SeedLookback < 0 {
				errs.Addf("new_term", "learning_period and seed_lookback must be >= 0")
			}
		}
	case TypeCardinality:
		field(true)
		th(0, true)
		unused("fields", "agg", "spike", "new_term")
		r.Op = orDefault(r.Op, ">=")
	case TypeMetric:
		field(true)
		th(0, true)
		unused("fields", "spike", "new_term")
		r.Op = orDefault(r.Op, ">")
		switch r.Agg {
		case "avg", "min", "max", "sum", "count", "p50", "p90", "p95", "p99":
		case "":
			errs.Addf("agg", "a metric rule needs agg: avg, min, max, sum, count, p50, p90, p95 or p99")
		default:
			errs.Addf("agg", "%q: use avg, min, max, sum, count, p50, p90, p95 or p99", r.Agg)
		}
	}
	if r.Type == TypeCardinality || r.Type == TypeMetric {
		switch r.Op {
		case ">", ">=", "<", "<=":
		default:
			errs.Addf("op", "%q: use >, >=, < or <=", r.Op)
		}
	}
}

func compileMatch(m *Match, errs *config.Errors) matcher {
	var out matcher
	for i, s := range m.Sources {
		p := fmt.Sprintf("match.sources[%d]", i)
		if s == "" || strings.Contains(s, "..") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
			errs.Addf(p, "%q is not a source pattern such as web, web.* or k8s.>", s)
			continue
		}
		toks := strings.Split(s, ".")
		for j, t := range toks {
			if t == ">" && j != len(toks)-1 {
				errs.Addf(p, "%q: > must be the last token", s)
			}
		}
		out.sources = append(out.sources, toks)
	}
	out.datasets = m.Datasets
	for _, s := range m.Severities {
		out.severities = append(out.severities, strings.ToUpper(s))
	}
	if m.MinSeverity != "" {
		if sev, ok := event.ParseSeverity(m.MinSeverity); ok && !isNumber(m.MinSeverity) {
			out.minSev = sev.Number
		} else if n, err := fmt.Sscan(m.MinSeverity, &out.minSev); n != 1 || err != nil || out.minSev < 1 || out.minSev > 24 {
			errs.Addf("match.min_severity", "%q: use a level (debug, info, warn, error, fatal) or a number 1..24", m.MinSeverity)
		}
	}
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, err := eventexpr.ParsePath(k)
		if err != nil {
			errs.Addf("match.fields."+k, "%v", err)
			continue
		}
		v := m.Fields[k]
		switch v.(type) {
		case string, int, int64, float64, bool:
		default:
			errs.Addf("match.fields."+k, "%v: give a string, number or boolean to compare with", v)
			continue
		}
		out.fields = append(out.fields, fieldEq{path: p, value: scalarString(v)})
	}
	if m.When != "" {
		prog, err := eventexpr.CompileCond(m.When)
		if err != nil {
			errs.Addf("match.when", "%v", err)
		}
		out.when = prog
	}
	return out
}

func isNumber(s string) bool {
	var n int
	c, err := fmt.Sscan(s, &n)
	return c == 1 && err == nil
}

// scalarString formats a value the way equality compares it: numbers that
// are whole print without a fraction, so 500 (YAML) equals 500.0 (JSON).
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprint(x)
	case float32:
		return scalarString(float64(x))
	case int, int64, int32, uint64, bool:
		return fmt.Sprint(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func validType(t Type) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

func typeList() string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func durOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

func intOr(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
