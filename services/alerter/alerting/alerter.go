// Package alerting is the alerter component: it reads LOGS, matches every
// event against the rules (package rule) and sends each match to the
// partition of its group (stream ALERT_HITS, alerter.hits.<partition>, the
// matches of a batch gathered into one message per partition);
// the copy of the alerter that owns a partition evaluates its groups
// (package engine), publishes alert events to ALERTS and keeps the
// partition's state in the alert_state bucket; rules with a schedule also
// run as queries against OpenSearch.
//
// # Scale-out
//
// Matching is stateless: every copy shares the durable consumer "alerter"
// on LOGS. Evaluation is partitioned by group key: a rule's groups are
// spread over `partitions` partitions by a hash of the group's
// fingerprint, each read through its own durable consumer
// (alerter-p<NNN>) by the one copy that holds the partition's lease in the
// alerter_leases bucket. The copies agree on who should own what by
// rendezvous hashing over the live members; a copy that stops renewing
// (it died) loses its leases after lease_ttl, and the copies that take
// its partitions over load their state from alert_state and receive the
// hits it had not acknowledged. State writes are compare-and-set on each
// key's revision, so a copy that lost a partition cannot overwrite its new
// owner's state.
package alerting

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// Component is the alerter as a component of a jetlog host.
var Component = component.Spec[Config]{
	Name: "alerter", Kind: component.KindConsumer, AdminPort: 9469,
	Defaults: Defaults,
	Needs: func(cfg *Config) component.Needs {
		n := component.Needs{
			Reads:  []string{cfg.Consumer.Stream, HitsStream},
			Writes: []string{HitsStream, topology.AlertsStream, topology.DLQStream},
			Streams: []jetstream.StreamConfig{{
				Name: HitsStream, Subjects: []string{HitsSubjects}, Retention: jetstream.WorkQueuePolicy,
				Discard: jetstream.DiscardNew, MaxBytes: cfg.Hits.MaxBytes, Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage,
				Description: "alerter: each match of a rule, on the partition of its group (alerter.hits.<partition>)",
			}},
			Buckets: []jetstream.KeyValueConfig{{Bucket: LeasesBucket, History: 1, Storage: jetstream.FileStorage,
				Description: "alerter copies (member.<instance>) and partition owners (lease.<partition>)"}},
			OpenSearch: cfg.Schedule.Enabled,
		}
		for p := range cfg.Partitions {
			n.Consumers = append(n.Consumers, component.Consumer{Stream: HitsStream, Config: partitionConsumer(cfg, p)})
		}
		return n
	},
	New: func(ctx context.Context, env *component.Env, cfg *Config) (component.Component, error) {
		return New(ctx, env, *cfg)
	},
}

func partitionConsumer(cfg *Config, p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: PartitionDurable(p), FilterSubject: hitsSubject(p), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.Hits.AckWait, MaxAckPending: cfg.Hits.MaxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1,
		Description: fmt.Sprintf("alerter partition %d: read by the copy that holds lease.%03d in %s", p, p, LeasesBucket),
	}
}

// ruleState is one loaded set of rules with its index.
type ruleState struct {
	set   *rule.Set
	index *rule.Index
}

// Alerter is the running alerter.
type Alerter struct {
	cfg   Config
	env   *component.Env
	js    jetstream.JetStream
	log   *slog.Logger
	m     *metrics
	id    string
	rules atomic.Pointer[ruleState]

	match *worker.Worker
	state jetstream.KeyValue

	mu      sync.Mutex
	parts   map[int]*partition
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	owner   *owner
	sched   *scheduler
	loaded  string // dirwatch snapshot of the rules dir at the last load
	// Now is the clock (tests replace it).
	Now func() time.Time
}

var _ component.Component = (*Alerter)(nil)

// New builds the alerter: it loads the rules (a bad file is refused and
// logged; the others run) and its stage that matches LOGS.
func New(ctx context.Context, env *component.Env, cfg Config) (*Alerter, error) {
	a := &Alerter{cfg: cfg, env: env, js: env.JS, log: env.Logger, m: newMetrics(env.Registry), parts: map[int]*partition{}, Now: time.Now}
	a.id = cfg.Instance
	if a.id == "" {
		host, _ := os.Hostname()
		a.id = worker.Token(fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1e6))
	}
	var err error
	if a.state, err = env.JS.KeyValue(ctx, topology.AlertStateBucket); err != nil {
		return nil, fmt.Errorf("alerter: bucket %s: %w", topology.AlertStateBucket, err)
	}
	if err := a.checkPartitions(ctx); err != nil {
		return nil, err
	}
	a.reload(ctx)
	wm := worker.NewMetrics(env.Registry)
	a.match, err = worker.New(worker.Options{Name: "alerter", JS: env.JS, Consumer: cfg.Consumer, Metrics: wm, Logger: env.Logger,
		Handler: worker.Gather(env.JS, a.matchBatch, wm, "alerter")})
	if err != nil {
		return nil, err
	}
	env.AddCheck("consumer", a.match.Ready)
	env.AddCheck("partitions", a.ready)
	return a, nil
}

// checkPartitions refuses a partition count other than the one the kept
// state was written with: its groups would be looked for in the wrong
// partitions.
func (a *Alerter) checkPartitions(ctx context.Context) error {
	want := strconv.Itoa(a.cfg.Partitions)
	e, err := a.state.Get(ctx, metaPartitions)
	switch {
	case isNotFound(err):
		if _, err := a.state.Create(ctx, metaPartitions, []byte(want)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("alerter: record the partition count: %w", err)
		}
		return a.checkPartitions(ctx)
	case err != nil:
		return fmt.Errorf("alerter: read the partition count: %w", err)
	case string(e.Value()) != want:
		return fmt.Errorf("alerter: partitions is %s, but the alert state in %s was written with %s partitions "+
			"(set alerter.partitions: %s, or delete the state with `nats kv rm %s` and the hits consumers to start afresh)",
			want, topology.AlertStateBucket, e.Value(), e.Value(), topology.AlertStateBucket)
	}
	return nil
}

// ensure creates (idempotently) what the alerter needs beyond the
// pipeline's topology, as the host does before it starts the component:
// so the component also runs where no host prepared it.
func (a *Alerter) ensure(ctx context.Context) (jetstream.KeyValue, error) {
	needs := Component.Needs(&a.cfg)
	for _, sc := range needs.Streams {
		if err := topology.EnsureStream(ctx, a.js, sc); err != nil {
			return nil, fmt.Errorf("alerter: %w", err)
		}
	}
	for _, c := range needs.Consumers {
		if _, err := a.js.CreateOrUpdateConsumer(ctx, c.Stream, c.Config); err != nil {
			return nil, fmt.Errorf("alerter: consumer %s: %w", c.Config.Durable, err)
		}
	}
	kv, err := a.js.CreateOrUpdateKeyValue(ctx, needs.Buckets[0])
	if err != nil {
		return nil, fmt.Errorf("alerter: bucket %s: %w", LeasesBucket, err)
	}
	return kv, nil
}

// Instance returns the name this copy holds leases under.
func (a *Alerter) Instance() string { return a.id }

// Start starts the watches, takes partitions and starts matching.
func (a *Alerter) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("alerter: already started")
	}
	a.started = true
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	leases, err := a.ensure(ctx)
	if err != nil {
		return err
	}
	a.owner = newOwner(a, leases)
	a.owner.start(rctx, &a.wg)
	a.watchRules(rctx)
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.watchAcks(rctx) }()
	if a.cfg.Schedule.Enabled {
		a.sched = newScheduler(a)
		a.sched.start(rctx, &a.wg)
	}
	if err := a.match.Start(ctx); err != nil {
		return err
	}
	a.log.Info("alerter started", "instance", a.id, "partitions", a.cfg.Partitions, "rules", len(a.rules.Load().set.Rules))
	return nil
}

// Stop stops matching, then hands every partition back (state written,
// hits acknowledged, leases released so the other copies take them at
// once), then the watches.
func (a *Alerter) Stop(ctx context.Context) error {
	a.mu.Lock()
	if !a.started || a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	a.mu.Unlock()
	err := a.match.Stop(ctx)
	if a.sched != nil {
		a.sched.stop(ctx)
	}
	a.owner.stop(ctx)
	a.cancel()
	a.wg.Wait()
	return err
}

// partitions returns the running partitions.
func (a *Alerter) partitions() []*partition {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*partition, 0, len(a.parts))
	for _, pt := range a.parts {
		out = append(out, pt)
	}
	return out
}

// ready reports a partition that cannot write its state.
func (a *Alerter) ready(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, pt := range a.parts {
		if err := pt.lastErr(); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return nil
}

// maxHitsMessage bounds one message of gathered hits: a message is closed
// once it reaches this size, so it stays well below the server's
// max_payload (1 MiB by default; a hit is at most a few KiB).
const maxHitsMessage = 256 << 10

// hitsBuffer gathers the hits of a batch for one partition.
type hitsBuffer struct {
	data []byte // a JSON array, not yet closed
	from []int  // the batch's messages whose hits it holds
	sum  hash.Hash
}

// matchBatch is the matching stage: the hits of a batch of LOGS messages,
// gathered into one message per partition (the partition of each hit's
// group). One message per hit would cost the server a store, a delivery and
// an acknowledgement for every match of every event; a gathered message
// costs that once per batch (a message that reaches maxHitsMessage is
// published at once, while the batch goes on). A batch redelivered whole
// publishes messages with the same ids (duplicates to the server); a hit
// applied twice is recognised by its event id (engine.Apply).
func (a *Alerter) matchBatch(batch []*worker.Msg, res []error, emit func(worker.Gathered)) {
	rs := a.rules.Load()
	bufs := map[int]*hitsBuffer{}
	flush := func(p int, b *hitsBuffer) {
		data := append(b.data, ']')
		nm := &nats.Msg{Subject: hitsSubject(p), Data: data, Header: nats.Header{}}
		nm.Header.Set(nats.MsgIdHdr, "hits-"+hex.EncodeToString(b.sum.Sum(nil)[:16]))
		emit(worker.Gathered{Msg: nm, From: b.from})
	}
	cands := make([]*rule.Rule, 0, 8)
	for i, m := range batch {
		ev, err := event.Unmarshal(m.Data)
		if err != nil {
			res[i] = worker.Permanent(err)
			continue
		}
		cands = rs.index.Candidates(ev, cands[:0])
		if len(cands) == 0 {
			res[i] = worker.ErrDrop
			continue
		}
		env := eventexpr.EnvOf(ev)
		n := 0
		for _, r := range cands {
			ok, err := r.Matches(ev, &env)
			if err != nil {
				a.m.ruleErrors.WithLabelValues(r.Name).Inc()
				continue
			}
			if !ok {
				continue
			}
			h := engine.NewHit(r, ev)
			p := Partition(h.Key, a.cfg.Partitions)
			b := bufs[p]
			if b != nil && len(b.data) >= maxHitsMessage {
				flush(p, b)
				b = nil
			}
			if b == nil {
				b = &hitsBuffer{data: []byte{'['}, sum: sha256.New()}
				bufs[p] = b
			} else {
				b.data = append(b.data, ',')
			}
			b.data = h.AppendJSON(b.data)
			if len(b.from) == 0 || b.from[len(b.from)-1] != i {
				b.from = append(b.from, i)
			}
			b.sum.Write([]byte(h.ID))
			b.sum.Write([]byte{0x1f})
			b.sum.Write([]byte(r.Name))
			b.sum.Write([]byte{'\n'})
			a.m.hits.WithLabelValues(r.Name).Inc()
			n++
		}
		if n == 0 && res[i] == nil {
			res[i] = worker.ErrDrop
		}
	}
	for _, p := range slices.Sorted(maps.Keys(bufs)) {
		flush(p, bufs[p])
	}
}

// publishAlert publishes one alert event, asynchronously.
func (a *Alerter) publishAlert(al alert.Alert) (*nats.Msg, jetstream.PubAckFuture) {
	data, _ := json.Marshal(al)
	nm := &nats.Msg{Subject: al.Subject(), Data: data, Header: nats.Header{}}
	nm.Header.Set(nats.MsgIdHdr, al.MsgID())
	f, err := a.js.PublishMsgAsync(nm)
	if err != nil {
		a.m.publishErr.Inc()
		return nm, nil
	}
	a.m.alerts.WithLabelValues(string(al.State), string(al.Origin)).Inc()
	return nm, f
}

// confirm waits until JetStream stored every alert event, publishing again
// (same message id) what failed, until ctx ends.
func (a *Alerter) confirm(ctx context.Context, msgs []*nats.Msg, futs []jetstream.PubAckFuture) error {
next:
	for i, f := range futs {
		for attempt := 1; ; attempt++ {
			if f != nil {
				select {
				case <-f.Ok():
					continue next
				case err := <-f.Err():
					a.m.publishErr.Inc()
					if attempt == 1 {
						a.log.Warn("publishing an alert event failed; retrying with the same message id", "subject", msgs[i].Subject, "err", err)
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second)):
			}
			f, _ = a.js.PublishMsgAsync(msgs[i])
		}
	}
	return nil
}
