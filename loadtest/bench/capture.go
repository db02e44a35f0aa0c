package bench

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// captureJS stands in for JetStream where the harness runs a stage in its
// own process (the stage benchmarks, and making jetlog's documents for the
// direct bulk of them): every publish is acknowledged at once, from a ring
// of reusable futures, so it allocates nothing per event, and keep (when
// set) sees every message. Any other JetStream method panics (the
// embedded interface is nil). It is not safe for concurrent use.
type captureJS struct {
	jetstream.JetStream
	futs []*captureFuture
	next int
	keep func(*nats.Msg) // when set, sees every published message
}

type captureFuture struct {
	ok  chan *jetstream.PubAck
	err chan error
	msg *nats.Msg
}

var capturedAck = &jetstream.PubAck{Stream: "STUB", Sequence: 1}

func (f *captureFuture) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f *captureFuture) Err() <-chan error            { return f.err }
func (f *captureFuture) Msg() *nats.Msg               { return f.msg }

// newCaptureJS returns a stand-in with n futures: more than any batch publishes
// before it reads its acks.
func newCaptureJS(n int) *captureJS {
	s := &captureJS{futs: make([]*captureFuture, n)}
	for i := range s.futs {
		s.futs[i] = &captureFuture{ok: make(chan *jetstream.PubAck, 1), err: make(chan error)}
	}
	return s
}

func (s *captureJS) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	f := s.futs[s.next%len(s.futs)]
	s.next++
	select {
	case f.ok <- capturedAck:
	default:
		panic("stub future reused before its ack was read: give newCaptureJS more futures")
	}
	f.msg = m
	if s.keep != nil {
		s.keep(m)
	}
	return f, nil
}
