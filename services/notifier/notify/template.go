package notify

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
)

// Data is what a template sees: Alertmanager's notification data (so
// templates written for Alertmanager's webhook and Slack bodies mostly
// work), plus jetlog's notification id.
type Data struct {
	// NotificationID is the notification's stable id (the webhook-id).
	NotificationID    string `json:"notificationId"`
	Receiver          string `json:"receiver"`
	Status            string `json:"status"` // firing when any alert fires, else resolved
	Alerts            Alerts `json:"alerts"`
	GroupKey          string `json:"groupKey"`
	GroupLabels       KV     `json:"groupLabels"`
	CommonLabels      KV     `json:"commonLabels"`
	CommonAnnotations KV     `json:"commonAnnotations"`
	ExternalURL       string `json:"externalURL"`
	// TruncatedAlerts counts alerts left out by max_alerts.
	TruncatedAlerts int `json:"truncatedAlerts"`
}

// Alert is one alert in a notification, as Alertmanager describes it, with
// jetlog's rule fields.
type Alert struct {
	Status       string    `json:"status"`
	Labels       KV        `json:"labels"`
	Annotations  KV        `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
	// Rule, Value and Threshold come from jetlog's alert event.
	Rule      string  `json:"rule"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold,omitempty"`
}

// Alerts is a list of alerts.
type Alerts []Alert

// Firing returns the firing alerts.
func (as Alerts) Firing() Alerts { return as.with("firing") }

// Resolved returns the resolved alerts.
func (as Alerts) Resolved() Alerts { return as.with("resolved") }

func (as Alerts) with(status string) Alerts {
	out := Alerts{}
	for _, a := range as {
		if a.Status == status {
			out = append(out, a)
		}
	}
	return out
}

// KV is a set of labels or annotations.
type KV map[string]string

// Pair is one name and value.
type Pair struct{ Name, Value string }

// SortedPairs returns the pairs sorted by name (alertname first, as
// Alertmanager does).
func (kv KV) SortedPairs() []Pair {
	out := make([]Pair, 0, len(kv))
	for k, v := range kv {
		out = append(out, Pair{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == "alertname") != (out[j].Name == "alertname") {
			return out[i].Name == "alertname"
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Names returns the names, sorted.
func (kv KV) Names() []string {
	var out []string
	for _, p := range kv.SortedPairs() {
		out = append(out, p.Name)
	}
	return out
}

// Values returns the values in the order of Names.
func (kv KV) Values() []string {
	var out []string
	for _, p := range kv.SortedPairs() {
		out = append(out, p.Value)
	}
	return out
}

// Remove returns a copy without the given names.
func (kv KV) Remove(names []string) KV {
	out := KV{}
	for k, v := range kv {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// status is an alert event's state as Alertmanager names it.
func status(a *alert.Alert) string {
	if a.State == alert.StateResolved {
		return "resolved"
	}
	return "firing"
}

// newData builds a notification's template data.
func newData(n *Notification, externalURL string) *Data {
	d := &Data{NotificationID: n.ID, Receiver: n.Receiver, Status: "resolved", GroupKey: n.GroupKey,
		GroupLabels: KV(copyMap(n.GroupLabels)), ExternalURL: externalURL, TruncatedAlerts: n.Truncated}
	for _, a := range n.Alerts {
		s := status(a)
		if s == "firing" {
			d.Status = "firing"
		}
		d.Alerts = append(d.Alerts, Alert{Status: s, Labels: KV(copyMap(a.Labels)), Annotations: KV(copyMap(a.Annotations)),
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, Fingerprint: a.Fingerprint, Rule: a.Rule, Value: a.Value, Threshold: a.Threshold,
			GeneratorURL: generatorURL(externalURL, a)})
	}
	d.CommonLabels = common(d.Alerts, func(a Alert) KV { return a.Labels })
	d.CommonAnnotations = common(d.Alerts, func(a Alert) KV { return a.Annotations })
	return d
}

func generatorURL(base string, a *alert.Alert) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/alerts/" + a.Fingerprint
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func common(as Alerts, of func(Alert) KV) KV {
	out := KV{}
	if len(as) == 0 {
		return out
	}
	for k, v := range of(as[0]) {
		out[k] = v
	}
	for _, a := range as[1:] {
		kv := of(a)
		for k, v := range out {
			if kv[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// defaultTemplates are the bodies used when a receiver sets none, defined
// under Alertmanager's template names where one exists.
const defaultTemplates = `
{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}] {{ .GroupLabels.SortedPairs | pairValues | join " " }}{{ if gt (len .CommonLabels) (len .GroupLabels) }} ({{ (.CommonLabels.Remove .GroupLabels.Names).SortedPairs | pairValues | join " " }}){{ end }}{{ end }}

{{ define "__text_alert_list" }}{{ range . }}Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}{{ if .Annotations }}Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}{{ end }}Started: {{ .StartsAt.UTC.Format "2006-01-02 15:04:05 MST" }}{{ if eq .Status "resolved" }}, resolved {{ .EndsAt.UTC.Format "2006-01-02 15:04:05 MST" }}{{ end }}
{{ if .GeneratorURL }}Source: {{ .GeneratorURL }}
{{ end }}
{{ end }}{{ end }}

{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.text" }}{{ range .Alerts }}{{ if .Annotations.summary }}*{{ .Annotations.summary }}*{{ else }}*{{ .Labels.alertname }}*{{ end }} ({{ .Status }}){{ if .Annotations.description }}
{{ .Annotations.description }}{{ end }}
{{ end }}{{ end }}

{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
{{ define "email.default.text" }}{{ if gt (len .Alerts.Firing) 0 }}{{ len .Alerts.Firing }} firing:

{{ template "__text_alert_list" .Alerts.Firing }}{{ end }}{{ if gt (len .Alerts.Resolved) 0 }}{{ len .Alerts.Resolved }} resolved:

{{ template "__text_alert_list" .Alerts.Resolved }}{{ end }}-- 
jetlog notification {{ .NotificationID }}
{{ end }}
`

var funcs = template.FuncMap{
	"toUpper": strings.ToUpper,
	"toLower": strings.ToLower,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"join": func(sep string, s []string) string { return strings.Join(s, sep) },
	"pairValues": func(ps []Pair) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Value
		}
		return out
	},
	"trimSpace":        strings.TrimSpace,
	"since":            time.Since,
	"humanizeDuration": func(d time.Duration) string { return d.Round(time.Second).String() },
}

// Templates are the parsed default templates plus the operator's files.
type Templates struct{ t *template.Template }

// LoadTemplates parses the default templates and then each file (whose
// {{ define }}s may override the defaults).
func LoadTemplates(files []string) (*Templates, error) {
	t, err := template.New("").Funcs(funcs).Option("missingkey=zero").Parse(defaultTemplates)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if t, err = t.New(f).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
	}
	return &Templates{t: t}, nil
}

// Body is one compiled template body.
type Body struct{ t *template.Template }

// Compile parses text (a body such as `{{ template "slack.default.text" . }}`)
// against the loaded definitions.
func (ts *Templates) Compile(text string) (*Body, error) {
	c, err := ts.t.Clone()
	if err != nil {
		return nil, err
	}
	t, err := c.New("body").Parse(text)
	if err != nil {
		return nil, err
	}
	return &Body{t: t}, nil
}

// Execute renders the body with data.
func (b *Body) Execute(data *Data) (string, error) {
	var out bytes.Buffer
	if err := b.t.Execute(&out, data); err != nil {
		return "", err
	}
	return out.String(), nil
}
