package rule

import (
	"math"
	"strconv"
	"strings"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

// Matches reports whether ev passes the rule's match clause. env is ev's
// expression environment, built once per event by the caller and shared by
// every rule; nil builds it when the condition needs it.
func (r *Rule) Matches(ev *event.Event, env *eventexpr.Env) (bool, error) {
	m := &r.match
	if len(m.sources) > 0 && !eventexpr.MatchSource(m.sources, ev.Source) {
		return false, nil
	}
	if len(m.datasets) > 0 && !contains(m.datasets, ev.Dataset) {
		return false, nil
	}
	if len(m.severities) > 0 && !contains(m.severities, strings.ToUpper(ev.Severity.Text)) {
		return false, nil
	}
	if m.minSev > 0 && ev.Severity.Number < m.minSev {
		return false, nil
	}
	for _, f := range m.fields {
		v, ok := f.path.Get(ev)
		if !ok || scalarString(v) != f.value {
			return false, nil
		}
	}
	if m.when == nil {
		return true, nil
	}
	if env == nil {
		e := eventexpr.EnvOf(ev)
		env = &e
	}
	return eventexpr.RunCond(m.when, env)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GroupOf returns the values of the rule's group_by fields in ev, keyed by
// their paths; a missing field counts as "".
func (r *Rule) GroupOf(ev *event.Event) map[string]string {
	if len(r.GroupBy) == 0 {
		return nil
	}
	g := make(map[string]string, len(r.GroupBy))
	for _, p := range r.GroupBy {
		v, _ := p.Get(ev)
		g[p.String()] = scalarString(v)
	}
	return g
}

// TermOf returns what a change, cardinality or new_term rule compares: the
// field's value (new_term: the fields' values joined by a tab), and whether
// the event has it.
func (r *Rule) TermOf(ev *event.Event) (string, bool) {
	switch {
	case r.Field != nil:
		v, ok := r.Field.Get(ev)
		return scalarString(v), ok
	case len(r.Fields) > 0:
		parts := make([]string, len(r.Fields))
		found := false
		for i, p := range r.Fields {
			v, ok := p.Get(ev)
			parts[i] = scalarString(v)
			found = found || ok
		}
		return strings.Join(parts, "\t"), found
	}
	return "", false
}

// TermGroup names the fields of a new_term rule's term for an alert's
// group: field path → value.
func (r *Rule) TermGroup(term string) map[string]string {
	parts := strings.Split(term, "\t")
	g := make(map[string]string, len(r.Fields))
	for i, p := range r.Fields {
		if i < len(parts) {
			g[p.String()] = parts[i]
		}
	}
	return g
}

// ValueOf returns a metric rule's number from ev.
func (r *Rule) ValueOf(ev *event.Event) (float64, bool) {
	if r.Field == nil {
		return 0, false
	}
	v, ok := r.Field.Get(ev)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// Compare applies the rule's op to a value and its threshold.
func (r *Rule) Compare(v float64) bool {
	switch r.Op {
	case ">":
		return v > r.Threshold
	case ">=":
		return v >= r.Threshold
	case "<":
		return v < r.Threshold
	case "<=":
		return v <= r.Threshold
	}
	return false
}
