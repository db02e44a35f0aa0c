package enrich_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/enricher/enrich"
)

// pipelineFile is a pipeline for source that sets the dataset to version.
func pipelineFile(source, version string) string {
	return fmt.Sprintf("name: %s\nmatch: {sources: [%s]}\nstages: [{set: {field: dataset, value: %s}}]\n", source, source, version)
}

// watching starts an enricher over dir and its watch, until the test ends.
func watching(t *testing.T, dir string) (*enrich.Enricher, *prometheus.Registry) {
	t.Helper()
	cfg := enrich.Defaults()
	cfg.PipelinesDir = dir
	reg := prometheus.NewRegistry()
	e, err := enrich.New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop, err := e.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return e, reg
}

// datasetOf is what the running pipelines make of an event from source:
// its dataset, or "none" when no pipeline takes it.
func datasetOf(e *enrich.Enricher, source string) string {
	ev := &event.Event{ID: "x", Source: source, Body: "x"}
	p := e.Pipelines().Select(ev)
	if p == nil {
		return "none"
	}
	if err := p.Process(ev); err != nil {
		return err.Error()
	}
	return ev.Dataset
}

// waitDataset waits until the enricher makes want of source's events.
func waitDataset(t *testing.T, e *enrich.Enricher, source, want string) {
	t.Helper()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		got := datasetOf(e, source)
		return got == want, fmt.Sprintf("source %s: dataset %s, want %s", source, got, want)
	})
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadOnEveryWayAFileChanges: the enricher takes a change to its
// pipelines however the file was changed: written in place, replaced by
// rename (as editors and config tools save) or deleted; and it keeps the
// running pipelines when a change does not compile.
func TestReloadOnEveryWayAFileChanges(t *testing.T) {
	t.Run("in place", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v1"))
		e, _ := watching(t, dir)
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v2"))
		waitDataset(t, e, "web", "v2")
	})
	t.Run("rename over", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v1"))
		e, _ := watching(t, dir)
		write(t, filepath.Join(dir, ".web.yaml.swp"), pipelineFile("web", "v2"))
		if err := os.Rename(filepath.Join(dir, ".web.yaml.swp"), filepath.Join(dir, "web.yaml")); err != nil {
			t.Fatal(err)
		}
		waitDataset(t, e, "web", "v2")
	})
	t.Run("deleted", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v1"))
		write(t, filepath.Join(dir, "api.yaml"), pipelineFile("api", "v1"))
		e, _ := watching(t, dir)
		if err := os.Remove(filepath.Join(dir, "api.yaml")); err != nil {
			t.Fatal(err)
		}
		waitDataset(t, e, "api", "none")
		if got := datasetOf(e, "web"); got != "v1" {
			t.Errorf("web: dataset %s, want v1", got)
		}
	})
	t.Run("invalid keeps the last good set", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v1"))
		e, reg := watching(t, dir)
		write(t, filepath.Join(dir, "web.yaml"), "name: web\nstages: [{grok: {patterns: ['%{NOPE}']}}]\n")
		testkit.Poll(t, 30*time.Second, func() (bool, string) {
			n := metricValue(t, reg, "jetlog_enricher_pipeline_reloads_total", map[string]string{"result": "failure"})
			return n >= 1, fmt.Sprintf("%v refused reloads, want 1", n)
		})
		if ok := metricValue(t, reg, "jetlog_enricher_pipeline_config_last_reload_successful", map[string]string{}); ok != 0 {
			t.Errorf("last reload successful = %v after a broken change, want 0", ok)
		}
		if got := datasetOf(e, "web"); got != "v1" {
			t.Errorf("after a broken change: dataset %s, want v1 (the last good pipelines)", got)
		}
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v2"))
		waitDataset(t, e, "web", "v2")
	})
}
