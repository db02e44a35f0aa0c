package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/dlq"
)

// Msg is one JetStream message handed to a handler.
type Msg struct {
	Subject    string
	Data       []byte
	Header     nats.Header
	Deliveries uint64    // 1 on the first delivery
	Stream     string    // the stream it was read from
	Sequence   uint64    // its sequence in that stream
	Time       time.Time // when the stream stored it
	raw        jetstream.Msg
}

// MsgID returns the message's Nats-Msg-Id header (the event id), or "".
func (m *Msg) MsgID() string { return m.Header.Get(nats.MsgIdHdr) }

// BatchHandler handles a batch and returns one result per message, in order:
// nil when the message's output is durable (it is then acknowledged),
// ErrDrop, a Permanent error (DLQ), a RetryAfter error, or any other error
// (redelivered with backoff, dead-lettered once retry.max_deliver is spent).
type BatchHandler interface {
	HandleBatch(ctx context.Context, batch []*Msg) []error
}

// BatchHandlerFunc adapts a function to BatchHandler.
type BatchHandlerFunc func(ctx context.Context, batch []*Msg) []error

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, batch []*Msg) []error {
	return f(ctx, batch)
}

// Options configure a Worker.
type Options struct {
	// Name is the stage name: the default durable, the metric label and the
	// DLQ subject (dlq.<name>).
	Name     string
	JS       jetstream.JetStream
	Consumer ConsumerConfig
	Handler  BatchHandler
	// Metrics defaults to a set on a private registry.
	Metrics *Metrics
	Logger  *slog.Logger
}

// Worker consumes one durable consumer and runs a handler over its batches.
//
// Lifecycle: Start ensures the consumer and begins pulling; it returns
// quickly. Stop stops pulling, lets the batches in flight finish (their
// results are acked, nacked or dead-lettered as usual), hands messages that
// were pulled but not started back to the server, and returns. Stop is
// idempotent and safe without Start.
type Worker struct {
	opts    Options
	durable string
	log     *slog.Logger
	m       *Metrics

	mu       sync.Mutex
	started  bool
	stopped  bool
	cons     jetstream.Consumer
	stopping chan struct{}
	// busy holds, per loop, when its batch in flight started (0: idle),
	// for the stall readiness check.
	busy   []atomic.Int64
	cancel context.CancelFunc // cancels handler contexts when Stop's deadline passes
	wg     sync.WaitGroup
}

// New validates opts and returns a worker.
func New(opts Options) (*Worker, error) {
	if opts.Name == "" || opts.JS == nil || opts.Handler == nil {
		return nil, errors.New("worker: Name, JS and Handler are required")
	}
	if err := opts.Consumer.Validate(); err != nil {
		return nil, fmt.Errorf("worker %s: consumer: %w", opts.Name, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Worker{opts: opts, durable: opts.Consumer.Durable, log: opts.Logger.With("worker", opts.Name), m: opts.Metrics}
	if w.durable == "" {
		w.durable = opts.Name
	}
	if w.m == nil {
		w.m = NewMetrics(newPrivateRegistry())
	}
	w.m.init(opts.Name)
	return w, nil
}

// Name returns the worker's stage name.
func (w *Worker) Name() string { return w.opts.Name }

// Start creates or updates the durable consumer and starts consuming.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("worker: already started")
	}
	c := &w.opts.Consumer
	cons, err := w.opts.JS.CreateOrUpdateConsumer(ctx, c.Stream, c.jetstream(w.durable))
	if err != nil {
		return fmt.Errorf("worker %s: ensure consumer %s on %s: %w", w.opts.Name, w.durable, c.Stream, err)
	}
	w.cons = cons
	w.stopping = make(chan struct{})
	if s, ok := w.opts.Handler.(stopAware); ok {
		s.setStopping(w.stopping)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	w.busy = make([]atomic.Int64, c.Concurrency)
	for i := range c.Concurrency {
		w.wg.Add(1)
		go w.loop(runCtx, &w.busy[i])
	}
	w.wg.Add(1)
	go w.watchLag(runCtx)
	w.started = true
	w.log.Info("worker started", "stream", c.Stream, "durable", w.durable, "subjects", c.Subjects,
		"batch", c.Batch, "concurrency", c.Concurrency, "max_ack_pending", c.maxAckPending())
	return nil
}

// Stop drains the worker. When ctx ends before the batches in flight finish,
// their handlers' contexts are canceled and the messages handed back.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.started || w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped = true
	close(w.stopping)
	w.mu.Unlock()

	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel()
		<-done
		err = fmt.Errorf("worker %s: stop: %w", w.opts.Name, ctx.Err())
	}
	w.cancel()
	w.log.Info("worker stopped")
	return err
}

// Ready reports whether the worker is consuming, and not stuck on a batch
// for longer than consumer.stall_after.
func (w *Worker) Ready(ctx context.Context) error {
	w.mu.Lock()
	cons, started, stopped := w.cons, w.started, w.stopped
	w.mu.Unlock()
	switch {
	case !started:
		return errors.New("not started")
	case stopped:
		return errors.New("stopping")
	}
	for i := range w.busy {
		if since := w.busy[i].Load(); since != 0 {
			if d := time.Since(time.Unix(0, since)); d > w.opts.Consumer.StallAfter {
				return fmt.Errorf("a batch has been in the handler for %v (consumer.stall_after %v): its downstream neither answers nor fails; see the worker's log",
					d.Round(time.Second), w.opts.Consumer.StallAfter)
			}
		}
	}
	if _, err := cons.Info(ctx); err != nil {
		return fmt.Errorf("consumer %s: %w", w.durable, err)
	}
	return nil
}

func toMsg(raw jetstream.Msg) *Msg {
	m := &Msg{Subject: raw.Subject(), Data: raw.Data(), Header: raw.Headers(), raw: raw, Deliveries: 1}
	if md, err := raw.Metadata(); err == nil {
		m.Deliveries = md.NumDelivered
		m.Stream = md.Stream
		m.Sequence = md.Sequence.Stream
		m.Time = md.Timestamp
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	return m
}

// loop pulls and handles batches until Stop.
//
// Each loop owns one pull request at a time (Fetch), for at most Batch
// messages, and handles messages as they arrive rather than when the request
// completes, so latency stays low when traffic is light. Once stopping, it
// issues no new request and hands back (naks) whatever its last request
// still brings: when Stop returns, no message is held by this process.
// (A Consume subscription would keep a refill request open on the server,
// whose messages would be lost to the closed subscription and wait out
// AckWait before anyone else could take them.)
func (w *Worker) loop(ctx context.Context, busy *atomic.Int64) {
	defer w.wg.Done()
	c := &w.opts.Consumer
	failures := 0
	for !w.isStopping() {
		mb, err := w.cons.Fetch(c.Batch, jetstream.FetchMaxWait(c.pullWait()))
		if err != nil {
			failures++
			if failures == 1 || failures%100 == 0 {
				w.log.Warn("pull failed; retrying", "err", err, "failures", failures)
			}
			select {
			case <-w.stopping:
			case <-time.After(min(time.Duration(failures)*100*time.Millisecond, 2*time.Second)):
			}
			continue
		}
		failures = 0
		w.drainFetch(ctx, mb.Messages(), busy)
		if err := mb.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			w.log.Debug("pull ended", "err", err)
		}
	}
}

// drainFetch handles the messages of one pull request as they arrive.
func (w *Worker) drainFetch(ctx context.Context, ch <-chan jetstream.Msg, busy *atomic.Int64) {
	c := &w.opts.Consumer
	for raw := range ch {
		first := w.msg(raw)
		if w.isStopping() {
			w.handBack(first)
			continue
		}
		batch := append(make([]*Msg, 0, c.Batch), first)
		var linger <-chan time.Time
		var timer *time.Timer
		if c.Linger > 0 {
			timer = time.NewTimer(c.Linger)
			linger = timer.C
		}
	fill:
		for len(batch) < c.Batch {
			select {
			case raw, ok := <-ch:
				if !ok {
					break fill
				}
				batch = append(batch, w.msg(raw))
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case raw, ok := <-ch:
				if !ok {
					break fill
				}
				batch = append(batch, w.msg(raw))
			case <-linger:
				break fill
			}
		}
		if timer != nil {
			timer.Stop()
		}
		busy.Store(time.Now().UnixNano())
		w.handle(ctx, batch)
		busy.Store(0)
	}
}

func (w *Worker) msg(raw jetstream.Msg) *Msg {
	m := toMsg(raw)
	if m.Deliveries > 1 {
		w.m.redeliveries.WithLabelValues(w.opts.Name).Inc()
	}
	return m
}

// handBack returns a message the stopping worker will not handle, so another
// copy can take it at once.
func (w *Worker) handBack(m *Msg) {
	_ = m.raw.Nak()
	w.m.messages.WithLabelValues(w.opts.Name, "shutdown").Inc()
}

// handle runs the handler over one batch, keeping the messages alive with
// in-progress heartbeats, then applies each result.
func (w *Worker) handle(ctx context.Context, batch []*Msg) {
	start := time.Now()
	if batch = w.handleDead(ctx, batch); len(batch) == 0 {
		return
	}
	hbDone := make(chan struct{})
	go w.heartbeat(batch, hbDone)
	results := w.safeHandle(ctx, batch)
	close(hbDone)
	stopping := w.isStopping()
	for i, m := range batch {
		w.apply(ctx, m, results[i], stopping)
	}
	w.m.batchDuration.WithLabelValues(w.opts.Name).Observe(time.Since(start).Seconds())
	w.m.batchSize.WithLabelValues(w.opts.Name).Observe(float64(len(batch)))
}

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// safeHandle calls the handler. A panic in a batch of several messages is
// narrowed down by handling each message alone; the one that panics alone is
// poison, its neighbours are not.
func (w *Worker) safeHandle(ctx context.Context, batch []*Msg) []error {
	res, perr := w.call(ctx, batch)
	if perr == nil {
		return res
	}
	if len(batch) == 1 {
		return []error{Permanent(perr)}
	}
	w.log.Warn("handler panicked; retrying the batch one message at a time", "err", perr, "batch", len(batch))
	out := make([]error, len(batch))
	for i, m := range batch {
		r, perr := w.call(ctx, []*Msg{m})
		if perr != nil {
			out[i] = Permanent(perr)
		} else {
			out[i] = r[0]
		}
	}
	return out
}

func (w *Worker) call(ctx context.Context, batch []*Msg) (res []error, perr error) {
	defer func() {
		if v := recover(); v != nil {
			perr = &panicError{value: v}
		}
	}()
	res = w.opts.Handler.HandleBatch(ctx, batch)
	if len(res) != len(batch) {
		// A handler bug must not ack messages it did not account for.
		err := fmt.Errorf("handler returned %d results for %d messages", len(res), len(batch))
		res = make([]error, len(batch))
		for i := range res {
			res[i] = err
		}
	}
	return res, nil
}

func (w *Worker) heartbeat(batch []*Msg, done <-chan struct{}) {
	t := time.NewTicker(max(w.opts.Consumer.AckWait/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			for _, m := range batch {
				_ = m.raw.InProgress()
			}
		}
	}
}

// apply maps a result onto JetStream (see classify).
func (w *Worker) apply(ctx context.Context, m *Msg, err error, stopping bool) {
	d := classify(err, m.Deliveries, w.opts.Consumer.Retry, stopping)
	name := w.opts.Name
	switch d.act {
	case actAck:
		_ = m.raw.Ack()
		w.m.messages.WithLabelValues(name, "acked").Inc()
	case actDrop:
		_ = m.raw.Ack()
		w.m.messages.WithLabelValues(name, "dropped").Inc()
	case actShutdown:
		_ = m.raw.Nak()
		w.m.messages.WithLabelValues(name, "shutdown").Inc()
	case actRetry:
		_ = m.raw.NakWithDelay(d.delay)
		w.m.messages.WithLabelValues(name, "retried").Inc()
	case actDeadLetter:
		if perr := w.deadLetter(ctx, m, d.kind, d.reason); perr != nil {
			// Not stored in the DLQ, so not terminated: it comes back.
			w.log.Error("cannot publish to the DLQ; message will be redelivered", "subject", m.Subject, "seq", m.Sequence, "err", perr)
			_ = m.raw.NakWithDelay(w.opts.Consumer.Retry.Delay(m.Deliveries))
			w.m.messages.WithLabelValues(name, "retried").Inc()
			return
		}
		_ = m.raw.TermWithReason(d.kind)
		w.m.messages.WithLabelValues(name, "dead_lettered").Inc()
	}
}

func (w *Worker) deadLetter(ctx context.Context, m *Msg, kind, reason string) error {
	rec := &dlq.Record{
		Stage: w.opts.Name, Kind: kind, Reason: reason, Deliveries: m.Deliveries,
		Stream: m.Stream, Subject: m.Subject, Sequence: m.Sequence, Time: time.Now(),
		MsgID: m.MsgID(), Header: m.Header, Data: m.Data,
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := w.opts.JS.PublishMsg(pctx, rec.Msg()); err != nil {
		return err
	}
	w.m.deadLetters.WithLabelValues(w.opts.Name, kind).Inc()
	w.log.Warn("dead-lettered", "kind", kind, "reason", reason, "subject", m.Subject, "seq", m.Sequence, "deliveries", m.Deliveries)
	return nil
}

// handleDead dead-letters, without calling the handler, the messages that
// arrive once more than retry.max_deliver allows: none of their deliveries
// had an outcome (the runtime dead-letters a message the handler failed on
// at its last allowed delivery), so their worker crashed or timed out each
// time. It returns the rest of the batch.
func (w *Worker) handleDead(ctx context.Context, batch []*Msg) []*Msg {
	max := w.opts.Consumer.Retry.MaxDeliver
	if max <= 0 {
		return batch
	}
	rest := batch[:0]
	for _, m := range batch {
		if m.Deliveries <= uint64(max) {
			rest = append(rest, m)
			continue
		}
		reason := fmt.Sprintf("no outcome after %d deliveries (the worker crashed or exceeded ack_wait each time)", m.Deliveries-1)
		w.apply(ctx, m, &deadError{kind: dlq.KindMaxDeliver, reason: reason}, false)
	}
	return rest
}

// deadError asks apply to dead-letter a message with a given kind.
type deadError struct{ kind, reason string }

func (e *deadError) Error() string { return e.reason }

// watchLag samples the consumer's pending counts for the lag gauges.
func (w *Worker) watchLag(ctx context.Context) {
	defer w.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if info, err := w.cons.Info(ictx); err == nil {
			w.m.pending.WithLabelValues(w.opts.Name).Set(float64(info.NumPending))
			w.m.ackPending.WithLabelValues(w.opts.Name).Set(float64(info.NumAckPending))
		}
		cancel()
		select {
		case <-w.stopping:
			return
		case <-t.C:
		}
	}
}
