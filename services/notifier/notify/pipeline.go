package notify

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/services/notifier/delivery"
	"github.com/jetlog/jetlog/services/notifier/dispatch"
	"github.com/jetlog/jetlog/services/notifier/nflog"
)

// Muter says whether an alert is left out of notifications (a silence
// covers it, another alert inhibits it).
type Muter interface {
	Mutes(a *alert.Alert, now time.Time) bool
}

// PipelineOptions configure a Pipeline.
type PipelineOptions struct {
	// Routing is what a configuration reload replaces (Pipeline.With).
	Routing
	Log      *nflog.Log
	Silences Muter // nil: none
	Clock    clockwork.Clock
	Record   Recorder
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Pipeline is what a group's flush runs, as Alertmanager's notification
// pipeline: leave out alerts that are silenced or inhibited, stay quiet
// outside the route's active time or inside its mute time, then for each
// integration of the receiver decide from the notification log whether
// anything new is to be said (or the repeat interval passed), record the
// intent, deliver with retries, and record what the receiver accepted.
type Pipeline struct {
	o   PipelineOptions
	m   *metrics
	log *slog.Logger
}

var _ dispatch.Flusher = (*Pipeline)(nil)

// NewPipeline returns a pipeline.
func NewPipeline(o PipelineOptions) *Pipeline {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Record == nil {
		o.Record = func(*delivery.Record) {}
	}
	return &Pipeline{o: o, m: newMetrics(o.Registry), log: o.Logger}
}

// Routing is the part of a pipeline that a configuration reload replaces.
type Routing struct {
	// Receivers are the integrations of each receiver by name.
	Receivers map[string][]Named
	// TimeIntervals resolves the routes' mute and active time intervals.
	TimeIntervals *timeinterval.Intervener
	Inhibitor     Muter // nil: none
	Retry         RetryConfig
}

// With returns a pipeline that notifies, mutes and retries as r says and
// shares the rest with p (the notification log, silences, metrics,
// recorder). p is unchanged, so a flush in progress with it finishes as it
// began.
func (p *Pipeline) With(r Routing) *Pipeline {
	q := *p
	q.o.Routing = r
	return &q
}

// Occurrence names one occurrence of an alert: its fingerprint and when it
// started, so an alert that resolves and fires again is news.
func Occurrence(a *alert.Alert) string {
	return a.Fingerprint + "@" + strconv.FormatInt(a.StartsAt.UnixNano(), 36)
}

// Flush notifies the group's receiver; see Pipeline.
func (p *Pipeline) Flush(ctx context.Context, g *dispatch.Group, alerts []*alert.Alert) bool {
	integs, ok := p.o.Receivers[g.Route.Receiver]
	if !ok || len(integs) == 0 {
		return true
	}
	now := p.o.Clock.Now()
	if p.timeMuted(g, now) {
		p.m.muted.WithLabelValues("time_interval").Add(float64(len(alerts)))
		return true
	}
	kept := make([]*alert.Alert, 0, len(alerts))
	for _, a := range alerts {
		switch {
		case p.o.Silences != nil && p.o.Silences.Mutes(a, now):
			p.m.muted.WithLabelValues("silence").Inc()
		case p.o.Inhibitor != nil && p.o.Inhibitor.Mutes(a, now):
			p.m.muted.WithLabelValues("inhibition").Inc()
		default:
			kept = append(kept, a)
		}
	}
	if len(integs) == 1 {
		return p.integration(ctx, g, integs[0], kept, now)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := true
	for _, in := range integs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := p.integration(ctx, g, in, kept, now)
			mu.Lock()
			all = all && ok
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// timeMuted reports whether the route is quiet now: inside one of its
// mute_time_intervals, or outside all of its active_time_intervals.
func (p *Pipeline) timeMuted(g *dispatch.Group, now time.Time) bool {
	if p.o.TimeIntervals == nil {
		return false
	}
	r := g.Route
	if len(r.MuteTimeIntervals) > 0 {
		if muted, _, err := p.o.TimeIntervals.Mutes(r.MuteTimeIntervals, now); err == nil && muted {
			return true
		}
	}
	if len(r.ActiveTimeIntervals) > 0 {
		if active, _, err := p.o.TimeIntervals.Mutes(r.ActiveTimeIntervals, now); err == nil && !active {
			return true
		}
	}
	return false
}

// integration runs dedup, intent, delivery and the log update for one
// integration; true when nothing is left to do for these alerts.
func (p *Pipeline) integration(ctx context.Context, g *dispatch.Group, in Named, alerts []*alert.Alert, now time.Time) bool {
	var firing, resolved []string
	var send []*alert.Alert
	for _, a := range alerts {
		if a.State == alert.StateResolved {
			if in.SendResolved() {
				resolved = append(resolved, Occurrence(a))
				send = append(send, a)
			}
			continue
		}
		firing = append(firing, Occurrence(a))
		send = append(send, a)
	}
	slices.Sort(firing)
	slices.Sort(resolved)
	key := nflog.Key(g.Key, g.Route.Receiver, in.Name)
	e := p.o.Log.Get(key)
	if e == nil {
		e = &nflog.Entry{GroupKey: g.Key, Receiver: g.Route.Receiver, Integration: in.Name}
	}
	var pend *nflog.Pending
	resend := false
	switch {
	case e.Pending != nil && e.Pending.Same(firing, resolved):
		// Decided before, not known to be delivered (a crash, a failure):
		// the same notification, with the same id.
		pend, resend = e.Pending, true
	case e.Pending != nil || needsUpdate(e, firing, resolved, in.SendResolved(), g.Route.RepeatInterval, now):
		seq := e.Seq + 1
		if e.Pending != nil && e.Pending.Seq >= seq {
			seq = e.Pending.Seq + 1
		}
		pend = &nflog.Pending{ID: nflog.NotificationID(key, seq, firing, resolved), Seq: seq, Firing: firing, Resolved: resolved, At: now}
	default:
		return true
	}
	if len(send) == 0 {
		// Everything resolved, and this integration does not send resolved
		// alerts: nothing to deliver, but the log forgets the firing ones.
		return p.settle(ctx, key, e, pend, now)
	}
	if !resend {
		e.Pending = pend
		if err := p.o.Log.Put(ctx, key, e); err != nil {
			p.log.Warn("cannot record the intent to notify; tried again at the group's next flush", "receiver", g.Route.Receiver,
				"integration", in.Name, "group", g.Key, "err", err)
			return false
		}
	}
	n := &Notification{ID: pend.ID, Receiver: g.Route.Receiver, Integration: in.Name, GroupKey: g.Key, GroupLabels: g.Labels,
		Alerts: send, At: pend.At, GroupInterval: g.Route.GroupInterval, RepeatInterval: g.Route.RepeatInterval}
	if m := in.MaxAlerts(); m > 0 && len(n.Alerts) > m {
		n.Truncated = len(n.Alerts) - m
		n.Alerts = n.Alerts[:m]
	}
	if err := deliver(ctx, in, n, p.o.Retry, p.o.Record, p.m); err != nil {
		p.m.sent.WithLabelValues(in.Kind(), "failed").Inc()
		if !errors.Is(err, context.Canceled) {
			p.log.Warn("notification not delivered; tried again at the group's next flush with the same id", "id", n.ID,
				"receiver", n.Receiver, "integration", in.Name, "target", in.Target(), "group", g.Key, "err", err)
		}
		return false
	}
	if resend {
		p.m.sent.WithLabelValues(in.Kind(), "resent").Inc()
	} else {
		p.m.sent.WithLabelValues(in.Kind(), "delivered").Inc()
	}
	return p.settle(ctx, key, e, pend, now)
}

// settle records that the receiver has been told about pend's alerts.
func (p *Pipeline) settle(ctx context.Context, key string, e *nflog.Entry, pend *nflog.Pending, now time.Time) bool {
	e.Firing, e.Resolved, e.Seq, e.SentAt, e.Pending = pend.Firing, pend.Resolved, pend.Seq, now, nil
	// The receiver has it: a failure to record that must not lose the
	// delivery, so it is retried with its own short budget; if it still
	// fails, the next flush resends with the same id (a duplicate that a
	// receiver deduplicating on the id drops).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		if err = p.o.Log.Put(wctx, key, e); err == nil || errors.Is(err, nflog.ErrConflict) || wctx.Err() != nil {
			break
		}
		select {
		case <-wctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		p.log.Warn("delivered, but cannot record it; the next flush may send it again with the same id", "key", key, "err", err)
		return false
	}
	return true
}

// needsUpdate decides, as Alertmanager's dedup stage, whether the receiver
// must hear of these alerts: something fires that it was not told of;
// everything it was told fires has resolved; something resolved that it
// was not told of (when it takes resolved alerts); or nothing changed and
// the repeat interval has passed since the last notification.
func needsUpdate(e *nflog.Entry, firing, resolved []string, sendResolved bool, repeat time.Duration, now time.Time) bool {
	if e.SentAt.IsZero() {
		return len(firing) > 0
	}
	if !subset(firing, e.Firing) {
		return true
	}
	if len(firing) == 0 {
		// Alerts that fired and resolved between two notifications were
		// never heard of; only clear what the receiver knows fires.
		return len(e.Firing) > 0
	}
	if sendResolved && !subset(resolved, e.Resolved) {
		return true
	}
	return !now.Before(e.SentAt.Add(repeat))
}

// subset reports whether every element of a (sorted) is in b (sorted).
func subset(a, b []string) bool {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}
