package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
)

// ReloadPath is the admin endpoint that reloads the configuration (POST).
const ReloadPath = "/-/reload"

// ErrNotRunning is returned by Reload while the host starts or stops: the
// configuration is reloaded only while every component runs.
var ErrNotRunning = errors.New("the host is not running")

// phase is where the host is in its lifecycle, for reloads.
type phase string

const (
	phaseNew      phase = "not started"
	phaseStarting phase = "starting"
	phaseRunning  phase = "running"
	phaseStopping phase = "stopping"
	phaseStopped  phase = "stopped"
)

func (h *Host) setPhase(p phase) {
	h.phaseMu.Lock()
	defer h.phaseMu.Unlock()
	h.phase = p
}

// ReloadReport says what a successful reload did.
type ReloadReport struct {
	// Applied names the components that applied their changed section.
	Applied []string `json:"applied"`
	// RestartNeeded names what changed but takes effect only at the next
	// start: the host's own keys (nats, admin, log, …) and the sections
	// of components that cannot reload.
	RestartNeeded []string `json:"restart_needed"`
}

// Reload loads the configuration again from the sources Load read at
// start (the file, the JETLOG_* environment and the -set flags) and
// validates it as the start does. If it is invalid, the host runs on with
// the previous configuration and the error names each key and line.
// Otherwise each running component that can reload (component.Reloader)
// applies its section, changed or not (so the files it names are read
// again); a component that cannot reload whose section changed, and a
// change in the host's own keys, are logged as needing a restart and not
// applied.
//
// Reloads run one at a time; one asked for while the host starts or stops
// returns ErrNotRunning. Stop cancels a reload in progress.
func (h *Host) Reload(ctx context.Context) (ReloadReport, error) {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.phaseMu.Lock()
	if p := h.phase; p != phaseRunning {
		h.phaseMu.Unlock()
		h.log.Warn("configuration reload refused: the host is "+string(p)+"; reload once it runs", "phase", string(p))
		return ReloadReport{}, fmt.Errorf("%w (%s): reload once it runs", ErrNotRunning, p)
	}
	ctx, cancel := context.WithCancel(ctx)
	h.cancelReload = cancel
	h.reloading.Add(1)
	h.phaseMu.Unlock()
	defer func() {
		h.phaseMu.Lock()
		h.cancelReload = nil
		h.phaseMu.Unlock()
		cancel()
		h.reloading.Done()
	}()
	rep, err := h.reload(ctx)
	h.reloads.outcome(err == nil)
	if err != nil {
		h.log.Error("configuration reload failed; running on the previous configuration", "err", err)
		return rep, err
	}
	h.log.Info("configuration reloaded", "applied", rep.Applied, "restart_needed", rep.RestartNeeded)
	return rep, nil
}

func (h *Host) reload(ctx context.Context) (ReloadReport, error) {
	rep := ReloadReport{Applied: []string{}, RestartNeeded: []string{}}
	if h.cfg.src == nil {
		return rep, errors.New("the configuration was made in code, not loaded from a file, the environment or flags: there is nothing to read again")
	}
	next := NewConfig(h.cfg.opts)
	if err := next.Load(*h.cfg.src); err != nil {
		return rep, err
	}
	for _, key := range changedKeys(h.cfg.Keys, next.Keys) {
		rep.RestartNeeded = append(rep.RestartNeeded, key)
		h.log.Warn("configuration key changed that the host reads only at start: not applied, restart to apply it", "key", key)
	}
	var errs []error
	for _, u := range h.units {
		name := u.info.Name
		cur := next.sections[name]
		// A component that can reload is reloaded even when its section is
		// unchanged: the files the section names (templates, secrets) may
		// have changed, and a reload reads them again (as Alertmanager's).
		same := sameYAML(h.cfg.sections[name], cur)
		rf, canReload := u.factory.(component.ReloadFactory)
		if same && !canReload {
			continue
		}
		err := fmt.Errorf("component %s: %w", name, component.ErrRestartNeeded)
		if canReload {
			err = rf.Reload(ctx, u.comp, cur)
		}
		switch {
		case errors.Is(err, component.ErrRestartNeeded) && same:
			// Nothing changed that it would have to apply.
		case errors.Is(err, component.ErrRestartNeeded):
			rep.RestartNeeded = append(rep.RestartNeeded, name)
			h.log.Warn("configuration section changed, but the component cannot reload it: not applied, restart to apply it", "component", name)
		case err != nil:
			errs = append(errs, fmt.Errorf("reload %s: %w", name, err))
		default:
			rep.Applied = append(rep.Applied, name)
			h.mu.Lock()
			h.cfg.sections[name] = cur
			h.mu.Unlock()
		}
	}
	return rep, errors.Join(errs...)
}

// changedKeys names the host's own top-level keys whose values differ.
func changedKeys(a, b Keys) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if !sameYAML(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// sameYAML reports whether a and b say the same as configuration: their
// YAML forms are equal (what a file, a variable or a flag can set).
func sameYAML(a, b any) bool {
	ya, errA := yaml.Marshal(a)
	yb, errB := yaml.Marshal(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ya) == string(yb)
}

// serveReload is POST /-/reload: 200 with what was applied, 400 for an
// invalid configuration, 503 while the host starts or stops, 500 when a
// component failed to apply its section.
func (h *Host) serveReload(w http.ResponseWriter, r *http.Request) {
	// A client that hangs up does not cut a reload short half-way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	rep, err := h.Reload(ctx)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrNotRunning):
			code = http.StatusServiceUnavailable
		case errors.Is(err, config.ErrInvalid):
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "failure", "error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "applied": rep.Applied, "restart_needed": rep.RestartNeeded})
}

// reloadMetrics are Alertmanager's configuration metrics under jetlog's
// name.
type reloadMetrics struct {
	successful prometheus.Gauge
	at         prometheus.Gauge
	total      *prometheus.CounterVec
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetlog_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded (1) or failed (0); 1 after the start."}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetlog_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, at the start or by a reload, in Unix seconds."}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetlog_config_reloads_total",
			Help: "Configuration reloads (SIGHUP, POST /-/reload), by outcome: success, failure."}, []string{"outcome"}),
	}
	m.total.WithLabelValues("success")
	m.total.WithLabelValues("failure")
	reg.MustRegister(m.successful, m.at, m.total)
	return m
}

// loaded records a load of the configuration (at the start, or a reload).
func (m *reloadMetrics) loaded(ok bool) {
	if ok {
		m.successful.Set(1)
		m.at.SetToCurrentTime()
		return
	}
	m.successful.Set(0)
}

// outcome records a reload.
func (m *reloadMetrics) outcome(ok bool) {
	m.loaded(ok)
	if ok {
		m.total.WithLabelValues("success").Inc()
	} else {
		m.total.WithLabelValues("failure").Inc()
	}
}
