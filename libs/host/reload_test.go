package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
)

// reloadable is a probe that records the sections it is given by reloads.
type reloadable struct {
	*probe
	fail    error // returned by Reload, when set
	started chan struct{}

	mu   sync.Mutex
	cfgs []probeConfig
}

func (r *reloadable) Start(ctx context.Context) error {
	if r.started != nil {
		close(r.started)
	}
	return r.probe.Start(ctx)
}

func (r *reloadable) Reload(_ context.Context, cfg *probeConfig) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.cfgs = append(r.cfgs, *cfg)
	return nil
}

func (r *reloadable) reloads() []probeConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cfgs)
}

var _ component.Reloader[probeConfig] = (*reloadable)(nil)

// reloadableSpec is a component that can reload; r receives it.
func reloadableSpec(j *journal, name string, r *reloadable) component.Spec[probeConfig] {
	return component.Spec[probeConfig]{
		Name: name, Kind: component.KindServer,
		Defaults: func() probeConfig { return probeConfig{Greeting: "hello", Limit: 1} },
		New: func(context.Context, *component.Env, *probeConfig) (component.Component, error) {
			r.probe = &probe{name: name, j: j}
			return r, nil
		},
	}
}

// reloadHost runs a host with a reloadable alpha, a beta that cannot
// reload and a reloadable gamma, on the file body.
func reloadHost(t *testing.T, body string) (h *host.Host, cfg *host.Config, file string, alpha, gamma *reloadable, logs *testkit.LogBuffer) {
	t.Helper()
	j := &journal{}
	alpha, gamma = &reloadable{}, &reloadable{}
	opts := host.Options{Name: "test", Factories: []component.Factory{
		reloadableSpec(j, "alpha", alpha), probeSpec(j, "beta", nil, nil, nil, nil), reloadableSpec(j, "gamma", gamma)}}
	n := testkit.StartNATS(t)
	file = writeFile(t, body)
	cfg = host.NewConfig(opts)
	if err := cfg.Load(config.Source{File: file, Set: []string{"nats.url=" + n.URL, "admin.listen=127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	logs = &testkit.LogBuffer{}
	return hosttest.StartLogging(t, cfg, logs), cfg, file, alpha, gamma, logs
}

func rewrite(t *testing.T, file, body string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// postReload asks the admin endpoint for a reload.
func postReload(t *testing.T, h *host.Host) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+h.AdminAddr()+host.ReloadPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("POST %s: %d, body not JSON: %v", host.ReloadPath, resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// scrape returns /metrics, checked by promtool.
func scrape(t *testing.T, h *host.Host) string {
	t.Helper()
	resp, err := http.Get("http://" + h.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed; run `make deps` (Debian package prometheus)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	return string(body)
}

func reloadCounts(t *testing.T, h *host.Host) (successful, success, failure float64) {
	t.Helper()
	mfs, err := h.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "jetlog_config_last_reload_successful":
				successful = m.GetGauge().GetValue()
			case "jetlog_config_reloads_total":
				if m.GetLabel()[0].GetValue() == "success" {
					success = m.GetCounter().GetValue()
				} else {
					failure = m.GetCounter().GetValue()
				}
			}
		}
	}
	return successful, success, failure
}

const reloadV1 = "log: {level: info}\nalpha:\n  greeting: one\nbeta:\n  limit: 1\n"

// TestReloadAppliesChangedSectionsOverHTTP: POST /-/reload reads the file
// again; the component whose section changed gets it, one that cannot
// reload and a changed host key are reported as needing a restart and
// not applied, and a component that can reload gets its section even when
// unchanged (the files it names are read again, as Alertmanager does).
func TestReloadAppliesChangedSectionsOverHTTP(t *testing.T) {
	h, cfg, file, alpha, gamma, logs := reloadHost(t, reloadV1)
	if ok, succ, fail := reloadCounts(t, h); ok != 1 || succ != 0 || fail != 0 {
		t.Errorf("after start: last_reload_successful %v, reloads success %v failure %v; want 1, 0, 0", ok, succ, fail)
	}
	resp, err := http.Get("http://" + h.AdminAddr() + host.ReloadPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %d, want 405", host.ReloadPath, resp.StatusCode)
	}

	rewrite(t, file, "log: {level: debug}\nalpha:\n  greeting: two\nbeta:\n  limit: 2\n")
	code, body := postReload(t, h)
	if code != 200 || toJSON(body["applied"]) != `["alpha","gamma"]` || toJSON(body["restart_needed"]) != `["log","beta"]` {
		t.Fatalf("POST %s = %d %v, want 200 applying alpha and gamma, beta and log needing a restart", host.ReloadPath, code, body)
	}
	if got := alpha.reloads(); len(got) != 1 || got[0] != (probeConfig{Greeting: "two", Limit: 1}) {
		t.Errorf("alpha reloaded with %+v, want one reload with greeting two", got)
	}
	if got := gamma.reloads(); len(got) != 1 || got[0] != *host.SectionOf[probeConfig](cfg, "gamma") {
		t.Errorf("gamma reloaded with %+v, want one reload with its unchanged section", got)
	}
	if got := host.SectionOf[probeConfig](cfg, "alpha").Greeting; got != "two" {
		t.Errorf("alpha's section is %q after the reload, want two", got)
	}
	if got := host.SectionOf[probeConfig](cfg, "beta").Limit; got != 1 {
		t.Errorf("beta cannot reload, yet its section is %d, want the running 1", got)
	}
	if cfg.Log.Level != "info" {
		t.Errorf("log.level %q applied without a restart", cfg.Log.Level)
	}
	for _, want := range []string{`component=beta`, `key=log`, "restart to apply it"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	metrics := scrape(t, h)
	for _, want := range []string{"jetlog_config_last_reload_successful 1", `jetlog_config_reloads_total{outcome="success"} 1`,
		`jetlog_config_reloads_total{outcome="failure"} 0`, "jetlog_config_last_reload_success_timestamp_seconds "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Nothing changed since: the components that can reload read their
	// files again; what still waits for a restart is said again.
	if code, body := postReload(t, h); code != 200 || toJSON(body["applied"]) != `["alpha","gamma"]` || toJSON(body["restart_needed"]) != `["log","beta"]` {
		t.Errorf("a reload without change = %d %v", code, body)
	}
	if got := alpha.reloads(); len(got) != 2 || got[1] != (probeConfig{Greeting: "two", Limit: 1}) {
		t.Errorf("alpha reloaded with %+v, want its running section again", got)
	}
}

// TestInvalidReloadKeepsTheRunningConfiguration: an invalid file is
// refused with its line and key, nothing is applied, and the metrics say
// so until a valid reload.
func TestInvalidReloadKeepsTheRunningConfiguration(t *testing.T) {
	h, cfg, file, alpha, _, logs := reloadHost(t, reloadV1)
	rewrite(t, file, "log: {level: info}\nalpha:\n  greeting: two\n  limit: 0\n")
	code, body := postReload(t, h)
	msg, _ := body["error"].(string)
	if code != http.StatusBadRequest || !strings.Contains(msg, "jetlog.yaml:4: alpha.limit: 0 is below 1") {
		t.Fatalf("POST %s with an invalid file = %d %v, want 400 naming the line and the key", host.ReloadPath, code, body)
	}
	if got := alpha.reloads(); len(got) != 0 {
		t.Errorf("an invalid configuration reached alpha: %+v", got)
	}
	if got := host.SectionOf[probeConfig](cfg, "alpha").Greeting; got != "one" {
		t.Errorf("alpha's section is %q after a failed reload, want one", got)
	}
	if !strings.Contains(logs.String(), "configuration reload failed; running on the previous configuration") ||
		!strings.Contains(logs.String(), "alpha.limit: 0 is below 1") {
		t.Errorf("logs do not say the reload failed and why:\n%s", logs)
	}
	if ok, succ, fail := reloadCounts(t, h); ok != 0 || succ != 0 || fail != 1 {
		t.Errorf("last_reload_successful %v, reloads success %v failure %v; want 0, 0, 1", ok, succ, fail)
	}

	// A component that fails to apply its section: 500, and the section is not taken.
	alpha.mu.Lock()
	alpha.fail = errors.New("cannot compile the new rules")
	alpha.mu.Unlock()
	rewrite(t, file, "log: {level: info}\nalpha:\n  greeting: three\n")
	if code, body := postReload(t, h); code != 500 || !strings.Contains(toJSON(body), "reload alpha: cannot compile the new rules") {
		t.Errorf("a failing component Reload = %d %v, want 500 naming it", code, body)
	}
	if got := host.SectionOf[probeConfig](cfg, "alpha").Greeting; got != "one" {
		t.Errorf("alpha's section is %q after its Reload failed, want one", got)
	}

	alpha.mu.Lock()
	alpha.fail = nil
	alpha.mu.Unlock()
	if code, body := postReload(t, h); code != 200 {
		t.Fatalf("a valid reload = %d %v", code, body)
	}
	if ok, succ, fail := reloadCounts(t, h); ok != 1 || succ != 1 || fail != 2 {
		t.Errorf("last_reload_successful %v, reloads success %v failure %v; want 1, 1, 2", ok, succ, fail)
	}
}

// TestReloadOnlyWhileRunning: a reload while the host starts, or after it
// stopped, is refused cleanly.
func TestReloadOnlyWhileRunning(t *testing.T) {
	b, opts := slowProgram()
	n := testkit.StartNATS(t)
	cfg := host.NewConfig(opts)
	if err := cfg.Load(config.Source{Set: []string{"nats.url=" + n.URL, "admin.enabled=false"}}); err != nil {
		t.Fatal(err)
	}
	h, err := host.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Reload(context.Background()); !errors.Is(err, host.ErrNotRunning) {
		t.Errorf("Reload before Start = %v, want ErrNotRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error)
	go func() { started <- h.Start(ctx) }()
	<-b.entered
	if _, err := h.Reload(context.Background()); !errors.Is(err, host.ErrNotRunning) || !strings.Contains(err.Error(), "starting") {
		t.Errorf("Reload during Start = %v, want ErrNotRunning (starting)", err)
	}
	cancel()
	<-started
	_ = h.Stop(context.Background())
	if _, err := h.Reload(context.Background()); !errors.Is(err, host.ErrNotRunning) {
		t.Errorf("Reload after Stop = %v, want ErrNotRunning", err)
	}
}

// TestSIGHUPReloads sends the process a real SIGHUP while a host runs in
// it: the component gets its changed section. Another SIGHUP while a
// component still starts is refused, and does not end the process.
func TestSIGHUPReloads(t *testing.T) {
	j := &journal{}
	alpha := &reloadable{started: make(chan struct{})}
	opts := host.Options{Name: "probe", Factories: []component.Factory{reloadableSpec(j, "alpha", alpha)}}
	n := testkit.StartNATS(t)
	file := writeFile(t, "alpha:\n  greeting: one\n")
	stderr := &testkit.LogBuffer{}
	exit := make(chan int)
	go func() {
		exit <- host.Command(opts, []string{"-config", file, "-set", "nats.url=" + n.URL, "-set", "admin.enabled=false"}, io.Discard, stderr)
	}()
	<-alpha.started // SIGHUP is caught from before the start
	rewrite(t, file, "alpha:\n  greeting: two\n")
	// The host runs once Start returns, just after the component started:
	// until then a SIGHUP is refused, so send it until it is taken.
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		if len(alpha.reloads()) > 0 {
			return true, ""
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return false, "no reload after SIGHUP:\n" + stderr.String()
	})
	if got := alpha.reloads(); got[0].Greeting != "two" {
		t.Errorf("alpha reloaded with %+v, want greeting two", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "configuration reloaded") {
		t.Errorf("the reload is not logged:\n%s", stderr)
	}
}

// TestSIGHUPDuringStartIsRefused: a SIGHUP while a component is still
// starting is logged as refused; the process goes on and stops cleanly.
func TestSIGHUPDuringStartIsRefused(t *testing.T) {
	b, opts := slowProgram()
	n := testkit.StartNATS(t)
	stderr := &testkit.LogBuffer{}
	exit := make(chan int)
	go func() {
		exit <- host.Command(opts, []string{"-set", "nats.url=" + n.URL, "-set", "admin.enabled=false"}, io.Discard, stderr)
	}()
	<-b.entered
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		return strings.Contains(stderr.String(), "configuration reload refused: the host is starting"), "no refusal logged:\n" + stderr.String()
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, stderr)
	}
}

// stuckReload is a component whose Reload waits for its context.
type stuckReload struct {
	*probe
	entered chan struct{}
}

func (s *stuckReload) Reload(ctx context.Context, _ *probeConfig) error {
	close(s.entered)
	<-ctx.Done()
	s.j.add("reload canceled")
	return ctx.Err()
}

// TestStopCancelsAndWaitsForAReload: Stop during a reload cancels it and
// stops the components only once it has returned.
func TestStopCancelsAndWaitsForAReload(t *testing.T) {
	j := &journal{}
	s := &stuckReload{entered: make(chan struct{})}
	opts := host.Options{Name: "test", Factories: []component.Factory{component.Spec[probeConfig]{
		Name: "alpha", Kind: component.KindServer,
		Defaults: func() probeConfig { return probeConfig{Greeting: "hello", Limit: 1} },
		New: func(context.Context, *component.Env, *probeConfig) (component.Component, error) {
			s.probe = &probe{name: "alpha", j: j}
			return s, nil
		},
	}}}
	n := testkit.StartNATS(t)
	file := writeFile(t, "alpha: {greeting: one}\n")
	cfg := host.NewConfig(opts)
	if err := cfg.Load(config.Source{File: file, Set: []string{"nats.url=" + n.URL, "admin.enabled=false"}}); err != nil {
		t.Fatal(err)
	}
	h := hosttest.Start(t, cfg)
	rewrite(t, file, "alpha: {greeting: two}\n")
	reloaded := make(chan error)
	go func() { _, err := h.Reload(context.Background()); reloaded <- err }()
	<-s.entered
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; !errors.Is(err, context.Canceled) {
		t.Errorf("the reload Stop cut short returned %v, want context.Canceled", err)
	}
	if got, want := j.all(), []string{"start alpha", "reload canceled", "stop alpha"}; !slices.Equal(got, want) {
		t.Errorf("lifecycle %q, want %q", got, want)
	}
}
