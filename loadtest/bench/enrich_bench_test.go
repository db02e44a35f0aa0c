package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/enricher/raw"
)

// BenchmarkEnrichEvent measures the enricher's work per event without NATS:
// decode, the shipped pipelines, encode.
func BenchmarkEnrichEvent(b *testing.B) {
	evs := Generate(3000, 1)
	cfg := enrich.Defaults()
	cfg.PipelinesDir = "../../pipelines"
	e, err := enrich.New(cfg, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		re := evs[i%len(evs)]
		d, err := raw.Decode(raw.Message{Subject: topology.RawPrefix + re.Source, Data: re.Data, Time: now}, raw.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		out, _ := e.Handle(context.Background(), d[0])
		for _, o := range out {
			if _, err := o.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
