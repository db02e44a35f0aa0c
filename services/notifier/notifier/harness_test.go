package notifier_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/notifier"
)

// receiver is a test webhook receiver that records every request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	status func(n int) (int, http.Header) // answer to the n-th request (1-based); nil: 200
}

type received struct {
	Header http.Header
	Body   []byte
	Data   struct {
		NotificationID string `json:"notificationId"`
		Status         string `json:"status"`
		GroupLabels    map[string]string
		Alerts         []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		rec := received{Header: req.Header.Clone(), Body: b}
		_ = json.Unmarshal(b, &rec.Data)
		r.mu.Lock()
		r.reqs = append(r.reqs, rec)
		n := len(r.reqs)
		st := r.status
		r.mu.Unlock()
		if st != nil {
			code, h := st(n)
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(code)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// wait waits until n requests arrived and returns them.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		got := len(r.all())
		return got >= n, "receiver has " + itoa(got) + " requests, want " + itoa(n)
	})
	return r.all()
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// env is a notifier on an in-process NATS with a fake clock.
type env struct {
	t     *testing.T
	nats  *testkit.NATS
	clock *clockwork.FakeClock
	n     *notifier.Notifier
	logs  *testkit.LogBuffer
}

// start runs a notifier with the configuration yml (the notifier section)
// over the defaults.
func start(t *testing.T, nats *testkit.NATS, yml string) *env {
	t.Helper()
	cfg := notifier.Defaults()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Retry.Initial, cfg.Retry.Max, cfg.Retry.MaxElapsed = 10*time.Millisecond, 50*time.Millisecond, 2*time.Second
	if err := yaml.Unmarshal([]byte(yml), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	needs := notifier.Component.Requires(&cfg)
	for _, kc := range needs.Buckets {
		if _, err := nats.JS.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			t.Fatal(err)
		}
	}
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cenv := component.NewEnv("notifier", nats.NC, nats.JS, log, nil, topology.Defaults(), nil)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	n, err := notifier.New(ctx, cenv, &cfg, notifier.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, nats: nats, clock: clock, n: n, logs: logs}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return e
}

// fire publishes an alert event exactly as the alerter's contract says.
func (e *env) publish(a *alert.Alert) {
	e.t.Helper()
	b, _ := json.Marshal(a)
	e.nats.Publish(a.Subject(), a.MsgID(), b)
}

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// mkAlert makes an alert event of rule for the group values.
func mkAlert(rule, severity string, state alert.State, group map[string]string, extra ...string) *alert.Alert {
	labels := map[string]string{"alertname": rule, "severity": severity}
	for k, v := range group {
		labels[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		labels[extra[i]] = extra[i+1]
	}
	a := &alert.Alert{Fingerprint: alert.Fingerprint(rule, group), Rule: rule, Group: group, State: state, Severity: severity,
		Labels: labels, Annotations: map[string]string{"summary": rule + " on " + group["service"]}, StartsAt: t0, At: t0, Origin: alert.OriginStream}
	if state == alert.StateResolved {
		a.EndsAt, a.At = t0.Add(time.Hour), t0.Add(time.Hour)
	}
	return a
}

// held waits until the notifier holds alerts in n groups with total
// alerts, so the clock can be advanced past group_wait.
func (e *env) held(groups, alerts int) {
	e.t.Helper()
	testkit.Poll(e.t, 30*time.Second, func() (bool, string) {
		gs := e.n.Dispatcher().Groups()
		total := 0
		for _, g := range gs {
			total += len(g.Fingerprints)
		}
		return len(gs) == groups && total == alerts, "groups " + itoa(len(gs)) + ", alerts " + itoa(total)
	})
}

// advance moves the clock once the timers of groups are armed.
func (e *env) advance(d time.Duration, timers int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.clock.BlockUntilContext(ctx, timers); err != nil {
		e.t.Fatalf("waiting for %d timers: %v", timers, err)
	}
	e.clock.Advance(d)
}
