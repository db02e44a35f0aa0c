package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics are the notifier's delivery metrics.
type metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	muted    *prometheus.CounterVec
	sent     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_notifier_attempts_total",
			Help: "Delivery attempts by integration type, outcome (delivered, retrying, failed) and reason of a failure."},
			[]string{"integration", "outcome", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jetlog_notifier_attempt_duration_seconds",
			Help: "Duration of one delivery attempt, by integration type.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"integration"}),
		muted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_notifier_alerts_muted_total",
			Help: "Alerts left out of a notification, by reason (silence, inhibition, time_interval)."}, []string{"reason"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_notifier_notifications_total",
			Help: "Notifications by integration type and outcome (delivered, failed, resent: delivered again with the id of one cut short)."},
			[]string{"integration", "outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.latency, m.muted, m.sent} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !asAlreadyRegistered(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}

func asAlreadyRegistered(err error, are *prometheus.AlreadyRegisteredError) bool {
	e, ok := err.(prometheus.AlreadyRegisteredError)
	if ok {
		*are = e
	}
	return ok
}
