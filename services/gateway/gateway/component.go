package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/topology"
)

var _ component.Component = (*Gateway)(nil)

// Component is the gateway as a component of a jetlog host: a server that
// writes LOGS_RAW (and dead-letters to the DLQ). Its readiness, served on
// /readyz/gateway, is what a shipper-facing load balancer should probe:
// NATS reachable and the raw backlog not full. It does not depend on
// OpenSearch, whose outage the backlog exists to absorb.
var Component = component.Spec[Config]{
	Name: "gateway", Kind: component.KindServer, AdminPort: 9465,
	Defaults: Defaults,
	Needs: func(*Config) component.Needs {
		return component.Needs{Writes: []string{topology.RawStream, topology.DLQStream}}
	},
	New: func(_ context.Context, env *component.Env, cfg *Config) (component.Component, error) {
		g, err := New(*cfg, env.NC, env.Registry, env.Logger)
		if err != nil {
			return nil, err
		}
		env.AddCheck("nats", g.Ready)
		b := &backlogCheck{env: env}
		env.AddCheck("backlog", b.check)
		return g, nil
	},
}

// backlogCheck reports the raw backlog full, reading the stream at most
// once a second however often the probe asks.
type backlogCheck struct {
	env *component.Env

	mu   sync.Mutex
	at   time.Time
	last error
}

func (b *backlogCheck) check(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.at) < time.Second {
		return b.last
	}
	bl, err := topology.ReadBacklog(ctx, b.env.JS, topology.RawStream)
	if err == nil {
		err = bl.Err()
	}
	b.at, b.last = time.Now(), err
	return err
}
