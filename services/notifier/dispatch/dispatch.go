// Package dispatch groups alerts and decides when each group is notified,
// the way Alertmanager's dispatcher does: every alert is matched against
// the routing tree; on each node that takes it, it joins the group of its
// group_by labels; a new group waits group_wait for more alerts, then is
// flushed, and again every group_interval while it has alerts. Whether a
// flush sends anything (what changed, repeat_interval, silences) is the
// Flusher's decision; a resolved alert leaves its group after a flush that
// dealt with it, and the dispatcher forgets it once no group holds it.
//
// Reconfigure swaps the routing tree and the flusher while the dispatcher
// runs (a configuration reload) and regroups the alerts it holds.
//
// Time comes from an injected clock, so tests script group_wait and the
// intervals instead of sleeping.
package dispatch

import (
	"context"
	"log/slog"
	"slices"
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

	// storeMu orders the store's writes (an alert event's Put, the Delete
	// of an alert no group holds) so that the store ends as memory does.
	// It is taken before mu, and mu is never held across a store round
	// trip: timers and flushes of every group go on while an alert is
	// being stored.
	storeMu sync.Mutex
	mu      sync.Mutex
	route   *route.Route
	flusher Flusher
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

// group is a group of alerts. A reload replaces the group with one on the
// new tree's node; when the key is the same, both share their schedule.
type group struct {
	Group
	alerts map[string]*alert.Alert
	sched  *schedule
}

// schedule is the timer of a group key, kept across reloads.
type schedule struct {
	key     string
	timer   clockwork.Timer
	flushMu sync.Mutex // one flush of a group at a time
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
	return &Dispatcher{opts: opts, log: opts.Logger, route: opts.Route, flusher: opts.Flusher,
		alerts: map[string]*held{}, groups: map[string]*group{}, ctx: ctx, cancel: cancel}
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
	return d.PutAll(ctx, []*alert.Alert{a})[0]
}

// PutAll adds a batch of alert events, in order, as Put does for each,
// and returns the error of each. The alerts are stored at once, not one
// round trip after another; of several events of one alert, only the
// newest is stored and held (the others share its error).
func (d *Dispatcher) PutAll(ctx context.Context, as []*alert.Alert) []error {
	errs := make([]error, len(as))
	d.storeMu.Lock()
	defer d.storeMu.Unlock()
	// What is decided here changes only under storeMu, so it still holds
	// once the alerts are stored.
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		for i := range errs {
			errs[i] = context.Canceled
		}
		return errs
	}
	newest := map[string]int{} // fingerprint -> index of its newest event
	for i, a := range as {
		if !Notifiable(a) {
			continue
		}
		if cur := d.alerts[a.Fingerprint]; cur != nil && stale(a, cur.a) {
			continue
		}
		if j, ok := newest[a.Fingerprint]; ok && stale(a, as[j]) {
			continue
		}
		newest[a.Fingerprint] = i
	}
	d.mu.Unlock()
	news := make([]int, 0, len(newest))
	for _, i := range newest {
		news = append(news, i)
	}
	slices.Sort(news)
	stored := make([]error, len(as))
	if d.opts.Store != nil {
		var wg sync.WaitGroup
		for _, i := range news {
			wg.Go(func() { stored[i] = d.opts.Store.Put(ctx, as[i]) })
		}
		wg.Wait()
	}
	for i, a := range as {
		if j, ok := newest[a.Fingerprint]; ok {
			errs[i] = stored[j]
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range news {
		switch {
		case stored[i] != nil:
		case d.stopped:
			// Stored but not taken: the event is redelivered after the
			// next start, which finds the alert in the store anyway.
			for k, a := range as {
				if a.Fingerprint == as[i].Fingerprint {
					errs[k] = context.Canceled
				}
			}
		default:
			d.insert(as[i])
		}
	}
	return errs
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
	now := d.join(a, nil)
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

// join puts a into the group of every node of the tree that takes it and
// returns their keys. A group that does not exist yet takes the schedule
// of the same key in prev (a reload), else waits its node's group_wait.
// d.mu is held.
func (d *Dispatcher) join(a *alert.Alert, prev map[string]*group) map[string]bool {
	keys := map[string]bool{}
	for _, r := range d.route.Match(a.Labels) {
		gl := r.GroupLabels(a.Labels)
		key := r.GroupKey(gl)
		keys[key] = true
		g := d.groups[key]
		if g == nil {
			g = &group{Group: Group{Key: key, Route: r, Labels: gl}, alerts: map[string]*alert.Alert{}}
			if p := prev[key]; p != nil {
				g.sched = p.sched
			} else {
				s := &schedule{key: key}
				s.timer = d.opts.Clock.AfterFunc(r.GroupWait, func() { d.tick(s) })
				g.sched = s
			}
			d.groups[key] = g
		}
		g.alerts[a.Fingerprint] = a
	}
	return keys
}

// Reconfigure replaces the routing tree and the flusher, and regroups
// every alert held under the new tree, as Alertmanager rebuilds its
// dispatcher on a reload. A group whose key the new tree still makes keeps
// its timer: its next flush comes when it was due, with the new node's
// receiver, and group_interval from then on. A new group waits its
// group_wait; a group the new tree no longer makes is dropped. A flush in
// progress finishes with the old tree and flusher; the next uses the new.
func (d *Dispatcher) Reconfigure(r *route.Route, f Flusher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.route, d.flusher = r, f
	prev := d.groups
	d.groups = make(map[string]*group, len(prev))
	for _, h := range d.alerts {
		h.groups = d.join(h.a, prev)
	}
	for key, p := range prev {
		if g := d.groups[key]; g == nil || g.sched != p.sched {
			p.sched.timer.Stop()
		}
	}
}

// dropIfEmpty forgets g once it holds no alert. d.mu is held.
func (d *Dispatcher) dropIfEmpty(g *group) {
	if len(g.alerts) > 0 || d.groups[g.Key] != g {
		return
	}
	g.sched.timer.Stop()
	delete(d.groups, g.Key)
}

// tick flushes a group when its timer fires, and arms the next flush
// group_interval later (before flushing, so a slow receiver does not
// stretch the interval; flushes of one group never overlap).
func (d *Dispatcher) tick(s *schedule) {
	d.mu.Lock()
	g := d.groups[s.key]
	if d.stopped || g == nil || g.sched != s {
		d.mu.Unlock()
		return
	}
	s.timer.Reset(g.Route.GroupInterval)
	flusher := d.flusher
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

	s.flushMu.Lock()
	ok := flusher.Flush(d.ctx, &g.Group, alerts)
	s.flushMu.Unlock()
	if ok {
		d.settle(g, alerts)
	}
}

// settle removes from g the resolved alerts a successful flush dealt with,
// unless they changed meanwhile, and forgets alerts no group holds. After
// a reload, g's key may belong to a group on the new tree (with the same
// schedule), which is settled instead, or to none: then the alerts'
// groups on the new tree settle them at their own flushes.
func (d *Dispatcher) settle(g *group, flushed []*alert.Alert) {
	if slices.ContainsFunc(flushed, func(a *alert.Alert) bool { return a.State == alert.StateResolved }) {
		// An alert forgotten here is deleted from the store: no Put of a
		// newer event of it may come between the two.
		d.storeMu.Lock()
		defer d.storeMu.Unlock()
	}
	var forget []string
	d.mu.Lock()
	cur := d.groups[g.Key]
	if cur == nil || cur.sched != g.sched {
		d.mu.Unlock()
		return
	}
	g = cur
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
			forget = append(forget, a.Fingerprint)
		}
	}
	d.dropIfEmpty(g)
	d.mu.Unlock()
	if d.opts.Store == nil {
		return
	}
	for _, fp := range forget {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.opts.Store.Delete(ctx, fp); err != nil {
			// Harmless: restored after a restart, it is found already
			// notified and dropped again.
			d.log.Warn("cannot remove a resolved alert from the store", "fingerprint", fp, "err", err)
		}
		cancel()
	}
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
		g.sched.timer.Stop()
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
