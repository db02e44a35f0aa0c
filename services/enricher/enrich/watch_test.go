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

// watching starts an enricher over dir, runs between (if given) once it
// has loaded the pipelines, and starts its watch, until the test ends.
func watching(t *testing.T, dir string, between ...func()) (*enrich.Enricher, *prometheus.Registry) {
	t.Helper()
	cfg := enrich.Defaults()
	cfg.PipelinesDir = dir
	reg := prometheus.NewRegistry()
	e, err := enrich.New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range between {
		f()
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
// rename (as editors and config tools save), deleted, swapped by kubelet
// in a ConfigMap volume, or changed while the enricher was starting; and it
// keeps the running pipelines when a change does not compile.
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
	t.Run("kubernetes configmap", func(t *testing.T) {
		dir := t.TempDir()
		cm := configMap{t: t, dir: dir}
		cm.update(map[string]string{"web.yaml": pipelineFile("web", "v1")})
		e, _ := watching(t, dir)
		cm.update(map[string]string{"web.yaml": pipelineFile("web", "v2")})
		waitDataset(t, e, "web", "v2")
		cm.update(map[string]string{"web.yaml": pipelineFile("web", "v2"), "api.yaml": pipelineFile("api", "v1")})
		waitDataset(t, e, "api", "v1")
		cm.update(map[string]string{"api.yaml": pipelineFile("api", "v1")})
		waitDataset(t, e, "web", "none")
	})
	t.Run("between the load and the watch", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v1"))
		e, _ := watching(t, dir, func() { write(t, filepath.Join(dir, "web.yaml"), pipelineFile("web", "v2")) })
		waitDataset(t, e, "web", "v2")
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

// configMap lays a directory out as kubelet does for a ConfigMap volume
// (its AtomicWriter): the files live in a timestamped directory, ..data is
// a symlink to it, and each file name is a symlink to ..data/<name>. An
// update writes a new timestamped directory, points ..data_tmp at it and
// renames that over ..data (one atomic switch), then removes the old
// directory and the links of files that went away.
type configMap struct {
	t   *testing.T
	dir string
	gen int
	cur string // the timestamped directory ..data points at
}

func (c *configMap) update(files map[string]string) {
	t := c.t
	t.Helper()
	c.gen++
	ts := fmt.Sprintf("..2026_11_30_13_08_%02d.%09d", c.gen, c.gen)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		write(t, filepath.Join(c.dir, ts, name), body)
	}
	if err := os.Symlink(ts, filepath.Join(c.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(c.dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if _, kept := files[en.Name()]; !kept && en.Type()&os.ModeSymlink != 0 && en.Name() != "..data" {
			if err := os.Remove(filepath.Join(c.dir, en.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.cur != "" {
		if err := os.RemoveAll(filepath.Join(c.dir, c.cur)); err != nil {
			t.Fatal(err)
		}
	}
	c.cur = ts
}
