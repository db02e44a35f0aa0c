// Package notifier is the notifier component: it consumes alert events
// from ALERTS (durable consumer "notifier"), keeps the alerts it holds in
// the notifier_alerts KV bucket, groups and routes them (package
// dispatch), mutes what silences, inhibition rules and time intervals say,
// delivers notifications exactly once as far as a receiver that
// deduplicates on the notification id can see (packages notify and nflog),
// records every attempt in the NOTIFICATIONS stream (package delivery),
// serves the live alert stream over Server-Sent Events (package stream),
// and applies a changed routing configuration without a restart (Reload).
package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/notifier/delivery"
	"github.com/jetlog/jetlog/services/notifier/dispatch"
	"github.com/jetlog/jetlog/services/notifier/inhibit"
	"github.com/jetlog/jetlog/services/notifier/nflog"
	"github.com/jetlog/jetlog/services/notifier/notify"
	"github.com/jetlog/jetlog/services/notifier/route"
	"github.com/jetlog/jetlog/services/notifier/silence"
	"github.com/jetlog/jetlog/services/notifier/stream"
)

// The notifier's own KV buckets.
const (
	// AlertsBucket holds the alerts the notifier holds, by fingerprint:
	// firing ones, and resolved ones until they are notified.
	AlertsBucket = "notifier_alerts"
	// LogBucket is the notification log (package nflog).
	LogBucket = "notifier_log"
)

// Component is the notifier as a component of a jetlog host.
var Component = component.Spec[Config]{
	Name: "notifier", Kind: component.KindConsumer, AdminPort: 9470,
	Defaults: Defaults,
	Needs: func(c *Config) component.Needs {
		return component.Needs{
			Reads:   []string{topology.AlertsStream},
			Writes:  []string{topology.NotificationsStream, topology.DLQStream},
			Buckets: buckets(c),
		}
	},
	New: func(ctx context.Context, env *component.Env, cfg *Config) (component.Component, error) {
		return New(ctx, env, cfg, Options{})
	},
}

// buckets are the notifier's own KV buckets.
func buckets(c *Config) []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: AlertsBucket, Description: "alerts the notifier holds, by fingerprint", History: 1, Storage: jetstream.FileStorage},
		{Bucket: LogBucket, Description: "what each group was last notified of, and the notification being delivered",
			History: 1, TTL: c.LogRetention, Storage: jetstream.FileStorage},
	}
}

// Options are what tests change beyond the configuration.
type Options struct {
	// Clock drives group_wait, the intervals, silences and time intervals.
	Clock clockwork.Clock
}

// Notifier is the running component.
type Notifier struct {
	env *component.Env
	// cfg is the configuration of the start; current is the one in
	// effect, which a reload replaces.
	cfg     *Config
	current atomic.Pointer[Config]
	clock   clockwork.Clock
	log     *slog.Logger

	routing *routing

	worker     *worker.Worker
	pipeline   *notify.Pipeline
	dispatcher *dispatch.Dispatcher
	silences   *silence.Store
	records    *recorder
	received   *prometheus.CounterVec

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	srv     *http.Server
	ln      net.Listener
	wg      sync.WaitGroup
}

var (
	_ component.Component        = (*Notifier)(nil)
	_ component.Reloader[Config] = (*Notifier)(nil)
)

// routing is what the routing keys of the configuration compile to, and
// what a reload replaces at once: the tree the dispatcher groups by, and
// what the notification pipeline notifies, mutes and retries with.
type routing struct {
	route *route.Route
	pipe  notify.Routing
}

// compile builds the routing of cfg: the routing tree, the templates, the
// receivers (reading their secrets), the time intervals and the
// inhibition rules. It contacts nothing remote.
func (n *Notifier) compile(cfg *Config) (*routing, error) {
	rt := &routing{pipe: notify.Routing{Receivers: map[string][]notify.Named{}, Retry: cfg.Retry}}
	var err error
	if rt.route, err = route.Compile(cfg.Route, route.Known{}); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	tmpl, err := notify.LoadTemplates(cfg.Templates)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	bo := notify.BuildOptions{Templates: tmpl, ExternalURL: cfg.ExternalURL, Timeout: cfg.Timeout, NC: n.env.NC, JS: n.env.JS}
	for i, rc := range cfg.Receivers {
		integs, err := rc.Build(bo)
		if err != nil {
			return nil, fmt.Errorf("receivers[%d] (%s): %w", i, rc.Name, err)
		}
		rt.pipe.Receivers[rc.Name] = integs
	}
	ti := map[string][]timeinterval.TimeInterval{}
	for _, t := range cfg.TimeIntervals {
		ti[t.Name] = t.TimeIntervals
	}
	rt.pipe.TimeIntervals = timeinterval.NewIntervener(ti)
	// The inhibitor looks at the alerts held when a flush asks, by then
	// the dispatcher exists.
	inh, err := inhibit.New(cfg.InhibitRules, func() []*alert.Alert { return n.dispatcher.Alerts() })
	if err != nil {
		return nil, fmt.Errorf("inhibit_rules: %w", err)
	}
	rt.pipe.Inhibitor = inh
	return rt, nil
}

// New builds the notifier: it compiles the routing tree, the templates and
// the receivers (reading their secrets); it contacts nothing remote.
func New(_ context.Context, env *component.Env, cfg *Config, o Options) (*Notifier, error) {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	n := &Notifier{env: env, cfg: cfg, clock: o.Clock, log: env.Logger}
	n.current.Store(cfg)
	var err error
	if n.routing, err = n.compile(cfg); err != nil {
		return nil, err
	}
	n.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_notifier_alert_events_total",
		Help: "Alert events read from ALERTS, by state."}, []string{"state"})
	env.Registry.MustRegister(n.received)
	n.worker, err = worker.New(worker.Options{Name: "notifier", JS: env.JS, Consumer: cfg.Consumer,
		Handler: worker.BatchHandlerFunc(n.handle), Metrics: worker.NewMetrics(env.Registry), Logger: env.Logger})
	if err != nil {
		return nil, err
	}
	env.AddCheck("consumer", n.worker.Ready)
	return n, nil
}

// Start loads the alerts, the notification log and the silences, serves the
// stream, and starts consuming.
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("notifier: already started")
	}
	n.started = true
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	js := n.env.JS
	// The host ensures the buckets; a notifier built without one (a test,
	// an embedding) ensures them itself.
	var kvs []jetstream.KeyValue
	for _, kc := range buckets(n.cfg) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, kc)
		if err != nil {
			return fmt.Errorf("notifier: ensure KV bucket %s: %w", kc.Bucket, err)
		}
		kvs = append(kvs, kv)
	}
	alertsKV, logKV := kvs[0], kvs[1]
	nlog, err := nflog.Open(ctx, logKV)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	if n.silences, err = silence.Open(ctx, js, n.log); err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	if err := n.silences.Watch(bg); err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	n.records = newRecorder(js, n.log)
	store := &kvStore{kv: alertsKV}
	rt := n.routing
	n.pipeline = notify.NewPipeline(notify.PipelineOptions{
		Routing: rt.pipe, Log: nlog, Silences: n.silences, Clock: n.clock, Record: n.records.record, Registry: n.env.Registry, Logger: n.log,
	})
	n.dispatcher = dispatch.New(dispatch.Options{Route: rt.route, Flusher: n.pipeline, Clock: n.clock, Store: store, Logger: n.log})
	held, err := store.load(ctx)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	n.dispatcher.Restore(held)
	n.env.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jetlog_notifier_alerts",
		Help: "Alerts the notifier holds (firing, and resolved ones not yet notified)."}, func() float64 { return float64(len(n.dispatcher.Alerts())) }))
	n.env.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jetlog_notifier_groups",
		Help: "Alert groups the notifier holds."}, func() float64 { return float64(len(n.dispatcher.Groups())) }))
	if n.cfg.HTTP.Enabled {
		if err := n.serve(); err != nil {
			return err
		}
	}
	n.wg.Add(1)
	go n.collect(bg)
	if err := n.worker.Start(ctx); err != nil {
		return err
	}
	n.log.Info("notifier started", "alerts", len(held), "notification_log_entries", nlog.Len(), "receivers", len(rt.pipe.Receivers), "stream", n.StreamAddr())
	return nil
}

func (n *Notifier) serve() error {
	ln, err := net.Listen("tcp", n.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("notifier: listen on %s: %w (set notifier.http.listen, or notifier.http.enabled: false)", n.cfg.HTTP.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle(stream.Path, stream.New(stream.Options{JS: n.env.JS, Heartbeat: n.cfg.HTTP.Heartbeat, MaxClients: n.cfg.HTTP.MaxClients,
		Logger: n.log, Registry: n.env.Registry}))
	n.ln, n.srv = ln, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("alert stream server stopped", "err", err)
		}
	}()
	return nil
}

// StreamAddr is the address of the alert stream, once started ("" when off).
func (n *Notifier) StreamAddr() string {
	if n.ln == nil {
		return ""
	}
	return n.ln.Addr().String()
}

// Silences returns the notifier's view of the silences.
func (n *Notifier) Silences() *silence.Store { return n.silences }

// Dispatcher returns the grouping engine, for tests and status pages.
func (n *Notifier) Dispatcher() *dispatch.Dispatcher { return n.dispatcher }

// collect removes silences expired longer than the retention, hourly.
func (n *Notifier) collect(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if k, err := n.silences.Collect(ctx, n.clock.Now(), n.current.Load().SilenceRetention); err != nil && ctx.Err() == nil {
			n.log.Warn("cannot remove expired silences", "err", err)
		} else if k > 0 {
			n.log.Info("removed expired silences", "count", k)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handle applies a batch of alert events to the dispatcher; an event is
// acknowledged once the alert is stored (the batch's alerts are stored at
// once).
func (n *Notifier) handle(ctx context.Context, batch []*worker.Msg) []error {
	res := make([]error, len(batch))
	alerts := make([]*alert.Alert, 0, len(batch))
	idx := make([]int, 0, len(batch))
	for i, m := range batch {
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			res[i] = worker.Permanent(fmt.Errorf("not an alert event: %w", err))
			continue
		}
		if a.Fingerprint == "" || a.Labels == nil {
			res[i] = worker.Permanent(errors.New("alert event without fingerprint or labels"))
			continue
		}
		n.received.WithLabelValues(string(a.State)).Inc()
		a.Raw = m.Data
		alerts = append(alerts, &a)
		idx = append(idx, i)
	}
	for k, err := range n.dispatcher.PutAll(ctx, alerts) {
		res[idx[k]] = err
	}
	return res
}

// Stop stops consuming, lets the flushes in flight finish (or cuts them
// short when ctx ends: their notifications are sent again after the next
// start, with the same id), closes the stream and waits for the delivery
// records to be stored.
func (n *Notifier) Stop(ctx context.Context) error {
	n.mu.Lock()
	if !n.started || n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	n.mu.Unlock()
	errs := []error{n.worker.Stop(ctx)}
	if n.dispatcher != nil {
		errs = append(errs, n.dispatcher.Stop(ctx))
	}
	if n.srv != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := n.srv.Shutdown(sctx); err != nil {
			_ = n.srv.Close() // streams never end on their own
		}
		cancel()
	}
	n.cancel()
	n.wg.Wait()
	if n.records != nil {
		errs = append(errs, n.records.close(ctx))
	}
	return errors.Join(errs...)
}

// kvStore keeps the held alerts in the notifier_alerts bucket.
type kvStore struct{ kv jetstream.KeyValue }

func (s *kvStore) Put(ctx context.Context, a *alert.Alert) error {
	b := a.Raw
	if b == nil {
		var err error
		if b, err = json.Marshal(a); err != nil {
			return err
		}
	}
	_, err := s.kv.Put(ctx, a.Fingerprint, b)
	return err
}

func (s *kvStore) Delete(ctx context.Context, fp string) error { return s.kv.Delete(ctx, fp) }

func (s *kvStore) load(ctx context.Context) ([]*alert.Alert, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", AlertsBucket, err)
	}
	var out []*alert.Alert
	for k := range keys.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", AlertsBucket, k, err)
		}
		var a alert.Alert
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			continue
		}
		out = append(out, &a)
	}
	return out, nil
}

// recorder publishes delivery records without holding up deliveries, and
// waits for their acknowledgements at stop.
type recorder struct {
	js  jetstream.JetStream
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	futs   chan jetstream.PubAckFuture
	done   chan struct{}
}

func newRecorder(js jetstream.JetStream, log *slog.Logger) *recorder {
	r := &recorder{js: js, log: log, futs: make(chan jetstream.PubAckFuture, 4096), done: make(chan struct{})}
	go r.wait()
	return r
}

func (r *recorder) record(rec *delivery.Record) {
	m := &nats.Msg{Subject: rec.Subject(), Data: rec.Marshal(), Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, rec.MsgID())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	f, err := r.js.PublishMsgAsync(m)
	if err != nil {
		r.log.Warn("cannot record a delivery attempt", "id", rec.ID, "outcome", rec.Outcome, "err", err)
		return
	}
	r.futs <- f
}

func (r *recorder) wait() {
	defer close(r.done)
	failures := 0
	for f := range r.futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failures++
			if failures == 1 || failures%100 == 0 {
				r.log.Warn("a delivery record was not stored in "+topology.NotificationsStream, "err", err, "failures", failures)
			}
		}
	}
}

func (r *recorder) close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.futs)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notifier: delivery records not all acknowledged: %w", ctx.Err())
	}
}
