package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// CPUReport is jetlog's CPU time per event, split by process: the gateway,
// the enricher (with the archiver, as the enricher binary runs it), the
// indexer, the alerter (with the shipped rules, as `jetlog run` runs it)
// and the NATS server each run as their own process, so each one's CPU is
// read from /proc/<pid>/stat.
type CPUReport struct {
	Machine Machine `json:"machine"`
	// Overrides are the -set overrides jetlog ran with (none: its defaults).
	Overrides []string   `json:"jetlog_overrides,omitempty"`
	Date      string     `json:"date"`
	Events    int        `json:"events_per_mix"`
	Runs      []CPURun   `json:"runs"`
	Mixes     []CPUMixes `json:"mixes"`
}

// CPURun is one end-to-end run of a mix through the standalone processes.
type CPURun struct {
	Mix   Mix        `json:"mix"`
	Run   int        `json:"run"`
	Rate  Throughput `json:"throughput"`
	Procs []ProcCPU  `json:"processes"`
	// TotalMicros is the sum over jetlog's processes, NATS included;
	// PipelineMicros leaves the alerter out: the processes the targets of
	// issue 9 were set for, before the alerter existed.
	TotalMicros    float64 `json:"total_cpu_us_per_event"`
	PipelineMicros float64 `json:"pipeline_cpu_us_per_event"`
}

// ProcCPU is one process's share.
type ProcCPU struct {
	Name       string  `json:"name"`
	Micros     float64 `json:"cpu_us_per_event"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// CPUMixes summarises a mix over the runs (medians; RSS: the largest).
type CPUMixes struct {
	Mix         Mix       `json:"mix"`
	Procs       []ProcCPU `json:"processes"`
	TotalMicros float64   `json:"total_cpu_us_per_event"`
	// PipelineMicros is the total without the alerter (median).
	PipelineMicros float64 `json:"pipeline_cpu_us_per_event"`
	TotalMin       float64 `json:"total_min"`
	TotalMax       float64 `json:"total_max"`
	DocsPerSec     float64 `json:"docs_per_sec"`
}

// alerterProc names the alerter's process in the reports.
const alerterProc = "alerter (shipped rules)"

// cpuMixes are the mixes the CPU targets name.
var cpuMixes = []Mix{MixJSON, MixAccess}

// CPU measures CPU per event and memory of each standalone process for
// the JSON and access-log mixes, Runs times each.
func CPU(ctx context.Context, e *Env) (*CPUReport, error) {
	r := &CPUReport{Machine: e.Machine(), Overrides: e.Sets, Date: time.Now().UTC().Format(time.RFC3339), Events: e.Events}
	chunks := map[Mix][]Chunk{}
	for i, m := range Mixes {
		var err error
		if chunks[m], err = ForwardChunks(m.Source(), Lines(m, e.Events, uint64(10+i)), string(m)); err != nil {
			return nil, err
		}
	}
	for run := 1; run <= e.Runs; run++ {
		for _, m := range cpuMixes {
			res, err := e.splitOnce(ctx, m, run, chunks[m])
			if err != nil {
				return nil, fmt.Errorf("standalone processes, %s run %d: %w", m, run, err)
			}
			e.Log.Info("standalone processes", "mix", m, "run", run, "total_cpu_us_per_event", int(res.TotalMicros), "docs_per_sec", int(res.Rate.DocsPerSec), "load", res.Rate.LoadBefore)
			r.Runs = append(r.Runs, res)
		}
	}
	for _, m := range cpuMixes {
		s := CPUMixes{Mix: m}
		per := map[string][]float64{}
		rss := map[string]float64{}
		var names []string
		var totals, rates, pipes []float64
		for _, run := range r.Runs {
			if run.Mix != m {
				continue
			}
			totals, rates, pipes = append(totals, run.TotalMicros), append(rates, run.Rate.DocsPerSec), append(pipes, run.PipelineMicros)
			for _, p := range run.Procs {
				if _, ok := per[p.Name]; !ok {
					names = append(names, p.Name)
				}
				per[p.Name] = append(per[p.Name], p.Micros)
				rss[p.Name] = max(rss[p.Name], p.PeakRSSMiB)
			}
		}
		for _, n := range names {
			s.Procs = append(s.Procs, ProcCPU{Name: n, Micros: median(per[n]), PeakRSSMiB: rss[n]})
		}
		s.TotalMicros, s.TotalMin, s.TotalMax, s.DocsPerSec = median(totals), minOf(totals), maxOf(totals), median(rates)
		s.PipelineMicros = median(pipes)
		r.Mixes = append(r.Mixes, s)
	}
	return r, nil
}

// splitOnce runs one mix through a NATS server, an indexer, an enricher,
// a gateway and an alerter, each its own process with its defaults and
// the shipped pipelines and rules, and reads each one's CPU time before
// and after.
func (e *Env) splitOnce(ctx context.Context, m Mix, run int, chunks []Chunk) (CPURun, error) {
	res := CPURun{Mix: m, Run: run}
	prefix := e.Prefix("split", m, run)
	defer func() {
		if err := deleteIndices(e.OS, prefix); err != nil {
			e.Log.Warn("cleanup", "err", err)
		}
	}()
	ns, err := e.startNATSProc(ctx)
	if err != nil {
		return res, err
	}
	defer ns.Stop()
	ix, err := e.startService(ctx, "indexer", ns.URL, "-set", "opensearch.urls=["+e.OpenSearchURL+"]", "-set", "indexer.index_prefix="+prefix)
	if err != nil {
		return res, err
	}
	defer ix.Stop()
	en, err := e.startService(ctx, "enricher", ns.URL, "-set", "enricher.pipelines_dir="+filepath.Join(e.Repo, "pipelines"))
	if err != nil {
		return res, err
	}
	defer en.Stop()
	fwd, err := freeAddrs(2)
	if err != nil {
		return res, err
	}
	gw, err := e.startService(ctx, "gateway", ns.URL, "-set", "gateway.forward.listen="+fwd[0], "-set", "gateway.http.listen="+fwd[1])
	if err != nil {
		return res, err
	}
	defer gw.Stop()
	al, err := e.startService(ctx, "alerter", ns.URL, "-set", "opensearch.urls=["+e.OpenSearchURL+"]", "-set", "alerter.index_prefix="+prefix,
		"-set", "alerter.rules_dir="+filepath.Join(e.Repo, "rules"))
	if err != nil {
		return res, err
	}
	defer al.Stop()
	nc, err := connectNATS(ctx, ns.URL)
	if err != nil {
		return res, err
	}
	defer nc.Close()

	procs := []*Proc{gw.Proc, ns.Proc, en.Proc, ix.Proc, al.Proc}
	names := []string{"gateway", "nats-server", "enricher + archiver", "indexer", alerterProc}
	want := 0
	for _, c := range chunks {
		want += c.Records
	}
	before := make([]time.Duration, len(procs))
	for i, p := range procs {
		if before[i], err = p.CPU(); err != nil {
			return res, err
		}
	}
	if res.Rate, err = e.shipUntilSearchable(ctx, fwd[0], prefix, chunks, want); err != nil {
		return res, fmt.Errorf("%w\ngateway: %s\nenricher: %s\nindexer: %s", err, gw.LogTail(1000), en.LogTail(1000), ix.LogTail(1000))
	}
	for i, p := range procs {
		after, err := p.CPU()
		if err != nil {
			return res, err
		}
		pc := ProcCPU{Name: names[i], Micros: perEvent(after-before[i], want), PeakRSSMiB: MiB(p.PeakRSS())}
		res.Procs = append(res.Procs, pc)
		res.TotalMicros += pc.Micros
		if pc.Name != alerterProc {
			res.PipelineMicros += pc.Micros
		}
	}
	return res, e.confirmExact(ctx, nc, prefix, want)
}
