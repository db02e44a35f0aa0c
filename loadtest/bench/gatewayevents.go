package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Entries is the msgpack stream of [EventTime, {"log": line}] entries a
// Fluent Bit chunk holds (what PackedForward carries).
func Entries(lines []Line) []byte {
	var b []byte
	for _, l := range lines {
		b = appendEntry(b, l)
	}
	return b
}

// ForwardRecords decodes lines as the gateway's forward listener decodes a
// chunk of them under tag.
func ForwardRecords(tag string, lines []Line) ([]ingest.Record, error) {
	recs, skipped, why, err := forward.DecodeEntries(tag, Entries(lines), ingest.DefaultLimits())
	if err != nil {
		return nil, err
	}
	if skipped > 0 {
		return nil, fmt.Errorf("%d entries skipped: %s", skipped, why)
	}
	return recs, nil
}

// publishAsGateway stores lines in LOGS_RAW through the gateway's own
// publisher, in chunks of chunkRecords, so the raw stream holds exactly
// what a gateway would have written for them.
func publishAsGateway(ctx context.Context, js jetstream.JetStream, tag string, lines []Line) error {
	p := ingest.NewPublisher(js, ingest.DefaultPublisherConfig(), ingest.NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
	const chunkRecords = 2000
	for i := 0; i < len(lines); i += chunkRecords {
		recs, err := ForwardRecords(tag, lines[i:min(i+chunkRecords, len(lines))])
		if err != nil {
			return err
		}
		for j, err := range p.Publish(ctx, "forward", recs) {
			if err != nil {
				return fmt.Errorf("record %d: %w", i+j, err)
			}
		}
	}
	return nil
}

// gatewayMessages returns what the gateway publishes for lines under tag,
// as the enricher receives them from LOGS_RAW.
func gatewayMessages(tag string, lines []Line) ([]*worker.Msg, error) {
	js := newCaptureJS(4096)
	var out []*worker.Msg
	stored := time.Now()
	js.keep = func(nm *nats.Msg) {
		out = append(out, &worker.Msg{Subject: nm.Subject, Data: nm.Data, Header: nm.Header, Deliveries: 1,
			Stream: topology.RawStream, Sequence: uint64(len(out) + 1), Time: stored})
	}
	if err := publishAsGateway(context.Background(), js, tag, lines); err != nil {
		return nil, err
	}
	return out, nil
}

// newEnricher returns the enricher as its binary builds it, with the
// pipelines of dir, publishing to js.
func newEnricher(js jetstream.JetStream, dir string) (worker.BatchHandler, error) {
	cfg := enrich.Defaults()
	cfg.PipelinesDir = dir
	cfg.Watch = false
	reg := prometheus.NewRegistry()
	e, err := enrich.New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return worker.Events(js, e, enrich.Output(cfg), worker.NewMetrics(reg), "enricher"), nil
}

// enrichedMessages runs the enricher with the pipelines of dir over in, in
// batches of 500 as it consumes, and returns what it publishes.
func enrichedMessages(in []*worker.Msg, dir string) ([]*nats.Msg, error) {
	js := newCaptureJS(4096)
	var out []*nats.Msg
	js.keep = func(m *nats.Msg) { out = append(out, m) }
	h, err := newEnricher(js, dir)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(in); i += 500 {
		for j, err := range h.HandleBatch(context.Background(), in[i:min(i+500, len(in))]) {
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i+j, err)
			}
		}
	}
	return out, nil
}
