package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// FullRatio is the share of a pipeline stream's byte bound at which its
// backlog counts as full: the gateway reports itself not ready, since new
// events are about to be refused.
const FullRatio = 0.99

// Backlog describes what a pipeline stream holds that is not yet processed.
type Backlog struct {
	Stream   string
	Bytes    uint64
	MaxBytes int64
	Messages uint64
	// Slowest is the consumer with the most unacknowledged messages, and
	// that count: the one holding the backlog.
	Slowest        string
	SlowestPending uint64
	// SlowestUnread says no client was pulling from the slowest consumer
	// when the backlog was read: its stage is probably not running.
	SlowestUnread bool
}

// Full reports whether the backlog reached FullRatio of its bound.
func (b Backlog) Full() bool {
	return b.MaxBytes > 0 && float64(b.Bytes) >= FullRatio*float64(b.MaxBytes)
}

// Err says why the backlog is full, or nil.
func (b Backlog) Err() error {
	if !b.Full() {
		return nil
	}
	who := ""
	if b.Slowest != "" {
		who = fmt.Sprintf("; consumer %s has %d messages unacknowledged (the slowest: is it running? a durable consumer nobody reads holds the backlog until it is removed)", b.Slowest, b.SlowestPending)
		if b.SlowestUnread {
			who += fmt.Sprintf("; no client is reading %s: if its stage does not run in this deployment, remove it from streams.consumers and run `nats consumer rm %s %s`",
				b.Slowest, b.Stream, b.Slowest)
		}
	}
	return fmt.Errorf("%s backlog full: %s of %s not yet processed, new events are refused with retry-later answers until it drains%s (streams.raw_max_bytes / streams.enriched_max_bytes set the bound)",
		b.Stream, formatBytes(float64(b.Bytes)), formatBytes(float64(b.MaxBytes)), who)
}

// ReadBacklog reads a pipeline stream's backlog.
func ReadBacklog(ctx context.Context, js jetstream.JetStream, stream string) (Backlog, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return Backlog{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	info := s.CachedInfo()
	b := Backlog{Stream: stream, Bytes: info.State.Bytes, MaxBytes: info.Config.MaxBytes, Messages: info.State.Msgs}
	if b.Full() {
		lister := s.ListConsumers(ctx)
		for ci := range lister.Info() {
			if p := ci.NumPending + uint64(ci.NumAckPending); p > b.SlowestPending {
				b.Slowest, b.SlowestPending, b.SlowestUnread = ci.Name, p, ci.NumWaiting == 0 && ci.NumAckPending == 0
			}
		}
	}
	return b, nil
}

func formatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// collector exports the state of the pipeline's streams on every scrape.
type collector struct {
	js      jetstream.JetStream
	streams []string
	msgs    *prometheus.Desc
	bytes   *prometheus.Desc
	max     *prometheus.Desc
	age     *prometheus.Desc
	pending *prometheus.Desc
}

// NewCollector returns a Prometheus collector of the pipeline streams'
// state, read from JetStream at each scrape:
//
//	jetlog_stream_messages{stream}                           messages stored
//	jetlog_stream_bytes{stream}                              bytes stored
//	jetlog_stream_max_bytes{stream}                          the stream's byte bound
//	jetlog_stream_first_message_age_seconds{stream}          age of the oldest message: the
//	                                                         archive's replay horizon, the
//	                                                         backlog's oldest unprocessed event
//	jetlog_stream_consumer_unacknowledged_messages{stream,consumer}
func NewCollector(js jetstream.JetStream, c Config) prometheus.Collector {
	streams := []string{RawStream, EnrichedStream}
	if c.Archive.Enabled {
		streams = append(streams, ArchiveStream)
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("jetlog_stream_"+name, help, labels, nil)
	}
	return &collector{
		js: js, streams: streams,
		msgs:    d("messages", "Messages stored in the stream.", "stream"),
		bytes:   d("bytes", "Bytes stored in the stream.", "stream"),
		max:     d("max_bytes", "The stream's byte bound (for a pipeline stream: the backlog bound).", "stream"),
		age:     d("first_message_age_seconds", "Age of the stream's oldest message: the archive's replay horizon, or the backlog's oldest unprocessed event.", "stream"),
		pending: d("consumer_unacknowledged_messages", "Messages a durable consumer has not acknowledged (not yet delivered plus in flight).", "stream", "consumer"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.msgs, c.bytes, c.max, c.age, c.pending} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range c.streams {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			continue
		}
		info := s.CachedInfo()
		ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.GaugeValue, float64(info.State.Msgs), name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(info.State.Bytes), name)
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(info.Config.MaxBytes), name)
		age := 0.0
		if info.State.Msgs > 0 && !info.State.FirstTime.IsZero() {
			age = time.Since(info.State.FirstTime).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age, name)
		if !IsPipeline(name) {
			continue
		}
		lister := s.ListConsumers(ctx)
		for ci := range lister.Info() {
			if ci.Config.Durable == "" {
				continue // the archive's sourcing consumer and other ephemerals
			}
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(ci.NumPending)+float64(ci.NumAckPending), name, ci.Name)
		}
	}
}
