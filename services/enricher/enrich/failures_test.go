package enrich_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/enrich"
)

// TestStageFailuresAreCountedByWhatBecameOfTheEvent: an event kept after a
// failed stage is published and counted as failed_kept, so an operator
// sees the failure rate without the DLQ; under on_error: dlq it is
// poison, counted as failed.
func TestStageFailuresAreCountedByWhatBecameOfTheEvent(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"kept.yaml": "name: kept\nmatch: {sources: [kept]}\nstages: [{grok: {patterns: ['%{IP:client}']}}]\n",
		"dlq.yaml":  "name: dlq\nmatch: {sources: [dlq]}\non_error: dlq\nstages: [{grok: {patterns: ['%{IP:client}']}}]\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := enrich.Defaults()
	cfg.PipelinesDir = dir
	reg := prometheus.NewRegistry()
	e, err := enrich.New(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Handle(context.Background(), &event.Event{ID: "1", Source: "kept", Body: "no address here"})
	if err != nil || len(out) != 1 || !slices.Contains(out[0].Tags, "_grokparsefailure") {
		t.Fatalf("kept: %v, %v; want the event, tagged", out, err)
	}
	if _, err := e.Handle(context.Background(), &event.Event{ID: "2", Source: "dlq", Body: "no address here"}); !worker.IsPermanent(err) {
		t.Fatalf("dlq: %v, want a permanent error", err)
	}
	for _, c := range []struct{ pipeline, outcome string }{{"kept", "failed_kept"}, {"dlq", "failed"}} {
		if n := metricValue(t, reg, "jetlog_enricher_pipeline_events_total", map[string]string{"pipeline": c.pipeline, "outcome": c.outcome}); n != 1 {
			t.Errorf("pipeline %s, outcome %s: %v events, want 1", c.pipeline, c.outcome, n)
		}
	}
}

// metricValue reads the counter or gauge name with exactly these labels,
// 0 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
