// Command teamlabeler is a complete jetlog worker: it reads enriched events,
// drops debug noise, labels the rest with their owning team and publishes
// them on logs.owned.<source>, a stream it declares itself.
package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

// Config is the worker's section: teamlabeler.team (JETLOG_TEAMLABELER__TEAM).
type Config struct {
	Team string `yaml:"team"`
}

// Validate is called once at start; errors name the key and the line.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.Team == "" {
		errs.Addf("team", "is empty (name the owning team)")
	}
	return errs.Err()
}

var spec = worker.Spec[Config]{
	Name:     "teamlabeler",
	Defaults: Config{Team: "platform"},
	Consumer: worker.ConsumerConfig{Stream: topology.EnrichedStream, Subjects: []string{"logs.enriched.>"}},
	Streams:  []jetstream.StreamConfig{{Name: "OWNED", Subjects: []string{"logs.owned.>"}, MaxAge: 24 * time.Hour}},
	New: func(_ context.Context, env *worker.Env, cfg *Config) (worker.BatchHandler, error) {
		label := func(_ context.Context, ev *event.Event) ([]*event.Event, error) {
			if ev.Severity.Number < event.SeverityInfo {
				return nil, worker.ErrDrop // acked and counted, not published
			}
			ev.SetAttr("team", cfg.Team)
			return []*event.Event{ev}, nil // 0 = drop, n = fan-out
		}
		return env.Events(worker.HandlerFunc(label), worker.Output{Subject: worker.SubjectByPrefix("logs.owned.")}), nil
	},
}

func main() { worker.Main(spec) }
