package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

const testStream = "WORK"

type fixture struct {
	nats *testkit.NATS
	reg  *prometheus.Registry
	m    *worker.Metrics
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	n := testkit.StartNATS(t)
	ctx := context.Background()
	if err := topology.EnsureStream(ctx, n.JS, jetstream.StreamConfig{Name: testStream, Subjects: []string{"work.>"}}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	return &fixture{nats: n, reg: reg, m: worker.NewMetrics(reg)}
}

func (f *fixture) consumer(mut func(*worker.ConsumerConfig)) worker.ConsumerConfig {
	c := worker.DefaultConsumer()
	c.Stream = testStream
	c.Batch = 10
	c.Retry.Initial = 50 * time.Millisecond
	c.Retry.Max = 200 * time.Millisecond
	if mut != nil {
		mut(&c)
	}
	return c
}

func (f *fixture) start(t *testing.T, name string, c worker.ConsumerConfig, h worker.BatchHandler) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Options{Name: name, JS: f.nats.JS, Consumer: c, Handler: h, Metrics: f.m})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

func (f *fixture) publish(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		f.nats.Publish(fmt.Sprintf("work.%d", i%3), fmt.Sprintf("m%d", i), []byte(fmt.Sprintf("msg-%d", i)))
	}
}

func (f *fixture) outcome(name, outcome string) int {
	return int(testutil.ToFloat64(f.m.MessagesCounter(name, outcome)))
}

func (f *fixture) waitOutcome(t *testing.T, name, outcome string, n int) {
	t.Helper()
	testkit.Poll(t, 20*time.Second, func() (bool, string) {
		got := f.outcome(name, outcome)
		return got >= n, fmt.Sprintf("%s=%d, want %d", outcome, got, n)
	})
}

// consumerState returns the durable consumer's pending and ack-pending counts.
func (f *fixture) consumerState(t *testing.T, durable string) (pending uint64, ackPending int) {
	t.Helper()
	c, err := f.nats.JS.Consumer(context.Background(), testStream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.NumPending, info.NumAckPending
}

func TestAckAfterSuccessClearsTheConsumer(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	seen := map[string]int{}
	f.start(t, "acker", f.consumer(nil), worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			seen[string(m.Data)]++
		}
		return make([]error, len(b))
	}))
	f.publish(t, 100)
	f.waitOutcome(t, "acker", "acked", 100)
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		p, ap := f.consumerState(t, "acker")
		return p == 0 && ap == 0, fmt.Sprintf("pending=%d ack_pending=%d", p, ap)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 100 {
		t.Fatalf("handled %d distinct messages, want 100", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
}

func TestRetryNaksWithDelayAndRedelivers(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	deliveries := map[string][]time.Time{}
	f.start(t, "retrier", f.consumer(nil), worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error {
		mu.Lock()
		defer mu.Unlock()
		res := make([]error, len(b))
		for i, m := range b {
			deliveries[string(m.Data)] = append(deliveries[string(m.Data)], time.Now())
			if m.Deliveries != uint64(len(deliveries[string(m.Data)])) {
				res[i] = worker.Permanent(fmt.Errorf("delivery count %d, handled %d times", m.Deliveries, len(deliveries[string(m.Data)])))
				continue
			}
			switch {
			case string(m.Data) == "msg-0" && m.Deliveries == 1:
				res[i] = worker.RetryAfter(400*time.Millisecond, errors.New("downstream said 429"))
			case string(m.Data) == "msg-1" && m.Deliveries < 3:
				res[i] = errors.New("timeout")
			}
		}
		return res
	}))
	f.publish(t, 3)
	f.waitOutcome(t, "retrier", "acked", 3)
	mu.Lock()
	defer mu.Unlock()
	d0 := deliveries["msg-0"]
	if len(d0) != 2 {
		t.Fatalf("msg-0 delivered %d times, want 2", len(d0))
	}
	if gap := d0[1].Sub(d0[0]); gap < 350*time.Millisecond {
		t.Errorf("msg-0 came back after %v, before its 400ms retry-after", gap)
	}
	if n := len(deliveries["msg-1"]); n != 3 {
		t.Errorf("msg-1 delivered %d times, want 3", n)
	}
	if n := len(deliveries["msg-2"]); n != 1 {
		t.Errorf("msg-2 delivered %d times, want 1", n)
	}
	if got := f.outcome("retrier", "retried"); got != 3 {
		t.Errorf("retried=%d, want 3", got)
	}
	if got := f.outcome("retrier", "dead_lettered"); got != 0 {
		t.Errorf("dead_lettered=%d, want 0", got)
	}
}

func TestPoisonAndPanicGoToDLQWhileTheRestFlows(t *testing.T) {
	f := newFixture(t)
	dead := testkit.Record(t, f.nats.JS, topology.DLQStream)
	f.start(t, "picky", f.consumer(nil), worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error {
		res := make([]error, len(b))
		for i, m := range b {
			switch string(m.Data) {
			case "msg-4":
				res[i] = worker.Permanent(errors.New("field status: not a number"))
			case "msg-7":
				panic("index out of range")
			}
		}
		return res
	}))
	f.publish(t, 20)
	f.waitOutcome(t, "picky", "acked", 18)
	msgs := dead.Wait(t, 2, 10*time.Second)
	reasons := map[string]*dlq.Record{}
	for _, m := range msgs {
		r, err := dlq.Parse(m.Headers(), m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject() != "dlq.picky" {
			t.Errorf("dead letter on %s, want dlq.picky", m.Subject())
		}
		reasons[string(r.Data)] = r
	}
	if r := reasons["msg-4"]; r == nil || r.Kind != dlq.KindPermanent || r.Reason != "field status: not a number" || r.Stream != testStream || r.Stage != "picky" || r.Deliveries != 1 || r.MsgID != "m4" {
		t.Errorf("msg-4 dead letter = %+v", r)
	}
	if r := reasons["msg-7"]; r == nil || r.Kind != dlq.KindPanic || !strings.Contains(r.Reason, "index out of range") {
		t.Errorf("msg-7 dead letter = %+v", r)
	}
	if got := f.outcome("picky", "dead_lettered"); got != 2 {
		t.Errorf("dead_lettered=%d, want 2", got)
	}
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		p, ap := f.consumerState(t, "picky")
		return p == 0 && ap == 0, fmt.Sprintf("pending=%d ack_pending=%d", p, ap)
	})
}

func TestTransientFailuresDeadLetterAtMaxDeliver(t *testing.T) {
	f := newFixture(t)
	dead := testkit.Record(t, f.nats.JS, topology.DLQStream)
	c := f.consumer(func(c *worker.ConsumerConfig) { c.Retry.MaxDeliver = 3 })
	f.start(t, "flaky", c, worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error {
		res := make([]error, len(b))
		for i, m := range b {
			if string(m.Data) == "msg-1" {
				res[i] = errors.New("connection reset")
			}
		}
		return res
	}))
	f.publish(t, 3)
	msgs := dead.Wait(t, 1, 20*time.Second)
	r, err := dlq.Parse(msgs[0].Headers(), msgs[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != "msg-1" || r.Kind != dlq.KindMaxDeliver || r.Deliveries != 3 || !strings.Contains(r.Reason, "connection reset") {
		t.Errorf("dead letter = %+v", r)
	}
	f.waitOutcome(t, "flaky", "acked", 2)
}

func TestStopIsIdempotentAndSafeWithoutStart(t *testing.T) {
	f := newFixture(t)
	w, err := worker.New(worker.Options{Name: "idle", JS: f.nats.JS, Consumer: f.consumer(nil),
		Handler: worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error { return make([]error, len(b)) })})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("stop without start: %v", err)
	}
	if err := w.Ready(context.Background()); err == nil {
		t.Error("a worker never started says it is ready")
	}
	w2 := f.start(t, "twice", f.consumer(nil), worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error { return make([]error, len(b)) }))
	if err := w2.Ready(context.Background()); err != nil {
		t.Errorf("started worker not ready: %v", err)
	}
	for range 2 {
		if err := w2.Stop(context.Background()); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
}

func TestStopFinishesTheBatchInFlight(t *testing.T) {
	f := newFixture(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	handled := map[string]int{}
	h := worker.BatchHandlerFunc(func(ctx context.Context, b []*worker.Msg) []error {
		mu.Lock()
		first := len(handled) == 0
		for _, m := range b {
			handled[string(m.Data)]++
		}
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		return make([]error, len(b))
	})
	c := f.consumer(func(c *worker.ConsumerConfig) { c.Batch = 5 })
	f.publish(t, 50)
	w := f.start(t, "drainer", c, h)
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before the batch in flight finished", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := len(handled)
	mu.Unlock()
	if f.outcome("drainer", "acked") != first {
		t.Fatalf("acked %d, handled %d: the in-flight batch was not finished", f.outcome("drainer", "acked"), first)
	}
	// A new copy takes the rest; nothing handled before comes back.
	f.start(t, "drainer", c, worker.BatchHandlerFunc(func(ctx context.Context, b []*worker.Msg) []error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			handled[string(m.Data)]++
		}
		return make([]error, len(b))
	}))
	testkit.Poll(t, 20*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 50, fmt.Sprintf("handled %d of 50", len(handled))
	})
	mu.Lock()
	defer mu.Unlock()
	for k, n := range handled {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
}

func TestEventsPublishesOutputsOnceAcrossRedelivery(t *testing.T) {
	f := newFixture(t)
	out := testkit.Record(t, f.nats.JS, topology.EnrichedStream)
	h := worker.HandlerFunc(func(_ context.Context, ev *event.Event) ([]*event.Event, error) {
		if ev.Body == "drop me" {
			return nil, nil
		}
		fanned := *ev
		fanned.ID = ev.ID + "-copy"
		return []*event.Event{ev, &fanned}, nil
	})
	// The first batch's outputs are published, then its messages fail and
	// come back: their outputs must not be stored twice.
	var failOnce sync.Once
	bh := worker.Events(f.nats.JS, h, worker.Output{Subject: worker.SubjectByPrefix(topology.EnrichedPrefix)}, f.m, "fanout")
	wrapped := worker.BatchHandlerFunc(func(ctx context.Context, b []*worker.Msg) []error {
		res := bh.HandleBatch(ctx, b)
		failOnce.Do(func() {
			for i := range res {
				if res[i] == nil {
					res[i] = errors.New("simulated failure after publishing")
				}
			}
		})
		return res
	})
	f.start(t, "fanout", f.consumer(nil), wrapped)
	for i, body := range []string{"a", "b", "drop me"} {
		ev := &event.Event{ID: fmt.Sprintf("e%d", i), Body: body, Source: "web.app", Timestamp: time.Now()}
		data, _ := ev.Marshal()
		f.nats.Publish("work.in", ev.ID, data)
	}
	f.nats.Publish("work.in", "bad", []byte(`{"id":`))
	f.waitOutcome(t, "fanout", "acked", 2)
	f.waitOutcome(t, "fanout", "dropped", 1)
	f.waitOutcome(t, "fanout", "dead_lettered", 1)
	if got := f.nats.StreamMsgs(topology.EnrichedStream); got != 4 {
		t.Errorf("output stream holds %d events, want 4 (2 inputs × 2 outputs, once each)", got)
	}
	ids := map[string]bool{}
	for _, m := range out.Wait(t, 4, 5*time.Second) {
		if m.Subject() != "logs.enriched.web_app" {
			t.Errorf("output on %s", m.Subject())
		}
		ids[m.Headers().Get("Nats-Msg-Id")] = true
	}
	for _, id := range []string{"e0", "e0-copy", "e1", "e1-copy"} {
		if !ids[id] {
			t.Errorf("output %s missing (got %v)", id, ids)
		}
	}
}

// outputStream makes a small stream for an Events worker's outputs.
func (f *fixture) outputStream(t *testing.T, maxBytes int64) {
	t.Helper()
	if err := topology.EnsureStream(context.Background(), f.nats.JS, jetstream.StreamConfig{
		Name: "OUT", Subjects: []string{"out.>"}, Discard: jetstream.DiscardNew, MaxBytes: maxBytes,
	}); err != nil {
		t.Fatal(err)
	}
}

func passThrough(_ context.Context, ev *event.Event) ([]*event.Event, error) {
	return []*event.Event{ev}, nil
}

func (f *fixture) publishEvents(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		ev := &event.Event{ID: fmt.Sprintf("e%d", i), Body: strings.Repeat("x", 200), Source: "web", Timestamp: time.Now()}
		data, _ := ev.Marshal()
		f.nats.Publish("work.in", ev.ID, data)
	}
}

// A downstream stream that refuses (full) is never the message's fault: the
// worker keeps retrying, nothing goes to the DLQ however long it lasts, and
// everything flows once there is room again.
func TestDownstreamPublishFailuresAreNeverDeadLettered(t *testing.T) {
	f := newFixture(t)
	f.outputStream(t, 4096) // room for a few events only
	c := f.consumer(func(c *worker.ConsumerConfig) { c.Retry.MaxDeliver = 2 })
	bh := worker.Events(f.nats.JS, worker.HandlerFunc(passThrough), worker.Output{Subject: worker.SubjectByPrefix("out.")}, f.m, "pub")
	f.start(t, "pub", c, bh)
	f.publishEvents(t, 40)
	// More failed attempts than max_deliver allows deliveries.
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		n := testutil.ToFloat64(f.m.PublishFailuresCounter("pub"))
		return n >= 5, fmt.Sprintf("%v publish failures so far", n)
	})
	if n := f.nats.StreamMsgs(topology.DLQStream); n != 0 {
		t.Fatalf("%d messages dead-lettered for a full downstream stream", n)
	}
	s, _ := f.nats.JS.Stream(context.Background(), "OUT")
	if _, err := f.nats.JS.UpdateStream(context.Background(), jetstream.StreamConfig{
		Name: "OUT", Subjects: []string{"out.>"}, Discard: jetstream.DiscardNew, MaxBytes: 1 << 20,
	}); err != nil {
		t.Fatal(err)
	}
	f.waitOutcome(t, "pub", "acked", 40)
	if info, _ := s.Info(context.Background()); info.State.Msgs != 40 {
		t.Errorf("OUT holds %d events, want 40", info.State.Msgs)
	}
	if n := f.nats.StreamMsgs(topology.DLQStream); n != 0 {
		t.Errorf("%d messages dead-lettered", n)
	}
}

// A PubAck that never comes (here: a plain subscriber answers for the
// subject instead of a stream, so the publish is swallowed) must not block
// a worker forever: the host's JetStream context bounds the wait, the
// publish is retried, and once a stream captures the subject the event is
// stored.
func TestALostPubAckIsRetriedNotWaitedOnForever(t *testing.T) {
	f := newFixture(t)
	sub, err := f.nats.NC.Subscribe("lost.>", func(*nats.Msg) {}) // swallows, never answers
	if err != nil {
		t.Fatal(err)
	}
	spec := worker.Spec[struct{}]{
		Name:     "lost",
		Consumer: f.consumer(nil),
		New: func(_ context.Context, env *worker.Env, _ *struct{}) (worker.BatchHandler, error) {
			return env.Events(worker.HandlerFunc(passThrough), worker.Output{Subject: worker.SubjectByPrefix("lost.")}), nil
		},
	}
	cfg := host.NewConfig(host.Options{Factories: []component.Factory{spec.Factory()}})
	if err := cfg.Load(config.Source{Set: []string{"nats.url=" + f.nats.URL, "admin.enabled=false"}}); err != nil {
		t.Fatal(err)
	}
	h := hosttest.Start(t, cfg)
	m := worker.NewMetrics(h.Registry())
	f.publishEvents(t, 1)
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := testutil.ToFloat64(m.PublishFailuresCounter("lost"))
		return n >= 1, "no publish has timed out yet"
	})
	_ = sub.Unsubscribe()
	if err := topology.EnsureStream(context.Background(), f.nats.JS, jetstream.StreamConfig{Name: "LOST", Subjects: []string{"lost.>"}}); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := testutil.ToFloat64(m.MessagesCounter("lost", "acked"))
		return n == 1, "not acked yet"
	})
}

// Stopping a worker that waits on a full downstream ends the wait: the
// message is handed back at once, not held until the drain's deadline.
func TestStopEndsAWaitOnADownstream(t *testing.T) {
	f := newFixture(t)
	f.outputStream(t, 4096)
	bh := worker.Events(f.nats.JS, worker.HandlerFunc(passThrough), worker.Output{Subject: worker.SubjectByPrefix("out.")}, f.m, "stuck")
	w := f.start(t, "stuck", f.consumer(nil), bh)
	f.publishEvents(t, 40)
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		return testutil.ToFloat64(f.m.PublishFailuresCounter("stuck")) >= 1, "no publish failed yet"
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v (it waited for the downstream until its deadline)", err)
	}
	if n := f.outcome("stuck", "shutdown"); n < 1 {
		t.Errorf("%d messages handed back at stop, want at least 1", n)
	}
	if n := f.nats.StreamMsgs(topology.DLQStream); n != 0 {
		t.Errorf("%d messages dead-lettered", n)
	}
}

// A message whose worker dies on every delivery (an OOM kill, a crash
// outside the handler) reaches the DLQ by its delivery count, seen by the
// next worker that receives it: no server advisory, which nobody may be
// listening to, is needed.
func TestAMessageWithNoOutcomeOnEveryDeliveryIsDeadLettered(t *testing.T) {
	f := newFixture(t)
	c := f.consumer(func(c *worker.ConsumerConfig) { c.Retry.MaxDeliver = 3; c.AckWait = time.Second })
	// Create the durable as the worker will, then take the message three
	// times without an outcome, as three crashed workers would.
	w, err := worker.New(worker.Options{Name: "crashy", JS: f.nats.JS, Consumer: c, Handler: worker.BatchHandlerFunc(
		func(_ context.Context, b []*worker.Msg) []error { return make([]error, len(b)) }), Metrics: f.m})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.nats.Publish("work.in", "doomed", []byte("kills its worker"))
	cons, err := f.nats.JS.Consumer(context.Background(), testStream, "crashy")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		testkit.Poll(t, 10*time.Second, func() (bool, string) {
			mb, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				return false, err.Error()
			}
			for m := range mb.Messages() {
				md, _ := m.Metadata()
				return md.NumDelivered == uint64(i+1), fmt.Sprintf("delivery %d", md.NumDelivered)
			}
			return false, fmt.Sprintf("waiting for delivery %d after ack_wait", i+1)
		})
	}
	dead := testkit.Record(t, f.nats.JS, topology.DLQStream)
	f.start(t, "crashy", c, worker.BatchHandlerFunc(func(_ context.Context, b []*worker.Msg) []error {
		t.Errorf("the handler ran for a message with no outcome on %d deliveries", b[0].Deliveries-1)
		return make([]error, len(b))
	}))
	msgs := dead.Wait(t, 1, 30*time.Second)
	r, err := dlq.Parse(msgs[0].Headers(), msgs[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != "kills its worker" || r.Kind != dlq.KindMaxDeliver || !strings.Contains(r.Reason, "no outcome") {
		t.Errorf("dead letter = %+v", r)
	}
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		p, ap := f.consumerState(t, "crashy")
		return p == 0 && ap == 0, fmt.Sprintf("pending=%d ack_pending=%d: the message must be terminated", p, ap)
	})
}

// A gathering stage publishes one message for many inputs: each input is
// acknowledged once the message carrying it is stored, inputs it refuses
// are settled as it says, and while the downstream refuses nothing is
// acknowledged or dead-lettered.
func TestGatherAcksInputsOnceTheirMessageIsStored(t *testing.T) {
	f := newFixture(t)
	f.outputStream(t, 16) // too small for any message
	c := f.consumer(func(c *worker.ConsumerConfig) { c.Retry.MaxDeliver = 2; c.Batch = 30 })
	var mu sync.Mutex
	published := 0
	gather := func(batch []*worker.Msg, res []error, emit func(worker.Gathered)) {
		var from []int
		var body []string
		for i, m := range batch {
			if strings.HasSuffix(string(m.Data), "7") {
				res[i] = worker.ErrDrop // nothing to publish for it
				continue
			}
			from = append(from, i)
			body = append(body, string(m.Data))
		}
		mu.Lock()
		published++
		mu.Unlock()
		emit(worker.Gathered{Msg: &nats.Msg{Subject: "out.gathered", Data: []byte(strings.Join(body, ","))}, From: from})
	}
	f.start(t, "gather", c, worker.Gather(f.nats.JS, gather, f.m, "gather"))
	f.publish(t, 30)
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		n := testutil.ToFloat64(f.m.PublishFailuresCounter("gather"))
		return n >= 3, fmt.Sprintf("%v publish failures so far", n)
	})
	if n := f.outcome("gather", "acked"); n != 0 {
		t.Fatalf("%d inputs acknowledged while their message was not stored", n)
	}
	if _, err := f.nats.JS.UpdateStream(context.Background(), jetstream.StreamConfig{
		Name: "OUT", Subjects: []string{"out.>"}, Discard: jetstream.DiscardNew, MaxBytes: 1 << 20,
	}); err != nil {
		t.Fatal(err)
	}
	// m7, m17 and m27 were dropped; the other 27 ride in gathered messages.
	f.waitOutcome(t, "gather", "acked", 27)
	f.waitOutcome(t, "gather", "dropped", 3)
	if n := f.nats.StreamMsgs(topology.DLQStream); n != 0 {
		t.Errorf("%d messages dead-lettered", n)
	}
	got := map[string]int{}
	s, _ := f.nats.JS.Stream(context.Background(), "OUT")
	info, _ := s.Info(context.Background())
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		for _, in := range strings.Split(string(m.Data), ",") {
			got[in]++
		}
	}
	for i := range 30 {
		in := fmt.Sprintf("msg-%d", i)
		if want := 1; strings.HasSuffix(in, "7") {
			if got[in] != 0 {
				t.Errorf("%s was refused but published", in)
			}
		} else if got[in] < want {
			t.Errorf("%s is in no stored message", in)
		}
	}
	if pending, ackPending := f.consumerState(t, "gather"); pending != 0 || ackPending != 0 {
		t.Errorf("consumer pending %d, ack pending %d after the downstream recovered", pending, ackPending)
	}
}

// An output leaves as soon as its input is handled, not when the whole
// batch is: the handler of the batch's last event waits (up to 15 s) for the
// first event's output to be in the output stream. A worker that published
// at the end of the batch would only store it after that wait.
func TestEventsPublishesEachOutputBeforeTheBatchEnds(t *testing.T) {
	f := newFixture(t)
	f.outputStream(t, 1<<20)
	f.publishEvents(t, 5)
	c := f.consumer(func(c *worker.ConsumerConfig) { c.Batch = 5; c.Linger = 5 * time.Second })
	var handled, early atomic.Int32
	h := func(ctx context.Context, ev *event.Event) ([]*event.Event, error) {
		handled.Add(1)
		if ev.ID != "e4" {
			return []*event.Event{ev}, nil
		}
		for range 1500 {
			if f.nats.StreamMsgs("OUT") > 0 {
				early.Store(1)
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		return []*event.Event{ev}, nil
	}
	bh := worker.Events(f.nats.JS, worker.HandlerFunc(h), worker.Output{Subject: worker.SubjectByPrefix("out.")}, f.m, "early")
	f.start(t, "early", c, bh)
	f.waitOutcome(t, "early", "acked", 5)
	if n := handled.Load(); n != 5 {
		t.Fatalf("%d events handled, want the batch of 5 once", n)
	}
	if early.Load() == 0 {
		t.Fatal("the first event's output was stored only after the whole batch was handled")
	}
	if n := f.nats.StreamMsgs("OUT"); n != 5 {
		t.Fatalf("%d outputs stored, want 5", n)
	}
}
