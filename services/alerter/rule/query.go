package rule

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/eventexpr"
)

// DocField returns the OpenSearch field of a field path in the documents
// the indexer writes (the event's JSON: attributes.<key> and
// resource.<key> with the dots OpenSearch expands into objects), and
// whether it is full text (body) rather than a keyword or number.
func DocField(p eventexpr.Path) (field string, text bool) {
	if p.Root() == "body" {
		return "body", true
	}
	return p.String(), false
}

// Filters returns the OpenSearch query clauses of the rule's exact-match
// predicates and of a group's values (field path → value). The expr condition (match.when) has
// no OpenSearch form: a scheduled run tests it on each document it reads.
func (r *Rule) Filters(group map[string]string) []any {
	var out []any
	m := &r.match
	if len(m.sources) > 0 {
		var should []any
		for _, toks := range m.sources {
			pat := strings.Join(toks, ".")
			switch {
			case !strings.ContainsAny(pat, "*>"):
				should = append(should, map[string]any{"term": map[string]any{"source": pat}})
			default:
				wc := strings.ReplaceAll(pat, ">", "*") // wider than NATS matching: the when-less scheduled query filters again
				should = append(should, map[string]any{"wildcard": map[string]any{"source": wc}})
			}
		}
		out = append(out, map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}})
	}
	if len(m.datasets) > 0 {
		out = append(out, map[string]any{"terms": map[string]any{"dataset": m.datasets}})
	}
	if len(m.severities) > 0 {
		out = append(out, map[string]any{"terms": map[string]any{"severity.text": m.severities}})
	}
	if m.minSev > 0 {
		out = append(out, map[string]any{"range": map[string]any{"severity.number": map[string]any{"gte": m.minSev}}})
	}
	for _, f := range m.fields {
		out = append(out, eq(f.path, f.value))
	}
	keys := make([]string, 0, len(group))
	for k := range group {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, err := eventexpr.ParsePath(k)
		if err != nil {
			continue
		}
		if v := group[k]; true {
			if v == "" {
				field, _ := DocField(p)
				out = append(out, map[string]any{"bool": map[string]any{"must_not": map[string]any{"exists": map[string]any{"field": field}}}})
				continue
			}
			out = append(out, eq(p, v))
		}
	}
	return out
}

func eq(p eventexpr.Path, v string) any {
	field, text := DocField(p)
	if text {
		return map[string]any{"match_phrase": map[string]any{field: v}}
	}
	return map[string]any{"term": map[string]any{field: v}}
}

// Query returns the OpenSearch query (a _search body) that finds the
// events of a group between from and to, oldest first: the link from an
// alert back to what raised it.
func (r *Rule) Query(group map[string]string, from, to time.Time) json.RawMessage {
	filters := append(r.Filters(group), map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gte": from.UTC().Format(time.RFC3339Nano), "lte": to.UTC().Format(time.RFC3339Nano)}}})
	b, _ := json.Marshal(map[string]any{"query": map[string]any{"bool": map[string]any{"filter": filters}}, "sort": []any{map[string]any{"@timestamp": "asc"}}})
	return b
}
