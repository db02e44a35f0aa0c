package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/job"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// scheduler runs the rules that have a schedule as queries against
// OpenSearch. Each such rule runs on one copy of the alerter: the owner of
// the partition its name hashes to. A run reads the documents the rule
// matches over its lookback plus its window, replays them through the same
// engine the stream uses (so it reaches the same StartsAt for the same
// events), and publishes the transitions; JetStream drops those the stream
// already published (same message id), and an alert the stream holds open
// under another StartsAt is left to the stream.
type scheduler struct {
	a       *Alerter
	mu      sync.Mutex
	runners map[string]*job.Runner // by rule name + version
	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func newScheduler(a *Alerter) *scheduler {
	return &scheduler{a: a, runners: map[string]*job.Runner{}, kick: make(chan struct{}, 1)}
}

func (s *scheduler) start(ctx context.Context, _ *sync.WaitGroup) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			s.sync()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.kick:
			}
		}
	}()
}

// refresh looks again at which rules this copy runs (ownership or rules
// changed).
func (s *scheduler) refresh() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func ruleRunKey(r *rule.Rule) string { return r.Name + "\x00" + r.Version }

// sync starts the runners of the scheduled rules this copy owns and stops
// the others.
func (s *scheduler) sync() {
	want := map[string]*rule.Rule{}
	for _, r := range s.a.rules.Load().set.Rules {
		if r.Schedule == nil || r.Disabled {
			continue
		}
		if s.a.owner.owns(Partition(alert.Fingerprint(r.Name, nil), s.a.cfg.Partitions)) {
			want[ruleRunKey(r)] = r
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, run := range s.runners {
		if want[k] == nil {
			_ = run.Stop(context.Background())
			delete(s.runners, k)
		}
	}
	for k, r := range want {
		if s.runners[k] != nil {
			continue
		}
		r := r
		run, err := job.New(func(ctx context.Context) error { return s.run(ctx, r) }, job.Options{
			Name: "schedule/" + r.Name, Every: r.Schedule.Every, Jitter: s.a.cfg.Schedule.Jitter, Immediately: true, Logger: s.a.log,
		})
		if err != nil {
			s.a.log.Error("cannot schedule rule", "rule", r.Name, "err", err)
			continue
		}
		_ = run.Start(context.Background())
		s.runners[k] = run
	}
}

func (s *scheduler) stop(ctx context.Context) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, run := range s.runners {
		_ = run.Stop(ctx)
		delete(s.runners, k)
	}
}

// Trigger runs every scheduled rule this copy owns now (tests, operators).
func (a *Alerter) Trigger() {
	if a.sched == nil {
		return
	}
	a.sched.sync()
	a.sched.mu.Lock()
	defer a.sched.mu.Unlock()
	for _, run := range a.sched.runners {
		run.Trigger()
	}
}

// ScheduledRuns returns, per scheduled rule this copy runs, how many runs
// finished and the last one's error.
func (a *Alerter) ScheduledRuns() map[string]job.Result {
	out := map[string]job.Result{}
	if a.sched == nil {
		return out
	}
	a.sched.mu.Lock()
	defer a.sched.mu.Unlock()
	for k, run := range a.sched.runners {
		res, n := run.Last()
		if n > 0 {
			name, _, _ := strings.Cut(k, "\x00")
			out[name] = res
		}
	}
	return out
}

// run is one scheduled run of r.
func (s *scheduler) run(ctx context.Context, r *rule.Rule) (err error) {
	defer func() {
		res := "success"
		if err != nil {
			res = "failure"
		}
		s.a.m.scheduled.WithLabelValues(r.Name, res).Inc()
	}()
	cl, err := s.a.env.OpenSearch(ctx)
	if err != nil {
		return err
	}
	now := s.a.Now()
	span := r.Window
	if r.Type == rule.TypeSpike {
		span = 2 * r.Window
	}
	from := now.Add(-r.Schedule.Lookback - span - r.Lateness)
	evs, err := Search(ctx, cl, s.a.cfg.IndexPrefix, r, from, now)
	if err != nil {
		return err
	}
	sim := engine.NewSimulation([]*rule.Rule{r}, engine.Options{Origin: alert.OriginSchedule}, from, s.a.cfg.Tick)
	for _, ev := range evs {
		sim.Event(ev)
	}
	sim.AdvanceTo(now)
	open := map[string]*alert.Alert{}
	var pubs []alert.Alert
	for _, t := range sim.Alerts() {
		led, seen := open[t.Fingerprint]
		if !seen {
			led = s.ledger(ctx, t.Fingerprint)
			open[t.Fingerprint] = led
		}
		if led != nil && (led.Origin != alert.OriginSchedule || !led.StartsAt.Equal(t.StartsAt)) && led.State != alert.StateResolved {
			continue // the stream (or an earlier occurrence) holds this alert
		}
		pubs = append(pubs, t)
	}
	return s.publish(ctx, pubs)
}

// ledger returns the open alert recorded for fp, or nil.
func (s *scheduler) ledger(ctx context.Context, fp string) *alert.Alert {
	e, err := s.a.state.Get(ctx, LedgerKey(fp))
	if err != nil {
		return nil
	}
	var a alert.Alert
	if json.Unmarshal(e.Value(), &a) != nil {
		return nil
	}
	return &a
}

// publish stores the transitions and records the last state of each
// alert in the ledger.
func (s *scheduler) publish(ctx context.Context, as []alert.Alert) error {
	last := map[string]alert.Alert{}
	nms := make([]*nats.Msg, 0, len(as))
	futs := make([]jetstream.PubAckFuture, 0, len(as))
	for _, al := range as {
		nm, f := s.a.publishAlert(al)
		nms, futs = append(nms, nm), append(futs, f)
		last[al.Fingerprint] = al
	}
	if err := s.a.confirm(ctx, nms, futs); err != nil {
		return err
	}
	for fp, al := range last {
		if al.State == alert.StateResolved {
			_ = s.a.state.Delete(ctx, LedgerKey(fp))
			continue
		}
		b, _ := json.Marshal(al)
		if _, err := s.a.state.Put(ctx, LedgerKey(fp), b); err != nil {
			return fmt.Errorf("record alert %s: %w", fp, err)
		}
	}
	return nil
}

// Search reads the documents of r's exact-match predicates between from
// and to, oldest first, at most r.Schedule.MaxEvents (more is an error
// that names the limit), from the indices <prefix>-*.
func Search(ctx context.Context, cl *opensearchapi.Client, prefix string, r *rule.Rule, from, to time.Time) ([]*event.Event, error) {
	max := 100000
	if r.Schedule != nil {
		max = r.Schedule.MaxEvents
	}
	filters := append(r.Filters(nil), map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gte": from.UTC().Format(time.RFC3339Nano), "lte": to.UTC().Format(time.RFC3339Nano)}}})
	var out []*event.Event
	var after []any
	for {
		q := map[string]any{"size": min(1000, max+1-len(out)), "query": map[string]any{"bool": map[string]any{"filter": filters}},
			"sort": []any{map[string]any{"@timestamp": "asc"}, map[string]any{"id": "asc"}}}
		if after != nil {
			q["search_after"] = after
		}
		body, _ := json.Marshal(q)
		resp, err := cl.Search(ctx, &opensearchapi.SearchReq{Indices: []string{prefix + "-*"}, Body: bytes.NewReader(body),
			Params: opensearchapi.SearchParams{AllowNoIndices: new(true), IgnoreUnavailable: new(true)}})
		if err != nil {
			return nil, fmt.Errorf("search %s-*: %w", prefix, err)
		}
		for _, h := range resp.Hits.Hits {
			ev, err := event.Unmarshal(h.Source)
			if err != nil {
				continue
			}
			out = append(out, ev)
			after = h.Sort
		}
		if len(out) > max {
			return nil, fmt.Errorf("rule %s matches more than schedule.max_events (%d) documents in %v: narrow its match clause or raise the limit",
				r.Name, max, to.Sub(from).Round(time.Second))
		}
		if len(resp.Hits.Hits) == 0 || after == nil {
			return out, nil
		}
		if len(resp.Hits.Hits) < 1000 {
			return out, nil
		}
	}
}
