package rule

import (
	"strings"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

// Index finds the rules an event may match without testing every rule:
// each rule is filed under one of its exact-match predicates (a field
// equality, else its sources when none is a pattern, else its datasets,
// else its severities, else its source patterns in a token tree), and only
// the rules filed under the event's own values are tested in full. With
// rules that each name a service, a source or a field value, an event costs
// a few map lookups and the rules of its own values, however many rules
// there are.
type Index struct {
	rules    []*Rule
	byField  []fieldIndex // one per distinct field path used as a key
	bySource map[string][]*Rule
	byData   map[string][]*Rule
	bySev    map[string][]*Rule
	patterns *node
	always   []*Rule
}

type fieldIndex struct {
	path   eventexpr.Path
	values map[string][]*Rule
}

// node is a level of the source-pattern tree.
type node struct {
	next  map[string]*node
	star  *node
	rest  []*Rule // ">" at this level
	rules []*Rule // the pattern ends here
}

// NewIndex files the rules (disabled and schedule-only ones are left out).
func NewIndex(rules []*Rule) *Index {
	ix := &Index{bySource: map[string][]*Rule{}, byData: map[string][]*Rule{}, bySev: map[string][]*Rule{}}
	for _, r := range rules {
		if r.Disabled || !r.Stream {
			continue
		}
		ix.rules = append(ix.rules, r)
		ix.file(r)
	}
	return ix
}

func (ix *Index) file(r *Rule) {
	m := &r.match
	if len(m.fields) > 0 {
		f := m.fields[0]
		for i := range ix.byField {
			if ix.byField[i].path.String() == f.path.String() {
				ix.byField[i].values[f.value] = append(ix.byField[i].values[f.value], r)
				return
			}
		}
		ix.byField = append(ix.byField, fieldIndex{path: f.path, values: map[string][]*Rule{f.value: {r}}})
		return
	}
	exact := len(m.sources) > 0
	for _, toks := range m.sources {
		for _, t := range toks {
			if t == "*" || t == ">" {
				exact = false
			}
		}
	}
	switch {
	case exact:
		for _, toks := range m.sources {
			s := strings.Join(toks, ".")
			ix.bySource[s] = appendOnce(ix.bySource[s], r)
		}
	case len(m.datasets) > 0:
		for _, d := range m.datasets {
			ix.byData[d] = appendOnce(ix.byData[d], r)
		}
	case len(m.severities) > 0:
		for _, s := range m.severities {
			ix.bySev[s] = appendOnce(ix.bySev[s], r)
		}
	case len(m.sources) > 0:
		if ix.patterns == nil {
			ix.patterns = &node{}
		}
		for _, toks := range m.sources {
			ix.patterns.add(toks, r)
		}
	default:
		ix.always = append(ix.always, r)
	}
}

func appendOnce(rs []*Rule, r *Rule) []*Rule {
	for _, x := range rs {
		if x == r {
			return rs
		}
	}
	return append(rs, r)
}

func (n *node) add(toks []string, r *Rule) {
	if len(toks) == 0 {
		n.rules = appendOnce(n.rules, r)
		return
	}
	switch t := toks[0]; t {
	case ">":
		n.rest = appendOnce(n.rest, r)
	case "*":
		if n.star == nil {
			n.star = &node{}
		}
		n.star.add(toks[1:], r)
	default:
		if n.next == nil {
			n.next = map[string]*node{}
		}
		c := n.next[t]
		if c == nil {
			c = &node{}
			n.next[t] = c
		}
		c.add(toks[1:], r)
	}
}

func (n *node) collect(toks []string, out []*Rule) []*Rule {
	if n == nil {
		return out
	}
	if len(toks) == 0 {
		return append(out, n.rules...)
	}
	out = append(out, n.rest...)
	if c := n.next[toks[0]]; c != nil {
		out = c.collect(toks[1:], out)
	}
	return n.star.collect(toks[1:], out)
}

// Rules returns the indexed rules.
func (ix *Index) Rules() []*Rule { return ix.rules }

// Candidates appends to out the rules filed under ev's values: a superset
// of the rules ev matches, each once. Test each with Matches.
func (ix *Index) Candidates(ev *event.Event, out []*Rule) []*Rule {
	out = append(out, ix.always...)
	for i := range ix.byField {
		f := &ix.byField[i]
		if v, ok := f.path.Get(ev); ok {
			out = append(out, f.values[scalarString(v)]...)
		}
	}
	out = append(out, ix.bySource[ev.Source]...)
	if ev.Dataset != "" {
		out = append(out, ix.byData[ev.Dataset]...)
	}
	if ev.Severity.Text != "" {
		out = append(out, ix.bySev[strings.ToUpper(ev.Severity.Text)]...)
	}
	if ix.patterns != nil {
		n := len(out)
		out = ix.patterns.collect(strings.Split(ev.Source, "."), out)
		out = dedupe(out, n)
	}
	return out
}

// dedupe removes repeats among out[from:] (a rule with two patterns that
// both match).
func dedupe(out []*Rule, from int) []*Rule {
	if len(out)-from < 2 {
		return out
	}
	w := from
	for i := from; i < len(out); i++ {
		dup := false
		for j := from; j < w; j++ {
			if out[j] == out[i] {
				dup = true
				break
			}
		}
		if !dup {
			out[w] = out[i]
			w++
		}
	}
	return out[:w]
}
