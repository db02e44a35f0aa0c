package worker

import (
	"context"
	"errors"
	"fmt"

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
// when JetStream confirmed all of its outputs. A publish failure makes the
// message retry; redelivery publishes the same ids, which JetStream drops as
// duplicates.
func Events(js jetstream.JetStream, h Handler, out Output, m *Metrics, name string) BatchHandler {
	if out.Decode == nil {
		out.Decode = DecodeEvent
	}
	if m == nil {
		m = NewMetrics(newPrivateRegistry())
	}
	return &eventsHandler{js: js, h: h, out: out, m: m, name: name}
}

type eventsHandler struct {
	js   jetstream.JetStream
	h    Handler
	out  Output
	m    *Metrics
	name string
}

var _ BatchHandler = (*eventsHandler)(nil)

type pending struct {
	msg int
	fut jetstream.PubAckFuture
}

func (e *eventsHandler) HandleBatch(ctx context.Context, batch []*Msg) []error {
	res := make([]error, len(batch))
	var futs []pending
	outputs := make([]int, len(batch))
	for i, m := range batch {
		evs, err := e.out.Decode(m)
		if err != nil {
			res[i] = Permanent(err)
			continue
		}
		for _, ev := range evs {
			outs, err := e.safe(ctx, ev)
			if err != nil {
				if errors.Is(err, ErrDrop) && len(evs) > 1 {
					continue // one dropped event of several: the rest go on
				}
				res[i] = err
				break
			}
			for _, o := range outs {
				data, err := o.Marshal()
				if err != nil {
					res[i] = Permanent(fmt.Errorf("encode output event %s: %w", o.ID, err))
					break
				}
				nm := &nats.Msg{Subject: e.out.Subject(o), Data: data, Header: nats.Header{}}
				nm.Header.Set(nats.MsgIdHdr, o.ID)
				f, err := e.js.PublishMsgAsync(nm)
				if err != nil {
					res[i] = fmt.Errorf("publish %s: %w", nm.Subject, err)
					break
				}
				futs = append(futs, pending{msg: i, fut: f})
				outputs[i]++
			}
			if res[i] != nil {
				break
			}
		}
		if res[i] == nil && outputs[i] == 0 && len(evs) > 0 {
			res[i] = ErrDrop
		}
	}
	// Wait for every PubAck: a message is done only when all its outputs are
	// stored.
	published, dups := 0, 0
	for _, p := range futs {
		select {
		case ack := <-p.fut.Ok():
			published++
			if ack.Duplicate {
				dups++
			}
		case err := <-p.fut.Err():
			if res[p.msg] == nil || errors.Is(res[p.msg], ErrDrop) {
				res[p.msg] = fmt.Errorf("publish %s: %w", p.fut.Msg().Subject, err)
			}
		case <-ctx.Done():
			if res[p.msg] == nil {
				res[p.msg] = ctx.Err()
			}
		}
	}
	e.m.eventsOut.WithLabelValues(e.name).Add(float64(published - dups))
	e.m.duplicates.WithLabelValues(e.name).Add(float64(dups))
	return res
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
