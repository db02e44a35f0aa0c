// Command passthrough is the enricher's baseline in the load-test harness:
// a worker on jetlog's own runtime (libs/worker) with the enricher's
// consumer settings that republishes every raw event's bytes, with its id,
// on the enriched subject and does nothing else. The enricher's events/s
// against this one's is what the enricher's own work costs.
package main

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

// Config has no settings of its own.
type Config struct{}

var spec = worker.Spec[Config]{
	Name:     "passthrough",
	Consumer: worker.ConsumerConfig{Stream: topology.RawStream, Subjects: []string{topology.RawSubjects}, Concurrency: 2},
	Writes:   []string{topology.EnrichedStream},
	New: func(_ context.Context, env *worker.Env, _ *Config) (worker.BatchHandler, error) {
		return env.Forward(republish), nil
	},
}

// republish returns the message's bytes on the enriched subject of its
// source, with its id.
func republish(m *worker.Msg) ([]*nats.Msg, error) {
	h := nats.Header{}
	h.Set(nats.MsgIdHdr, m.MsgID())
	return []*nats.Msg{{Subject: topology.EnrichedPrefix + strings.TrimPrefix(m.Subject, topology.RawPrefix), Data: m.Data, Header: h}}, nil
}

func main() { worker.Main(spec) }
