// Package componenttest is the conformance suite every jetlog component
// passes, whatever its kind: its defaults are valid, its lifecycle keeps the
// contract of package component (Stop without Start, Stop twice), it runs in
// a host on its own and becomes ready, and the streams it declares it
// writes exist once it runs. Stream consumers also pass package
// workertest, which checks delivery guarantees.
package componenttest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// Case describes the component under test.
type Case struct {
	// Factory declares the component.
	Factory component.Factory
	// Configure adjusts the component's configuration (a pointer from
	// Factory.NewConfig) for a test: free ports, temporary directories,
	// unique index names. It may be nil.
	Configure func(t *testing.T, cfg any)
	// OpenSearch gives the component the test OpenSearch node (the hosted
	// run always points the opensearch section at it).
	OpenSearch bool
}

// Run runs the suite.
func Run(t *testing.T, c Case) {
	name := c.Factory.Info().Name
	t.Run("InfoAndDefaultsAreValid", func(t *testing.T) {
		if err := c.Factory.Info().Validate(); err != nil {
			t.Fatal(err)
		}
		cfg := c.config(t)
		if v, ok := cfg.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				t.Fatalf("defaults of %s are invalid: %v", name, err)
			}
		}
	})
	t.Run("StopWithoutStart", func(t *testing.T) {
		comp := c.build(t, testkit.StartNATS(t))
		for i := range 2 {
			if err := comp.Stop(context.Background()); err != nil {
				t.Fatalf("Stop #%d without Start: %v", i+1, err)
			}
		}
	})
	t.Run("StartThenStopTwice", func(t *testing.T) {
		comp := c.build(t, testkit.StartNATS(t))
		if err := comp.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		for i := range 2 {
			if err := comp.Stop(context.Background()); err != nil {
				t.Fatalf("Stop #%d: %v", i+1, err)
			}
		}
	})
	t.Run("RunsAloneInAHostAndBecomesReady", func(t *testing.T) {
		n := testkit.StartNATS(t)
		opts := host.Options{Name: name, Factories: []component.Factory{c.Factory}}
		cfg := host.NewConfig(opts)
		if c.Configure != nil {
			c.Configure(t, cfg.Section(name))
		}
		if err := cfg.Load(config.Source{Set: []string{"nats.url=" + n.URL, "admin.listen=127.0.0.1:0",
			"opensearch.urls=[" + testkit.OpenSearchURL() + "]"}}); err != nil {
			t.Fatal(err)
		}
		h := hosttest.Start(t, cfg)
		testkit.Poll(t, time.Minute, func() (bool, string) {
			resp, err := http.Get("http://" + h.AdminAddr() + "/readyz/" + name)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode == http.StatusOK, "/readyz/" + name + ": " + toJSON(body)
		})
		for _, s := range c.Factory.Requires(cfg.Section(name)).Writes {
			if _, err := n.JS.Stream(context.Background(), s); err != nil {
				t.Errorf("%s declares it writes to %s, which does not exist: %v", name, s, err)
			}
		}
		if err := h.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

func (c Case) config(t *testing.T) any {
	cfg := c.Factory.NewConfig()
	if c.Configure != nil {
		c.Configure(t, cfg)
	}
	return cfg
}

// build makes the component with an Env over n, as its host would.
func (c Case) build(t *testing.T, n *testkit.NATS) component.Component {
	t.Helper()
	name := c.Factory.Info().Name
	var os func(context.Context) (*opensearchapi.Client, error)
	if c.OpenSearch {
		os = func(context.Context) (*opensearchapi.Client, error) { return testkit.OpenSearch(t), nil }
	}
	env := component.NewEnv(name, n.NC, n.JS, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, topology.Defaults(), os)
	comp, err := c.Factory.Build(context.Background(), env, c.config(t))
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return comp
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
