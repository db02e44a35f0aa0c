// Package enrich is the enricher stage: it reads raw events from LOGS_RAW,
// decodes them (see package raw), runs the pipeline that matches each one
// (see package pipeline) and publishes the results on
// logs.enriched.<source>.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/dirwatch"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/pipeline"
	"github.com/jetlog/jetlog/services/enricher/raw"
)

// Config is the enricher's own configuration.
type Config struct {
	// Raw bounds what one raw message may hold.
	Raw raw.Limits `yaml:"raw"`
	// OutputPrefix is the subject prefix of enriched events; the event's
	// source (or its route subject) is appended as one token.
	OutputPrefix string `yaml:"output_prefix"`
	// PipelinesDir holds the pipeline files; "" runs no pipelines (events
	// are only decoded).
	PipelinesDir string `yaml:"pipelines_dir"`
	// Watch reloads the pipelines when their files change.
	Watch bool `yaml:"watch"`
}

// Defaults returns the enricher's defaults.
func Defaults() Config {
	return Config{Raw: raw.DefaultLimits(), OutputPrefix: topology.EnrichedPrefix, PipelinesDir: "pipelines", Watch: true}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.Raw.MaxDepth < 1 {
		errs.Addf("raw.max_depth", "must be >= 1")
	}
	if c.Raw.MaxRecords < 1 {
		errs.Addf("raw.max_records", "must be >= 1")
	}
	if !strings.HasSuffix(c.OutputPrefix, ".") || strings.ContainsAny(c.OutputPrefix, "*> ") {
		errs.Addf("output_prefix", "%q must be literal subject tokens ending in '.', e.g. logs.enriched.", c.OutputPrefix)
	}
	if c.PipelinesDir != "" {
		if st, err := os.Stat(c.PipelinesDir); err != nil || !st.IsDir() {
			errs.Addf("pipelines_dir", "%q is not a directory (set it, or \"\" to run without pipelines)", c.PipelinesDir)
		}
	}
	return errs.Err()
}

// Spec is the enricher worker.
var Spec = worker.Spec[Config]{
	Name:      "enricher",
	Defaults:  Defaults(),
	AdminPort: 9466,
	Writes:    []string{topology.EnrichedStream},
	Consumer:  worker.ConsumerConfig{Stream: topology.RawStream, Subjects: []string{topology.RawSubjects}, Concurrency: 2},
	New: func(ctx context.Context, env *worker.Env, cfg *Config) (worker.BatchHandler, error) {
		h, err := New(*cfg, env.Registry, env.Logger)
		if err != nil {
			return nil, err
		}
		if cfg.PipelinesDir != "" && cfg.Watch {
			stop, err := h.Watch(context.WithoutCancel(ctx))
			if err != nil {
				env.Logger.Error("cannot watch the pipelines: they will not be reloaded when they change (restart to load a change)", "dir", cfg.PipelinesDir, "err", err)
			} else {
				env.OnStop(func(context.Context) error { stop(); return nil })
			}
		}
		out := Output(*cfg)
		until, err := topology.UnmarkedEventsUntil(ctx, env.JS)
		if err != nil {
			return nil, fmt.Errorf("read %s's migration marker: %w", topology.RawStream, err)
		}
		if until > 0 {
			env.Logger.Info("reading the previous release's unmarked events the old way", "stream", topology.RawStream, "until_seq", until)
			out = OutputSince(*cfg, until)
		}
		return env.Events(h, out), nil
	},
}

// Output decodes raw messages and publishes under the configured prefix.
func Output(cfg Config) worker.Output { return OutputSince(cfg, 0) }

// OutputSince is Output for a raw stream migrated from the previous release:
// its messages up to sequence until were stored before the gateway marked
// its events (see raw.Message.Unmarked).
func OutputSince(cfg Config, until uint64) worker.Output {
	return worker.Output{
		Subject: worker.SubjectByPrefix(cfg.OutputPrefix),
		Decode: func(m *worker.Msg) ([]*event.Event, error) {
			unmarked := until > 0 && m.Stream == topology.RawStream && m.Sequence <= until
			return raw.Decode(raw.Message{Subject: m.Subject, Data: m.Data, Header: m.Header, Time: m.Time, Unmarked: unmarked}, cfg.Raw)
		},
	}
}

// Enricher runs the pipelines over events. The pipelines can be swapped
// while it runs (hot reload); each event sees one consistent set.
type Enricher struct {
	cfg  Config
	set  atomic.Pointer[pipeline.Set]
	m    *metrics
	log  *slog.Logger
	opts pipeline.Options
	// loaded is the snapshot of the pipelines directory taken just before
	// New loaded it, so Watch sees a change made between the two.
	loaded string
}

var _ worker.Handler = (*Enricher)(nil)

// New loads the pipelines of cfg.PipelinesDir; an invalid pipeline refuses
// the start with every problem's file, line and reason.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Enricher, error) {
	if log == nil {
		log = slog.Default()
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	e := &Enricher{cfg: cfg, m: newMetrics(reg), log: log, opts: pipeline.Options{MaxDepth: cfg.Raw.MaxDepth}}
	set := &pipeline.Set{}
	if cfg.PipelinesDir != "" {
		var err error
		e.loaded = dirwatch.Snapshot(cfg.PipelinesDir, pipelineFiles)
		if set, err = pipeline.LoadDir(cfg.PipelinesDir, e.opts); err != nil {
			return nil, fmt.Errorf("%w\n(fix the pipelines in %s)", err, cfg.PipelinesDir)
		}
	}
	e.swap(set)
	return e, nil
}

func (e *Enricher) swap(set *pipeline.Set) {
	e.set.Store(set)
	names := make([]string, len(set.Pipelines))
	for i, p := range set.Pipelines {
		names[i] = p.Name
	}
	e.m.reloadOK.Set(1)
	e.m.reloads.WithLabelValues("success").Inc()
	e.log.Info("pipelines loaded", "dir", e.cfg.PipelinesDir, "pipelines", names)
}

// pipelineFiles are the files of a pipelines directory (as LoadDir reads
// them).
var pipelineFiles = []string{"*.yaml", "*.yml"}

// Watch reloads the pipelines when the files of the pipelines directory
// read differently, however they changed (written, renamed over, deleted,
// or a Kubernetes ConfigMap's ..data symlink swapped), keeping the last
// good set when a change does not compile. The watch is in place when
// Watch returns, and a change since New loaded the directory is taken at
// once; stop ends the watch, waiting for a reload in progress.
func (e *Enricher) Watch(ctx context.Context) (stop func(), err error) {
	w, err := dirwatch.New(e.cfg.PipelinesDir, dirwatch.Options{Patterns: pipelineFiles, Since: e.loaded, Logger: e.log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx, e.reload); err != nil {
			e.log.Error("pipeline watch stopped: changes to the pipelines are no longer loaded (restart to watch again)", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// reload loads the pipelines directory again and swaps the running set,
// unless the new one does not compile.
func (e *Enricher) reload() {
	set, err := pipeline.LoadDir(e.cfg.PipelinesDir, e.opts)
	if err != nil {
		e.m.reloadOK.Set(0)
		e.m.reloads.WithLabelValues("failure").Inc()
		e.log.Error("pipeline reload refused; the running pipelines stay", "err", err)
		return
	}
	e.swap(set)
}

// Pipelines returns the running set.
func (e *Enricher) Pipelines() *pipeline.Set { return e.set.Load() }

// Handle runs the event's pipeline.
func (e *Enricher) Handle(_ context.Context, ev *event.Event) ([]*event.Event, error) {
	p := e.set.Load().Select(ev)
	if p == nil {
		return []*event.Event{ev}, nil
	}
	kept, err := p.Run(ev)
	switch {
	case err == nil && kept > 0:
		e.m.events.WithLabelValues(p.Name, "failed_kept").Inc()
		return []*event.Event{ev}, nil
	case err == nil:
		e.m.events.WithLabelValues(p.Name, "processed").Inc()
		return []*event.Event{ev}, nil
	case errors.Is(err, pipeline.ErrDropped):
		e.m.events.WithLabelValues(p.Name, "dropped").Inc()
		return nil, worker.ErrDrop
	default:
		e.m.events.WithLabelValues(p.Name, "failed").Inc()
		return nil, worker.Permanent(err)
	}
}

type metrics struct {
	events   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	reloadOK prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_enricher_pipeline_events_total",
			Help: "Events through each pipeline, by outcome: processed, dropped (drop or sample stage), failed_kept (a stage failed; the event went on tagged, on_error: keep), failed (a stage failed; dead-lettered, on_error: dlq).",
		}, []string{"pipeline", "outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetlog_enricher_pipeline_reloads_total",
			Help: "Pipeline loads, by result: success, or failure (the running pipelines stay).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetlog_enricher_pipeline_config_last_reload_successful",
			Help: "1 if the last pipeline load succeeded, 0 if it was refused.",
		}),
	}
	reg.MustRegister(m.events, m.reloads, m.reloadOK)
	m.reloads.WithLabelValues("failure")
	return m
}
