package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

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
