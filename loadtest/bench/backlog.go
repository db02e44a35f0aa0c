package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jetlog/jetlog/libs/topology"
)

// BacklogReport is the memory of `jetlog run` while a backlog waits in
// JetStream for an unreachable OpenSearch.
type BacklogReport struct {
	Machine Machine `json:"machine"`
	// Overrides are the -set overrides jetlog ran with (none: its defaults).
	Overrides []string     `json:"jetlog_overrides,omitempty"`
	Date      string       `json:"date"`
	Events    int          `json:"events"`
	Runs      []BacklogRun `json:"runs"`
	// HeapTop is `go tool pprof -top -sample_index=inuse_space` of the
	// first run's heap with the whole backlog waiting (when profiling).
	HeapTop string `json:"heap_inuse_top,omitempty"`
}

// BacklogRun is one measurement.
type BacklogRun struct {
	Run int `json:"run"`
	// IdleRSSMiB is the resident set once ready, before any event.
	IdleRSSMiB float64 `json:"idle_rss_mib"`
	// RSSMiB is the resident set once the whole backlog waits in LOGS
	// (every event shipped, enriched and archived; none indexed).
	RSSMiB     float64 `json:"rss_mib"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// LogsMessages and LogsMiB are what LOGS holds for the indexer.
	LogsMessages uint64  `json:"logs_messages"`
	LogsMiB      float64 `json:"logs_mib"`
	Load         float64 `json:"load"`
}

// Backlog ships Backlog records of the JSON mix to a `jetlog run` whose
// OpenSearch is unreachable, waits until all of them wait in LOGS for the
// indexer, and reads the process's resident set (VmRSS) and peak (VmHWM).
func Backlog(ctx context.Context, e *Env) (*BacklogReport, error) {
	r := &BacklogReport{Machine: e.Machine(), Overrides: e.Sets, Date: time.Now().UTC().Format(time.RFC3339), Events: e.Backlog}
	chunks, err := ForwardChunks(MixJSON.Source(), Lines(MixJSON, e.Backlog, 20), "backlog")
	if err != nil {
		return nil, err
	}
	for run := 1; run <= e.Runs; run++ {
		heap := ""
		if run == 1 && e.ProfileDir != "" {
			heap = filepath.Join(e.ProfileDir, "jetlog-run-backlog.heap.pprof")
		}
		res, err := e.backlogOnce(ctx, run, chunks, heap)
		if err != nil {
			return nil, fmt.Errorf("backlog run %d: %w", run, err)
		}
		e.Log.Info("backlog", "run", run, "rss_mib", int(res.RSSMiB), "peak_rss_mib", int(res.PeakRSSMiB), "load", res.Load)
		r.Runs = append(r.Runs, res)
		if heap != "" {
			bin, err := e.Bin("cmd/jetlog")
			if err != nil {
				return nil, err
			}
			if r.HeapTop, err = pprofTop(bin, heap, "-sample_index=inuse_space"); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// backlogOnce measures one run; with heap set, it also saves the heap
// profile there once the backlog is complete.
func (e *Env) backlogOnce(ctx context.Context, run int, chunks []Chunk, heap string) (BacklogRun, error) {
	res := BacklogRun{Run: run, Load: LoadAvg()}
	nowhere, err := freeAddrs(1) // closed again at once: nothing listens there
	if err != nil {
		return res, err
	}
	prefix := e.Prefix("backlog", MixJSON, run)
	j, err := e.startJetlog(ctx, fmt.Sprintf("jetlog-backlog-%d", run), "http://"+nowhere[0], prefix, heap != "")
	if err != nil {
		return res, err
	}
	defer j.Stop()
	res.IdleRSSMiB = MiB(j.RSS())
	if _, err := Ship(ctx, j.Forward, chunks); err != nil {
		return res, fmt.Errorf("%w\n%s", err, j.LogTail(2000))
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, durable := range []string{"enricher", "archiver"} {
		if _, err := j.NATS.WaitDrained(wctx, topology.RawStream, durable); err != nil {
			return res, err
		}
	}
	s, err := j.NATS.JS.Stream(ctx, topology.EnrichedStream)
	if err != nil {
		return res, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return res, err
	}
	res.LogsMessages, res.LogsMiB = info.State.Msgs, MiB(int64(info.State.Bytes))
	if want := uint64(e.Backlog); res.LogsMessages != want {
		return res, fmt.Errorf("LOGS holds %d events for %d records sent", res.LogsMessages, want)
	}
	res.RSSMiB, res.PeakRSSMiB = MiB(j.RSS()), MiB(j.PeakRSS())
	if heap != "" {
		if err := os.MkdirAll(filepath.Dir(heap), 0o755); err != nil {
			return res, err
		}
		if err := fetchProfile(ctx, j.Admin, "heap", "", heap); err != nil {
			return res, err
		}
	}
	return res, nil
}
