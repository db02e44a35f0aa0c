package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/topology"
)

// Prefetch is how many dead letters a Reader asks the server for ahead of
// its caller: with the caller's own window, it bounds what a reader of the
// DLQ holds in memory, however long the DLQ.
const Prefetch = 128

// idleCheck is how long a Reader waits for the next message before it asks
// the server whether any are left (messages deleted while it reads can make
// the end it expected never arrive).
const idleCheck = time.Second

// Query selects dead letters. Where reading starts and which stage's
// subject is read are the server's business (the consumer's start and
// subject filter), so what comes before the start is never read at all; the
// other fields filter what is read.
type Query struct {
	// Stage reads only dlq.<Stage>; empty reads every stage.
	Stage string
	// StartSeq starts at this sequence of the DLQ stream.
	StartSeq uint64
	// Since starts at the first dead letter stored at or after this time.
	Since time.Time
	// Kind keeps only this kind (KindPermanent, KindPanic, KindMaxDeliver).
	Kind string
	// Reason keeps only reasons containing this text, ignoring case.
	Reason string
}

// Validate checks that the query can be asked.
func (q Query) Validate() error {
	var errs config.Errors
	if q.StartSeq > 0 && !q.Since.IsZero() {
		errs.Addf("since", "give a start time or a start sequence, not both")
	}
	if strings.ContainsAny(q.Stage, " \t\r\n*>") || strings.HasPrefix(q.Stage, ".") || strings.HasSuffix(q.Stage, ".") {
		errs.Addf("stage", "%q is not a stage name (a worker's name, such as enricher)", q.Stage)
	}
	return errs.Err()
}

// Subject is the DLQ subject the query reads.
func (q Query) Subject() string {
	if q.Stage != "" {
		return Subject(q.Stage)
	}
	return topology.DLQSubjects
}

// Filtered reports whether the query filters what it reads (by kind or
// reason), beyond where it starts and which subject it reads.
func (q Query) Filtered() bool { return q.Kind != "" || q.Reason != "" }

// Match reports whether e is selected by the query: its stage, kind and
// reason, and whether it lies at or after the query's start.
func (q Query) Match(e Entry) bool {
	return (q.Stage == "" || e.Stage == q.Stage) &&
		(q.Kind == "" || e.Kind == q.Kind) &&
		(q.Reason == "" || strings.Contains(strings.ToLower(e.Reason), strings.ToLower(q.Reason))) &&
		e.Seq >= q.StartSeq && (q.Since.IsZero() || !e.Stored.Before(q.Since))
}

// Entry is a dead letter as stored in the DLQ stream.
type Entry struct {
	// Seq is its sequence in the DLQ stream, the number `jetlog dlq`
	// shows and takes.
	Seq uint64
	// Stored is when the DLQ stream stored it.
	Stored time.Time
	*Record
}

// Reader reads the dead letters a Query selects, oldest first, from its
// start up to the last dead letter stored when the reader was opened, and
// holds at most Prefetch of them at a time. Dead letters stored after it
// opened (a redriven message that fails again, for one) are not read, so a
// pass over the DLQ ends.
type Reader struct {
	q      Query
	js     jetstream.JetStream
	last   uint64
	cons   jetstream.Consumer
	it     jetstream.MessagesContext
	cur    Entry
	cseq   uint64 // the consumer sequence of the last message read
	read   uint64
	total  uint64
	bad    uint64
	done   bool
	err    error
	closed bool
}

// Open returns a Reader of the DLQ stream for q.
func Open(ctx context.Context, js jetstream.JetStream, q Query) (*Reader, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		return nil, fmt.Errorf("open the %s stream: %w", topology.DLQStream, err)
	}
	r := &Reader{q: q, js: js}
	last, err := s.GetLastMsgForSubject(ctx, q.Subject())
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		r.done = true // nothing on the subject
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("read the last dead letter on %s: %w", q.Subject(), err)
	case last.Sequence < q.StartSeq || (!q.Since.IsZero() && last.Time.Before(q.Since)):
		r.done = true // nothing at or after the start
		return r, nil
	}
	r.last = last.Sequence
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.Subject()}, InactiveThreshold: time.Minute}
	switch {
	case q.StartSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.StartSeq
	case !q.Since.IsZero():
		since := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	if r.cons, err = s.OrderedConsumer(ctx, cfg); err != nil {
		return nil, fmt.Errorf("read the %s stream: %w", topology.DLQStream, err)
	}
	if r.it, err = r.cons.Messages(jetstream.PullMaxMessages(Prefetch)); err != nil {
		return nil, fmt.Errorf("read the %s stream: %w", topology.DLQStream, err)
	}
	return r, nil
}

// Next advances to the next selected dead letter and reports whether there
// is one; after false, Err says whether the pass ended or failed.
func (r *Reader) Next(ctx context.Context) bool {
	for !r.done {
		m, err := r.next(ctx)
		if err != nil {
			r.done, r.err = true, err
			break
		}
		if m == nil {
			continue // idle, and the server still has messages for us
		}
		md, err := m.Metadata()
		if err != nil {
			r.done, r.err = true, err
			break
		}
		if md.Sequence.Stream > r.last {
			r.done = true
			break
		}
		r.read++
		r.cseq = md.Sequence.Consumer
		if r.total == 0 {
			r.total = r.read + md.NumPending
		}
		if md.Sequence.Stream == r.last || md.NumPending == 0 {
			r.done = true // this is the last one; return it first
		}
		rec, err := Parse(m.Headers(), m.Data())
		if err != nil {
			r.bad++
			continue
		}
		e := Entry{Seq: md.Sequence.Stream, Stored: md.Timestamp, Record: rec}
		if r.q.Match(e) {
			r.cur = e
			return true
		}
	}
	r.Close()
	return false
}

// next waits for the next message; nil without an error means the reader
// was idle for idleCheck and the server says more messages are coming.
func (r *Reader) next(ctx context.Context) (jetstream.Msg, error) {
	wctx, cancel := context.WithTimeout(ctx, idleCheck)
	defer cancel()
	m, err := r.it.Next(jetstream.NextContext(wctx))
	if err == nil {
		return m, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("read the %s stream: %w", topology.DLQStream, err)
	}
	info, err := r.cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the %s stream: %w", topology.DLQStream, err)
	}
	if info.NumPending == 0 && info.Delivered.Consumer <= r.cseq {
		r.done = true // nothing left or in flight: what we expected was deleted meanwhile
	}
	return nil, nil
}

// Entry is the dead letter Next advanced to.
func (r *Reader) Entry() Entry { return r.cur }

// Err is the error that ended the pass, or nil when it read to the end.
func (r *Reader) Err() error { return r.err }

// Read is how many messages the server delivered so far, selected or not:
// what comes before the query's start, or on another stage's subject, is
// never delivered.
func (r *Reader) Read() uint64 { return r.read }

// Total is how many messages the pass will read, known once the first one
// is read (0 before): the denominator of a progress report.
func (r *Reader) Total() uint64 { return r.total }

// Unparsed is how many messages read were not dead letters (no
// Jetlog-Dlq-Stage header) and were skipped.
func (r *Reader) Unparsed() uint64 { return r.bad }

// Close stops reading and removes the reader's consumer from the server. It
// is idempotent; Next calls it at the end of the pass.
func (r *Reader) Close() {
	if r.closed || r.it == nil {
		r.closed = true
		return
	}
	r.closed = true
	r.it.Stop()
	if info := r.cons.CachedInfo(); info != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.js.DeleteConsumer(ctx, topology.DLQStream, info.Name)
	}
}
