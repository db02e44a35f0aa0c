// Package host runs jetlog components (package component) in one process:
// it loads one configuration (file, JETLOG_* environment, -set flags;
// validated once, every error naming its key and line), runs NATS in-process
// or connects to it once, ensures the union of the streams, consumers and
// buckets its components declare, serves one admin endpoint (/metrics,
// /healthz, /readyz with a reason per component, /readyz/<component>,
// POST /-/reload), starts the components downstream first, reloads the
// configuration on SIGHUP or POST /-/reload (package component says what a
// component does with it), and on SIGINT or SIGTERM drains them in reverse
// order.
//
// `jetlog run` is a host with every component of jetlog; each
// services/<name> binary is a host with one; a platform team's worker is a
// host with theirs. Tests embed a Host with New, Start and Stop.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/admin"
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/natsclient"
	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
)

// Options describe a program built on the host.
type Options struct {
	// Name is the program's name, used in logs, usage and as the NATS
	// client name.
	Name string
	// Factories are the components the program can run, in the order the
	// configuration lists them.
	Factories []component.Factory
	// EmbeddedNATS makes nats.embedded default to true (jetlog run).
	EmbeddedNATS bool
	// AdminPort is the admin port when the process runs several
	// components (default 9464).
	AdminPort int
}

// State is where a component is in its lifecycle.
type State string

// The states of a component, as /readyz reports them.
const (
	StateNew      State = "new"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
	StateFailed   State = "failed"
)

type unit struct {
	factory component.Factory
	info    component.Info
	needs   component.Needs
	env     *component.Env
	comp    component.Component

	mu    sync.Mutex
	state State
	err   error
}

func (u *unit) set(s State, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.state, u.err = s, err
}

// ready is the component's own readiness: running, or why not.
func (u *unit) ready(context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case StateRunning:
		return nil
	case StateFailed:
		return fmt.Errorf("failed: %v", u.err)
	}
	return errors.New(string(u.state))
}

// Host runs a set of components.
//
// Lifecycle: Start returns once every component runs; Stop stops them in
// the reverse order (the front door first, so what upstream finishes still
// reaches downstream), then the admin endpoints, then NATS. Stop is
// idempotent and safe without Start.
type Host struct {
	cfg *Config
	log *slog.Logger
	reg *prometheus.Registry

	mu      sync.Mutex
	started bool
	stopped bool
	srv     *natsserver.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	units   []*unit // in start order: downstream first
	adm     *admin.Server

	osOnce sync.Once
	osCl   *opensearchapi.Client
	osErr  error

	// reloadMu makes reloads one at a time.
	reloadMu sync.Mutex
	// phaseMu guards phase and cancelReload, apart from mu, which Start
	// holds until every component runs. A reload begins only while the
	// phase is running, and Stop waits for the one in progress
	// (reloading), which it cancels first.
	phaseMu      sync.Mutex
	phase        phase
	cancelReload context.CancelFunc
	reloading    sync.WaitGroup
	reloads      *reloadMetrics
}

// New checks cfg and returns a host for the components it selects.
func New(cfg *Config, log *slog.Logger) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Running()) == 0 {
		return nil, fmt.Errorf("%w: no component to run", errInvalid)
	}
	for _, f := range cfg.Running() {
		if err := f.Info().Validate(); err != nil {
			return nil, err
		}
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Host{cfg: cfg, log: log, reg: prometheus.NewRegistry(), phase: phaseNew}
	h.reloads = newReloadMetrics(h.reg)
	return h, nil
}

// Registry is the host's metrics registry.
func (h *Host) Registry() *prometheus.Registry { return h.reg }

// Start runs NATS (or connects), ensures the topology, builds the
// components, serves the admin endpoints and starts the components
// downstream first. On error, what was started is stopped.
func (h *Host) Start(ctx context.Context) (err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return errors.New("host: already started")
	}
	h.started = true
	h.setPhase(phaseStarting)
	defer func() {
		if err != nil {
			_ = h.stopLocked(context.Background())
		}
	}()
	if set := h.cfg.Runtime.apply(); len(set) > 0 {
		h.log.Info("go runtime tuned", set...)
	}
	if err := h.connect(); err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	run := order(h.cfg.Running(), h.cfg.sections)
	h.warnUnreadConsumers()
	if err := h.ensure(setup, run); err != nil {
		return err
	}
	for _, r := range run {
		name := r.factory.Info().Name
		log := h.log.With("component", name)
		env := component.NewEnv(name, h.nc, h.js, log, h.reg, h.cfg.Streams, h.openSearch)
		u := &unit{factory: r.factory, info: r.factory.Info(), needs: r.needs, env: env, state: StateNew}
		if u.comp, err = r.factory.Build(setup, env, h.cfg.sections[name]); err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		h.units = append(h.units, u)
	}
	if h.cfg.Admin.Enabled {
		if err := h.serveAdmin(); err != nil {
			return err
		}
	}
	for _, u := range h.units {
		u.set(StateStarting, nil)
		if err := u.comp.Start(setup); err != nil {
			u.set(StateFailed, err)
			return fmt.Errorf("start %s: %w", u.info.Name, err)
		}
		u.set(StateRunning, nil)
	}
	names := make([]string, len(h.units))
	for i, u := range h.units {
		names[i] = u.info.Name
	}
	h.phaseMu.Lock()
	if h.phase == phaseStarting { // not if Stop was called meanwhile
		h.phase = phaseRunning
	}
	h.phaseMu.Unlock()
	h.reloads.loaded(true)
	h.log.Info("jetlog running", "components", names, "admin", h.AdminAddr(), "nats", h.NATSURL())
	return nil
}

func (h *Host) connect() error {
	cc := h.cfg.NATS.Config
	var extra []nats.Option
	if h.cfg.NATS.Embedded {
		srv, err := natsserver.Start(h.cfg.NATS.Server, h.log)
		if err != nil {
			return err
		}
		h.srv = srv
		cc = natsclient.Config{URL: srv.ClientURL()}
		// The process's own components talk to it in process, not over
		// loopback TCP; other clients (the CLI, a shipper) use the URL.
		extra = append(extra, nats.InProcessServer(srv))
		h.log.Info("embedded NATS started", "url", cc.URL, "store_dir", h.cfg.NATS.Server.StoreDir, "sync", h.cfg.NATS.Server.Sync)
	}
	name := h.cfg.opts.Name
	if name == "" {
		name = "jetlog"
	}
	nc, err := natsclient.Connect(cc, name, h.log, extra...)
	if err != nil {
		return err
	}
	h.nc = nc
	// A bounded wait for every PubAck: a lost acknowledgement must end in
	// a retry, never in a publisher stuck forever.
	h.js, err = jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second),
		jetstream.WithPublishAsyncTimeout(10*time.Second), jetstream.WithPublishAsyncMaxPending(65536))
	return err
}

// ensure creates what the components need: the pipeline's streams and
// durable consumers, then each component's own streams, buckets and
// consumers.
func (h *Host) ensure(ctx context.Context, run []planned) error {
	if err := topology.Ensure(ctx, h.js, h.cfg.Streams, h.log); err != nil {
		return err
	}
	for _, r := range run {
		for _, sc := range r.needs.Streams {
			if err := topology.EnsureStream(ctx, h.js, sc); err != nil {
				return fmt.Errorf("%s: %w", r.factory.Info().Name, err)
			}
		}
		for _, kc := range r.needs.Buckets {
			if _, err := h.js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
				return fmt.Errorf("%s: ensure KV bucket %s: %w", r.factory.Info().Name, kc.Bucket, err)
			}
		}
		for _, cc := range r.needs.Consumers {
			if _, err := h.js.CreateOrUpdateConsumer(ctx, cc.Stream, cc.Config); err != nil {
				return fmt.Errorf("%s: ensure consumer %s on %s: %w", r.factory.Info().Name, cc.Config.Durable, cc.Stream, err)
			}
		}
	}
	return nil
}

func (h *Host) serveAdmin() error {
	listen := h.cfg.adminListen()
	h.adm = admin.New(listen, h.reg, h.log)
	if h.cfg.Admin.Pprof {
		h.adm.EnablePprof()
	}
	h.adm.AddCheck("nats", NATSCheck(h.nc))
	h.adm.Handle("POST "+ReloadPath, http.HandlerFunc(h.serveReload))
	for _, u := range h.units {
		h.adm.AddComponentCheck(u.info.Name, "", u.ready)
		for _, c := range u.env.Checks() {
			h.adm.AddComponentCheck(u.info.Name, c.Name, admin.Check(c.Check))
		}
	}
	h.reg.MustRegister(topology.NewCollector(h.js, h.cfg.Streams))
	if err := h.adm.Start(); err != nil {
		return fmt.Errorf("admin endpoints: listen on %s: %w (set admin.listen, or admin.enabled: false)", listen, err)
	}
	return nil
}

// warnUnreadConsumers warns about durable consumers of the pipeline streams
// (streams.consumers) named after a component of this program that this
// process does not run: unless another process runs it, its consumer holds
// the stream's backlog until ingest stops (the alerter's is declared by
// default).
func (h *Host) warnUnreadConsumers() {
	running := map[string]bool{}
	for _, f := range h.cfg.Running() {
		running[f.Info().Name] = true
	}
	for _, f := range h.cfg.Factories() {
		name := f.Info().Name
		for _, r := range h.cfg.Streams.Consumers {
			if r.Durable == name && !running[name] {
				h.log.Warn("streams.consumers declares a consumer whose component this process does not run: unless another process runs it, "+
					"it holds the stream's backlog until ingest stops (remove it from streams.consumers, and `nats consumer rm` it, if the component is not deployed)",
					"stream", r.Stream, "consumer", r.Durable)
			}
		}
	}
}

// openSearch returns the process's one OpenSearch client, made on first use.
func (h *Host) openSearch(ctx context.Context) (*opensearchapi.Client, error) {
	h.osOnce.Do(func() { h.osCl, h.osErr = osclient.New(ctx, h.cfg.OpenSearch) })
	return h.osCl, h.osErr
}

// Component returns the running component named name, or nil.
func (h *Host) Component(name string) component.Component {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range h.units {
		if u.info.Name == name {
			return u.comp
		}
	}
	return nil
}

// NATSURL is the URL of the NATS server the host uses.
func (h *Host) NATSURL() string {
	if h.srv != nil {
		return h.srv.ClientURL()
	}
	if h.nc == nil {
		return ""
	}
	return h.nc.ConnectedUrl()
}

// AdminAddr is the address of the admin endpoints, once started.
func (h *Host) AdminAddr() string {
	if h.adm == nil {
		return ""
	}
	return h.adm.Addr()
}

// Ready runs the readiness checks: every result by name, and whether all
// passed.
func (h *Host) Ready(ctx context.Context) (map[string]string, bool) {
	if h.adm == nil {
		return nil, false
	}
	return h.adm.Ready(ctx, "")
}

// Stop drains and stops everything. A reload in progress is canceled and
// waited for; a reload asked for from now on is refused.
func (h *Host) Stop(ctx context.Context) error {
	h.phaseMu.Lock()
	if h.phase == phaseStarting || h.phase == phaseRunning {
		h.phase = phaseStopping
	}
	if h.cancelReload != nil {
		h.cancelReload()
	}
	h.phaseMu.Unlock()
	h.reloading.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopLocked(ctx)
}

func (h *Host) stopLocked(ctx context.Context) error {
	if !h.started || h.stopped {
		return nil
	}
	h.stopped = true
	h.setPhase(phaseStopping)
	defer h.setPhase(phaseStopped)
	var errs []error
	for i := len(h.units) - 1; i >= 0; i-- { // upstream first
		u := h.units[i]
		u.set(StateStopping, nil)
		if err := u.comp.Stop(ctx); err != nil {
			u.set(StateFailed, err)
			errs = append(errs, fmt.Errorf("stop %s: %w", u.info.Name, err))
			continue
		}
		u.set(StateStopped, nil)
	}
	if h.adm != nil {
		errs = append(errs, h.adm.Stop(ctx))
	}
	if h.nc != nil {
		// Acks and naks are asynchronous: flush them before closing.
		if h.nc.IsConnected() {
			errs = append(errs, h.nc.FlushTimeout(5*time.Second))
		}
		h.nc.Close()
	}
	if h.srv != nil {
		h.srv.Shutdown()
	}
	h.log.Info("jetlog stopped")
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
