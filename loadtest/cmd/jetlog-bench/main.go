// Command jetlog-bench runs jetlog's measurements and writes their figures,
// each against a baseline measured in the same run on the same machine, to
// loadtest/results/ (markdown, with the JSON beside it, and summary.md).
//
//	go run ./cmd/jetlog-bench                      # every scenario (make bench)
//	go run ./cmd/jetlog-bench -scenario e2e -events 100000 -runs 3
//	OPENSEARCH_URL=http://127.0.0.1:9210 go run ./cmd/jetlog-bench -scenario cpu
//	go run ./cmd/jetlog-bench -scenario alerter -seconds 20
//
// Run it from the loadtest directory (or give -repo and -out).
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
	"strings"
	"syscall"

	"github.com/jetlog/jetlog/loadtest/bench"
)

// scenarios in the order `all` runs them: the cheap ones first, so a
// broken build or setup fails fast, and the alerter's after e2e, whose
// rate it takes half of.
var scenarios = []string{"micro", "gateway", "enricher", "e2e", "cpu", "backlog", "alerter"}

func main() {
	scenario := flag.String("scenario", "all", "all, or one of "+strings.Join(scenarios, ", "))
	osURL := flag.String("opensearch", envOr("OPENSEARCH_URL", "http://127.0.0.1:9200"), "the OpenSearch node to measure against (default: $OPENSEARCH_URL, else the local node of `make opensearch-up`)")
	runs := flag.Int("runs", 2, "how many times each measurement is repeated (the machine may be shared: at least 2)")
	events := flag.Int("events", 100000, "e2e and cpu: records of each mix (JSON app logs, nginx access lines, syslog)")
	backlog := flag.Int("backlog", 300000, "backlog: records left waiting in JetStream")
	records := flag.Int("gateway-records", 300000, "gateway: records sent")
	enricherEvents := flag.Int("enricher-events", 150000, "enricher: events enriched")
	seconds := flag.Int("seconds", 20, "alerter: how long the latency run lasts")
	costEvents := flag.Int("cost-events", 100000, "alerter: events per rule count in the CPU run (0: no CPU run)")
	standalone := flag.Bool("alerter-standalone", true, "alerter: measure the latency through standalone processes too, beside `jetlog run`")
	profile := flag.Bool("profile", true, "e2e: profile `jetlog run` (CPU and allocations) in an extra run of the JSON mix")
	repo := flag.String("repo", "..", "the repository root")
	out := flag.String("out", "results", "where to write the results")
	var sets setFlag
	flag.Var(&sets, "set", "a jetlog setting, path=value, given to every jetlog process (repeatable; the reports list it), e.g. -set streams.archive.enabled=false")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	root, err := filepath.Abs(*repo)
	if err != nil {
		fail(err)
	}
	if _, err := os.Stat(filepath.Join(root, "pipelines")); err != nil {
		fail(fmt.Errorf("-repo %s is not the repository root (no pipelines/): run from loadtest/ or give -repo", root))
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		fail(err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fail(err)
	}
	work, err := os.MkdirTemp("", "jetlog-bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	o := bench.Options{Repo: root, WorkDir: work, OpenSearchURL: strings.TrimRight(*osURL, "/"), Runs: max(1, *runs), Events: *events, Backlog: *backlog,
		GatewayRecords: *records, EnricherEvents: *enricherEvents, Sets: sets, Log: log}
	if *profile {
		o.ProfileDir = filepath.Join(outDir, "profiles")
	}
	env, err := bench.NewEnv(ctx, o)
	if err != nil {
		fail(err)
	}
	todo := scenarios
	if *scenario != "all" {
		todo = []string{*scenario}
	}
	for _, s := range todo {
		log.Info("scenario", "name", s, "opensearch", o.OpenSearchURL)
		if err := run(ctx, env, s, outDir, alerterOptions{seconds: *seconds, costEvents: *costEvents, standalone: *standalone}); err != nil {
			fail(fmt.Errorf("%s: %w", s, err))
		}
	}
	sum, err := bench.Summary(outDir)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "summary.md"), []byte(sum), 0o644); err != nil {
		fail(err)
	}
	fmt.Print(sum)
}

// report is what every scenario returns.
type report interface{ Markdown() string }

// alerterOptions are the flags of the alerter scenario.
type alerterOptions struct {
	seconds, costEvents int
	standalone          bool
}

func run(ctx context.Context, env *bench.Env, scenario, outDir string, ao alerterOptions) error {
	var r report
	var err error
	switch scenario {
	case "e2e":
		var e *bench.E2EReport
		if e, err = bench.E2E(ctx, env); err == nil {
			r = e
			if e.Profile != nil {
				err = os.WriteFile(filepath.Join(outDir, "profile-json.md"), []byte(e.ProfileMarkdown()), 0o644)
			}
		}
	case "cpu":
		r, err = asReport(bench.CPU(ctx, env))
	case "backlog":
		r, err = asReport(bench.Backlog(ctx, env))
	case "gateway":
		r, err = asReport(bench.Gateway(ctx, env))
	case "enricher":
		r, err = asReport(bench.Enricher(ctx, env))
	case "micro":
		r, err = asReport(bench.Micro(ctx, env))
	case "alerter":
		r, err = asReport(bench.Alerter(ctx, bench.AlerterOptions{Seconds: ao.seconds, CostEvents: ao.costEvents, Standalone: ao.standalone, OpenSearchURL: env.OpenSearchURL,
			Repo: env.Repo, WorkDir: env.WorkDir, Results: outDir, Log: env.Log}))
	default:
		return fmt.Errorf("unknown scenario (want all, %s)", strings.Join(scenarios, ", "))
	}
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, scenario+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, scenario+".md"), []byte(r.Markdown()), 0o644)
}

func asReport[R report](r R, err error) (report, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// setFlag collects repeated -set values.
type setFlag []string

func (s *setFlag) String() string     { return strings.Join(*s, ",") }
func (s *setFlag) Set(v string) error { *s = append(*s, v); return nil }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "jetlog-bench:", err)
	os.Exit(1)
}
