// Package dispatch groups alerts and decides when each group is notified,
// the way Alertmanager's dispatcher does: every alert is matched against
// the routing tree; on each node that takes it, it joins the group of its
// group_by labels; a new group waits group_wait for more alerts, then is
// flushed, and again every group_interval while it has alerts. Whether a
// flush sends anything (what changed, repeat_interval, silences) is the
// Flusher's decision; a resolved alert leaves its group after a flush that
// dealt with it, and the dispatcher forgets it once no group holds it.
//
// Time comes from an injected clock, so tests script group_wait and the
// intervals instead of sleeping.
package dispatch

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/services/notifier/route"
)

// Group is a group of alerts on one node of the routing tree.
type Group struct {
	// Key identifies the group: the node's ID and the group labels.
	Key string
	// Route is the node; its receiver is notified.
	Route *route.Route
	// Labels are the group_by labels' values.
	Labels map[string]string
}

// Flusher notifies a group's receiver of its alerts (firing and resolved,
// sorted by fingerprint). It returns true when the flush dealt with the
// resolved alerts (notified them, or found nothing to send), so they leave
// the group; false keeps them for the next flush.
type Flusher interface {
	Flush(ctx context.Context, g *Group, alerts []*alert.Alert) bool
}

// FlushFunc adapts a function to Flusher.
type FlushFunc func(ctx context.Context, g *Group, alerts []*alert.Alert) bool

// Flush calls f.
func (f FlushFunc) Flush(ctx context.Context, g *Group, alerts []*alert.Alert) bool {
	return f(ctx, g, alerts)
}

// Store persists the alerts the dispatcher holds, so a restart resumes
// with them (a KV bucket in production).
type Store interface {
	Put(ctx context.Context, a *alert.Alert) error
	Delete(ctx context.Context, fingerprint string) error
}

// Options configure a Dispatcher.
type Options struct {
	Route   *route.Route
	Flusher Flusher
	// Clock defaults to the real clock.
	Clock clockwork.Clock
	// Store defaults to none (memory only).
	Store  Store
	Logger *slog.Logger
}

// Dispatcher holds the alerts and their groups.
type Dispatcher struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	alerts  map[string]*held  // by fingerprint
	groups  map[string]*group // by key
	stopped bool
	// flushing counts flushes in flight (armed for the next one already).
	flushing int
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// held is an alert and the keys of the groups that hold it.
type held struct {
	a      *alert.Alert
	groups map[string]bool
}

type group struct {
	Group
	alerts  map[string]*alert.Alert
	timer   clockwork.Timer
	flushMu sync.Mutex // one flush of a group at a time
	deleted bool
}

// New returns a dispatcher.
func New(opts Options) *Dispatcher {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{opts: opts, log: opts.Logger, alerts: map[string]*held{}, groups: map[string]*group{}, ctx: ctx, cancel: cancel}
}

// Notifiable reports whether an alert event concerns notifications:
// firing (acknowledged included: the condition still holds) and resolved
// events do; pending ones do not (Alertmanager never sees them either).
func Notifiable(a *alert.Alert) bool {
	switch a.State {
	case alert.StateFiring, alert.StateAcknowledged, alert.StateResolved:
		return true
	}
	return false
}

// stale reports whether a is older news than cur: an earlier occurrence,
// or the same occurrence after it resolved.
func stale(a, cur *alert.Alert) bool {
	switch {
	case a.StartsAt.Before(cur.StartsAt):
		return true
	case a.StartsAt.Equal(cur.StartsAt):
		return cur.State == alert.StateResolved
	}
	return false
}

// Put adds an alert event: a new alert joins its groups, a newer event of
// a held alert replaces it, an older one is ignored. The alert is stored
// (Options.Store) before Put returns nil; an error means it was not, and
// the event should be redelivered.
func (d *Dispatcher) Put(ctx context.Context, a *alert.Alert) error {
	if !Notifiable(a) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return context.Canceled
	}
	if cur := d.alerts[a.Fingerprint]; cur != nil && stale(a, cur.a) {
		return nil
	}
	if d.opts.Store != nil {
		if err := d.opts.Store.Put(ctx, a); err != nil {
			return err
		}
	}
	d.insert(a)
	return nil
}

// Restore adds alerts read back from the store at start, without storing
// them again.
func (d *Dispatcher) Restore(alerts []*alert.Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range alerts {
		if cur := d.alerts[a.Fingerprint]; cur == nil || !stale(a, cur.a) {
			d.insert(a)
		}
	}
}

// insert puts a into the groups of every node that takes it. d.mu is held.
func (d *Dispatcher) insert(a *alert.Alert) {
	h := d.alerts[a.Fingerprint]
	if h == nil {
		h = &held{groups: map[string]bool{}}
		d.alerts[a.Fingerprint] = h
	}
	h.a = a
	now := map[string]bool{}
	for _, r := range d.opts.Route.Match(a.Labels) {
		gl := r.GroupLabels(a.Labels)
		key := r.GroupKey(gl)
		now[key] = true
		g := d.groups[key]
		if g == nil {
			g = &group{Group: Group{Key: key, Route: r, Labels: gl}, alerts: map[string]*alert.Alert{}}
			d.groups[key] = g
			g.timer = d.opts.Clock.AfterFunc(r.GroupWait, func() { d.tick(g) })
		}
		g.alerts[a.Fingerprint] = a
	}
	// Labels can change between occurrences (a rule edited): leave the
	// groups that no longer take the alert.
	for key := range h.groups {
		if !now[key] {
			if g := d.groups[key]; g != nil {
				delete(g.alerts, a.Fingerprint)
				d.dropIfEmpty(g)
			}
		}
	}
	h.groups = now
}

func (d *Dispatcher) dropIfEmpty(g *group) {
	if len(g.alerts) > 0 || g.deleted {
		return
	}
	g.deleted = true
	g.timer.Stop()
	delete(d.groups, g.Key)
}

// tick flushes a group when its timer fires, and arms the next flush
// group_interval later (before flushing, so a slow receiver does not
// stretch the interval; flushes of one group never overlap).
func (d *Dispatcher) tick(g *group) {
	d.mu.Lock()
	if d.stopped || g.deleted {
		d.mu.Unlock()
		return
	}
	g.timer.Reset(g.Route.GroupInterval)
	alerts := make([]*alert.Alert, 0, len(g.alerts))
	for _, a := range g.alerts {
		alerts = append(alerts, a)
	}
	d.wg.Add(1)
	d.flushing++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.flushing--
		d.mu.Unlock()
		d.wg.Done()
	}()
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].Fingerprint < alerts[j].Fingerprint })

	g.flushMu.Lock()
	ok := d.opts.Flusher.Flush(d.ctx, &g.Group, alerts)
	g.flushMu.Unlock()
	if ok {
		d.settle(g, alerts)
	}
}

// settle removes from g the resolved alerts a successful flush dealt with,
// unless they changed meanwhile, and forgets alerts no group holds.
func (d *Dispatcher) settle(g *group, flushed []*alert.Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range flushed {
		if a.State != alert.StateResolved || g.alerts[a.Fingerprint] != a {
			continue
		}
		delete(g.alerts, a.Fingerprint)
		h := d.alerts[a.Fingerprint]
		if h == nil || h.a != a {
			continue
		}
		delete(h.groups, g.Key)
		if len(h.groups) == 0 {
			delete(d.alerts, a.Fingerprint)
			if d.opts.Store != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := d.opts.Store.Delete(ctx, a.Fingerprint); err != nil {
					// Harmless: restored after a restart, it is found
					// already notified and dropped again.
					d.log.Warn("cannot remove a resolved alert from the store", "fingerprint", a.Fingerprint, "err", err)
				}
				cancel()
			}
		}
	}
	d.dropIfEmpty(g)
}

// Alerts returns every alert held, firing and resolved.
func (d *Dispatcher) Alerts() []*alert.Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*alert.Alert, 0, len(d.alerts))
	for _, h := range d.alerts {
		out = append(out, h.a)
	}
	return out
}

// Flushing returns the number of flushes in flight. A flush arms the
// group's next one before it starts, so once a test has seen every timer
// armed again (a fake clock's BlockUntil), Flushing() == 0 means every
// flush it triggered has finished.
func (d *Dispatcher) Flushing() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushing
}

// GroupState is a snapshot of a group, for status pages and tests.
type GroupState struct {
	Key          string
	Receiver     string
	Labels       map[string]string
	Fingerprints []string
}

// Groups returns a snapshot of the groups, sorted by key.
func (d *Dispatcher) Groups() []GroupState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]GroupState, 0, len(d.groups))
	for _, g := range d.groups {
		gs := GroupState{Key: g.Key, Receiver: g.Route.Receiver, Labels: g.Labels}
		for fp := range g.alerts {
			gs.Fingerprints = append(gs.Fingerprints, fp)
		}
		sort.Strings(gs.Fingerprints)
		out = append(out, gs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Stop stops the timers and waits for the flushes in flight; when ctx ends
// first, their context is canceled (a notification cut short is sent again
// after the next start, with the same id).
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	for _, g := range d.groups {
		g.timer.Stop()
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return ctx.Err()
	}
}
