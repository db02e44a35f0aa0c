// Package ingesttest runs the real ingest.Publisher over an in-process
// JetStream, for the tests of the gateway's protocols.
package ingesttest

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Env is a test's JetStream and the publisher over it.
type Env struct {
	NATS      *testkit.NATS
	Publisher *ingest.Publisher
	Metrics   *ingest.Metrics
	Registry  *prometheus.Registry
}

// Start starts a JetStream private to the test (with jetlog's streams) and a
// publisher with the default configuration as mut adjusts it (mut may be
// nil). The publisher's JetStream context allows as many pending async
// publishes as the gateway's does, so its byte bound is the tighter one.
func Start(t testing.TB, log *slog.Logger, mut func(*ingest.PublisherConfig)) *Env {
	t.Helper()
	n := testkit.StartNATS(t)
	nc, _ := n.Connect()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultPublisherConfig()
	if mut != nil {
		mut(&cfg)
	}
	reg := prometheus.NewRegistry()
	m := ingest.NewMetrics(reg)
	return &Env{NATS: n, Publisher: ingest.NewPublisher(js, cfg, m, log), Metrics: m, Registry: reg}
}

// Records returns jetlog_gateway_records_total{protocol, outcome}: 0 when
// the series was never counted.
func (e *Env) Records(t testing.TB, protocol, outcome string) float64 {
	t.Helper()
	mfs, err := e.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jetlog_gateway_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["protocol"] == protocol && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
