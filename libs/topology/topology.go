// Package topology declares jetlog's JetStream streams, consumers and KV
// buckets and creates or updates them idempotently, so every worker can call
// Ensure at start and the first one to run sets the engine up.
//
// The subject contract:
//
//	stream         subjects            carries
//	LOGS_RAW       logs.raw.>          events as shippers sent them (logs.raw.<source>)
//	LOGS           logs.enriched.>     parsed, enriched events (logs.enriched.<source>)
//	ALERTS         alerts.>            alert lifecycle events
//	NOTIFICATIONS  notify.>            delivery outcomes
//	DLQ            dlq.>               what a stage could not handle (dlq.<stage>)
//
// Every publish carries the event id as Nats-Msg-Id, so a retry within a
// stream's duplicate window is stored once.
package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
)

// Stream and subject names of the pipeline.
const (
	RawStream           = "LOGS_RAW"
	RawSubjects         = "logs.raw.>"
	RawPrefix           = "logs.raw."
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
)

// Limits are the retention limits of the pipeline's streams.
type Limits struct {
	// RawMaxBytes caps LOGS_RAW. It uses DiscardNew: when full, publishes are
	// refused (the gateway answers "retry later") rather than old,
	// unconsumed events being deleted.
	RawMaxBytes int64 `yaml:"raw_max_bytes"`
	// RawMaxAge is how long raw events are kept for replay.
	RawMaxAge time.Duration `yaml:"raw_max_age"`
	// EnrichedMaxBytes and EnrichedMaxAge cap LOGS the same way.
	EnrichedMaxBytes int64         `yaml:"enriched_max_bytes"`
	EnrichedMaxAge   time.Duration `yaml:"enriched_max_age"`
	// DLQMaxAge is how long dead letters are kept.
	DLQMaxAge time.Duration `yaml:"dlq_max_age"`
	// Duplicates is the Nats-Msg-Id de-duplication window.
	Duplicates time.Duration `yaml:"duplicates_window"`
	// Replicas is the stream replica count (1 for a single server, 3 in a
	// production cluster).
	Replicas int `yaml:"replicas"`
	// MaxMsgBytes is the largest single message a stream accepts.
	MaxMsgBytes int32 `yaml:"max_msg_bytes"`
}

// DefaultLimits suit a single machine.
func DefaultLimits() Limits {
	return Limits{
		RawMaxBytes: 10 << 30, RawMaxAge: 7 * 24 * time.Hour,
		EnrichedMaxBytes: 10 << 30, EnrichedMaxAge: 7 * 24 * time.Hour,
		DLQMaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Minute, Replicas: 1,
		MaxMsgBytes: 8 << 20,
	}
}

// Validate checks the limits.
func (l *Limits) Validate() error {
	var errs config.Errors
	if l.RawMaxBytes <= 0 {
		errs.Addf("raw_max_bytes", "must be > 0 (a raw stream without a size cap can fill the disk)")
	}
	if l.EnrichedMaxBytes <= 0 {
		errs.Addf("enriched_max_bytes", "must be > 0")
	}
	if l.Duplicates < time.Second {
		errs.Addf("duplicates_window", "%v is below 1s", l.Duplicates)
	}
	if l.Replicas != 1 && l.Replicas != 3 && l.Replicas != 5 {
		errs.Addf("replicas", "%d: use 1, 3 or 5", l.Replicas)
	}
	if l.MaxMsgBytes <= 0 {
		errs.Addf("max_msg_bytes", "must be > 0")
	}
	return errs.Err()
}

// Streams returns the pipeline's stream configurations.
func Streams(l Limits) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name: RawStream, Subjects: []string{RawSubjects}, Retention: jetstream.LimitsPolicy,
			Discard: jetstream.DiscardNew, MaxBytes: l.RawMaxBytes, MaxAge: l.RawMaxAge,
			Duplicates: l.Duplicates, Replicas: l.Replicas, Storage: jetstream.FileStorage,
			MaxMsgSize:  l.MaxMsgBytes,
			Description: "log events as shippers sent them; DiscardNew so nothing unconsumed is evicted",
		},
		{
			Name: EnrichedStream, Subjects: []string{EnrichedSubjects}, Retention: jetstream.LimitsPolicy,
			Discard: jetstream.DiscardNew, MaxBytes: l.EnrichedMaxBytes, MaxAge: l.EnrichedMaxAge,
			Duplicates: l.Duplicates, Replicas: l.Replicas, Storage: jetstream.FileStorage,
			MaxMsgSize:  l.MaxMsgBytes,
			Description: "parsed and enriched events, read by the indexer and the alerter",
		},
		{
			Name: AlertsStream, Subjects: []string{AlertsSubjects}, MaxAge: 90 * 24 * time.Hour,
			Duplicates: l.Duplicates, Replicas: l.Replicas, Storage: jetstream.FileStorage,
			Description: "alert lifecycle events",
		},
		{
			Name: NotificationsStream, Subjects: []string{NotifySubjects}, MaxAge: 90 * 24 * time.Hour,
			Duplicates: l.Duplicates, Replicas: l.Replicas, Storage: jetstream.FileStorage,
			Description: "notification delivery outcomes",
		},
		{
			Name: DLQStream, Subjects: []string{DLQSubjects}, MaxAge: l.DLQMaxAge,
			Duplicates: l.Duplicates, Replicas: l.Replicas, Storage: jetstream.FileStorage,
			// Dead letters carry the original bytes plus headers.
			MaxMsgSize:  l.MaxMsgBytes + 64<<10,
			Description: "what a stage could not handle, with the stage, the reason and the original bytes",
		},
	}
}

// Buckets returns the pipeline's KV bucket configurations.
func Buckets(l Limits) []jetstream.KeyValueConfig {
	mk := func(name, desc string, history uint8) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{Bucket: name, Description: desc, History: history, Replicas: l.Replicas, Storage: jetstream.FileStorage}
	}
	return []jetstream.KeyValueConfig{
		mk(AlertStateBucket, "alert rule state by rule and group key", 1),
		mk(SilencesBucket, "active alert silences", 5),
		mk(SavedSearchesBucket, "saved searches", 5),
		mk(PipelinesBucket, "pipeline definitions for hot reload", 10),
	}
}

// Ensure creates or updates the pipeline's streams and KV buckets. It is
// idempotent and safe to run from several workers at once.
func Ensure(ctx context.Context, js jetstream.JetStream, l Limits) error {
	for _, sc := range Streams(l) {
		if err := EnsureStream(ctx, js, sc); err != nil {
			return err
		}
	}
	for _, kc := range Buckets(l) {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("ensure KV bucket %s: %w", kc.Bucket, err)
		}
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
