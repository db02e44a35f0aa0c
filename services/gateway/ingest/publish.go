package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
)

// Retryable refusals: nothing of the record was stored, and the sender
// should send it again later. Protocols map them to their "retry" answer
// (no forward ack, HTTP 429/503 with Retry-After, _bulk item 429).
var (
	// ErrBusy: the gateway holds as many bytes in flight as it may.
	ErrBusy = errors.New("gateway busy: too many bytes in flight, retry later")
	// ErrStreamFull: the raw stream reached its size limit (DiscardNew).
	ErrStreamFull = errors.New("raw stream full: retry later (the pipeline is behind; see LOGS_RAW and the enricher's lag)")
	// ErrUnavailable: JetStream did not confirm the write in time.
	ErrUnavailable = errors.New("JetStream unavailable: retry later")
)

// IsRetryable reports whether err asks the sender to retry.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrBusy) || errors.Is(err, ErrStreamFull) || errors.Is(err, ErrUnavailable)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// SubjectPrefix is where raw events go: prefix + source.
	SubjectPrefix string `yaml:"subject_prefix"`
	// MaxInflightBytes bounds the record bytes held while waiting for
	// JetStream, across all connections: the gateway's memory bound.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// QueueTimeout is how long a request waits for room before it is
	// refused with "busy".
	QueueTimeout time.Duration `yaml:"queue_timeout"`
	// AckTimeout is how long to wait for JetStream's PubAck.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// Limits bound each record.
	Limits Limits `yaml:"limits"`
}

// DefaultPublisherConfig returns the defaults.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{SubjectPrefix: topology.RawPrefix, MaxInflightBytes: 32 << 20, QueueTimeout: 5 * time.Second,
		AckTimeout: 10 * time.Second, Limits: DefaultLimits()}
}

// Publisher validates records, publishes them as events and reports, per
// record, whether JetStream stored them.
type Publisher struct {
	js       jetstream.JetStream
	cfg      PublisherConfig
	inflight *semaphore.Weighted
	m        *Metrics
	log      *slog.Logger
	now      func() time.Time
}

// NewPublisher returns a publisher. js should be created with a high
// WithPublishAsyncMaxPending: a batch beyond it waits for its own PubAcks
// to make room, one at a time.
func NewPublisher(js jetstream.JetStream, cfg PublisherConfig, m *Metrics, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	return &Publisher{js: js, cfg: cfg, inflight: semaphore.NewWeighted(cfg.MaxInflightBytes), m: m, log: log, now: time.Now}
}

// Limits returns the record limits, for protocols that check sizes while
// decoding.
func (p *Publisher) Limits() Limits { return p.cfg.Limits }

type future struct {
	i   int
	fut jetstream.PubAckFuture
}

// Publish handles one request's or chunk's records and returns one result
// each: nil (stored, or already stored: a retry), a *RejectError (refused for
// good; the record went to the DLQ), or a retryable error (ErrBusy,
// ErrStreamFull, ErrUnavailable: nothing was stored for it). It sets the ID
// of each record it turned into an event to that event's id, which
// protocols report back (_bulk item ids).
func (p *Publisher) Publish(ctx context.Context, protocol string, recs []Record) []error {
	res := make([]error, len(recs))
	if len(recs) > p.cfg.Limits.MaxBatchRecords {
		for i := range res {
			res[i] = Rejectf(ReasonTooManyRecs, "%d records in one request, limit %d (set gateway.limits.max_batch_records)", len(recs), p.cfg.Limits.MaxBatchRecords)
		}
		p.m.count(protocol, res, nil)
		return res
	}
	var total int64
	for i := range recs {
		total += int64(len(recs[i].Raw)) + 256
	}
	total = min(total, p.cfg.MaxInflightBytes)
	wctx, cancel := context.WithTimeout(ctx, p.cfg.QueueTimeout)
	err := p.inflight.Acquire(wctx, total)
	cancel()
	if err != nil {
		for i := range res {
			res[i] = ErrBusy
		}
		p.m.count(protocol, res, nil)
		return res
	}
	p.m.inflight.Add(float64(total))
	defer func() {
		p.inflight.Release(total)
		p.m.inflight.Sub(float64(total))
	}()

	start := p.now()
	now := start.UTC()
	futs := make([]future, 0, len(recs))
	dup := make([]bool, len(recs)) // stored already: a retry within the duplicate window
	settled := 0                   // futs[:settled] have their answer in res and dup
	// settle waits for f's answer until done; it reports whether one came.
	settle := func(f future, done <-chan struct{}) bool {
		select {
		case ack := <-f.fut.Ok():
			dup[f.i] = ack.Duplicate
		case err := <-f.fut.Err():
			res[f.i] = classify(err)
		case <-done:
			res[f.i] = ErrUnavailable
			return false
		}
		return true
	}
	// publish hands msg to JetStream. A batch larger than the context's
	// pending limit (a Fluent Bit chunk of short lines holds tens of
	// thousands of records) meets the client's stall: it then waits for
	// this batch's oldest PubAck and tries again, for up to ack_timeout
	// without progress, instead of refusing the rest of the batch.
	publish := func(msg *nats.Msg) (jetstream.PubAckFuture, error) {
		f, err := p.js.PublishMsgAsync(msg)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		give := time.Now().Add(p.cfg.AckTimeout)
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) && time.Now().Before(give) && ctx.Err() == nil {
			if settled < len(futs) {
				wctx, cancel := context.WithDeadline(ctx, give)
				answered := settle(futs[settled], wctx.Done())
				cancel()
				settled++
				if answered {
					give = time.Now().Add(p.cfg.AckTimeout)
				}
			}
			f, err = p.js.PublishMsgAsync(msg)
		}
		return f, err
	}
	ids := requestIDs{recs: recs}
	eventIDs := make([]string, len(recs)) // set on recs once all are made: a request key reads the shipper's
	for i := range recs {
		rec := &recs[i]
		if rec.Reject != nil {
			res[i] = rec.Reject
			continue
		}
		if err := p.cfg.Limits.Check(rec); err != nil {
			res[i] = err
			continue
		}
		ev := p.toEvent(rec, now, &ids)
		eventIDs[i] = ev.ID
		data, err := ev.Marshal()
		if err != nil {
			res[i] = Rejectf(ReasonMalformed, "cannot encode record as an event: %v", err)
			continue
		}
		subject := p.cfg.SubjectPrefix + ev.Source // toEvent made the source subject-safe
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{nats.MsgIdHdr: []string{ev.ID}, event.FormatHeader: []string{event.FormatEventV1}}}
		f, err := publish(msg)
		if err != nil {
			res[i] = classify(err)
			continue
		}
		futs = append(futs, future{i: i, fut: f})
	}
	for i, id := range eventIDs {
		if id != "" {
			recs[i].ID = id
		}
	}
	// One deadline for the whole batch: once it passes, every record still
	// unconfirmed is refused (a closed Done channel stays closed).
	actx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	for _, f := range futs[settled:] {
		settle(f, actx.Done())
	}
	p.m.publishDuration.Observe(p.now().Sub(start).Seconds())
	for i, err := range res {
		if IsReject(err) {
			p.deadLetter(ctx, protocol, &recs[i], err)
		}
	}
	p.m.count(protocol, res, dup)
	return res
}

// toEvent turns a record into its event, with a deterministic id: the
// shipper's id within its scope; else a hash of source, context, raw bytes
// and the record's own timestamp, or, for a record without one, the key of
// its request in place of the time; the n-th repeat of an identical record
// in one request gets that id with "-n" appended (see docs/gateway.md).
func (p *Publisher) toEvent(rec *Record, now time.Time, req *requestIDs) *event.Event {
	_, source := Subject("", rec.Source)
	ev := rec.Event
	if ev == nil {
		ev = event.FromRecord(rec.Fields, rec.Time, now)
	}
	own := ev.Timestamp // zero: the record carries no time of its own
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now
	}
	if ev.ObservedTimestamp.IsZero() {
		ev.ObservedTimestamp = now
	}
	ev.Source = source
	if ev.Dataset == "" {
		ev.Dataset = rec.Dataset
	}
	switch {
	case rec.ID != "":
		ev.ID = event.IDFromShipperIn(source, rec.IDScope, rec.ID)
	case ev.ID == "":
		in := event.IDInput{Source: source, Context: rec.Context, Raw: rec.Raw, Time: own}
		if own.IsZero() {
			in.Request = req.key(rec)
		}
		ev.ID = req.nth(in.ID())
	}
	return ev
}

// requestIDs holds what the ids of the records published together (one
// request or chunk) share.
type requestIDs struct {
	recs    []Record
	derived string         // the request key made of the records' bytes, once needed
	seen    map[string]int // how many times each id was given
}

// key returns the name of rec's request: the client's, else a hash of
// every record of the request, so a retry of the same request gets the
// same key and any other request another.
func (r *requestIDs) key(rec *Record) string {
	if rec.RequestKey != "" {
		return rec.RequestKey
	}
	if r.derived == "" {
		h := sha256.New()
		var n [8]byte
		field := func(b []byte) {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
		for i := range r.recs {
			o := &r.recs[i]
			field([]byte(o.Source))
			field([]byte(o.IDScope))
			field([]byte(o.ID))
			field([]byte(o.Context))
			binary.BigEndian.PutUint64(n[:], uint64(o.Time.UnixNano()))
			h.Write(n[:])
			field(o.Raw)
		}
		r.derived = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	return r.derived
}

// nth returns id the first time it is given in the request and id-n for
// its n-th repeat: identical records of one request are distinct events,
// and the same request sent again repeats the same ids in the same order.
func (r *requestIDs) nth(id string) string {
	if len(r.recs) == 1 {
		return id
	}
	if r.seen == nil {
		r.seen = make(map[string]int, len(r.recs))
	}
	n := r.seen[id]
	r.seen[id] = n + 1
	if n == 0 {
		return id
	}
	return id + "-" + strconv.Itoa(n)
}

// errCodeStoreFailed is nats-server's JSStreamStoreFailedF, what a
// DiscardNew stream answers when full ("maximum bytes exceeded").
const errCodeStoreFailed jetstream.ErrorCode = 10077

// classify maps a publish failure onto a refusal: a message over the
// stream's size limit is rejected for good, anything else is retryable.
func classify(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
			return Rejectf(ReasonTooLarge, "record too large for the raw stream (%s): raise streams.max_msg_bytes or lower gateway.limits.max_record_bytes", apiErr.Description)
		case apiErr.ErrorCode == errCodeStoreFailed:
			return fmt.Errorf("%w (%s)", ErrStreamFull, apiErr.Description)
		}
	}
	if strings.Contains(err.Error(), "maximum bytes") || strings.Contains(err.Error(), "maximum messages") {
		return fmt.Errorf("%w (%v)", ErrStreamFull, err)
	}
	return fmt.Errorf("%w (%v)", ErrUnavailable, err)
}

// deadLetter keeps a rejected record on dlq.gateway, so an operator sees
// what a shipper sends wrong. Failing to do so is logged, not retried: the
// sender was told the reason already.
func (p *Publisher) deadLetter(ctx context.Context, protocol string, rec *Record, reason error) {
	var rej *RejectError
	kind := ReasonMalformed
	if errors.As(reason, &rej) {
		kind = rej.Code
	}
	subject, _ := Subject(p.cfg.SubjectPrefix, rec.Source)
	data := rec.Raw
	if len(data) > p.cfg.Limits.MaxRecordBytes {
		data = data[:p.cfg.Limits.MaxRecordBytes] // keep the evidence, not the whole flood
	}
	r := &dlq.Record{Stage: "gateway", Kind: dlq.KindPermanent, Reason: reason.Error(), Subject: subject,
		Time: p.now(), Data: data, Header: nats.Header{"Jetlog-Protocol": []string{protocol}, "Jetlog-Reject-Code": []string{kind}},
		ID: "dlq:gateway:" + event.NewID(subject, rec.Raw, rec.Time)}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := p.js.PublishMsg(dctx, r.Msg()); err != nil {
		p.log.Warn("cannot dead-letter a rejected record", "reason", reason, "err", err)
	}
}

// Metrics are the gateway's Prometheus metrics.
type Metrics struct {
	records         *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	publishDuration prometheus.Histogram
	inflight        prometheus.Gauge
	// Connections counts open protocol connections (forward).
	Connections *prometheus.GaugeVec
	// Requests counts requests by protocol and answer.
	Requests *prometheus.CounterVec
	// AuthFailures counts what authentication or a credential's sources
	// refused, by protocol and reason (missing, invalid, forbidden_source).
	AuthFailures *prometheus.CounterVec
	// AuthReloads counts re-reads of changed credential files, by result
	// (ok, error).
	AuthReloads *prometheus.CounterVec
}

// NewMetrics registers the gateway metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_gateway_records_total",
			Help: "Records received, by protocol and outcome: accepted (stored in JetStream), duplicate (stored already: JetStream dropped a resent record by its id, answered as accepted), rejected (refused for good, with a reason), refused (retryable: busy, stream full, JetStream unavailable).",
		}, []string{"protocol", "outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_gateway_rejected_total",
			Help: "Records refused for good, by reason: too_large, too_deep, too_many_fields, invalid_utf8, nul_byte, bad_timestamp, malformed, too_many_records.",
		}, []string{"reason"}),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jetlog_gateway_publish_duration_seconds",
			Help:    "Time from a batch's first publish to its last JetStream acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 14),
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetlog_gateway_inflight_bytes",
			Help: "Record bytes held while waiting for JetStream (bounded by max_inflight_bytes).",
		}),
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetlog_gateway_connections",
			Help: "Open connections, by protocol.",
		}, []string{"protocol"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_gateway_requests_total",
			Help: "Requests or chunks answered, by protocol and result: ok, partial (some records rejected or of a forbidden source), retry (refused, retryable), bad_request, denied (refused by authentication or a credential's sources: 401, 403, a forward handshake or message refused).",
		}, []string{"protocol", "result"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_gateway_auth_failures_total",
			Help: "Requests, forward connections and forward messages refused or cut short by authentication, by protocol and reason: missing (no credential while gateway.auth.required), invalid (a wrong token, password, user name or shared key), forbidden_source (a source the credential may not write; a _bulk or OTLP request counts once however many of its records were refused).",
		}, []string{"protocol", "reason"}),
		AuthReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_gateway_auth_reloads_total",
			Help: "Credential files read again after they changed, by result: ok (the new secrets are in use), error (unreadable or empty: the previous secrets stay in use).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.records, m.rejected, m.publishDuration, m.inflight, m.Connections, m.Requests, m.AuthFailures, m.AuthReloads)
	for _, r := range []string{ReasonTooLarge, ReasonTooDeep, ReasonTooManyFields, ReasonInvalidUTF8, ReasonNULByte, ReasonBadTimestamp, ReasonMalformed, ReasonTooManyRecs} {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// count counts each record's outcome; dup (nil for none) marks the stored
// records JetStream had stored already.
func (m *Metrics) count(protocol string, res []error, dup []bool) {
	var acc, dups, rej, ref float64
	for i, err := range res {
		var r *RejectError
		switch {
		case err == nil && dup != nil && dup[i]:
			dups++
		case err == nil:
			acc++
		case errors.As(err, &r):
			rej++
			m.rejected.WithLabelValues(r.Code).Inc()
		default:
			ref++
		}
	}
	m.records.WithLabelValues(protocol, "accepted").Add(acc)
	m.records.WithLabelValues(protocol, "duplicate").Add(dups)
	m.records.WithLabelValues(protocol, "rejected").Add(rej)
	m.records.WithLabelValues(protocol, "refused").Add(ref)
}

// Result summarises per-record results for a protocol's answer.
type Result struct {
	Accepted, Rejected int
	// Forbidden counts the records whose source the sender may not write.
	Forbidden int
	// Retry is the first retryable error, or nil.
	Retry error
}

// Summarize counts results.
func Summarize(res []error) Result {
	var s Result
	for _, err := range res {
		switch {
		case err == nil:
			s.Accepted++
		case IsReject(err):
			s.Rejected++
		case IsForbidden(err):
			s.Forbidden++
		case s.Retry == nil:
			s.Retry = err
		}
	}
	return s
}
