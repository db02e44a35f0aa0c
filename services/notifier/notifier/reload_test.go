package notifier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/notifier/notifier"
)

// hosted is a notifier run by a host on a configuration file, with a
// fake clock, so a test reloads it as an operator does.
type hosted struct {
	*env
	h    *host.Host
	cfg  *host.Config
	file string
}

// twoReceivers is a notifier section with receivers a and b (at the URLs
// given) whose route sends every alert to receiver; extra is added to the
// section.
func twoReceivers(receiver, a, b, extra string) string {
	return fmt.Sprintf(`notifier:
  http: {listen: "127.0.0.1:0"}
  retry: {initial: 10ms, max: 50ms, max_elapsed: 2s}
  route:
    receiver: %s
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
  receivers:
    - name: a
      webhook_configs: [{url: %q, allow_cidrs: [127.0.0.0/8]}]
    - name: b
      webhook_configs: [{url: %q, allow_cidrs: [127.0.0.0/8]}]
%s`, receiver, a, b, extra)
}

// startHosted runs a host with the notifier on the configuration file body.
func startHosted(t *testing.T, body string) *hosted {
	t.Helper()
	nats := testkit.StartNATS(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	var n *notifier.Notifier
	spec := component.Spec[notifier.Config]{
		Name: notifier.Component.Name, Kind: notifier.Component.Kind, Defaults: notifier.Defaults, Needs: notifier.Component.Needs,
		New: func(ctx context.Context, env *component.Env, cfg *notifier.Config) (component.Component, error) {
			var err error
			n, err = notifier.New(ctx, env, cfg, notifier.Options{Clock: clock})
			return n, err
		},
	}
	file := filepath.Join(t.TempDir(), "jetlog.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := host.NewConfig(host.Options{Name: "notifier", Factories: []component.Factory{spec}})
	if err := cfg.Load(config.Source{File: file, Set: []string{"nats.url=" + nats.URL, "admin.listen=127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.LogBuffer{}
	h := hosttest.StartLogging(t, cfg, logs)
	return &hosted{env: &env{t: t, nats: nats, clock: clock, n: n, logs: logs}, h: h, cfg: cfg, file: file}
}

// reload writes body to the configuration file and POSTs /-/reload.
func (e *hosted) reload(body string) (int, string) {
	e.t.Helper()
	if err := os.WriteFile(e.file, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post("http://"+e.h.AdminAddr()+host.ReloadPath, "", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the line of /metrics that starts with name.
func (e *hosted) metric(name string) string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.h.AdminAddr() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

// notifyFirst publishes one alert and waits until receiver a has been
// told of it and the flush has ended.
func (e *hosted) notifyFirst(a *receiver) *alert.Alert {
	e.t.Helper()
	al := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "checkout"})
	e.publish(al)
	e.held(1, 1)
	e.advance(30*time.Second, 1)
	a.wait(e.t, 1)
	flushesDone(e.t, e.env)
	return al
}

// secondAlert adds a second alert to the group and waits until rcv's n-th
// notification tells of both, and the flush has ended.
func (e *hosted) secondAlert(rcv *receiver, n int) {
	e.t.Helper()
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "cart"}))
	e.held(1, 2)
	e.advance(5*time.Minute, 1)
	if got := rcv.wait(e.t, n); len(got[n-1].Data.Alerts) != 2 {
		e.t.Errorf("notification %d: %s", n, got[n-1].Body)
	}
	flushesDone(e.t, e.env)
}

// TestReloadSendsTheNextNotificationToTheNewReceiver: the route's receiver
// changed from a to b and POST /-/reload: b is told of the group at its
// next flush, and of what comes next; a hears nothing more. A key read
// only at start (consumer.batch) is named in a warning, not applied.
func TestReloadSendsTheNextNotificationToTheNewReceiver(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	e := startHosted(t, twoReceivers("a", a.URL, b.URL, ""))
	e.notifyFirst(a)

	code, body := e.reload(twoReceivers("b", a.URL, b.URL, "  consumer: {batch: 100}\n"))
	if code != 200 || !strings.Contains(body, `"applied":["notifier"]`) {
		t.Fatalf("POST /-/reload = %d %s", code, body)
	}
	if !strings.Contains(e.logs.String(), "keys=[consumer]") {
		t.Errorf("no warning names consumer, which applies only at start:\n%s", e.logs)
	}
	e.advance(5*time.Minute, 1)
	got := b.wait(t, 1)
	if got[0].Data.Status != "firing" || len(got[0].Data.Alerts) != 1 || got[0].Data.Alerts[0].Labels["service"] != "checkout" {
		t.Errorf("b's first notification: %s", got[0].Body)
	}
	e.secondAlert(b, 2)
	if n := len(a.all()); n != 1 {
		t.Errorf("receiver a got %d notifications, want only the one before the reload", n)
	}
	if m := e.metric("jetlog_config_last_reload_successful"); m != "jetlog_config_last_reload_successful 1" {
		t.Errorf("metric: %q", m)
	}
}

// TestInvalidReloadKeepsTheOldRouting: a file whose route names a receiver
// that does not exist is refused with its line; the notifier goes on with
// the old routing and the failure shows in the metrics.
func TestInvalidReloadKeepsTheOldRouting(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	e := startHosted(t, twoReceivers("a", a.URL, b.URL, ""))
	e.notifyFirst(a)

	code, body := e.reload(twoReceivers("nobody", a.URL, b.URL, ""))
	if code != 400 || !strings.Contains(body, `jetlog.yaml:5: notifier.route.receiver: \"nobody\" is not a receiver`) {
		t.Fatalf("POST /-/reload with an unknown receiver = %d %s, want 400 naming the line and the key", code, body)
	}
	for name, want := range map[string]string{
		"jetlog_config_last_reload_successful":                "0",
		`jetlog_config_reloads_total{outcome="failure"}`:      "1",
		`jetlog_config_reloads_total{outcome="success"}`:      "0",
		"jetlog_config_last_reload_success_timestamp_seconds": "",
	} {
		if m := e.metric(name); m == "" || (want != "" && m != name+" "+want) {
			t.Errorf("metric %s: %q, want %s", name, m, want)
		}
	}
	e.secondAlert(a, 2)
	if n := len(b.all()); n != 0 {
		t.Errorf("receiver b got %d notifications from a configuration that was refused", n)
	}
}

// TestReloadThatChangesNothingSendsNothingTwice: a reload with no change,
// one that changes nothing for the group (a new receiver and a route for
// other alerts), and a Reload of the same section: no alert already
// notified is notified again before repeat_interval.
func TestReloadThatChangesNothingSendsNothingTwice(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	cfg := twoReceivers("a", a.URL, b.URL, "")
	e := startHosted(t, cfg)
	e.notifyFirst(a)

	if code, body := e.reload(cfg); code != 200 || !strings.Contains(body, `"applied":["notifier"]`) {
		t.Fatalf("a reload without change = %d %s", code, body)
	}
	other := strings.Replace(cfg, "    repeat_interval: 4h\n", "    repeat_interval: 4h\n    routes:\n      - {matchers: ['team=\"db\"'], receiver: b}\n", 1)
	if code, body := e.reload(other); code != 200 || !strings.Contains(body, `"applied":["notifier"]`) {
		t.Fatalf("a reload adding a route = %d %s", code, body)
	}
	section := *host.SectionOf[notifier.Config](e.cfg, "notifier")
	if err := e.n.Reload(context.Background(), &section); err != nil {
		t.Fatal(err)
	}
	for range 12 { // an hour of group intervals
		e.advance(5*time.Minute, 1)
	}
	flushesDone(t, e.env)
	if n, m := len(a.all()), len(b.all()); n != 1 || m != 0 {
		t.Errorf("after reloads that changed nothing for the group: a got %d notifications, b %d; want 1 and 0", n, m)
	}
}

// TestReloadRefusesARepeatTheRunningLogWouldForget: log_retention applies
// only at start, so a reload that raises it with a repeat_interval above
// the running one is refused, and the old routing goes on.
func TestReloadRefusesARepeatTheRunningLogWouldForget(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, webhookConfig(t, rcv.URL, ""))
	cfg := notifier.Defaults()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Retry.Initial, cfg.Retry.Max, cfg.Retry.MaxElapsed = 10*time.Millisecond, 50*time.Millisecond, 2*time.Second
	if err := yaml.Unmarshal([]byte(webhookConfig(t, rcv.URL, "")), &cfg); err != nil {
		t.Fatal(err)
	}
	long := 200 * time.Hour
	cfg.Route.RepeatInterval, cfg.LogRetention = &long, 300*time.Hour
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	err := e.n.Reload(context.Background(), &cfg)
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "log_retention: the running 120h0m0s is not above route {}'s repeat_interval 200h0m0s") {
		t.Fatalf("Reload = %v, want a refusal naming log_retention", err)
	}
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "checkout"}))
	e.held(1, 1)
	e.advance(30*time.Second, 1)
	rcv.wait(t, 1)
}

// TestReloadReadsAnEditedTemplateFile: a template file edited in place,
// with jetlog.yaml unchanged, is read again by the next reload (as
// Alertmanager's): the next notification uses the new text.
func TestReloadReadsAnEditedTemplateFile(t *testing.T) {
	a := newReceiver(t)
	tmpl := filepath.Join(t.TempDir(), "body.tmpl")
	write := func(text string) {
		if err := os.WriteFile(tmpl, []byte(`{{ define "team.body" }}`+text+` {{ len .Alerts }}{{ end }}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("before")
	// Receiver a's webhook sends the template's text as its body.
	cfg := strings.Replace(twoReceivers("a", a.URL, a.URL, fmt.Sprintf("  templates: [%q]\n", tmpl)),
		"allow_cidrs: [127.0.0.0/8]}]", `allow_cidrs: [127.0.0.0/8], body: '{{ template "team.body" . }}'}]`, 1)
	e := startHosted(t, cfg)
	e.notifyFirst(a)
	if got := string(a.all()[0].Body); got != "before 1" {
		t.Fatalf("first notification %q, want the template's text", got)
	}
	write("after")
	if code, body := e.reload(cfg); code != 200 || !strings.Contains(body, `"applied":["notifier"]`) {
		t.Fatalf("POST /-/reload = %d %s", code, body)
	}
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "cart"}))
	e.held(1, 2)
	e.advance(5*time.Minute, 1)
	if got := a.wait(t, 2); string(got[1].Body) != "after 2" {
		t.Errorf("notification after the reload %q, want the edited template's text", got[1].Body)
	}
}
