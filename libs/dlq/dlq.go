package dlq

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/topology"
)

// Header names of a dead letter. The original message's headers are kept
// alongside them, except Nats-Msg-Id, which is kept as OriginalMsgID.
const (
	HeaderStage         = "Jetlog-Dlq-Stage"
	HeaderReason        = "Jetlog-Dlq-Reason"
	HeaderKind          = "Jetlog-Dlq-Kind"
	HeaderDeliveries    = "Jetlog-Dlq-Deliveries"
	HeaderStream        = "Jetlog-Dlq-Stream"
	HeaderSubject       = "Jetlog-Dlq-Subject"
	HeaderSequence      = "Jetlog-Dlq-Sequence"
	HeaderTime          = "Jetlog-Dlq-Time"
	HeaderOriginalMsgID = "Jetlog-Dlq-Msg-Id"
)

// Kinds of failure: a bounded set, used as a metric label.
const (
	KindPermanent  = "permanent"   // the handler said the message can never succeed
	KindPanic      = "panic"       // the handler panicked on it
	KindMaxDeliver = "max_deliver" // it failed or timed out on every allowed delivery
)

// maxReason bounds the reason stored in a header.
const maxReason = 2048

// Record is one dead letter.
type Record struct {
	Stage      string    // the worker that gave up
	Kind       string    // one of the Kind constants
	Reason     string    // the error, for a person
	Deliveries uint64    // how many times the stage received it
	Stream     string    // where it came from
	Subject    string    // its original subject, where a redrive sends it
	Sequence   uint64    // its sequence in Stream
	Time       time.Time // when it was dead-lettered
	MsgID      string    // its original Nats-Msg-Id
	// ID overrides the dead letter's own de-duplication id, for records
	// that never were in a stream (the gateway's rejects).
	ID     string
	Header nats.Header
	Data   []byte
}

// Subject is where a stage's dead letters go.
func Subject(stage string) string { return topology.DLQPrefix + stage }

// MsgID is the de-duplication id of a dead letter: the same message
// dead-lettered twice (by the runtime and by the max-deliveries advisory, or
// by two replicas) is stored once.
func MsgID(stage, stream string, seq uint64) string {
	return fmt.Sprintf("dlq:%s:%s:%d", stage, stream, seq)
}

// Msg builds the NATS message for r.
func (r *Record) Msg() *nats.Msg {
	h := nats.Header{}
	for k, v := range r.Header {
		if k == nats.MsgIdHdr || strings.HasPrefix(k, "Jetlog-Dlq-") || strings.HasPrefix(k, "Nats-") {
			continue
		}
		h[k] = v
	}
	reason := r.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	reason = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, reason)
	h.Set(HeaderStage, r.Stage)
	h.Set(HeaderKind, r.Kind)
	h.Set(HeaderReason, reason)
	h.Set(HeaderDeliveries, strconv.FormatUint(r.Deliveries, 10))
	h.Set(HeaderStream, r.Stream)
	h.Set(HeaderSubject, r.Subject)
	h.Set(HeaderSequence, strconv.FormatUint(r.Sequence, 10))
	h.Set(HeaderTime, r.Time.UTC().Format(time.RFC3339Nano))
	if r.MsgID != "" {
		h.Set(HeaderOriginalMsgID, r.MsgID)
	}
	if r.ID != "" {
		h.Set(nats.MsgIdHdr, r.ID)
	} else {
		h.Set(nats.MsgIdHdr, MsgID(r.Stage, r.Stream, r.Sequence))
	}
	return &nats.Msg{Subject: Subject(r.Stage), Header: h, Data: r.Data}
}

// Parse reads a dead letter back from its message.
func Parse(h nats.Header, data []byte) (*Record, error) {
	if h.Get(HeaderStage) == "" {
		return nil, fmt.Errorf("not a dead letter: no %s header", HeaderStage)
	}
	r := &Record{
		Stage: h.Get(HeaderStage), Kind: h.Get(HeaderKind), Reason: h.Get(HeaderReason),
		Stream: h.Get(HeaderStream), Subject: h.Get(HeaderSubject), MsgID: h.Get(HeaderOriginalMsgID),
		Data: data, Header: nats.Header{},
	}
	r.Deliveries, _ = strconv.ParseUint(h.Get(HeaderDeliveries), 10, 64)
	r.Sequence, _ = strconv.ParseUint(h.Get(HeaderSequence), 10, 64)
	r.Time, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderTime))
	for k, v := range h {
		if !strings.HasPrefix(k, "Jetlog-Dlq-") && !strings.HasPrefix(k, "Nats-") {
			r.Header[k] = v
		}
	}
	return r, nil
}
