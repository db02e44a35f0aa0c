package worker

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/dlq"
)

// Metrics are the runtime's Prometheus metrics, shared by every worker of a
// process and told apart by the worker label.
type Metrics struct {
	messages        *prometheus.CounterVec
	redeliveries    *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	batchDuration   *prometheus.HistogramVec
	batchSize       *prometheus.HistogramVec
	pending         *prometheus.GaugeVec
	ackPending      *prometheus.GaugeVec
	eventsOut       *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	publishFailures *prometheus.CounterVec
}

var (
	metricsMu  sync.Mutex
	metricsFor = map[prometheus.Registerer]*Metrics{}
)

// NewMetrics returns the runtime metrics registered on reg, creating them on
// first use; every worker of a process shares one set.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsFor[reg]; ok {
		return m
	}
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_worker_messages_total",
			Help: "Messages a worker finished, by outcome: acked, dropped, retried (negative-acked for redelivery), dead_lettered, or shutdown (handed back at stop).",
		}, []string{"worker", "outcome"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_worker_redeliveries_total",
			Help: "Messages received that had been delivered before (a retry, an ack timeout or a worker that died holding them).",
		}, []string{"worker"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_worker_dead_letters_total",
			Help: "Messages published to the DLQ, by kind: permanent, panic or max_deliver.",
		}, []string{"worker", "kind"}),
		batchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jetlog_worker_batch_duration_seconds",
			Help:    "Time to handle one batch, from handler call to the last ack.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"worker"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jetlog_worker_batch_messages",
			Help:    "Messages per batch.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000},
		}, []string{"worker"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetlog_worker_consumer_pending_messages",
			Help: "Messages in the stream not yet delivered to the worker's consumer (its lag).",
		}, []string{"worker"}),
		ackPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetlog_worker_consumer_ack_pending_messages",
			Help: "Messages delivered to the worker's consumer and not yet acknowledged.",
		}, []string{"worker"}),
		eventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_worker_events_published_total",
			Help: "Events a worker published to its output subjects and JetStream stored (duplicates not included).",
		}, []string{"worker"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_worker_events_duplicate_total",
			Help: "Events a worker published that JetStream had already stored under the same id (dropped as duplicates): the trace of a redelivered message handled again.",
		}, []string{"worker"}),
		publishFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_worker_publish_failures_total",
			Help: "Output publishes JetStream refused or did not acknowledge in time (a full stream, no stream, a timeout); each is retried, never dead-lettered.",
		}, []string{"worker"}),
	}
	reg.MustRegister(m.messages, m.redeliveries, m.deadLetters, m.batchDuration, m.batchSize, m.pending, m.ackPending, m.eventsOut, m.duplicates, m.publishFailures)
	metricsFor[reg] = m
	return m
}

// MessagesCounter returns the counter of one worker's messages with one
// outcome, for tests and health summaries.
func (m *Metrics) MessagesCounter(worker, outcome string) prometheus.Counter {
	return m.messages.WithLabelValues(worker, outcome)
}

// PublishFailuresCounter returns the counter of one worker's failed output
// publishes, for tests.
func (m *Metrics) PublishFailuresCounter(worker string) prometheus.Counter {
	return m.publishFailures.WithLabelValues(worker)
}

// init creates a worker's series at zero, so dashboards and alerts see them
// before the first event (Prometheus' advice for known label values).
func (m *Metrics) init(worker string) {
	for _, o := range []string{"acked", "dropped", "retried", "dead_lettered", "shutdown"} {
		m.messages.WithLabelValues(worker, o)
	}
	for _, k := range []string{dlq.KindPermanent, dlq.KindPanic, dlq.KindMaxDeliver} {
		m.deadLetters.WithLabelValues(worker, k)
	}
	m.redeliveries.WithLabelValues(worker)
	m.batchDuration.WithLabelValues(worker)
	m.batchSize.WithLabelValues(worker)
	m.pending.WithLabelValues(worker)
	m.ackPending.WithLabelValues(worker)
	m.eventsOut.WithLabelValues(worker)
	m.duplicates.WithLabelValues(worker)
	m.publishFailures.WithLabelValues(worker)
}
