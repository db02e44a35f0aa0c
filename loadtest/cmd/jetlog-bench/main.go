// Command jetlog-bench runs jetlog's measurements and writes their figures,
// each as a ratio against a baseline measured in the same run, to
// loadtest/results/.
//
//	go run ./loadtest/cmd/jetlog-bench -scenario pipeline -events 200000
//	go run ./loadtest/cmd/jetlog-bench -scenario gateway -records 500000
//	go run ./loadtest/cmd/jetlog-bench -scenario alerter -seconds 20
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/jetlog/jetlog/loadtest/bench"
)

func main() {
	scenario := flag.String("scenario", "pipeline", "pipeline (indexing and enricher), gateway, or alerter")
	events := flag.Int("events", 200000, "pipeline: events to push through")
	records := flag.Int("records", 500000, "gateway: records to send")
	seconds := flag.Int("seconds", 20, "alerter: how long the latency run lasts")
	costEvents := flag.Int("cost-events", 100000, "alerter: events per rule count in the CPU run")
	osURL := flag.String("opensearch", "http://127.0.0.1:9200", "OpenSearch node to measure against")
	repo := flag.String("repo", ".", "repository root")
	out := flag.String("out", "loadtest/results", "where to write the results")
	prof := flag.String("profile", "", "write CPU profiles of the measured processes into this directory")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, _ := filepath.Abs(*repo)
	work, err := os.MkdirTemp("", "jetlog-bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	var report any
	var md string
	switch *scenario {
	case "pipeline":
		r, err := bench.Pipeline(ctx, bench.PipelineOptions{Events: *events, OpenSearchURL: *osURL, Repo: root, WorkDir: work, Log: log})
		if err != nil {
			fail(err)
		}
		report, md = r, bench.PipelineMarkdown(r)
	case "gateway":
		r, err := bench.Gateway(ctx, bench.GatewayOptions{Records: *records, Repo: root, WorkDir: work, ProfileDir: *prof, Log: log})
		if err != nil {
			fail(err)
		}
		report, md = r, bench.GatewayMarkdown(r)
	case "alerter":
		r, err := bench.Alerter(ctx, bench.AlerterOptions{Seconds: *seconds, CostEvents: *costEvents, OpenSearchURL: *osURL, Repo: root,
			WorkDir: work, Results: *out, Log: log})
		if err != nil {
			fail(err)
		}
		report, md = r, bench.AlerterMarkdown(r)
	default:
		fail(fmt.Errorf("unknown scenario %q", *scenario))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	b, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, *scenario+".json"), append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(*out, *scenario+".md"), []byte(md), 0o644); err != nil {
		fail(err)
	}
	fmt.Print(md)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "jetlog-bench:", err)
	os.Exit(1)
}
