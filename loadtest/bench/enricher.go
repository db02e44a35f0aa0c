package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jetlog/jetlog/libs/topology"
)

// EnricherReport compares the enricher's events/s with a JetStream
// consume→republish passthrough of the same events.
type EnricherReport struct {
	Machine Machine `json:"machine"`
	// Overrides are the -set overrides jetlog ran with (none: its defaults).
	Overrides []string      `json:"jetlog_overrides,omitempty"`
	Date      string        `json:"date"`
	Events    int           `json:"events"`
	Runs      []EnricherRun `json:"runs"`
	Ratio     float64       `json:"ratio_median"`
	// CPURatio is the median of the runs' CPU-cost ratios.
	CPURatio float64 `json:"cpu_ratio_median"`
}

// EnricherRun is one pair of measurements.
type EnricherRun struct {
	Run            int     `json:"run"`
	PassthroughSec float64 `json:"passthrough_events_per_sec"`
	EnricherSec    float64 `json:"enricher_events_per_sec"`
	Ratio          float64 `json:"ratio"`
	RSSMiB         float64 `json:"enricher_peak_rss_mib"`
	Load           float64 `json:"load"`
	// PassthroughCPUMicros and EnricherCPUMicros are the CPU per event of
	// each process plus the harness's (the NATS server) over its run;
	// CPURatio is the first over the second.
	PassthroughCPUMicros float64 `json:"passthrough_path_cpu_us_per_event"`
	EnricherCPUMicros    float64 `json:"enricher_path_cpu_us_per_event"`
	CPURatio             float64 `json:"cpu_ratio"`
}

// Enricher measures, Runs times over LOGS_RAW pre-loaded with what the
// gateway writes for the three mixes, in the embedded server in the
// harness: a passthrough process (loadtest/cmd/passthrough: jetlog's
// worker runtime with the enricher's consumer settings, republishing each
// event's bytes with its id) against the enricher process alone (-only
// enricher) with the shipped pipelines, each from its first delivery until
// its consumer has acknowledged everything.
func Enricher(ctx context.Context, e *Env) (*EnricherReport, error) {
	r := &EnricherReport{Machine: e.Machine(), Overrides: e.Sets, Date: time.Now().UTC().Format(time.RFC3339)}
	lines := map[Mix][]Line{}
	for i, m := range Mixes {
		lines[m] = Lines(m, e.EnricherEvents/len(Mixes), uint64(40+i))
		r.Events += len(lines[m])
	}
	passBin, err := e.Bin("loadtest/cmd/passthrough")
	if err != nil {
		return nil, err
	}
	enBin, err := e.Bin("services/enricher")
	if err != nil {
		return nil, err
	}
	var ratios, cpuRatios []float64
	for run := 1; run <= e.Runs; run++ {
		res := EnricherRun{Run: run, Load: LoadAvg()}
		if res.PassthroughSec, res.PassthroughCPUMicros, _, err = drainOnce(ctx, e, passBin, "passthrough", lines, r.Events); err != nil {
			return nil, fmt.Errorf("passthrough: %w", err)
		}
		if res.EnricherSec, res.EnricherCPUMicros, res.RSSMiB, err = drainOnce(ctx, e, enBin, "enricher", lines, r.Events, e.withSets("-only", "enricher",
			"-set", "enricher.pipelines_dir="+filepath.Join(e.Repo, "pipelines"))...); err != nil {
			return nil, fmt.Errorf("enricher: %w", err)
		}
		res.Ratio = res.EnricherSec / res.PassthroughSec
		res.CPURatio = res.PassthroughCPUMicros / res.EnricherCPUMicros
		ratios, cpuRatios = append(ratios, res.Ratio), append(cpuRatios, res.CPURatio)
		e.Log.Info("enricher", "run", run, "events_per_sec", int(res.EnricherSec), "passthrough", int(res.PassthroughSec), "ratio", fmt.Sprintf("%.2f", res.Ratio), "load", res.Load)
		r.Runs = append(r.Runs, res)
	}
	r.Ratio, r.CPURatio = median(ratios), median(cpuRatios)
	return r, nil
}

// preloaded starts an embedded NATS whose LOGS_RAW holds what the gateway
// writes for the lines.
func preloaded(ctx context.Context, lines map[Mix][]Line) (*NATS, error) {
	n, err := StartNATS(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range Mixes {
		if err := publishAsGateway(ctx, n.JS, m.Source(), lines[m]); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// drainOnce runs a worker process (its durable consumer is its name) over
// the pre-loaded raw events and returns its events/s, from its first
// delivery (loading and connecting are not per-event work) until its
// consumer has acknowledged every event, the CPU per event of the process
// and the harness (the NATS server) over that time, and its peak RSS. It
// checks LOGS then holds one event per raw event.
func drainOnce(ctx context.Context, e *Env, bin, name string, lines map[Mix][]Line, total int, args ...string) (rate, cpu, rss float64, err error) {
	n, err := preloaded(ctx, lines)
	if err != nil {
		return 0, 0, 0, err
	}
	defer n.Close()
	addrs, err := freeAddrs(1)
	if err != nil {
		return 0, 0, 0, err
	}
	p, err := StartProc(name, bin, e.WorkDir, []string{"JETLOG_NATS__URL=" + n.URL()}, append(args, "-set", "admin.listen="+addrs[0])...)
	if err != nil {
		return 0, 0, 0, err
	}
	defer p.Stop()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start, err := n.firstDelivery(wctx, topology.RawStream, name)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w\n%s", err, p.LogTail(2000))
	}
	cpu0, err := p.CPU()
	if err != nil {
		return 0, 0, 0, err
	}
	self0 := SelfCPU()
	end, err := n.WaitDrained(wctx, topology.RawStream, name)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w\n%s", err, p.LogTail(2000))
	}
	cpu1, err := p.CPU()
	if err != nil {
		return 0, 0, 0, err
	}
	cpu = perEvent(cpu1-cpu0+SelfCPU()-self0, total)
	s, err := n.JS.Stream(ctx, topology.EnrichedStream)
	if err != nil {
		return 0, 0, 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if int(info.State.Msgs) != total {
		return 0, 0, 0, fmt.Errorf("LOGS holds %d events for %d raw events", info.State.Msgs, total)
	}
	return float64(total) / end.Sub(start).Seconds(), cpu, MiB(p.PeakRSS()), nil
}
