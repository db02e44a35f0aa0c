package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/admin"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
	"github.com/jetlog/jetlog/libs/natsclient"
	"github.com/jetlog/jetlog/libs/topology"
)

// Spec describes a worker program: its name, its own typed configuration
// with defaults, its consumer's defaults and how to build its handler.
type Spec[C any] struct {
	// Name is the stage name (durable consumer, metric label, DLQ subject).
	Name string
	// Defaults is the worker's own configuration before file, env and flags.
	// C must be a struct; its YAML keys sit beside the runtime's (nats,
	// consumer, admin, log, …). A Validate() error method is called.
	Defaults C
	// Consumer holds the consumer defaults (stream, subjects, batch, …).
	Consumer ConsumerConfig
	// New builds the handler. Register readiness checks and shutdown hooks
	// on env.
	New func(ctx context.Context, env *Env, cfg *C) (BatchHandler, error)
}

// Runtime is the configuration every worker shares.
type Runtime struct {
	NATS     natsclient.Config `yaml:"nats"`
	Streams  topology.Limits   `yaml:"streams"`
	Consumer ConsumerConfig    `yaml:"consumer"`
	Admin    AdminConfig       `yaml:"admin"`
	Log      logging.Config    `yaml:"log"`
	// ShutdownTimeout bounds the drain at SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// AdminConfig configures the /metrics, /healthz and /readyz endpoints.
type AdminConfig struct {
	// Listen is host:port; "" disables the endpoints.
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiles under /debug/pprof/.
	Pprof bool `yaml:"pprof"`
}

// Validate checks the runtime configuration.
func (r *Runtime) Validate() error {
	var errs config.Errors
	errs.Check("nats", &r.NATS)
	errs.Check("streams", &r.Streams)
	errs.Check("consumer", &r.Consumer)
	errs.Check("log", &r.Log)
	if r.ShutdownTimeout <= 0 {
		errs.Addf("shutdown_timeout", "must be > 0")
	}
	return errs.Err()
}

// Config is a worker's whole configuration file: the runtime's keys and the
// worker's own, side by side.
type Config[C any] struct {
	Runtime `yaml:",inline"`
	Worker  C `yaml:",inline"`
}

// Validate checks both parts.
func (c *Config[C]) Validate() error {
	var errs config.Errors
	errs.Merge("", c.Runtime.Validate())
	if v, ok := any(&c.Worker).(interface{ Validate() error }); ok {
		errs.Merge("", v.Validate())
	}
	return errs.Err()
}

// DefaultConfig returns spec's configuration before file, env and flags.
func DefaultConfig[C any](spec Spec[C]) Config[C] {
	c := spec.Consumer
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
	if c.Retry == (RetryPolicy{}) {
		c.Retry = d.Retry
	}
	return Config[C]{
		Runtime: Runtime{
			NATS:            natsclient.Config{URL: nats.DefaultURL},
			Streams:         topology.DefaultLimits(),
			Consumer:        c,
			Admin:           AdminConfig{Listen: "127.0.0.1:9464"},
			Log:             logging.Defaults(),
			ShutdownTimeout: 30 * time.Second,
		},
		Worker: spec.Defaults,
	}
}

// Env is what a worker's constructor gets from the runtime.
type Env struct {
	Name     string
	NC       *nats.Conn
	JS       jetstream.JetStream
	Logger   *slog.Logger
	Metrics  *Metrics
	Registry prometheus.Registerer
	checks   map[string]admin.Check
	onStop   []func(context.Context) error
}

// Events wraps a per-event handler that publishes its output (see Events).
func (e *Env) Events(h Handler, out Output) BatchHandler {
	return Events(e.JS, h, out, e.Metrics, e.Name)
}

// AddCheck registers a readiness check, served on /readyz.
func (e *Env) AddCheck(name string, c admin.Check) {
	if e.checks == nil {
		e.checks = map[string]admin.Check{}
	}
	e.checks[name] = c
}

// OnStop registers a function run after the worker stopped consuming, to
// flush and close the handler's own resources.
func (e *Env) OnStop(f func(context.Context) error) { e.onStop = append(e.onStop, f) }

// Main runs spec as a program: it reads -config, -set and JETLOG_* variables,
// runs until SIGINT or SIGTERM, drains, and exits. Exit code 2 means bad
// configuration.
func Main[C any](spec Spec[C]) {
	os.Exit(Command(spec, os.Args[1:], os.Stderr))
}

// Command is Main without the exit, for tests and for CLIs that embed a
// worker as a subcommand.
func Command[C any](spec Spec[C], args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.BindFlags(fs, "consumer.batch=100")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-config file.yaml] [-set path=value]... [-check-config]\n\n"+
			"Settings come from defaults, then the file, then JETLOG_* environment variables\n"+
			"(JETLOG_NATS__URL sets nats.url), then -set flags.\n\n", spec.Name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := DefaultConfig(spec)
	if err := flags.Load(&cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", spec.Name, err)
		return 2
	}
	if flags.Check {
		fmt.Fprintf(stderr, "%s: configuration is valid\n", spec.Name)
		return 0
	}
	log := logging.New(cfg.Log, stderr).With("service", spec.Name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, spec, cfg, log); err != nil {
		log.Error("exiting", "err", err)
		if errors.Is(err, config.ErrInvalid) {
			return 2
		}
		return 1
	}
	return 0
}

// Host is what a process gives the workers it runs: the connection, the
// logger and the metrics registry they share.
type Host struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Unit is a worker built from a Spec inside a host process, with the
// readiness checks and shutdown hooks its constructor registered.
type Unit struct {
	Worker *Worker
	env    *Env
}

// Compose builds spec's handler and worker on host without starting it, so
// one process can run several workers (the all-in-one command does).
func Compose[C any](ctx context.Context, spec Spec[C], host Host, consumer ConsumerConfig, cfg *C) (*Unit, error) {
	log := host.Logger.With("worker", spec.Name)
	env := &Env{Name: spec.Name, NC: host.NC, JS: host.JS, Logger: log, Metrics: NewMetrics(host.Registry), Registry: host.Registry}
	h, err := spec.New(ctx, env, cfg)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", spec.Name, err)
	}
	w, err := New(Options{Name: spec.Name, JS: host.JS, Consumer: consumer, Handler: h, Metrics: env.Metrics, Logger: host.Logger})
	if err != nil {
		return nil, err
	}
	return &Unit{Worker: w, env: env}, nil
}

// Checks returns the unit's readiness checks: the worker's own and those its
// constructor registered.
func (u *Unit) Checks() map[string]admin.Check {
	out := map[string]admin.Check{u.Worker.Name(): u.Worker.Ready}
	for n, c := range u.env.checks {
		out[n] = c
	}
	return out
}

// Stop drains the worker, then runs the constructor's shutdown hooks.
func (u *Unit) Stop(ctx context.Context) error {
	errs := []error{u.Worker.Stop(ctx)}
	for _, f := range u.env.onStop {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Run runs one worker until ctx ends, then drains it within
// cfg.ShutdownTimeout.
func Run[C any](ctx context.Context, spec Spec[C], cfg Config[C], log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	nc, err := natsclient.Connect(cfg.NATS, "jetlog-"+spec.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := topology.Ensure(setup, js, cfg.Streams); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	u, err := Compose(ctx, spec, Host{NC: nc, JS: js, Logger: log, Registry: reg}, cfg.Consumer, &cfg.Worker)
	if err != nil {
		return err
	}
	var adm *admin.Server
	if cfg.Admin.Listen != "" {
		adm = admin.New(cfg.Admin.Listen, reg, log)
		if cfg.Admin.Pprof {
			adm.EnablePprof()
		}
		adm.AddCheck("nats", NATSCheck(nc))
		for n, c := range u.Checks() {
			adm.AddCheck(n, c)
		}
		if err := adm.Start(); err != nil {
			return fmt.Errorf("admin listen %s: %w", cfg.Admin.Listen, err)
		}
	}
	if err := u.Worker.Start(setup); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("draining", "timeout", cfg.ShutdownTimeout)
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer scancel()
	errs := []error{u.Stop(sctx)}
	if adm != nil {
		errs = append(errs, adm.Stop(sctx))
	}
	// Acks and naks are asynchronous: flush them before the connection closes.
	errs = append(errs, nc.FlushTimeout(5*time.Second))
	return errors.Join(errs...)
}

// NATSCheck is a readiness check that fails while nc is disconnected.
func NATSCheck(nc *nats.Conn) admin.Check {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats %s", nc.Status())
		}
		return nil
	}
}
