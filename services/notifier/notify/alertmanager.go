package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// alertmanager forwards alerts to an Alertmanager's API, so teams that run
// one keep their routing, silences and receivers there.
type alertmanager struct {
	base
	url            string
	user, password string
	client         *http.Client
}

var _ Integration = (*alertmanager)(nil)

func (a *alertmanager) Kind() string   { return "alertmanager" }
func (a *alertmanager) Target() string { return redactURL(a.url) }

// postableAlert is an alert as Alertmanager's POST /api/v2/alerts takes it.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Send posts the alerts. A firing alert is given an end time past the
// group's next repeat (repeat_interval plus two group intervals), so
// Alertmanager keeps it firing until jetlog sends it again or resolves it,
// instead of resolving it after its resolve_timeout. Alertmanager
// deduplicates alerts by their labels, so a repeated post changes nothing.
func (a *alertmanager) Send(ctx context.Context, n *Notification) error {
	// Alertmanager compares end times with its wall clock.
	now := time.Now()
	keep := now.Add(n.RepeatInterval + 2*n.GroupInterval)
	data := newData(n, a.externalURL)
	out := make([]postableAlert, 0, len(n.Alerts))
	for i, al := range n.Alerts {
		pa := postableAlert{Labels: al.Labels, Annotations: al.Annotations, StartsAt: al.StartsAt, GeneratorURL: data.Alerts[i].GeneratorURL}
		if status(al) == "resolved" {
			pa.EndsAt = al.EndsAt
			if pa.EndsAt.IsZero() {
				pa.EndsAt = now
			}
		} else {
			pa.EndsAt = keep
		}
		out = append(out, pa)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.url, "/")+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if a.user != "" {
		req.SetBasicAuth(a.user, a.password)
	}
	return doHTTP(a.client, req)
}
