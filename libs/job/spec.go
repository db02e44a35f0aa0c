package job

import (
	"context"

	"github.com/jetlog/jetlog/libs/component"
)

// Spec declares a job as a component of the "job" kind: a function run on
// a schedule, with its own configuration section. Its readiness
// (/readyz/<name>) reports the last run's error.
type Spec[C any] struct {
	// Name is the component's name and configuration section.
	Name      string
	AdminPort int
	// Defaults returns the configuration before file, env and flags.
	Defaults func() C
	// Needs says what the job requires of JetStream and OpenSearch.
	Needs func(cfg *C) component.Needs
	// Schedule returns the runner options of a configuration (Every,
	// Jitter, Timeout, Immediately); Name and Logger are filled in.
	Schedule func(cfg *C) Options
	// New builds the function each run calls.
	New func(ctx context.Context, env *component.Env, cfg *C) (Func, error)
}

// Factory returns the job as a component.
func (s Spec[C]) Factory() component.Factory {
	return component.Spec[C]{
		Name: s.Name, Kind: component.KindJob, AdminPort: s.AdminPort, Defaults: s.Defaults, Needs: s.Needs,
		New: func(ctx context.Context, env *component.Env, cfg *C) (component.Component, error) {
			f, err := s.New(ctx, env, cfg)
			if err != nil {
				return nil, err
			}
			o := s.Schedule(cfg)
			o.Name, o.Logger = s.Name, env.Logger
			r, err := New(f, o)
			if err != nil {
				return nil, err
			}
			env.AddCheck("last_run", r.Ready)
			return r, nil
		},
	}
}
