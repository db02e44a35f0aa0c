package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/event"
)

// Handler turns one event into the events to publish: none (drop it, or
// return ErrDrop to count it as dropped), the same event changed, or several
// (fan-out). Return a Permanent error for input that can never succeed.
type Handler interface {
	Handle(ctx context.Context, ev *event.Event) ([]*event.Event, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev *event.Event) ([]*event.Event, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *event.Event) ([]*event.Event, error) {
	return f(ctx, ev)
}

// Decoder turns a message into the events it carries. One message may carry
// several (a shipper's batch); an error is permanent for the message.
type Decoder func(m *Msg) ([]*event.Event, error)

// DecodeEvent is the default Decoder: the message body is one event's JSON.
func DecodeEvent(m *Msg) ([]*event.Event, error) {
	ev, err := event.Unmarshal(m.Data)
	if err != nil {
		return nil, err
	}
	return []*event.Event{ev}, nil
}

// Output says where an event handler's events are published.
type Output struct {
	// Subject returns the subject of an output event. Required.
	Subject func(ev *event.Event) string
	// Decode reads the input messages; defaults to DecodeEvent.
	Decode Decoder
}

// SubjectByPrefix returns an Output.Subject that publishes on prefix + the
// event's route subject, or else its source, as one subject token
// (logs.enriched.web).
func SubjectByPrefix(prefix string) func(*event.Event) string {
	return func(ev *event.Event) string {
		if ev.Subject != "" {
			return prefix + Token(ev.Subject)
		}
		return prefix + Token(ev.Source)
	}
}

// Token makes s safe as one NATS subject token: "." "*" ">" and whitespace
// become "_", and an empty s becomes "default".
func Token(s string) string {
	if s == "" {
		return "default"
	}
	b := []byte(s)
	for i, c := range b {
		switch c {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			b[i] = '_'
		}
		if c < 0x20 || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

// Events adapts a per-event Handler to a BatchHandler that publishes every
// output event with its id as Nats-Msg-Id and reports a message done only
// when JetStream confirmed all of its outputs.
//
// A publish that fails (the output stream is full, no stream answers, the
// PubAck does not come in time) is never the message's fault: it is
// retried with backoff inside the batch, with the same ids (JetStream drops
// any copy it already stored), while in-progress heartbeats keep the input
// messages; the batch ends when every output is stored, or hands its
// messages back when the worker stops. Only an output too large for its
// stream is a permanent error. Such waits show in
// jetlog_worker_publish_failures_total and in the worker's readiness.
func Events(js jetstream.JetStream, h Handler, out Output, m *Metrics, name string) BatchHandler {
	if out.Decode == nil {
		out.Decode = DecodeEvent
	}
	return &eventsHandler{publisher: newPublisher(js, m, name), h: h, out: out}
}

type eventsHandler struct {
	*publisher
	h   Handler
	out Output
}

var (
	_ BatchHandler = (*eventsHandler)(nil)
	_ stopAware    = (*eventsHandler)(nil)
)

// Forward returns a BatchHandler that publishes, for each message, the
// messages f makes of it (bytes passed through, no event decoding: an
// archive, a copy to another subject), acknowledging a message once
// JetStream stored all of them. Publishing retries like Events; an error
// from f is the message's result.
func Forward(js jetstream.JetStream, f func(m *Msg) ([]*nats.Msg, error), m *Metrics, name string) BatchHandler {
	return &forwardHandler{publisher: newPublisher(js, m, name), f: f}
}

type forwardHandler struct {
	*publisher
	f func(m *Msg) ([]*nats.Msg, error)
}

var _ BatchHandler = (*forwardHandler)(nil)

func (h *forwardHandler) HandleBatch(ctx context.Context, batch []*Msg) []error {
	res := make([]error, len(batch))
	outs := make([]output, 0, len(batch))
	for i, m := range batch {
		nms, err := h.f(m)
		if err != nil {
			res[i] = err
			continue
		}
		if len(nms) == 0 {
			res[i] = ErrDrop
		}
		for _, nm := range nms {
			outs = append(outs, output{msg: i, nm: nm})
		}
	}
	h.publish(ctx, outs, res)
	return res
}

// publisher stores a batch's outputs in JetStream, retrying what fails.
type publisher struct {
	js   jetstream.JetStream
	m    *Metrics
	name string
	log  *slog.Logger
	// stopping ends publish retries when the worker running the handler
	// stops (set by Worker.Start).
	stopping atomic.Pointer[<-chan struct{}]
}

func newPublisher(js jetstream.JetStream, m *Metrics, name string) *publisher {
	if m == nil {
		m = NewMetrics(newPrivateRegistry())
	}
	m.init(name)
	return &publisher{js: js, m: m, name: name, log: slog.Default().With("worker", name)}
}

// stopAware is a handler that wants to know when its worker stops, to end
// waits on a downstream instead of holding the drain until its deadline.
type stopAware interface {
	setStopping(ch <-chan struct{})
}

func (e *publisher) setStopping(ch <-chan struct{}) { e.stopping.Store(&ch) }

// output is one message to publish for the input at index msg of a batch
// (and, for a gathered message, the inputs in more).
type output struct {
	msg  int
	more []int
	nm   *nats.Msg
}

// settle sets err for each of the output's inputs that has no result yet.
func (o output) settle(res []error, err error) {
	if res[o.msg] == nil {
		res[o.msg] = err
	}
	for _, i := range o.more {
		if res[i] == nil {
			res[i] = err
		}
	}
}

// moot reports whether every input of the output already failed for good
// through another output: publishing it would serve nothing.
func (o output) moot(res []error) bool {
	if res[o.msg] == nil {
		return false
	}
	for _, i := range o.more {
		if res[i] == nil {
			return false
		}
	}
	return true
}

// Gathered is one message a gathering stage publishes for several inputs
// of a batch: their indices are From.
type Gathered struct {
	Msg  *nats.Msg
	From []int
}

// Gather returns a BatchHandler for a stage that publishes fewer, larger
// messages than it reads (the alerter gathers a batch's hits by
// partition). f reads the whole batch and emits messages, each naming the
// inputs it carries; an emitted message is published at once, while f goes
// on. f sets res[i] for an input it refuses (ErrDrop, or a Permanent
// error). An input is acknowledged once every message carrying it is
// stored; failed publishes are retried as Forward's are, never
// dead-lettered.
func Gather(js jetstream.JetStream, f func(batch []*Msg, res []error, emit func(Gathered)), m *Metrics, name string) BatchHandler {
	return &gatherHandler{publisher: newPublisher(js, m, name), f: f}
}

type gatherHandler struct {
	*publisher
	f func(batch []*Msg, res []error, emit func(Gathered))
}

func (h *gatherHandler) HandleBatch(ctx context.Context, batch []*Msg) []error {
	res := make([]error, len(batch))
	out := h.sending()
	h.f(batch, res, func(g Gathered) {
		if len(g.From) > 0 {
			out.send(output{msg: g.From[0], more: g.From[1:], nm: g.Msg}, res)
		}
	})
	out.wait(ctx, res)
	return res
}

func (e *eventsHandler) HandleBatch(ctx context.Context, batch []*Msg) []error {
	res := make([]error, len(batch))
	out := e.sending()
	for i, m := range batch {
		evs, err := e.out.Decode(m)
		if err != nil {
			res[i] = Permanent(err)
			continue
		}
		var mine []output
		for _, ev := range evs {
			produced, err := e.safe(ctx, ev)
			if err != nil {
				if errors.Is(err, ErrDrop) && len(evs) > 1 {
					continue // one dropped event of several: the rest go on
				}
				res[i] = err
				break
			}
			for _, o := range produced {
				data, err := o.Marshal()
				if err != nil {
					res[i] = Permanent(fmt.Errorf("encode output event %s: %w", o.ID, err))
					break
				}
				nm := &nats.Msg{Subject: e.out.Subject(o), Data: data, Header: nats.Header{}}
				nm.Header.Set(nats.MsgIdHdr, o.ID)
				mine = append(mine, output{msg: i, nm: nm})
			}
			if res[i] != nil {
				break
			}
		}
		switch {
		case res[i] != nil: // its outputs are not published
		case len(mine) == 0 && len(evs) > 0:
			res[i] = ErrDrop
		default:
			for _, o := range mine {
				out.send(o, res)
			}
		}
	}
	out.wait(ctx, res)
	return res
}

// publish stores every output, retrying failed publishes with backoff until
// all are stored, the context ends or the worker stops. A message is done
// only when all its outputs are.
func (e *publisher) publish(ctx context.Context, outs []output, res []error) {
	s := e.sending()
	for _, o := range outs {
		s.send(o, res)
	}
	s.wait(ctx, res)
}

// sending is one batch's publishing: outputs are sent as the handler makes
// them (the first one leaves while the rest of the batch is still being
// handled, which is what an alert on the batch's first event waits for),
// and their acknowledgements are awaited together at the end.
type sending struct {
	e       *publisher
	futs    []pendingAck
	failed  []output
	lastErr error
}

type pendingAck struct {
	o   output
	fut jetstream.PubAckFuture
}

func (e *publisher) sending() *sending { return &sending{e: e} }

// send publishes o (unless its inputs already failed for good).
func (s *sending) send(o output, res []error) {
	if o.moot(res) {
		return // another output of its inputs failed for good
	}
	f, err := s.e.js.PublishMsgAsync(o.nm)
	if err != nil {
		s.fail(o, err, res)
		return
	}
	s.futs = append(s.futs, pendingAck{o: o, fut: f})
}

func (s *sending) fail(o output, err error, res []error) {
	if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		o.settle(res, Permanent(fmt.Errorf("publish %s: %w (raise streams.max_msg_bytes, or limit the event's size upstream)", o.nm.Subject, err)))
		return
	}
	s.failed = append(s.failed, o)
	s.lastErr = fmt.Errorf("publish %s: %w", o.nm.Subject, err)
	s.e.m.publishFailures.WithLabelValues(s.e.name).Inc()
}

// wait awaits every acknowledgement, sending what failed again with
// backoff until all are stored, the context ends or the worker stops.
func (s *sending) wait(ctx context.Context, res []error) {
	e := s.e
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		published, dups := 0, 0
		for _, p := range s.futs {
			select {
			case ack := <-p.fut.Ok():
				published++
				if ack.Duplicate {
					dups++
				}
			case err := <-p.fut.Err():
				s.fail(p.o, err, res)
			case <-ctx.Done():
				s.fail(p.o, ctx.Err(), res)
			}
		}
		s.futs = s.futs[:0]
		e.m.eventsOut.WithLabelValues(e.name).Add(float64(published - dups))
		e.m.duplicates.WithLabelValues(e.name).Add(float64(dups))
		if len(s.failed) == 0 {
			return
		}
		if attempt == 1 || attempt%20 == 0 {
			e.log.Warn("publishing outputs failed; retrying (the input is kept, never dead-lettered for this)",
				"failed", len(s.failed), "attempt", attempt, "retry_in", wait, "err", s.lastErr)
		}
		var stopping <-chan struct{}
		if p := e.stopping.Load(); p != nil {
			stopping = *p
		}
		var end error
		select {
		case <-ctx.Done():
			end = ctx.Err()
		case <-stopping:
			end = ErrStopping
		case <-time.After(wait):
		}
		if end != nil {
			for _, o := range s.failed {
				o.settle(res, fmt.Errorf("%w (last: %v)", end, s.lastErr))
			}
			return
		}
		wait = min(wait*2, 5*time.Second)
		again := s.failed
		s.failed = nil
		for _, o := range again {
			s.send(o, res)
		}
	}
}

// safe calls the handler for one event, turning a panic into a permanent
// error for that event's message.
func (e *eventsHandler) safe(ctx context.Context, ev *event.Event) (out []*event.Event, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Permanent(&panicError{value: v})
		}
	}()
	return e.h.Handle(ctx, ev)
}
