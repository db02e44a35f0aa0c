// Package engine evaluates alert rules over hits (events that matched a
// rule) and time: the windows of every rule type, the alert lifecycle
// pending → firing → resolved (and acknowledged), and what each transition
// publishes. It is pure logic: time comes from the hits' event times and
// from the now given to Tick, so tests and the scheduled path (which replays
// documents from OpenSearch) run it on any clock.
//
// # Time
//
// Windows are in event time. An event more than the rule's lateness older
// than the newest event of its group is late: it is counted
// (jetlog_alerter_late_events_total) and otherwise ignored. Conditions that
// become true without an event (flatline, a spike down, cardinality or a
// metric below its threshold) and resolutions are judged by Tick at
// now − lateness: by then the events up to that time have arrived.
//
// # StartsAt
//
// An alert's StartsAt is the event time at which its condition first held
// (the crossing event, or the tick) floored to the rule's align (1m by
// default). Two paths that see the same events (the stream, and a scheduled
// query replaying them) reach the same StartsAt, hence the same alert
// message id, and JetStream stores the transition once.
package engine

import (
	"slices"
	"sort"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// Options configure an Engine.
type Options struct {
	// Origin marks the alerts the engine raises (stream or schedule).
	Origin alert.Origin
	// Owns reports whether the engine owns a state key (the alerter
	// partitions keys between its copies); nil owns every key. It decides
	// who creates the state of a flatline rule without groups.
	Owns func(key string) bool
	// Count receives the engine's events for metrics: "late",
	// "stale_hit", "duplicate", "key_evicted", "key_refused",
	// "event_evicted".
	Count func(ruleName, what string)
}

// Engine holds the state of the keys it owns. It is not safe for
// concurrent use: the alerter runs one per partition, under a lock.
type Engine struct {
	o      Options
	rules  map[string]*rule.Rule
	keys   map[string]*Key
	byRule map[string]map[string]*Key
	byFP   map[string]string // alert fingerprint → state key
	dirty  map[string]bool
	gone   map[string]bool

	scratch []float64 // the values of a window, for a percentile
}

// New returns an engine without rules.
func New(o Options) *Engine {
	if o.Origin == "" {
		o.Origin = alert.OriginStream
	}
	if o.Count == nil {
		o.Count = func(string, string) {}
	}
	return &Engine{o: o, rules: map[string]*rule.Rule{}, keys: map[string]*Key{}, byRule: map[string]map[string]*Key{},
		byFP: map[string]string{}, dirty: map[string]bool{}, gone: map[string]bool{}}
}

// Rule returns the running rule named name, or nil.
func (e *Engine) Rule(name string) *rule.Rule { return e.rules[name] }

// Keys returns how many keys the engine holds for a rule.
func (e *Engine) Keys(ruleName string) int { return len(e.byRule[ruleName]) }

// SetRules replaces the rules. The state of a rule that is gone, or whose
// condition changed (its version), is dropped, and its open alerts are
// resolved at now; a rule whose wording alone changed keeps its state.
// A flatline rule without groups gets its one key, if the engine owns it.
func (e *Engine) SetRules(rules []*rule.Rule, now time.Time) []alert.Alert {
	next := make(map[string]*rule.Rule, len(rules))
	for _, r := range rules {
		if !r.Disabled {
			next[r.Name] = r
		}
	}
	old := e.rules
	e.rules = next
	var out []alert.Alert
	for id, k := range e.keys {
		r := next[k.Rule]
		if r != nil && r.Version == k.Version {
			continue
		}
		if or := old[k.Rule]; or != nil {
			out = e.resolveAll(or, k, now, out)
		}
		e.drop(id, k)
	}
	for _, r := range rules {
		e.ensureStatic(r, now)
	}
	return out
}

// ensureStatic creates the one key of a flatline rule without groups, so
// it can fire even if no event ever comes.
func (e *Engine) ensureStatic(r *rule.Rule, now time.Time) {
	if r.Disabled || r.Type != rule.TypeFlatline || len(r.GroupBy) > 0 {
		return
	}
	id := alert.Fingerprint(r.Name, nil)
	if e.keys[id] != nil || (e.o.Owns != nil && !e.o.Owns(id)) {
		return
	}
	e.add(id, &Key{Rule: r.Name, Version: r.Version, Since: now.Add(-r.Lateness)})
}

func (e *Engine) add(id string, k *Key) {
	e.keys[id] = k
	m := e.byRule[k.Rule]
	if m == nil {
		m = map[string]*Key{}
		e.byRule[k.Rule] = m
	}
	m[id] = k
	for fp := range k.Alerts {
		e.byFP[fp] = id
	}
	e.dirty[id] = true
	delete(e.gone, id)
}

func (e *Engine) drop(id string, k *Key) {
	delete(e.keys, id)
	delete(e.byRule[k.Rule], id)
	for fp := range k.Alerts {
		if e.byFP[fp] == id {
			delete(e.byFP, fp)
		}
	}
	delete(e.dirty, id)
	e.gone[id] = true
}

// Load adds a key read from the state store; a key of a rule that is not
// running, or of another version, is dropped (and deleted from the store).
func (e *Engine) Load(id string, k *Key) {
	r := e.rules[k.Rule]
	if r == nil || r.Version != k.Version {
		e.gone[id] = true
		return
	}
	e.add(id, k)
	delete(e.dirty, id)
}

// Dirty returns the keys changed since the last call, and the ids of the
// keys deleted; the alerter writes them to the state store.
func (e *Engine) Dirty() (changed map[string]*Key, deleted []string) {
	changed = make(map[string]*Key, len(e.dirty))
	for id := range e.dirty {
		if k := e.keys[id]; k != nil {
			changed[id] = k
		}
	}
	for id := range e.gone {
		deleted = append(deleted, id)
	}
	sort.Strings(deleted)
	e.dirty, e.gone = map[string]bool{}, map[string]bool{}
	return changed, deleted
}

// Seed records terms a new_term rule learned from history (a terms
// aggregation over OpenSearch) for a group, as known: they never fire. The
// group's key is marked seeded, so its learning period is over.
func (e *Engine) Seed(ruleName string, group map[string]string, terms []string, at time.Time) {
	r := e.rules[ruleName]
	if r == nil || r.Type != rule.TypeNewTerm {
		return
	}
	id := alert.Fingerprint(r.Name, group)
	k := e.keys[id]
	if k == nil {
		if !e.makeRoom(r) {
			e.o.Count(r.Name, "key_refused")
			return
		}
		k = &Key{Rule: r.Name, Version: r.Version, Group: group, Since: at}
		e.add(id, k)
	}
	for _, t := range terms {
		if _, ok := k.Values[t]; !ok {
			k.remember(r, t, at)
		}
	}
	k.Seeded = true
	e.dirty[id] = true
}

// Touch marks a key changed again, so the next Dirty returns it (its
// write failed).
func (e *Engine) Touch(id string) {
	if e.keys[id] != nil {
		e.dirty[id] = true
	}
}

// Forget marks keys deleted again (their deletion failed).
func (e *Engine) Forget(ids []string) {
	for _, id := range ids {
		if e.keys[id] == nil {
			e.gone[id] = true
		}
	}
}

// Key returns the state of a key, or nil.
func (e *Engine) Key(id string) *Key { return e.keys[id] }

// Open returns every open alert, for listing.
func (e *Engine) Open() []*Alert {
	var out []*Alert
	for _, k := range e.keys {
		for _, a := range k.Alerts {
			if a.open() {
				out = append(out, a)
			}
		}
	}
	return out
}

// Apply takes one hit; seq is its position in the stream of hits of its
// partition (0: no such stream, as in tests and replays). A hit applied
// before (a redelivery after a crash, in any order) is recognised by its
// event id: the window's own events for the rules that keep them, a
// bounded list of recent ids for the others. It returns the transitions to
// publish.
func (e *Engine) Apply(h Hit, seq uint64) []alert.Alert {
	r := e.rules[h.Rule]
	if r == nil || r.Version != h.Version {
		e.o.Count(h.Rule, "stale_hit")
		return nil
	}
	k := e.keys[h.Key]
	if k == nil {
		if !e.makeRoom(r) {
			e.o.Count(r.Name, "key_refused")
			return nil
		}
		k = &Key{Rule: r.Name, Version: r.Version, Group: h.Group, Since: h.Time}
		e.add(h.Key, k)
	}
	if seq > k.Seq {
		k.Seq = seq
	}
	if !r.Type.HasWindowEntries() && k.seen(r, h.ID) {
		e.o.Count(r.Name, "duplicate")
		return nil
	}
	e.dirty[h.Key] = true
	if !k.Last.IsZero() && h.Time.Before(k.Last.Add(-r.Lateness)) {
		e.o.Count(r.Name, "late")
		return nil
	}
	if h.Time.After(k.Last) {
		k.Last = h.Time
	}
	var out []alert.Alert
	switch r.Type {
	case rule.TypeAny:
		out = e.instant(r, h.Key, k, h.Key, k.Group, h, "", "", out)
	case rule.TypeFrequency, rule.TypeFlatline, rule.TypeMetric:
		if r.Type == rule.TypeMetric && !h.HasValue {
			return nil
		}
		if !k.insert(r, Entry{T: h.Time.UnixNano(), ID: h.ID, V: h.Value}) {
			e.o.Count(r.Name, "duplicate")
			return nil
		}
		if k.trim(r) {
			e.o.Count(r.Name, "event_evicted")
		}
		if r.Type != rule.TypeFlatline {
			out = e.judgeAtEvent(r, h, k, out)
		}
	case rule.TypeSpike:
		if k.Buckets == nil {
			k.Buckets = map[int64]int{}
		}
		k.Buckets[bucketOf(r, h.Time)]++
		out = e.judgeAtEvent(r, h, k, out)
	case rule.TypeCardinality:
		if !h.HasTerm {
			return nil
		}
		if k.remember(r, h.Term, h.Time) {
			e.o.Count(r.Name, "event_evicted")
		}
		out = e.judgeAtEvent(r, h, k, out)
	case rule.TypeChange:
		if !h.HasTerm {
			return nil
		}
		t := h.Time.UnixNano()
		switch {
		case k.Prev == nil:
			k.Prev = &Entry{T: t, Term: h.Term}
		case t < k.Prev.T:
			// older than the value it would change: not a change now
		case h.Term != k.Prev.Term:
			prev := k.Prev.Term
			k.Prev = &Entry{T: t, Term: h.Term}
			out = e.instant(r, h.Key, k, h.Key, k.Group, h, h.Term, prev, out)
		default:
			k.Prev.T = t
		}
	case rule.TypeNewTerm:
		if !h.HasTerm {
			return nil
		}
		_, known := k.Values[h.Term]
		learning := !k.Seeded && h.Time.Before(k.Since.Add(r.LearningPeriod))
		if k.remember(r, h.Term, h.Time) {
			e.o.Count(r.Name, "event_evicted")
		}
		if !known && !learning {
			g := mergeGroups(h.Group, r.TermGroup(h.Term))
			out = e.instant(r, h.Key, k, alert.Fingerprint(r.Name, g), g, h, h.Term, "", out)
		}
	}
	return out
}

func mergeGroups(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// makeRoom keeps a rule within max_keys: it evicts the least recently seen
// key without an open alert, or reports that none can go.
func (e *Engine) makeRoom(r *rule.Rule) bool {
	keys := e.byRule[r.Name]
	if len(keys) < r.MaxKeys {
		return true
	}
	var victim string
	var oldest time.Time
	for id, k := range keys {
		if k.hasOpen() || (r.Type == rule.TypeFlatline && len(r.GroupBy) == 0) {
			continue
		}
		if victim == "" || k.Last.Before(oldest) {
			victim, oldest = id, k.Last
		}
	}
	if victim == "" {
		return false
	}
	e.drop(victim, keys[victim])
	e.o.Count(r.Name, "key_evicted")
	return true
}

func (k *Key) hasOpen() bool {
	for _, a := range k.Alerts {
		if a.open() {
			return true
		}
	}
	return false
}

// Tick judges, at now minus each rule's lateness, what no event decides:
// conditions that hold without events (flatline, spike down, cardinality or
// metric below a threshold), pending alerts that have held long enough,
// and alerts whose condition has stopped holding for resolve_after. It also
// forgets what the windows no longer need.
func (e *Engine) Tick(now time.Time) []alert.Alert {
	var out []alert.Alert
	for id, k := range e.keys {
		r := e.rules[k.Rule]
		if r == nil {
			continue
		}
		at := now.Add(-r.Lateness)
		before := len(out)
		if r.Type.Instantaneous() {
			for _, a := range sortedAlerts(k) {
				if a.open() && !at.Before(a.LastHeld.Add(r.ResolveAfter)) {
					out = append(out, e.resolve(r, k, a, at))
				}
			}
		} else {
			holds, v, ids := e.holds(r, k, at)
			if holds {
				out = e.held(r, id, k, id, k.Group, at, v, ids, rule.EventSummary{}, out)
			} else {
				out = e.notHeld(r, k, id, at, out)
			}
			k.prune(r, at)
		}
		if len(out) > before {
			e.dirty[id] = true
		}
		if e.forgettable(r, k, at) {
			e.drop(id, k)
		}
	}
	return out
}

// forgettable reports whether a key holds nothing worth keeping: no open
// alert and an empty window (any and cardinality), long resolved.
func (e *Engine) forgettable(r *rule.Rule, k *Key, at time.Time) bool {
	if k.hasOpen() {
		return false
	}
	quiet := at.Sub(k.Last) > r.Window+r.Lateness+r.ResolveAfter
	switch r.Type {
	case rule.TypeAny:
		return quiet
	case rule.TypeFrequency, rule.TypeMetric:
		return quiet && len(k.Events) == 0
	case rule.TypeCardinality:
		return quiet && len(k.Values) == 0
	case rule.TypeSpike:
		return quiet && len(k.Buckets) == 0
	}
	return false // flatline, change and new_term keys remember what was seen
}

func sortedAlerts(k *Key) []*Alert {
	out := make([]*Alert, 0, len(k.Alerts))
	for _, a := range k.Alerts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *Alert) int { return a.StartsAt.Compare(b.StartsAt) })
	return out
}

// judgeAtEvent evaluates a window rule at the hit's time, and at the
// group's newest time when the hit came out of order (it may complete a
// later window).
func (e *Engine) judgeAtEvent(r *rule.Rule, h Hit, k *Key, out []alert.Alert) []alert.Alert {
	times := []time.Time{h.Time}
	if k.Last.After(h.Time) {
		times = append(times, k.Last)
	}
	for _, at := range times {
		holds, v, ids := e.holds(r, k, at)
		if holds {
			return e.held(r, h.Key, k, h.Key, k.Group, at, v, ids, h.Event, out)
		}
	}
	return out
}

// instant records a match of an instantaneous rule: it fires (a new
// occurrence) or keeps an open alert firing.
func (e *Engine) instant(r *rule.Rule, id string, k *Key, fp string, group map[string]string, h Hit, term, prev string, out []alert.Alert) []alert.Alert {
	if a := k.Alerts[fp]; a.open() {
		a.Value++
		if term != "" {
			a.Term, a.Previous = term, prev
		}
		return e.held(r, id, k, fp, group, h.Time, 0, []string{h.ID}, h.Event, out)
	}
	if k.Alerts == nil {
		k.Alerts = map[string]*Alert{}
	}
	// The occurrence's first match: its value is 1 and its terms are
	// known before the firing event is rendered.
	n := len(out)
	out = e.held(r, id, k, fp, group, h.Time, 1, []string{h.ID}, h.Event, out)
	if a := k.Alerts[fp]; a != nil && len(out) > n {
		a.Term, a.Previous = term, prev
		out[len(out)-1] = e.publish(r, k, a, a.State, h.Time)
	}
	return out
}

// held records that a rule's condition holds for fp at time at: a new
// occurrence begins (pending, or firing without for), a pending alert that
// has held for `for` fires, an open one stays open.
func (e *Engine) held(r *rule.Rule, id string, k *Key, fp string, group map[string]string, at time.Time, v float64, ids []string, ev rule.EventSummary, out []alert.Alert) []alert.Alert {
	if k.Alerts == nil {
		k.Alerts = map[string]*Alert{}
	}
	a := k.Alerts[fp]
	if a.open() {
		if at.After(a.LastHeld) {
			a.LastHeld = at
		}
		if !r.Type.Instantaneous() {
			a.Value = v
		}
		for _, x := range ids {
			if len(a.EventIDs) < maxEventIDs && !slices.Contains(a.EventIDs, x) {
				a.EventIDs = append(a.EventIDs, x)
			}
		}
		if a.State == alert.StatePending && !at.Before(a.HeldSince.Add(r.For)) {
			a.State = alert.StateFiring
			out = append(out, e.publish(r, k, a, alert.StateFiring, at))
		}
		return out
	}
	starts := align(at, r.Align)
	if a != nil && !starts.After(a.EndsAt) {
		starts = at // the aligned time would name the occurrence that just ended
		if !starts.After(a.StartsAt) {
			starts = a.StartsAt.Add(time.Nanosecond)
		}
	}
	if len(ids) > maxEventIDs {
		ids = ids[:maxEventIDs]
	}
	a = &Alert{Fingerprint: fp, Group: group, State: alert.StateFiring, StartsAt: starts, HeldSince: at, LastHeld: at,
		Value: v, EventIDs: slices.Clone(ids), Event: ev}
	if r.For > 0 {
		a.State = alert.StatePending
	}
	k.Alerts[fp] = a
	e.byFP[fp] = id
	return append(out, e.publish(r, k, a, a.State, at))
}

// notHeld records that a window rule's condition does not hold at at.
func (e *Engine) notHeld(r *rule.Rule, k *Key, id string, at time.Time, out []alert.Alert) []alert.Alert {
	a := k.Alerts[id]
	if !a.open() || !at.After(a.LastHeld) {
		return out // an event judged a later time: the condition held then
	}
	if a.State == alert.StatePending || !at.Before(a.LastHeld.Add(r.ResolveAfter)) {
		out = append(out, e.resolve(r, k, a, at))
	}
	return out
}

func (e *Engine) resolve(r *rule.Rule, k *Key, a *Alert, at time.Time) alert.Alert {
	a.State, a.EndsAt = alert.StateResolved, at
	return e.publish(r, k, a, alert.StateResolved, at)
}

func (e *Engine) resolveAll(r *rule.Rule, k *Key, at time.Time, out []alert.Alert) []alert.Alert {
	for _, a := range sortedAlerts(k) {
		if a.open() {
			out = append(out, e.resolve(r, k, a, at))
		}
	}
	return out
}

// Ack acknowledges a firing alert; it reports whether the engine has the
// alert open.
func (e *Engine) Ack(fp, by string, at time.Time) ([]alert.Alert, bool) {
	id, ok := e.byFP[fp]
	if !ok {
		return nil, false
	}
	k := e.keys[id]
	a := k.Alerts[fp]
	r := e.rules[k.Rule]
	if r == nil || !a.open() {
		return nil, false
	}
	if a.State != alert.StateFiring {
		return nil, true
	}
	a.State, a.AckedBy = alert.StateAcknowledged, by
	e.dirty[id] = true
	return []alert.Alert{e.publish(r, k, a, alert.StateAcknowledged, at)}, true
}

// publish makes the alert event of a transition.
func (e *Engine) publish(r *rule.Rule, k *Key, a *Alert, state alert.State, at time.Time) alert.Alert {
	group := a.Group
	out := alert.Alert{
		Fingerprint: a.Fingerprint, Rule: r.Name, Group: group, State: state, Severity: r.Severity,
		Labels: r.AlertLabels(group), StartsAt: a.StartsAt, At: at, Value: a.Value, Threshold: r.Threshold,
		Origin: e.o.Origin, EventIDs: slices.Clone(a.EventIDs), AcknowledgedBy: a.AckedBy,
	}
	if state == alert.StateResolved {
		out.EndsAt = at
	}
	out.Annotations = r.Render(rule.TemplateData{
		Rule: r.Name, Type: string(r.Type), Severity: r.Severity, State: string(state), Group: group, Labels: out.Labels,
		Value: a.Value, Threshold: r.Threshold, Window: r.Window, StartsAt: a.StartsAt, Term: a.Term, Previous: a.Previous, Event: a.Event,
	})
	from := a.StartsAt.Add(-r.Window)
	out.Query = r.Query(group, from, at)
	return out
}

// align floors t to step (0 keeps t).
func align(t time.Time, step time.Duration) time.Time {
	if step <= 0 {
		return t
	}
	return t.Truncate(step)
}
