// Package component is the contract every part of jetlog keeps, so one host
// (package host) can configure, connect, start, watch and stop any set of
// them in one process: the ingest gateway, the stream workers (enricher,
// indexer, a platform team's own worker), scheduled jobs, and later the
// alerter, the notifier and the query API.
//
// A component is declared by a Factory: its name (which is also its section
// in the configuration file, its metric label and its DLQ stage), its typed
// configuration with defaults and validation, what it needs of JetStream (the
// streams it reads and writes, its durable consumers, its KV buckets), and a
// constructor. The host decodes the component's section, validates it with
// every other section in one pass, ensures the union of what the running
// components need, builds each component with an Env (the shared connection,
// logger, metrics registry, OpenSearch client and a place to register
// readiness checks), and starts them downstream first.
//
// # Lifecycle
//
// A Component's Start returns quickly: long work runs in goroutines it owns.
// Stop stops taking new work, finishes or hands back the work in flight,
// flushes, and returns; it is idempotent and safe to call without Start. A
// component never handles signals, never parses flags and never builds its
// own admin server: the host does.
//
// # Reload
//
// On SIGHUP or POST /-/reload the host loads the configuration again and
// calls each running component's Reload (a Reloader[C] built by a Spec[C])
// with its section, changed or not, so that files the section names
// (templates, secrets) are read again. A component that cannot reload
// keeps running on its old section, and if that section changed the host
// logs that a restart is needed. Reload applies the new section completely or not at all: on
// error, the component runs on as before.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/topology"
)

// Component is a running part of jetlog (see the package comment for the
// lifecycle contract).
type Component interface {
	// Start begins the component's work and returns quickly.
	Start(ctx context.Context) error
	// Stop drains and flushes; it is idempotent and safe without Start.
	Stop(ctx context.Context) error
}

// Kind says what shape of work a component does. The host treats every
// kind the same; the kind documents the component and orders its logs.
type Kind string

// The kinds of component.
const (
	// KindConsumer reads a durable JetStream consumer (package worker).
	KindConsumer Kind = "consumer"
	// KindServer serves a network protocol (the gateway, the API).
	KindServer Kind = "server"
	// KindJob runs on a schedule (package job).
	KindJob Kind = "job"
)

// Needs is what a component requires of JetStream. The host ensures the
// union of its components' needs before it starts any of them, so a
// component's outputs always have a stream and its consumer exists before
// anything is published for it.
type Needs struct {
	// Reads and Writes name the streams the component consumes and
	// publishes to. They order the start (every reader of a stream starts
	// before its writers) and are drawn in the architecture document.
	Reads, Writes []string
	// Streams are streams the component needs beyond the pipeline's own
	// (package topology), created or updated at start.
	Streams []jetstream.StreamConfig
	// Consumers are the component's durable consumers, created or updated
	// at start.
	Consumers []Consumer
	// Buckets are KV buckets the component needs beyond the pipeline's own.
	Buckets []jetstream.KeyValueConfig
	// OpenSearch says the component talks to OpenSearch, so the host checks
	// the opensearch section when it runs.
	OpenSearch bool
}

// Consumer is a durable consumer on a stream.
type Consumer struct {
	Stream string
	Config jetstream.ConsumerConfig
}

// Factory declares a component. Spec is the usual way to write one.
type Factory interface {
	// Info names the component.
	Info() Info
	// NewConfig returns a pointer to a new configuration holding the
	// defaults. It must point to a struct; when the pointer has a
	// Validate() error method, the host calls it.
	NewConfig() any
	// Requires returns what the component needs with configuration cfg (a
	// pointer returned by NewConfig, filled from file, env and flags).
	Requires(cfg any) Needs
	// Build makes the component. It must not block on anything remote that
	// may be down (OpenSearch, a webhook): readiness checks report those.
	Build(ctx context.Context, env *Env, cfg any) (Component, error)
}

// Info names a component.
type Info struct {
	// Name is the component's configuration section, its metric and log
	// label, and its DLQ stage: lowercase letters, digits, '-' and '_'.
	Name string
	Kind Kind
	// AdminPort is the loopback port of the admin endpoints when the
	// component runs alone in its process (so that several standalone
	// components share a host without clashing); 0 picks a free port.
	AdminPort int
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Validate checks the name.
func (i Info) Validate() error {
	if !validName.MatchString(i.Name) {
		return fmt.Errorf("component name %q: use lowercase letters, digits, '-' and '_', starting with a letter", i.Name)
	}
	return nil
}

// Spec is a Factory built from functions over a typed configuration C.
type Spec[C any] struct {
	Name      string
	Kind      Kind
	AdminPort int
	// Defaults returns the configuration before file, env and flags.
	Defaults func() C
	// Needs says what the component requires (nil: nothing beyond the
	// pipeline's own streams).
	Needs func(cfg *C) Needs
	// New builds the component.
	New func(ctx context.Context, env *Env, cfg *C) (Component, error)
}

var _ Factory = Spec[struct{}]{}

// Info returns the component's name, kind and admin port.
func (s Spec[C]) Info() Info { return Info{Name: s.Name, Kind: s.Kind, AdminPort: s.AdminPort} }

// NewConfig returns a pointer to the defaults.
func (s Spec[C]) NewConfig() any {
	c := new(C)
	if s.Defaults != nil {
		*c = s.Defaults()
	}
	return c
}

// Requires calls Needs.
func (s Spec[C]) Requires(cfg any) Needs {
	if s.Needs == nil {
		return Needs{}
	}
	return s.Needs(cfg.(*C))
}

// Build calls New.
func (s Spec[C]) Build(ctx context.Context, env *Env, cfg any) (Component, error) {
	c, ok := cfg.(*C)
	if !ok {
		return nil, fmt.Errorf("component %s: configuration is %T, want %s", s.Name, cfg, reflect.TypeFor[*C]())
	}
	return s.New(ctx, env, c)
}

// Reloader is implemented by a component that can apply a changed
// configuration section while it runs. Reload is called on every reload
// with the section, already validated, whether or not it differs from the
// running one (the files it names may have changed), never concurrently
// with another Reload, and only between Start and Stop.
// It applies the section completely or returns an error and keeps the old
// one. Keys it cannot change while running it leaves as they are, and
// logs a warning naming them (a restart applies them).
type Reloader[C any] interface {
	Reload(ctx context.Context, cfg *C) error
}

// ErrRestartNeeded says a component cannot apply a changed section while it
// runs: the new section takes effect at the next start.
var ErrRestartNeeded = errors.New("the component cannot reload its configuration: restart it to apply the change")

// ReloadFactory is a Factory that can hand a changed section to a component
// it built. Spec is one; a Factory that is not, or a component that is not
// a Reloader, makes the host log that a restart is needed.
type ReloadFactory interface {
	Factory
	// Reload applies cfg (a pointer returned by NewConfig, validated) to c,
	// or returns an error wrapping ErrRestartNeeded when c cannot reload.
	Reload(ctx context.Context, c Component, cfg any) error
}

var _ ReloadFactory = Spec[struct{}]{}

// Reload calls c's Reload when c is a Reloader[C], and returns an error
// wrapping ErrRestartNeeded otherwise.
func (s Spec[C]) Reload(ctx context.Context, c Component, cfg any) error {
	typed, ok := cfg.(*C)
	if !ok {
		return fmt.Errorf("component %s: configuration is %T, want %s", s.Name, cfg, reflect.TypeFor[*C]())
	}
	r, ok := c.(Reloader[C])
	if !ok {
		return fmt.Errorf("component %s: %w", s.Name, ErrRestartNeeded)
	}
	return r.Reload(ctx, typed)
}

// Check reports why a part of the process cannot do its work, or nil.
type Check func(ctx context.Context) error

// Env is what a component's constructor gets from its host.
type Env struct {
	// Name is the component's name.
	Name string
	// NC and JS are the process's one NATS connection.
	NC *nats.Conn
	JS jetstream.JetStream
	// Logger is labelled with the component's name.
	Logger *slog.Logger
	// Registry receives the component's metrics.
	Registry prometheus.Registerer
	// Streams is the pipeline's stream configuration.
	Streams topology.Config

	openSearch func(ctx context.Context) (*opensearchapi.Client, error)

	mu     sync.Mutex
	checks []NamedCheck
}

// NamedCheck is a readiness check with its name.
type NamedCheck struct {
	Name  string
	Check Check
}

// NewEnv returns an Env; the host calls it, and tests that build a
// component without a host. openSearch returns the shared OpenSearch client
// (nil when the process has none).
func NewEnv(name string, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger, reg prometheus.Registerer,
	streams topology.Config, openSearch func(context.Context) (*opensearchapi.Client, error)) *Env {
	if log == nil {
		log = slog.Default()
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Env{Name: name, NC: nc, JS: js, Logger: log, Registry: reg, Streams: streams, openSearch: openSearch}
}

// OpenSearch returns the process's OpenSearch client. Making it does not
// contact the cluster, so a component can be built while OpenSearch is down.
func (e *Env) OpenSearch(ctx context.Context) (*opensearchapi.Client, error) {
	if e.openSearch == nil {
		return nil, fmt.Errorf("component %s: no OpenSearch is configured in this process", e.Name)
	}
	return e.openSearch(ctx)
}

// AddCheck registers a readiness check; /readyz reports it as
// "<component>/<name>", and /readyz/<component> reports the component's
// checks alone.
func (e *Env) AddCheck(name string, c Check) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks = append(e.checks, NamedCheck{Name: name, Check: c})
}

// Checks returns the registered checks.
func (e *Env) Checks() []NamedCheck {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]NamedCheck(nil), e.checks...)
}
