// Package app is jetlog's all-in-one process: NATS in-process (or a
// connection to a server), the ingest gateway, every worker, and the admin
// endpoints, started downstream first and stopped upstream first.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/admin"
	"github.com/jetlog/jetlog/libs/natsclient"
	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/gateway/gateway"
	"github.com/jetlog/jetlog/services/indexer/index"
)

// App is the all-in-one process.
//
// Lifecycle: Start returns once everything runs; Stop drains the workers
// (enricher before indexer, so what the enricher finishes still gets
// indexed), then closes NATS. Stop is idempotent and safe without Start.
type App struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry

	mu      sync.Mutex
	started bool
	stopped bool
	srv     *natsserver.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	units   []*worker.Unit // in start order: downstream first
	gw      *gateway.Gateway
	adm     *admin.Server
}

// New validates cfg and returns an app.
func New(cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &App{cfg: cfg, log: log, reg: prometheus.NewRegistry()}, nil
}

// Start starts NATS, the workers and the admin endpoints.
func (a *App) Start(ctx context.Context) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("app: already started")
	}
	a.started = true
	defer func() {
		if err != nil {
			a.stopLocked(context.Background())
		}
	}()
	url := a.cfg.NATS.URL
	if a.cfg.NATS.Embedded {
		if a.srv, err = natsserver.Start(a.cfg.NATS.Server, a.log); err != nil {
			return err
		}
		url = a.srv.ClientURL()
		a.log.Info("embedded NATS started", "url", url, "store_dir", a.cfg.NATS.Server.StoreDir, "sync", a.cfg.NATS.Server.Sync)
	}
	cc := a.cfg.NATS.Config
	cc.URL = url
	if a.nc, err = natsclient.Connect(cc, "jetlog", a.log); err != nil {
		return err
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := topology.Ensure(setup, a.js, a.cfg.Streams); err != nil {
		return err
	}
	host := worker.Host{NC: a.nc, JS: a.js, Logger: a.log, Registry: a.reg}
	if a.cfg.Indexer.Enabled {
		cl, err := osclient.New(setup, a.cfg.OpenSearch)
		if err != nil {
			return err
		}
		spec := index.Spec
		settings := a.cfg.Indexer.Settings
		spec.New = func(ctx context.Context, env *worker.Env, _ *index.Config) (worker.BatchHandler, error) {
			return index.Build(ctx, env, cl, settings)
		}
		u, err := worker.Compose(setup, spec, host, a.cfg.Indexer.Consumer, &index.Config{})
		if err != nil {
			return err
		}
		a.units = append(a.units, u)
	}
	if a.cfg.Enricher.Enabled {
		u, err := worker.Compose(setup, enrich.Spec, host, a.cfg.Enricher.Consumer, &a.cfg.Enricher.Settings)
		if err != nil {
			return err
		}
		a.units = append(a.units, u)
	}
	if a.cfg.Gateway.Enabled {
		if a.gw, err = gateway.New(a.cfg.Gateway.Config, a.nc, a.reg, a.log); err != nil {
			return err
		}
	}
	if a.cfg.Admin.Listen != "" {
		a.adm = admin.New(a.cfg.Admin.Listen, a.reg, a.log)
		if a.cfg.Admin.Pprof {
			a.adm.EnablePprof()
		}
		if a.gw != nil {
			a.adm.AddCheck("gateway", a.gw.Ready)
		}
		a.adm.AddCheck("nats", worker.NATSCheck(a.nc))
		for _, u := range a.units {
			for n, c := range u.Checks() {
				a.adm.AddCheck(n, c)
			}
		}
		if err := a.adm.Start(); err != nil {
			return fmt.Errorf("admin listen %s: %w", a.cfg.Admin.Listen, err)
		}
	}
	for _, u := range a.units {
		if err := u.Worker.Start(setup); err != nil {
			return err
		}
	}
	if a.gw != nil { // the front door opens last, once everything behind it runs
		if err := a.gw.Start(); err != nil {
			return err
		}
	}
	a.log.Info("jetlog running", "workers", len(a.units), "admin", a.AdminAddr(), "http", a.GatewayHTTPAddr(), "forward", a.GatewayForwardAddr())
	return nil
}

// NATSURL is the URL of the NATS server the app uses.
func (a *App) NATSURL() string {
	if a.nc == nil {
		return ""
	}
	return a.nc.ConnectedUrl()
}

// GatewayHTTPAddr is the gateway's HTTP address, once started ("" when off).
func (a *App) GatewayHTTPAddr() string {
	if a.gw == nil {
		return ""
	}
	return a.gw.HTTPAddr()
}

// GatewayForwardAddr is the gateway's forward-protocol address, once
// started ("" when off).
func (a *App) GatewayForwardAddr() string {
	if a.gw == nil {
		return ""
	}
	return a.gw.ForwardAddr()
}

// AdminAddr is the address of the admin endpoints, once started.
func (a *App) AdminAddr() string {
	if a.adm == nil {
		return ""
	}
	return a.adm.Addr()
}

// Ready runs the readiness checks.
func (a *App) Ready(ctx context.Context) (map[string]string, bool) {
	if a.adm == nil {
		return nil, false
	}
	return a.adm.Ready(ctx)
}

// Stop drains and stops everything.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked(ctx)
}

func (a *App) stopLocked(ctx context.Context) error {
	if !a.started || a.stopped {
		return nil
	}
	a.stopped = true
	var errs []error
	if a.gw != nil { // the front door closes first
		errs = append(errs, a.gw.Stop(ctx))
	}
	for i := len(a.units) - 1; i >= 0; i-- { // upstream first
		errs = append(errs, a.units[i].Stop(ctx))
	}
	if a.adm != nil {
		errs = append(errs, a.adm.Stop(ctx))
	}
	if a.nc != nil {
		// Acks and naks are asynchronous: flush them before closing.
		errs = append(errs, a.nc.FlushTimeout(5*time.Second))
		a.nc.Close()
	}
	if a.srv != nil {
		a.srv.Shutdown()
	}
	a.log.Info("jetlog stopped")
	return errors.Join(errs...)
}
