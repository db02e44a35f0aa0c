// Package workertest is the conformance suite every jetlog worker passes: it
// runs the worker's real handler on the real runtime over an in-process
// JetStream and checks the lifecycle and delivery guarantees a platform team
// relies on when it adds a worker.
package workertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

// Env is one subtest's world: its own JetStream and a unique token the
// worker can use to keep its output apart (an index prefix, say).
type Env struct {
	NATS  *testkit.NATS
	Token string
}

// Case describes the worker under test.
type Case struct {
	// Name is the stage name.
	Name string
	// Consumer is the worker's consumer configuration.
	Consumer worker.ConsumerConfig
	// Subject is where inputs are published.
	Subject string
	// New builds the worker's real handler.
	New func(t *testing.T, env Env) worker.BatchHandler
	// Good returns valid input number i and the id of the event it yields.
	Good func(i int) (data []byte, id string)
	// Poison is an input the worker must dead-letter.
	Poison []byte
	// Outputs returns how many outputs exist per event id.
	Outputs func(t *testing.T, env Env) map[string]int
}

// Run runs the suite.
func Run(t *testing.T, c Case) {
	t.Run("StopWithoutStart", func(t *testing.T) {
		env := newEnv(t)
		w := build(t, c, env, c.New(t, env))
		if err := w.Stop(context.Background()); err != nil {
			t.Fatalf("Stop without Start: %v", err)
		}
	})
	t.Run("DoubleStop", func(t *testing.T) {
		env := newEnv(t)
		w := build(t, c, env, c.New(t, env))
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := w.Stop(context.Background()); err != nil {
				t.Fatalf("Stop #%d: %v", i+1, err)
			}
		}
	})
	t.Run("EachInputOnce", func(t *testing.T) {
		env := newEnv(t)
		ids := publish(t, c, env, 0, 200)
		start(t, c, env, c.New(t, env))
		waitOnce(t, c, env, ids)
	})
	t.Run("RedeliveryAfterNakIsIdempotent", func(t *testing.T) {
		env := newEnv(t)
		ids := publish(t, c, env, 0, 100)
		// The real handler runs, then its first delivery of every message is
		// reported failed: the redelivery runs the handler again, and the
		// output must still exist once.
		start(t, c, env, failFirstDelivery(c.New(t, env)))
		waitOnce(t, c, env, ids)
	})
	t.Run("AtLeastOnceAcrossRestart", func(t *testing.T) {
		env := newEnv(t)
		ids := publish(t, c, env, 0, 300)
		w := start(t, c, env, c.New(t, env))
		testkit.Poll(t, 60*time.Second, func() (bool, string) {
			n := len(c.Outputs(t, env))
			return n > 0, fmt.Sprintf("%d outputs", n)
		})
		if err := w.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, publish(t, c, env, 300, 100)...)
		start(t, c, env, c.New(t, env))
		waitOnce(t, c, env, ids)
	})
	t.Run("PoisonToDLQ", func(t *testing.T) {
		env := newEnv(t)
		dead := testkit.Record(t, env.NATS.JS, topology.DLQStream)
		ids := publish(t, c, env, 0, 5)
		env.NATS.Publish(c.Subject, "poison", c.Poison)
		ids = append(ids, publish(t, c, env, 5, 5)...)
		start(t, c, env, c.New(t, env))
		msgs := dead.Wait(t, 1, 60*time.Second)
		r, err := dlq.Parse(msgs[0].Headers(), msgs[0].Data())
		if err != nil {
			t.Fatal(err)
		}
		if r.Stage != c.Name || r.Reason == "" || string(r.Data) != string(c.Poison) || r.Subject != c.Subject {
			t.Errorf("dead letter = stage %q reason %q subject %q data %q", r.Stage, r.Reason, r.Subject, r.Data)
		}
		waitOnce(t, c, env, ids)
	})
}

var counter struct {
	sync.Mutex
	n int
}

func newEnv(t *testing.T) Env {
	counter.Lock()
	counter.n++
	n := counter.n
	counter.Unlock()
	return Env{NATS: testkit.StartNATS(t), Token: fmt.Sprintf("wt%d-%d", time.Now().UnixNano()%1e9, n)}
}

func build(t *testing.T, c Case, env Env, h worker.BatchHandler) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Options{Name: c.Name, JS: env.NATS.JS, Consumer: c.Consumer, Handler: h,
		Metrics: worker.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func start(t *testing.T, c Case, env Env, h worker.BatchHandler) *worker.Worker {
	t.Helper()
	w := build(t, c, env, h)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

func publish(t *testing.T, c Case, env Env, from, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		data, id := c.Good(i)
		env.NATS.Publish(c.Subject, fmt.Sprintf("in-%d", i), data)
		ids = append(ids, id)
	}
	return ids
}

func waitOnce(t *testing.T, c Case, env Env, ids []string) {
	t.Helper()
	var out map[string]int
	testkit.Poll(t, 90*time.Second, func() (bool, string) {
		out = c.Outputs(t, env)
		missing := 0
		for _, id := range ids {
			if out[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d outputs missing", missing, len(ids))
	})
	for _, id := range ids {
		if out[id] != 1 {
			t.Errorf("event %s has %d outputs, want exactly 1", id, out[id])
		}
	}
	if len(out) != len(ids) {
		t.Errorf("%d distinct outputs for %d inputs", len(out), len(ids))
	}
}

// failFirstDelivery reports every message's first delivery as a transient
// failure after the real handler has run.
func failFirstDelivery(h worker.BatchHandler) worker.BatchHandler {
	return worker.BatchHandlerFunc(func(ctx context.Context, b []*worker.Msg) []error {
		res := h.HandleBatch(ctx, b)
		for i, m := range b {
			if m.Deliveries == 1 && res[i] == nil {
				res[i] = fmt.Errorf("conformance: simulated failure after handling %s", m.Header.Get(nats.MsgIdHdr))
			}
		}
		return res
	})
}
