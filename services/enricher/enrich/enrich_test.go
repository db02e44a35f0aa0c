package enrich_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/libs/worker/workertest"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/enricher/raw"
)

func consumer() worker.ConsumerConfig {
	c := enrich.Spec.DefaultConsumer()
	c.Batch = 50
	c.Retry.Initial, c.Retry.Max = 20*time.Millisecond, 100*time.Millisecond
	return c
}

var stored = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func TestConformance(t *testing.T) {
	workertest.Run(t, workertest.Case{
		Name:     "enricher",
		Consumer: consumer(),
		Subject:  "logs.raw.conformance",
		New: func(t *testing.T, env workertest.Env) worker.BatchHandler {
			cfg := enrich.Defaults()
			cfg.PipelinesDir = "../../../pipelines"
			h, err := enrich.New(cfg, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return worker.Events(env.NATS.JS, h, enrich.Output(cfg), worker.NewMetrics(prometheus.NewRegistry()), "enricher")
		},
		Good: func(i int) ([]byte, string) {
			data := []byte(fmt.Sprintf(`{"msg":"request %d","level":"info"}`, i))
			// The publisher's Nats-Msg-Id (in-<i>) becomes the event id.
			evs, err := raw.Decode(raw.Message{Subject: "logs.raw.conformance", Data: data, Header: map[string][]string{"Nats-Msg-Id": {fmt.Sprintf("in-%d", i)}}, Time: stored}, raw.DefaultLimits())
			if err != nil {
				panic(err)
			}
			return data, evs[0].ID
		},
		Poison: []byte(`{"msg": "truncated`),
		Outputs: func(t *testing.T, env workertest.Env) map[string]int {
			return countByMsgID(t, env.NATS.JS, topology.EnrichedStream)
		},
	})
}

// countByMsgID reads a whole stream and counts its messages by event id.
func countByMsgID(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			ev, err := event.Unmarshal(m.Data())
			if err != nil {
				t.Fatalf("output is not an event: %v", err)
			}
			if id := m.Headers().Get("Nats-Msg-Id"); id != ev.ID {
				t.Errorf("output Nats-Msg-Id %q differs from event id %q", id, ev.ID)
			}
			out[ev.ID]++
		}
		if n == 0 {
			return out
		}
	}
}

func TestComponentConformance(t *testing.T) {
	componenttest.Run(t, componenttest.Case{
		Factory: enrich.Spec.Factory(),
		Configure: func(_ *testing.T, cfg any) {
			cfg.(*worker.Section[enrich.Config]).Settings.PipelinesDir = "../../../pipelines"
		},
	})
}
