// Package enrich is the enricher stage: it reads raw events from LOGS_RAW,
// decodes them (see package raw), and publishes the results on
// logs.enriched.<source>.
package enrich

import (
	"context"
	"strings"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/raw"
)

// Config is the enricher's own configuration.
type Config struct {
	// Raw bounds what one raw message may hold.
	Raw raw.Limits `yaml:"raw"`
	// OutputPrefix is the subject prefix of enriched events; the event's
	// source is appended as one token.
	OutputPrefix string `yaml:"output_prefix"`
}

// Defaults returns the enricher's defaults.
func Defaults() Config {
	return Config{Raw: raw.DefaultLimits(), OutputPrefix: topology.EnrichedPrefix}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.Raw.MaxDepth < 1 {
		errs.Addf("raw.max_depth", "must be >= 1")
	}
	if c.Raw.MaxRecords < 1 {
		errs.Addf("raw.max_records", "must be >= 1")
	}
	if !strings.HasSuffix(c.OutputPrefix, ".") || strings.ContainsAny(c.OutputPrefix, "*> ") {
		errs.Addf("output_prefix", "%q must be literal subject tokens ending in '.', e.g. logs.enriched.", c.OutputPrefix)
	}
	return errs.Err()
}

// Spec is the enricher worker.
var Spec = worker.Spec[Config]{
	Name:     "enricher",
	Defaults: Defaults(),
	Consumer: worker.ConsumerConfig{Stream: topology.RawStream, Subjects: []string{topology.RawSubjects}},
	New: func(_ context.Context, env *worker.Env, cfg *Config) (worker.BatchHandler, error) {
		return env.Events(Handler(), Output(*cfg)), nil
	},
}

// Output decodes raw messages and publishes under the configured prefix.
func Output(cfg Config) worker.Output {
	return worker.Output{
		Subject: worker.SubjectByPrefix(cfg.OutputPrefix),
		Decode: func(m *worker.Msg) ([]*event.Event, error) {
			return raw.Decode(raw.Message{Subject: m.Subject, Data: m.Data, Header: m.Header, Time: m.Time}, cfg.Raw)
		},
	}
}

// Handler passes events through unchanged.
func Handler() worker.Handler {
	return worker.HandlerFunc(func(_ context.Context, ev *event.Event) ([]*event.Event, error) {
		return []*event.Event{ev}, nil
	})
}
