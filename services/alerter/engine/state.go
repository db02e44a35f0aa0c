package engine

import (
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// Hit is one event that matched one rule: what the engine keeps of it.
// The alerter's matching stage makes hits from LOGS and hands each to the
// engine that owns its key.
type Hit struct {
	Rule    string            `json:"r"`
	Version string            `json:"ver"`
	Key     string            `json:"k"`
	Group   map[string]string `json:"g,omitempty"`
	ID      string            `json:"id"`
	Time    time.Time         `json:"t"`
	// Value is a metric rule's number; Term what change, cardinality and
	// new_term rules compare.
	Value    float64 `json:"v,omitempty"`
	HasValue bool    `json:"hv,omitempty"`
	Term     string  `json:"term,omitempty"`
	HasTerm  bool    `json:"ht,omitempty"`
	// Event is the part of the event that summaries may show.
	Event rule.EventSummary `json:"ev"`
}

// maxSummaryBody bounds the body a hit carries for templates.
const maxSummaryBody = 512

// NewHit makes the hit of ev for r.
func NewHit(r *rule.Rule, ev *event.Event) Hit {
	g := r.GroupOf(ev)
	h := Hit{Rule: r.Name, Version: r.Version, Key: alert.Fingerprint(r.Name, g), Group: g, ID: ev.ID, Time: ev.Timestamp}
	switch r.Type {
	case rule.TypeMetric:
		h.Value, h.HasValue = r.ValueOf(ev)
	case rule.TypeChange, rule.TypeCardinality, rule.TypeNewTerm:
		h.Term, h.HasTerm = r.TermOf(ev)
	}
	body := ev.Body
	if len(body) > maxSummaryBody {
		body = body[:maxSummaryBody]
	}
	h.Event = rule.EventSummary{ID: ev.ID, Body: body, Source: ev.Source, Dataset: ev.Dataset, Severity: ev.Severity.Text,
		Service: ev.Service(), Host: ev.Host()}
	return h
}

// Key is the state of one rule for one group: its window and its alerts.
// It is what the alerter keeps in the alert_state bucket.
type Key struct {
	Rule    string            `json:"rule"`
	Version string            `json:"version"`
	Group   map[string]string `json:"group,omitempty"`
	// Seq is the highest hit sequence applied (for operators; a hit
	// delivered again is recognised by its event id, whatever the order).
	Seq uint64 `json:"seq,omitempty"`
	// Recent are the ids of the latest events applied, for the rules whose
	// state keeps no events (any, spike, change, new_term, cardinality).
	Recent []string `json:"recent,omitempty"`
	// Since is the event time the group was first seen (or created, for a
	// flatline rule without groups); Last the newest event time.
	Since time.Time `json:"since"`
	Last  time.Time `json:"last,omitzero"`
	// Events are the window's events, oldest first (frequency, flatline,
	// metric).
	Events []Entry `json:"events,omitempty"`
	// Buckets count events per bucket start (spike), in unix nanoseconds.
	Buckets map[int64]int `json:"buckets,omitempty"`
	// Values are the distinct values (cardinality) or known terms
	// (new_term) with when each was last seen, in unix nanoseconds.
	Values map[string]int64 `json:"values,omitempty"`
	// Seeded says the known terms were read from OpenSearch.
	Seeded bool `json:"seeded,omitempty"`
	// Prev is a change rule's last value.
	Prev *Entry `json:"prev,omitempty"`
	// Alerts are the open (and last resolved) alerts, by fingerprint.
	Alerts map[string]*Alert `json:"alerts,omitempty"`
}

// Entry is one event kept in a window.
type Entry struct {
	T    int64   `json:"t"`
	ID   string  `json:"id,omitempty"`
	V    float64 `json:"v,omitempty"`
	Term string  `json:"term,omitempty"`
}

// Alert is the lifecycle of one alert.
type Alert struct {
	Fingerprint string            `json:"fp"`
	Group       map[string]string `json:"group,omitempty"`
	State       alert.State       `json:"state"`
	// StartsAt names the occurrence; HeldSince is when the condition began
	// to hold (exact), LastHeld when it last held; EndsAt when it resolved.
	StartsAt  time.Time         `json:"startsAt"`
	HeldSince time.Time         `json:"heldSince"`
	LastHeld  time.Time         `json:"lastHeld"`
	EndsAt    time.Time         `json:"endsAt,omitzero"`
	Value     float64           `json:"value"`
	EventIDs  []string          `json:"ids,omitempty"`
	Event     rule.EventSummary `json:"ev"`
	Term      string            `json:"term,omitempty"`
	Previous  string            `json:"prev,omitempty"`
	AckedBy   string            `json:"ackedBy,omitempty"`
}

// open reports whether the alert is pending, firing or acknowledged.
func (a *Alert) open() bool { return a != nil && a.State != alert.StateResolved }

// maxEventIDs is how many event ids an alert carries.
const maxEventIDs = 10
