// Command notify-bench measures jetlog's notifier against Alertmanager on
// the same work (package notifybench) and writes results/notify.md and
// results/notify.json.
//
//	cd loadtest && go run ./cmd/notify-bench                 # make bench-notify
//	go run ./cmd/notify-bench -runs 3 -rate 2000 -profile /tmp/prof
//	go run ./cmd/notify-bench -render results/notify.json   # the markdown again
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
	"time"

	"github.com/jetlog/jetlog/loadtest/notifybench"
)

func main() {
	runs := flag.Int("runs", 3, "how many times both systems are measured, alternately (the machine may be shared: at least 2)")
	rate := flag.Int("rate", 1000, "alerts/s offered in the latency phase")
	dur := flag.Duration("duration", 5*time.Second, "length of the latency phase")
	burst := flag.Int("burst", 10000, "alerts in the throughput phase")
	warmup := flag.Int("warmup", 500, "unmeasured alerts before each measurement")
	prof := flag.String("profile", "", "write CPU profiles of the notifier during each burst into this directory")
	systems := flag.String("systems", "", "measure only these, comma-separated: jetlog, alertmanager, direct (default all)")
	bin := flag.String("notifier", "", "a notifier binary to measure instead of building services/notifier")
	repo := flag.String("repo", "..", "the repository root")
	out := flag.String("out", "results", "where to write notify.md and notify.json")
	from := flag.String("render", "", "measure nothing: write notify.md again from this notify.json")
	flag.Parse()
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			fail(err)
		}
		var r notifybench.Report
		if err := json.Unmarshal(b, &r); err != nil {
			fail(fmt.Errorf("%s: %w", *from, err))
		}
		write(*out, &r)
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	root, err := filepath.Abs(*repo)
	if err != nil {
		fail(err)
	}
	if _, err := os.Stat(filepath.Join(root, "services", "notifier")); err != nil {
		fail(fmt.Errorf("-repo %s is not the repository root: run from loadtest/ or give -repo", root))
	}
	work, err := os.MkdirTemp("", "notify-bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	if *prof != "" {
		if err := os.MkdirAll(*prof, 0o755); err != nil {
			fail(err)
		}
	}
	var only []string
	for _, s := range strings.Split(*systems, ",") {
		switch strings.TrimSpace(s) {
		case "":
		case "jetlog":
			only = append(only, notifybench.Jetlog)
		case "alertmanager":
			only = append(only, notifybench.Alertmanager)
		case "direct":
			only = append(only, notifybench.Direct)
		default:
			fail(fmt.Errorf("-systems: unknown system %q (jetlog, alertmanager, direct)", s))
		}
	}
	r, err := notifybench.Measure(ctx, notifybench.Options{Repo: root, Notifier: *bin, Systems: only, WorkDir: work, Runs: max(1, *runs), Rate: *rate, Duration: *dur,
		Burst: *burst, Warmup: *warmup, ProfileDir: *prof, Log: log})
	if err != nil {
		_ = os.RemoveAll(work) // fail exits without running the deferred removal
		fail(err)
	}
	write(*out, r)
}

// write writes the report's JSON and markdown into dir, and prints the
// markdown.
func write(dir string, r *notifybench.Report) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	md := r.Markdown()
	if err := os.WriteFile(filepath.Join(dir, "notify.json"), append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notify.md"), []byte(md), 0o644); err != nil {
		fail(err)
	}
	fmt.Print(md)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "notify-bench:", err)
	os.Exit(1)
}
