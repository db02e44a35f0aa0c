// Package alert is the contract between the alerter, which raises alerts,
// and whoever reads them: the notifier, a live subscriber, the query API, a
// platform team's own NATS client.
//
// An alert is an instance of a rule for one group key (the values of the
// rule's group_by fields), identified by a stable fingerprint. Each change
// of its state is one alert event, a JSON Alert published on
//
//	alerts.<state>.<severity>.<rule>
//
// (for example alerts.firing.critical.checkout-errors) into the ALERTS
// stream, with Nats-Msg-Id = MsgID(fingerprint, state, since): the same
// transition published twice (a re-evaluation, a redelivery, a scheduled
// query raising what the stream already raised) is stored once. A
// subscriber filters with subject wildcards: alerts.firing.> for every
// firing alert, alerts.*.critical.> for every critical one, alerts.*.*.<rule>
// for one rule.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is where an alert is in its lifecycle: pending (the condition holds,
// for less than the rule's `for`), firing, resolved. Acknowledged is a
// firing alert a person has taken on; it stays firing for the condition.
type State string

// The states an alert event reports.
const (
	StatePending      State = "pending"
	StateFiring       State = "firing"
	StateResolved     State = "resolved"
	StateAcknowledged State = "acknowledged"
)

// Origin says which path raised an alert event.
type Origin string

// The paths that raise alerts.
const (
	OriginStream   Origin = "stream"   // the streaming evaluation of LOGS
	OriginSchedule Origin = "schedule" // a scheduled OpenSearch query
)

// SubjectPrefix is the subject prefix of alert events.
const SubjectPrefix = "alerts."

// Alert is one alert event.
type Alert struct {
	// Fingerprint identifies the alert: Fingerprint(rule, group).
	Fingerprint string `json:"fingerprint"`
	// Rule is the rule's name.
	Rule string `json:"rule"`
	// Group holds the values of the rule's group_by fields for this alert
	// (empty for a rule without group_by).
	Group map[string]string `json:"group,omitempty"`
	// State is the state this event reports.
	State State `json:"state"`
	// Severity is the rule's severity (info, warning, critical, …).
	Severity string `json:"severity"`
	// Labels are the rule's labels plus the group values and
	// alertname/severity, as Alertmanager expects them.
	Labels map[string]string `json:"labels"`
	// Annotations are the rendered summary, description, runbook, ….
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the alert began (pending or firing); it does not
	// change until the alert resolves, and with the fingerprint it names
	// one occurrence of the alert.
	StartsAt time.Time `json:"startsAt"`
	// EndsAt is when it resolved (zero while it has not).
	EndsAt time.Time `json:"endsAt,omitzero"`
	// At is when this event was raised (event time of the event that caused
	// it, or the evaluation time of a timer or a scheduled query).
	At time.Time `json:"at"`
	// Value is what the rule measured (a count, a rate, a metric), with
	// Threshold, what it was compared with.
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold,omitempty"`
	// Origin says which path raised this event.
	Origin Origin `json:"origin"`
	// Query is an OpenSearch query (JSON) that finds the matching events.
	Query json.RawMessage `json:"query,omitempty"`
	// EventIDs are the ids of the first matching events.
	EventIDs []string `json:"eventIds,omitempty"`
	// AcknowledgedBy names who acknowledged a firing alert.
	AcknowledgedBy string `json:"acknowledgedBy,omitempty"`
	// Raw is the event's JSON as read from ALERTS, when the alert was
	// decoded from there (a reader that stores it again keeps these bytes
	// rather than encoding it anew); never encoded itself.
	Raw []byte `json:"-"`
}

// Fingerprint returns the stable identity of rule's alert for a group key:
// a hash of the rule name and the group's sorted key=value pairs.
func Fingerprint(rule string, group map[string]string) string {
	keys := make([]string, 0, len(group))
	for k := range group {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(rule))
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{1})
		h.Write([]byte(group[k]))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// MsgID is the Nats-Msg-Id of an alert event: one per fingerprint, state and
// occurrence (StartsAt), so the same transition is stored once however many
// times, and by whichever path, it is raised.
func MsgID(fingerprint string, state State, startsAt time.Time) string {
	return fingerprint + ":" + string(state) + ":" + strconv.FormatInt(startsAt.UnixNano(), 10)
}

// Subject returns the subject of an alert event.
func (a *Alert) Subject() string {
	return SubjectPrefix + string(a.State) + "." + token(a.Severity) + "." + token(a.Rule)
}

// MsgID returns the alert event's Nats-Msg-Id.
func (a *Alert) MsgID() string { return MsgID(a.Fingerprint, a.State, a.StartsAt) }

// token makes s one subject token.
func token(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}
