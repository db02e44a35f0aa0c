// Package topology declares jetlog's JetStream streams, durable consumers and
// KV buckets, and creates, updates or migrates them idempotently, so any
// process can call Ensure at start and the first one to run sets the engine
// up.
//
// The stream contract:
//
//	stream         subjects           retention                      bound                       consumed by
//	LOGS_RAW       logs.raw.>         interest, DiscardNew           backlog: raw_max_bytes      enricher, archiver
//	LOGS_ARCHIVE   archive.raw.>      limits, DiscardOld             archive.max_bytes/max_age   replay (reads, never acks)
//	LOGS           logs.enriched.>    interest, DiscardNew           backlog: enriched_max_bytes indexer, alerter
//	ALERTS         alerts.>           limits, 90 days                                            notifier
//	NOTIFICATIONS  notify.>           limits, 90 days                                            delivery log readers
//	DLQ            dlq.>              limits, dlq_max_age                                        jetlog dlq
//
// A pipeline stream (LOGS_RAW, LOGS) holds only its backlog: a message is
// kept until every durable consumer of the stream has acknowledged it, and
// then freed. Its byte bound is therefore a bound on what is not yet
// processed; when it is reached, publishes are refused (the gateway answers
// "retry later") and nothing is ever evicted. Because an interest stream
// keeps nothing published while it has no consumer, the durable consumers
// of the pipeline's stages are created here, with the streams, before any
// stage first runs (Config.Consumers). History for replay lives in
// LOGS_ARCHIVE, a separate stream that the archiver stage fills from
// LOGS_RAW (archive.raw.<source>) and that evicts its oldest events beyond
// its own bounds, so replay never competes with the live backlog.
//
// The archiver is a durable consumer like any stage rather than the
// server's stream sourcing: a stream that sources an interest stream lost
// that stream's whole unprocessed backlog across a server restart
// (nats-server 2.15.2; TestArchiveDoesNotCostTheBacklogAcrossARestart in
// the archiver's package keeps watch).
//
// Every publish carries the event id as Nats-Msg-Id, so a retry within a
// stream's duplicate window is stored once.
package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
)

// Stream and subject names of the pipeline.
const (
	RawStream       = "LOGS_RAW"
	RawSubjects     = "logs.raw.>"
	RawPrefix       = "logs.raw."
	ArchiveStream   = "LOGS_ARCHIVE"
	ArchiveSubjects = "archive.raw.>"
	ArchivePrefix   = "archive.raw."
	// ArchiverDurable is the archiver's durable consumer on LOGS_RAW,
	// created with the stream whenever the archive is enabled.
	ArchiverDurable     = "archiver"
	EnrichedStream      = "LOGS"
	EnrichedSubjects    = "logs.enriched.>"
	EnrichedPrefix      = "logs.enriched."
	AlertsStream        = "ALERTS"
	AlertsSubjects      = "alerts.>"
	NotificationsStream = "NOTIFICATIONS"
	NotifySubjects      = "notify.>"
	DLQStream           = "DLQ"
	DLQSubjects         = "dlq.>"
	DLQPrefix           = "dlq."
)

// KV buckets of the pipeline.
const (
	AlertStateBucket    = "alert_state"
	SilencesBucket      = "silences"
	SavedSearchesBucket = "saved_searches"
	PipelinesBucket     = "pipelines"
	// AlertRulesBucket holds alert rules (one YAML file per key, named
	// <rule>.yaml) beside the rules directory, for tools and the API to
	// manage them.
	AlertRulesBucket = "alert_rules"
)

// AlerterDurable is the alerter's durable consumer on LOGS, created with
// the stream so that events wait for the alerter from the start. A
// deployment that does not run the alerter must remove it from
// streams.consumers (and `nats consumer rm LOGS alerter`), or it holds the
// LOGS backlog until ingest stops.
const AlerterDurable = "alerter"

// AlertsDuplicates is the ALERTS stream's Nats-Msg-Id window. Alert
// events are few, and a transition raised again (by a redelivery after a
// long outage, or by a scheduled query replaying its lookback) must still
// be recognised: a day covers every lookback the alerter allows.
const AlertsDuplicates = 24 * time.Hour

// Config is the pipeline's stream configuration (the `streams` section).
type Config struct {
	// RawMaxBytes bounds the raw backlog: events in LOGS_RAW that the
	// enricher (or another consumer of the stream) has not yet
	// acknowledged. When it is reached, the gateway refuses new events with
	// a retryable answer; nothing unprocessed is ever evicted.
	RawMaxBytes int64 `yaml:"raw_max_bytes"`
	// EnrichedMaxBytes bounds the enriched backlog in LOGS the same way;
	// a message counts until the indexer and every other consumer of LOGS
	// acknowledged it.
	EnrichedMaxBytes int64 `yaml:"enriched_max_bytes"`
	// Archive keeps raw events for replay, separately from the backlog.
	Archive ArchiveConfig `yaml:"archive"`
	// DLQMaxAge is how long dead letters are kept.
	DLQMaxAge time.Duration `yaml:"dlq_max_age"`
	// Duplicates is the Nats-Msg-Id de-duplication window: a publish whose
	// id a stream stored within it is dropped as a duplicate. The server
	// keeps every id of the window in memory (about 150 bytes each, per
	// stream), so a long window costs memory in proportion to the event
	// rate. A retry after the window is still stored once where it counts:
	// the indexer writes each id once (op_type=create).
	Duplicates time.Duration `yaml:"duplicates_window"`
	// Replicas is the stream replica count (1 for a single server, 3 in a
	// production cluster).
	Replicas int `yaml:"replicas"`
	// MaxMsgBytes is the largest single message a stream accepts.
	MaxMsgBytes int32 `yaml:"max_msg_bytes"`
	// Consumers are the durable consumers created together with the
	// pipeline streams, so that nothing is dropped before a stage first
	// runs: every stage that reads LOGS_RAW or LOGS in this deployment,
	// wherever it runs (the archiver's is added when the archive is
	// enabled). A consumer missing here is created by its stage at start; a
	// durable consumer that exists but is no longer read holds the backlog
	// (see the stream's readiness reason) until it is removed.
	Consumers []ConsumerRef `yaml:"consumers"`
}

// ArchiveConfig bounds the raw archive that replay reads.
type ArchiveConfig struct {
	// Enabled keeps the archive: the archiver stage (run by jetlog run and
	// the enricher binary) copies every raw event into it. Off, no history
	// beyond the backlog exists, and the archiver's consumer is removed so
	// it cannot hold the raw backlog.
	Enabled bool `yaml:"enabled"`
	// MaxBytes and MaxAge bound the archive; the oldest events are evicted
	// first. The horizon (the age of the oldest event kept) is exported as
	// jetlog_stream_first_message_age_seconds{stream="LOGS_ARCHIVE"}.
	MaxBytes int64         `yaml:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age"`
}

// ConsumerRef names a durable consumer of a pipeline stream.
type ConsumerRef struct {
	Stream  string `yaml:"stream"`
	Durable string `yaml:"durable"`
}

// Defaults suit a single machine.
func Defaults() Config {
	return Config{
		RawMaxBytes: 10 << 30, EnrichedMaxBytes: 10 << 30,
		Archive:   ArchiveConfig{Enabled: true, MaxBytes: 10 << 30, MaxAge: 7 * 24 * time.Hour},
		DLQMaxAge: 30 * 24 * time.Hour, Duplicates: 30 * time.Second, Replicas: 1,
		MaxMsgBytes: 8 << 20,
		Consumers: []ConsumerRef{
			{Stream: RawStream, Durable: "enricher"},
			{Stream: EnrichedStream, Durable: "indexer"},
			{Stream: EnrichedStream, Durable: AlerterDurable},
		},
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.RawMaxBytes < 1<<20 {
		errs.Addf("raw_max_bytes", "%d is below 1 MiB (the raw backlog must hold at least a few requests)", c.RawMaxBytes)
	}
	if c.EnrichedMaxBytes < 1<<20 {
		errs.Addf("enriched_max_bytes", "%d is below 1 MiB", c.EnrichedMaxBytes)
	}
	if c.Archive.Enabled {
		if c.Archive.MaxBytes < 1<<20 {
			errs.Addf("archive.max_bytes", "%d is below 1 MiB (set archive.enabled: false to keep no archive)", c.Archive.MaxBytes)
		}
		if c.Archive.MaxAge < 0 {
			errs.Addf("archive.max_age", "must be >= 0 (0 keeps events until max_bytes evicts them)")
		}
	}
	if c.Duplicates < time.Second {
		errs.Addf("duplicates_window", "%v is below 1s", c.Duplicates)
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		errs.Addf("replicas", "%d: use 1, 3 or 5", c.Replicas)
	}
	if c.MaxMsgBytes <= 0 {
		errs.Addf("max_msg_bytes", "must be > 0")
	}
	seen := map[ConsumerRef]bool{}
	for i, r := range c.Consumers {
		p := fmt.Sprintf("consumers[%d]", i)
		if r.Stream != RawStream && r.Stream != EnrichedStream {
			errs.Addf(p+".stream", "%q: durable consumers here are for the pipeline streams %s and %s", r.Stream, RawStream, EnrichedStream)
		}
		if !validDurable(r.Durable) {
			errs.Addf(p+".durable", "%q is not a durable consumer name (letters, digits, '-' and '_')", r.Durable)
		}
		if seen[r] {
			errs.Addf(p, "%s on %s is listed twice", r.Durable, r.Stream)
		}
		seen[r] = true
	}
	return errs.Err()
}

func validDurable(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsPipeline reports whether stream is one of the pipeline's backlog
// streams (interest retention), whose durable consumers hold its messages.
func IsPipeline(stream string) bool { return stream == RawStream || stream == EnrichedStream }

// Streams returns the pipeline's stream configurations.
func Streams(c Config) []jetstream.StreamConfig {
	backlog := func(name, subjects string, maxBytes int64, desc string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: []string{subjects}, Retention: jetstream.InterestPolicy,
			Discard: jetstream.DiscardNew, MaxBytes: maxBytes,
			Duplicates: c.Duplicates, Replicas: c.Replicas, Storage: jetstream.FileStorage,
			MaxMsgSize: c.MaxMsgBytes, Description: desc,
		}
	}
	out := []jetstream.StreamConfig{
		backlog(RawStream, RawSubjects, c.RawMaxBytes,
			"raw backlog: log events as shippers sent them, kept until every consumer acknowledged them; full means retry later, never eviction"),
		backlog(EnrichedStream, EnrichedSubjects, c.EnrichedMaxBytes,
			"enriched backlog: parsed events kept until the indexer and every other consumer acknowledged them"),
	}
	if c.Archive.Enabled {
		out = append(out, jetstream.StreamConfig{
			Name: ArchiveStream, Subjects: []string{ArchiveSubjects},
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
			MaxBytes: c.Archive.MaxBytes, MaxAge: c.Archive.MaxAge,
			Duplicates: c.Duplicates, Replicas: c.Replicas, Storage: jetstream.FileStorage,
			MaxMsgSize:  c.MaxMsgBytes,
			Description: "raw events kept for replay; the oldest are evicted beyond max_bytes and max_age",
		})
	}
	out = append(out,
		jetstream.StreamConfig{
			Name: AlertsStream, Subjects: []string{AlertsSubjects}, MaxAge: 90 * 24 * time.Hour,
			Duplicates: max(c.Duplicates, AlertsDuplicates), Replicas: c.Replicas, Storage: jetstream.FileStorage,
			Description: "alert lifecycle events",
		},
		jetstream.StreamConfig{
			Name: NotificationsStream, Subjects: []string{NotifySubjects}, MaxAge: 90 * 24 * time.Hour,
			Duplicates: c.Duplicates, Replicas: c.Replicas, Storage: jetstream.FileStorage,
			Description: "notification delivery outcomes",
		},
		jetstream.StreamConfig{
			Name: DLQStream, Subjects: []string{DLQSubjects}, MaxAge: c.DLQMaxAge,
			Duplicates: c.Duplicates, Replicas: c.Replicas, Storage: jetstream.FileStorage,
			// Dead letters carry the original bytes plus headers.
			MaxMsgSize:  c.MaxMsgBytes + 64<<10,
			Description: "what a stage could not handle, with the stage, the reason and the original bytes",
		},
	)
	return out
}

// Buckets returns the pipeline's KV bucket configurations.
func Buckets(c Config) []jetstream.KeyValueConfig {
	mk := func(name, desc string, history uint8) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{Bucket: name, Description: desc, History: history, Replicas: c.Replicas, Storage: jetstream.FileStorage}
	}
	return []jetstream.KeyValueConfig{
		mk(AlertStateBucket, "alert rule state by rule and group key", 1),
		mk(SilencesBucket, "active alert silences", 5),
		mk(SavedSearchesBucket, "saved searches", 5),
		mk(PipelinesBucket, "pipeline definitions for hot reload", 10),
		mk(AlertRulesBucket, "alert rules (<name>.yaml) the alerter loads beside its rules directory", 10),
	}
}

// Ensure creates, updates or migrates the pipeline's streams, creates the
// declared durable consumers that do not exist yet, and ensures the KV
// buckets. It is idempotent and safe to run from several processes at once.
//
// Migration from a release whose pipeline streams used limits retention:
// the archive and the declared consumers are created first (the archiver's
// from the old stream's first message, so the archiver moves the history
// into the archive), and only then is the stream switched to interest
// retention in place, which frees what every consumer had acknowledged and
// keeps the rest. Nothing unprocessed is lost, provided every stage that
// had not caught up has its consumer (existing or declared).
func Ensure(ctx context.Context, js jetstream.JetStream, c Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	streams := Streams(c)
	// Sourcing streams (the archive) need their origin, and the origin's
	// retention switch needs the archive's source consumer in place: create
	// any stream that does not exist yet in declaration order, but update
	// retention of existing ones only after consumers and archive exist.
	var migrate []jetstream.StreamConfig
	for _, sc := range streams {
		s, err := js.Stream(ctx, sc.Name)
		if err == nil {
			old := s.CachedInfo()
			keepMetadata(&sc, old.Config.Metadata)
			if old.Config.Retention != sc.Retention && IsPipeline(sc.Name) {
				if sc.Name == RawStream && old.State.LastSeq > 0 {
					// The previous release marked no event it published;
					// the enricher reads those below this sequence the old
					// way (see UnmarkedEventsUntil).
					sc.Metadata = mergeMetadata(sc.Metadata, map[string]string{metaUnmarkedUntil: strconv.FormatUint(old.State.LastSeq, 10)})
				}
				migrate = append(migrate, sc)
				continue
			}
		}
		if err := EnsureStream(ctx, js, sc); err != nil {
			return err
		}
	}
	for _, r := range Durables(c) {
		if err := ensureDurable(ctx, js, r); err != nil {
			return err
		}
	}
	if !c.Archive.Enabled {
		// The archiver's consumer of an earlier configuration would hold
		// the raw backlog for a stage that no longer runs.
		if err := js.DeleteConsumer(ctx, RawStream, ArchiverDurable); err == nil {
			log.Warn("archive disabled: removed the archiver's consumer from LOGS_RAW", "stream", RawStream)
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("remove the archiver's consumer: %w", err)
		}
	}
	for _, sc := range migrate {
		log.Warn("migrating stream to interest retention: what every consumer acknowledged is freed, the rest is kept",
			"stream", sc.Name)
		if err := EnsureStream(ctx, js, sc); err != nil {
			return fmt.Errorf("migrate %s to interest retention: %w (to migrate by hand: stop every jetlog process, "+
				"`nats stream backup %s`, `nats stream rm %s`, start jetlog, then republish the backup's unconsumed messages)",
				sc.Name, err, sc.Name, sc.Name)
		}
	}
	for _, kc := range Buckets(c) {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("ensure KV bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}

// metaUnmarkedUntil is the LOGS_RAW metadata key holding the last sequence
// stored before the migration from the previous release.
const metaUnmarkedUntil = "jetlog.unmarked_events_until_seq"

// keepMetadata carries jetlog's own metadata of an existing stream over to
// its new configuration, which would otherwise drop it.
func keepMetadata(sc *jetstream.StreamConfig, old map[string]string) {
	if v, ok := old[metaUnmarkedUntil]; ok {
		sc.Metadata = mergeMetadata(sc.Metadata, map[string]string{metaUnmarkedUntil: v})
	}
}

func mergeMetadata(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

// UnmarkedEventsUntil returns the last LOGS_RAW sequence written before the
// stream was migrated from the previous release, or 0. The gateway of that
// release published its events without the event.FormatHeader header; the
// enricher still reads those as events rather than as a shipper's records.
func UnmarkedEventsUntil(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, RawStream)
	if err != nil {
		return 0, err
	}
	v, ok := s.CachedInfo().Config.Metadata[metaUnmarkedUntil]
	if !ok {
		return 0, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

// Durables returns the durable consumers created with the pipeline streams:
// the configured ones, and the archiver's when the archive is enabled.
func Durables(c Config) []ConsumerRef {
	out := append([]ConsumerRef(nil), c.Consumers...)
	archiver := ConsumerRef{Stream: RawStream, Durable: ArchiverDurable}
	if c.Archive.Enabled && !slices.Contains(out, archiver) {
		out = append(out, archiver)
	}
	return out
}

// ensureDurable creates a declared consumer that does not exist, with
// defaults its stage updates when it starts; an existing one is left as its
// stage configured it.
func ensureDurable(ctx context.Context, js jetstream.JetStream, r ConsumerRef) error {
	_, err := js.Consumer(ctx, r.Stream, r.Durable)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("look up consumer %s on %s: %w", r.Durable, r.Stream, err)
	}
	_, err = js.CreateConsumer(ctx, r.Stream, jetstream.ConsumerConfig{
		Durable: r.Durable, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		Description: "created with the pipeline streams; its stage configures it when it starts",
	})
	if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
		return fmt.Errorf("create consumer %s on %s: %w", r.Durable, r.Stream, err)
	}
	return nil
}

// EnsureStream creates a stream or updates it to cfg.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := js.CreateOrUpdateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		_, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return fmt.Errorf("ensure stream %s (%v): %w", cfg.Name, cfg.Subjects, err)
	}
	return nil
}
