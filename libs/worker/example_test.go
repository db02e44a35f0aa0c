package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

// TeamConfig is the example worker's own configuration: its YAML keys sit
// beside `consumer` in the worker's section (team-labeler.team).
type TeamConfig struct {
	Team string `yaml:"team"`
}

// Validate is called once at start; errors name the key.
func (c *TeamConfig) Validate() error {
	var errs config.Errors
	if c.Team == "" {
		errs.Addf("team", "is empty")
	}
	return errs.Err()
}

// teamSpec is a complete worker: it reads enriched events, labels them with
// an owning team, drops debug noise and publishes the rest on logs.owned.>,
// a stream it declares. In a real program, main is one line:
// worker.Main(teamSpec) (see examples/teamlabeler).
var teamSpec = worker.Spec[TeamConfig]{
	Name:     "team-labeler",
	Defaults: TeamConfig{Team: "platform"},
	Consumer: worker.ConsumerConfig{Stream: topology.EnrichedStream, Subjects: []string{"logs.enriched.>"}},
	Streams:  []jetstream.StreamConfig{{Name: "OWNED", Subjects: []string{"logs.owned.>"}}},
	New: func(_ context.Context, env *worker.Env, cfg *TeamConfig) (worker.BatchHandler, error) {
		label := func(_ context.Context, ev *event.Event) ([]*event.Event, error) {
			if ev.Severity.Number < event.SeverityInfo {
				return nil, worker.ErrDrop
			}
			ev.SetAttr("team", cfg.Team)
			return []*event.Event{ev}, nil
		}
		return env.Events(worker.HandlerFunc(label), worker.Output{Subject: worker.SubjectByPrefix("logs.owned.")}), nil
	},
}

// Example_worker runs the worker above against an in-process NATS server.
func Example_worker() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	srv, _ := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:0", StoreDir: dir, Sync: "1s"}, nil)
	defer srv.Shutdown()
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()

	// What worker.Main does, embedded: one host running this one worker.
	cfg := host.NewConfig(host.Options{Factories: []component.Factory{teamSpec.Factory()}})
	err := cfg.Load(config.Source{Set: []string{"nats.url=" + srv.ClientURL(), "admin.enabled=false", "team-labeler.team=payments"}})
	h, _ := host.New(cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		err = h.Start(ctx)
	}
	fmt.Println("started:", err)

	for i, sev := range []int{event.SeverityDebug, event.SeverityError} {
		ev := &event.Event{ID: fmt.Sprint("ev", i), Body: "charge failed", Source: "billing", Severity: event.Severity{Number: sev}}
		data, _ := ev.Marshal()
		_, _ = js.Publish(ctx, "logs.enriched.billing", data, jetstream.WithMsgID(ev.ID))
	}
	cons, _ := js.OrderedConsumer(ctx, "OWNED", jetstream.OrderedConsumerConfig{})
	msg, _ := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	out, _ := event.Unmarshal(msg.Data())
	fmt.Println(msg.Subject(), out.ID, out.Attributes["team"])
	fmt.Println("stopped:", h.Stop(ctx))
	// Output:
	// started: <nil>
	// logs.owned.billing ev1 payments
	// stopped: <nil>
}
