package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/testkit"
)

// probeConfig is the configuration of the test components.
type probeConfig struct {
	Greeting string `yaml:"greeting"`
	Limit    int    `yaml:"limit"`
}

func (c *probeConfig) Validate() error {
	var errs config.Errors
	if c.Limit < 1 {
		errs.Addf("limit", "%d is below 1", c.Limit)
	}
	return errs.Err()
}

// journal records lifecycle calls in order, across components.
type journal struct {
	mu  sync.Mutex
	log []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.log = append(j.log, s)
}

func (j *journal) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.log)
}

type probe struct {
	name     string
	j        *journal
	startErr error
	stopped  bool
}

func (p *probe) Start(context.Context) error {
	p.j.add("start " + p.name)
	return p.startErr
}

func (p *probe) Stop(context.Context) error {
	if !p.stopped {
		p.j.add("stop " + p.name)
	}
	p.stopped = true
	return nil
}

// probeSpec is a component that reads and writes the given streams.
func probeSpec(j *journal, name string, reads, writes []string, check error, startErr error) component.Spec[probeConfig] {
	return component.Spec[probeConfig]{
		Name: name, Kind: component.KindServer,
		Defaults: func() probeConfig { return probeConfig{Greeting: "hello", Limit: 1} },
		Needs: func(*probeConfig) component.Needs {
			return component.Needs{Reads: reads, Writes: writes,
				Streams: []jetstream.StreamConfig{{Name: strings.ToUpper(name) + "_OUT", Subjects: []string{name + ".out.>"}}}}
		},
		New: func(_ context.Context, env *component.Env, _ *probeConfig) (component.Component, error) {
			env.AddCheck("dependency", func(context.Context) error { return check })
			return &probe{name: name, j: j, startErr: startErr}, nil
		},
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jetlog.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOneKeyHasOneNameInFileEnvAndFlags(t *testing.T) {
	j := &journal{}
	opts := host.Options{Factories: []component.Factory{probeSpec(j, "alpha", nil, nil, nil, nil), probeSpec(j, "beta", nil, nil, nil, nil)}}
	file := writeFile(t, "alpha:\n  greeting: from-file\n  limit: 3\nbeta:\n  limit: 4\n")
	for _, tc := range []struct {
		name      string
		env, sets []string
		want      probeConfig
	}{
		{"file", nil, nil, probeConfig{Greeting: "from-file", Limit: 3}},
		{"env over file", []string{"JETLOG_ALPHA__LIMIT=9"}, nil, probeConfig{Greeting: "from-file", Limit: 9}},
		{"flag over env", []string{"JETLOG_ALPHA__LIMIT=9"}, []string{"alpha.limit=12"}, probeConfig{Greeting: "from-file", Limit: 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := host.NewConfig(opts)
			if err := cfg.Load(config.Source{File: file, EnvPrefix: "JETLOG_", Environ: tc.env, Set: tc.sets}); err != nil {
				t.Fatal(err)
			}
			if got := *host.SectionOf[probeConfig](cfg, "alpha"); got != tc.want {
				t.Errorf("alpha = %+v, want %+v", got, tc.want)
			}
			if got := host.SectionOf[probeConfig](cfg, "beta").Limit; got != 4 {
				t.Errorf("beta.limit = %d, want 4", got)
			}
		})
	}
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	j := &journal{}
	opts := host.Options{Factories: []component.Factory{probeSpec(j, "alpha", nil, nil, nil, nil)}}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key in a section", "alpha:\n  greeting: x\n  limt: 3\n", []string{"jetlog.yaml:3", "limt"}},
		{"unknown section", "alpah:\n  limit: 3\n", []string{"jetlog.yaml:1", "alpah"}},
		{"validation of a section and of the host", "shutdown_timeout: 0s\nalpha:\n  limit: 0\n",
			[]string{"jetlog.yaml:3: alpha.limit: 0 is below 1", "jetlog.yaml:1: shutdown_timeout: must be > 0"}},
		{"not a component of this program", "components: [alpha, gamma]\n", []string{`components[1]: "gamma" is not a component`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := host.NewConfig(opts).Load(config.Source{File: writeFile(t, tc.body)})
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A process that runs only the indexer reads the same file as the
// all-in-one: sections of jetlog's other components are accepted unchecked.
func TestSectionsOfComponentsNotRunHereAreAccepted(t *testing.T) {
	j := &journal{}
	opts := host.Options{Factories: []component.Factory{probeSpec(j, "alpha", nil, nil, nil, nil)}}
	cfg := host.NewConfig(opts)
	err := cfg.Load(config.Source{File: writeFile(t, "gateway:\n  http: {listen: 0.0.0.0:9880}\nalpha: {limit: 2}\n"),
		EnvPrefix: "JETLOG_", Environ: []string{"JETLOG_ENRICHER__CONSUMER__BATCH=5"}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOnlyRunsTheChosenComponentsAndValidatesOnlyThem(t *testing.T) {
	j := &journal{}
	bad := component.Spec[probeConfig]{Name: "broken", Defaults: func() probeConfig { return probeConfig{} },
		New: func(context.Context, *component.Env, *probeConfig) (component.Component, error) {
			return nil, errors.New("never built")
		}}
	opts := host.Options{Factories: []component.Factory{probeSpec(j, "alpha", nil, nil, nil, nil), bad}}
	cfg := host.NewConfig(opts)
	if err := cfg.Load(config.Source{}); err == nil || !strings.Contains(err.Error(), "broken.limit") {
		t.Fatalf("all components run by default, so broken's section is checked: err = %v", err)
	}
	cfg = host.NewConfig(opts)
	if err := cfg.Load(config.Source{Set: []string{"components=[alpha]"}}); err != nil {
		t.Fatalf("with components=[alpha] the broken section is not checked: %v", err)
	}
	n := testkit.StartNATS(t)
	cfg.NATS.URL = n.URL
	cfg.Admin.Enabled = false
	h, err := host.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Stop(context.Background())
	if h.Component("broken") != nil || h.Component("alpha") == nil {
		t.Errorf("components running: alpha=%v broken=%v", h.Component("alpha"), h.Component("broken"))
	}
}

// Readers start before writers (downstream first), the front door stops
// first, each component's streams exist before it starts, and /readyz
// reports per component.
func TestLifecycleOrderStreamsAndReadiness(t *testing.T) {
	j := &journal{}
	down := errors.New("opensearch unreachable")
	opts := host.Options{Name: "test", Factories: []component.Factory{
		probeSpec(j, "front", nil, []string{"RAW"}, nil, nil),
		probeSpec(j, "middle", []string{"RAW"}, []string{"MID"}, nil, nil),
		probeSpec(j, "sink", []string{"MID"}, nil, down, nil),
	}}
	n := testkit.StartNATS(t)
	cfg := host.NewConfig(opts)
	if err := cfg.Load(config.Source{Set: []string{"nats.url=" + n.URL, "admin.listen=127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	h, err := host.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	h, _ = host.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"FRONT_OUT", "MIDDLE_OUT", "SINK_OUT"} {
		if _, err := n.JS.Stream(context.Background(), s); err != nil {
			t.Errorf("stream %s declared by a component does not exist: %v", s, err)
		}
	}
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get("http://" + h.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(strings.ReplaceAll(toJSON(body), `\"`, `"`), "opensearch unreachable") {
		t.Errorf("/readyz = %d %v, want 503 naming the sink's failing check", code, body)
	}
	if code, body := get("/readyz/front"); code != 200 {
		t.Errorf("/readyz/front = %d %v, want 200: the sink's dependency is not the front's", code, body)
	}
	if code, body := get("/readyz/sink"); code != 503 || body["checks"].(map[string]any)["sink/dependency"] != "opensearch unreachable" {
		t.Errorf("/readyz/sink = %d %v", code, body)
	}
	if code, _ := get("/readyz/nope"); code != 404 {
		t.Errorf("/readyz/nope = %d, want 404", code)
	}
	for i := range 2 {
		if err := h.Stop(context.Background()); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	want := []string{"start sink", "start middle", "start front", "stop front", "stop middle", "stop sink"}
	if got := j.all(); !slices.Equal(got, want) {
		t.Errorf("lifecycle = %q, want %q", got, want)
	}
}

func TestAFailedStartStopsWhatStarted(t *testing.T) {
	j := &journal{}
	opts := host.Options{Factories: []component.Factory{
		probeSpec(j, "front", nil, []string{"RAW"}, nil, errors.New("port in use")),
		probeSpec(j, "sink", []string{"RAW"}, nil, nil, nil),
	}}
	n := testkit.StartNATS(t)
	cfg := host.NewConfig(opts)
	if err := cfg.Load(config.Source{Set: []string{"nats.url=" + n.URL, "admin.enabled=false"}}); err != nil {
		t.Fatal(err)
	}
	h, _ := host.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := h.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start front: port in use") {
		t.Fatalf("Start = %v", err)
	}
	want := []string{"start sink", "start front", "stop front", "stop sink"}
	if got := j.all(); !slices.Equal(got, want) {
		t.Errorf("lifecycle = %q, want %q", got, want)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRuntimeSettingsAreValidated(t *testing.T) {
	opts := host.Options{Factories: []component.Factory{probeSpec(&journal{}, "alpha", nil, nil, nil, nil)}}
	for body, want := range map[string]string{
		"runtime: {gc_percent: -1}\n":                                 "runtime.gc_percent: -1 turns the collector off",
		"runtime: {memory_limit_bytes: 1000}\n":                       "runtime.memory_limit_bytes: 1000",
		"runtime: {memory_limit_bytes: 268435456, gc_percent: -1}\n":  "",
		"runtime: {memory_limit_bytes: 268435456, gc_percent: 400}\n": "",
	} {
		err := host.NewConfig(opts).Load(config.Source{File: writeFile(t, body)})
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}

// blocker is a component whose Start waits for its context, as a start that
// is still connecting or creating a consumer when the operator stops it.
type blocker struct{ entered chan struct{} }

func (b *blocker) Start(ctx context.Context) error {
	close(b.entered)
	<-ctx.Done()
	return fmt.Errorf("ensure consumer: %w", ctx.Err())
}

func (b *blocker) Stop(context.Context) error { return nil }

// slowProgram is a program with one component, "slow", whose Start blocks
// until its context ends.
func slowProgram() (*blocker, host.Options) {
	b := &blocker{entered: make(chan struct{})}
	return b, host.Options{Name: "probe", Factories: []component.Factory{component.Spec[probeConfig]{
		Name: "slow", Kind: component.KindServer,
		Defaults: func() probeConfig { return probeConfig{Limit: 1} },
		New: func(context.Context, *component.Env, *probeConfig) (component.Component, error) {
			return b, nil
		},
	}}}
}

// TestASignalDuringStartIsACleanStop: SIGTERM while a component is still
// starting (Kubernetes stopping a pod that has not become ready) exits 0,
// not as a failed start.
func TestASignalDuringStartIsACleanStop(t *testing.T) {
	b, opts := slowProgram()
	n := testkit.StartNATS(t)
	go func() {
		<-b.entered
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
	var stderr strings.Builder
	code := host.Command(opts, []string{"-set", "nats.url=" + n.URL, "-set", "admin.enabled=false"}, io.Discard, &stderr)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM during start, want 0\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "start failed") {
		t.Errorf("a stop during start was logged as a failure:\n%s", stderr.String())
	}
}
