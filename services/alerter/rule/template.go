package rule

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/jetlog/jetlog/libs/config"
)

// TemplateData is what a rule's summary and annotation templates see.
type TemplateData struct {
	Rule      string
	Type      string
	Severity  string
	State     string
	Group     map[string]string
	Labels    map[string]string
	Value     float64
	Threshold float64
	Window    time.Duration
	StartsAt  time.Time
	// Term is the new value (new_term, change) and Previous the value
	// before it (change).
	Term, Previous string
	// Event is the event that raised the alert.
	Event EventSummary
}

// EventSummary is the part of the triggering event templates can use.
type EventSummary struct {
	ID       string `json:"id,omitempty"`
	Body     string `json:"body,omitempty"`
	Source   string `json:"source,omitempty"`
	Dataset  string `json:"dataset,omitempty"`
	Severity string `json:"severity,omitempty"`
	Service  string `json:"service,omitempty"`
	Host     string `json:"host,omitempty"`
}

var funcs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"truncate": func(n int, s string) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
}

func parseTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Option("missingkey=zero").Funcs(funcs).Parse(src)
}

func (r *Rule) compileTemplates(f *File, errs *config.Errors) {
	summary := f.Summary
	if summary == "" {
		summary = defaultSummary(r.Type)
	}
	var err error
	if r.summary, err = parseTemplate("summary", summary); err != nil {
		errs.Addf("summary", "%v", err)
	}
	r.annotations = map[string]*template.Template{}
	for k, src := range f.Annotations {
		if k == "summary" {
			errs.Addf("annotations.summary", "use the summary key")
			continue
		}
		t, err := parseTemplate(k, src)
		if err != nil {
			errs.Addf("annotations."+k, "%v", err)
			continue
		}
		r.annotations[k] = t
	}
	// A template that refers to a field TemplateData lacks fails at load,
	// not when the alert fires.
	probe := TemplateData{Group: map[string]string{}, Labels: map[string]string{}}
	if r.summary != nil {
		if err := r.summary.Execute(&strings.Builder{}, probe); err != nil {
			errs.Addf("summary", "%v", err)
		}
	}
	for k, t := range r.annotations {
		if err := t.Execute(&strings.Builder{}, probe); err != nil {
			errs.Addf("annotations."+k, "%v", err)
		}
	}
}

func defaultSummary(t Type) string {
	switch t {
	case TypeAny:
		return "{{.Rule}}: {{truncate 200 .Event.Body}}"
	case TypeFrequency:
		return "{{.Rule}}: {{.Value}} events in {{.Window}} (threshold {{.Threshold}})"
	case TypeSpike:
		return "{{.Rule}}: {{.Value}} events in {{.Window}}, a spike against the window before"
	case TypeFlatline:
		return "{{.Rule}}: {{.Value}} events in {{.Window}}, fewer than {{.Threshold}}"
	case TypeChange:
		return "{{.Rule}}: changed from {{.Previous}} to {{.Term}}"
	case TypeNewTerm:
		return "{{.Rule}}: new value {{.Term}}"
	case TypeCardinality:
		return "{{.Rule}}: {{.Value}} distinct values in {{.Window}} (threshold {{.Threshold}})"
	}
	return "{{.Rule}}: {{.Value}} over {{.Window}} (threshold {{.Threshold}})"
}

// Render renders the summary and annotations of an alert. A template that
// fails at run time leaves its error as the text, so an alert is never lost
// to its wording.
func (r *Rule) Render(d TemplateData) map[string]string {
	out := make(map[string]string, len(r.annotations)+2)
	exec := func(t *template.Template) string {
		var b strings.Builder
		if err := t.Execute(&b, d); err != nil {
			return fmt.Sprintf("(template error: %v)", err)
		}
		return b.String()
	}
	if r.summary != nil {
		out["summary"] = exec(r.summary)
	}
	keys := make([]string, 0, len(r.annotations))
	for k := range r.annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = exec(r.annotations[k])
	}
	if r.Description != "" {
		if _, ok := out["description"]; !ok {
			out["description"] = r.Description
		}
	}
	return out
}

// AlertLabels returns the labels of an alert of the rule for a group:
// the rule's labels, alertname, severity and each group value under a
// label name made of its path (resource.service.name →
// resource_service_name).
func (r *Rule) AlertLabels(group map[string]string) map[string]string {
	out := make(map[string]string, len(r.Labels)+len(group)+2)
	for k, v := range r.Labels {
		out[k] = v
	}
	for k, v := range group {
		out[LabelName(k)] = v
	}
	out["alertname"] = r.Name
	out["severity"] = r.Severity
	return out
}

// LabelName turns a field path into a Prometheus-style label name.
func LabelName(path string) string {
	b := []byte(path)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}
