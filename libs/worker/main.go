package worker

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/topology"
)

// Spec describes a worker: its name, its own typed configuration with
// defaults, its consumer's defaults, the streams it publishes to and how to
// build its handler. Spec.Factory makes it a component any host runs;
// Main runs it as a program of its own.
type Spec[C any] struct {
	// Name is the stage name: the configuration section, the durable
	// consumer, the metric label and the DLQ subject (dlq.<name>).
	Name string
	// Defaults is the worker's own configuration before file, env and
	// flags. C must be a struct; its YAML keys sit beside `consumer` in
	// the worker's section. A Validate() error method on *C is called.
	Defaults C
	// Consumer holds the consumer defaults (stream, subjects, batch, …).
	Consumer ConsumerConfig
	// Streams are the streams the worker publishes to that the pipeline
	// does not already have: the host creates them before the worker
	// starts, so its output always has a stream.
	Streams []jetstream.StreamConfig
	// Writes names the streams the worker publishes to (those of Streams
	// are added), which orders the start: the readers of a stream start
	// before its writers.
	Writes []string
	// AdminPort is the admin port when the worker runs alone in a process
	// (0 picks a free port).
	AdminPort int
	// OpenSearch says the worker talks to OpenSearch (env.OpenSearch), so
	// the host checks the opensearch section.
	OpenSearch bool
	// New builds the handler. Register readiness checks and shutdown hooks
	// on env.
	New func(ctx context.Context, env *Env, cfg *C) (BatchHandler, error)
}

// Section is a worker's configuration section: its consumer and, beside
// it, the worker's own keys.
type Section[C any] struct {
	Consumer ConsumerConfig `yaml:"consumer"`
	Settings C              `yaml:",inline"`
}

// Validate checks both parts.
func (s *Section[C]) Validate() error {
	var errs config.Errors
	errs.Check("consumer", &s.Consumer)
	if v, ok := any(&s.Settings).(interface{ Validate() error }); ok {
		errs.Merge("", v.Validate())
	}
	return errs.Err()
}

// DefaultConsumer returns the spec's consumer configuration with the
// runtime's defaults filled in where the spec left a field zero.
func (s Spec[C]) DefaultConsumer() ConsumerConfig {
	c := s.Consumer
	d := DefaultConsumer()
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.AckWait == 0 {
		c.AckWait = d.AckWait
	}
	if c.PullWait == 0 {
		c.PullWait = d.PullWait
	}
	if c.StallAfter == 0 {
		c.StallAfter = d.StallAfter
	}
	if c.Retry == (RetryPolicy{}) {
		c.Retry = d.Retry
	}
	return c
}

// Factory returns the worker as a component.
func (s Spec[C]) Factory() component.Factory {
	return component.Spec[Section[C]]{
		Name: s.Name, Kind: component.KindConsumer, AdminPort: s.AdminPort,
		Defaults: func() Section[C] { return Section[C]{Consumer: s.DefaultConsumer(), Settings: s.Defaults} },
		Needs: func(cfg *Section[C]) component.Needs {
			n := component.Needs{Reads: []string{cfg.Consumer.Stream}, Streams: s.Streams,
				Writes: append([]string{topology.DLQStream}, s.Writes...), OpenSearch: s.OpenSearch}
			for _, sc := range s.Streams {
				n.Writes = append(n.Writes, sc.Name)
			}
			return n
		},
		New: func(ctx context.Context, cenv *component.Env, cfg *Section[C]) (component.Component, error) {
			env := &Env{Env: cenv, Metrics: NewMetrics(cenv.Registry)}
			h, err := s.New(ctx, env, &cfg.Settings)
			if err != nil {
				return nil, err
			}
			w, err := New(Options{Name: s.Name, JS: cenv.JS, Consumer: cfg.Consumer, Handler: h, Metrics: env.Metrics, Logger: cenv.Logger})
			if err != nil {
				return nil, err
			}
			cenv.AddCheck("consumer", w.Ready)
			return &unit{w: w, env: env}, nil
		},
	}
}

// Main runs spec as a program of its own: the host with this one worker.
// It reads -config, -set and JETLOG_* variables, runs until SIGINT or
// SIGTERM, drains, and exits. Exit code 2 means bad configuration.
func Main[C any](spec Spec[C]) {
	host.Main(host.Options{Name: spec.Name, Factories: []component.Factory{spec.Factory()}})
}

// Env is what a worker's constructor gets from its host: the component
// environment (connection, logger, registry, OpenSearch, readiness checks)
// and the worker's metrics.
type Env struct {
	*component.Env
	Metrics *Metrics
	onStop  []func(context.Context) error
}

// Events wraps a per-event handler that publishes its output (see Events).
func (e *Env) Events(h Handler, out Output) BatchHandler {
	bh := Events(e.JS, h, out, e.Metrics, e.Name).(*eventsHandler)
	bh.log = e.Logger
	return bh
}

// Forward publishes what f makes of each message (see Forward).
func (e *Env) Forward(f func(m *Msg) ([]*nats.Msg, error)) BatchHandler {
	bh := Forward(e.JS, f, e.Metrics, e.Name).(*forwardHandler)
	bh.log = e.Logger
	return bh
}

// OnStop registers a function run after the worker stopped consuming, to
// flush and close the handler's own resources.
func (e *Env) OnStop(f func(context.Context) error) { e.onStop = append(e.onStop, f) }

// unit is a worker running as a component.
type unit struct {
	w   *Worker
	env *Env
}

var _ component.Component = (*unit)(nil)

func (u *unit) Start(ctx context.Context) error { return u.w.Start(ctx) }

// Stop drains the worker, then runs the constructor's shutdown hooks.
func (u *unit) Stop(ctx context.Context) error {
	errs := []error{u.w.Stop(ctx)}
	for _, f := range u.env.onStop {
		errs = append(errs, f(ctx))
	}
	u.env.onStop = nil
	return errors.Join(errs...)
}

// WorkerOf returns the worker of a component made by Spec.Factory, for tests
// that look at its runtime (nil for other components).
func WorkerOf(c component.Component) *Worker {
	if u, ok := c.(*unit); ok {
		return u.w
	}
	return nil
}
