package alerting

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	hits       *prometheus.CounterVec
	ruleErrors *prometheus.CounterVec
	alerts     *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	evictions  *prometheus.CounterVec
	rules      *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	owned      prometheus.Gauge
	scheduled  *prometheus.CounterVec
	publishErr prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_matches_total",
			Help: "Events that matched a rule, by rule."}, []string{"rule"}),
		ruleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_rule_errors_total",
			Help: "Events a rule's condition failed on (the event is skipped for that rule), by rule."}, []string{"rule"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_alerts_total",
			Help: "Alert events published (stored by JetStream, duplicates included), by state and origin."}, []string{"state", "origin"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_dropped_total",
			Help: "Matches a rule did not count, by rule and reason: late (beyond lateness), duplicate (applied before), stale_hit (rule changed since), key_refused (max_keys reached with every group alerting)."},
			[]string{"rule", "reason"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_evictions_total",
			Help: "What a rule's limits made it forget, by rule and what: key (a group, limits.max_keys), event (an event, value or term of a group, limits.max_events)."},
			[]string{"rule", "what"}),
		rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jetlog_alerter_rules",
			Help: "Rules by state: loaded, or refused (a file that does not compile; see the log)."}, []string{"state"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_rule_reloads_total",
			Help: "Rule loads, by result: success, partial (some files refused)."}, []string{"result"}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetlog_alerter_partitions_owned",
			Help: "Partitions this copy of the alerter owns."}),
		scheduled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_alerter_scheduled_runs_total",
			Help: "Scheduled query runs, by rule and result (success, failure)."}, []string{"rule", "result"}),
		publishErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "jetlog_alerter_publish_failures_total",
			Help: "Alert event publishes that failed and were retried."}),
	}
	reg.MustRegister(m.hits, m.ruleErrors, m.alerts, m.dropped, m.evictions, m.rules, m.reloads, m.owned, m.scheduled, m.publishErr)
	return m
}

// count is the engine's Count callback.
func (m *metrics) count(ruleName, what string) {
	switch what {
	case "key_evicted":
		m.evictions.WithLabelValues(ruleName, "key").Inc()
	case "event_evicted":
		m.evictions.WithLabelValues(ruleName, "event").Inc()
	default:
		m.dropped.WithLabelValues(ruleName, what).Inc()
	}
}
