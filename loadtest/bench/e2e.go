package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/indexer/index"
)

// E2EReport is the user's comparison: the same raw records bulk-indexed
// straight into OpenSearch as a shipper's OpenSearch output sends them,
// against the same records shipped through `jetlog run` (gateway →
// enricher → indexer with the shipped pipelines), each until every record
// is searchable.
type E2EReport struct {
	Machine Machine `json:"machine"`
	// Overrides are the -set overrides jetlog ran with (none: its defaults).
	Overrides []string    `json:"jetlog_overrides,omitempty"`
	Date      string      `json:"date"`
	Events    int         `json:"events_per_mix"`
	Runs      []E2ERun    `json:"runs"`
	Mixes     []E2EMix    `json:"mixes"`
	Profile   *ProfileRun `json:"profile,omitempty"`
}

// E2ERun is one pair of measurements, taken one after the other.
type E2ERun struct {
	Mix    Mix        `json:"mix"`
	Run    int        `json:"run"`
	Direct Throughput `json:"direct"`
	// JetlogDocs is the direct bulk of the documents jetlog makes of the
	// same records (not a baseline of the target: it says how much of the
	// gap is OpenSearch indexing richer documents).
	JetlogDocs Throughput    `json:"direct_jetlog_documents"`
	Jetlog     JetlogMeasure `json:"jetlog"`
	Ratio      float64       `json:"ratio"`
}

// JetlogMeasure is one measurement of a jetlog process.
type JetlogMeasure struct {
	Throughput
	// CPUMicrosPerEvent is the process's CPU time (user + system, all
	// threads, the embedded NATS server included) over the measurement,
	// per record.
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"`
	PeakRSSMiB        float64 `json:"peak_rss_mib"`
}

// E2EMix summarises a mix over the runs.
type E2EMix struct {
	Mix           Mix     `json:"mix"`
	DirectDocsSec float64 `json:"direct_docs_per_sec"`
	JetlogDocsSec float64 `json:"jetlog_docs_per_sec"`
	Ratio         float64 `json:"ratio"`
	RatioMin      float64 `json:"ratio_min"`
	RatioMax      float64 `json:"ratio_max"`
	CPUMicros     float64 `json:"jetlog_cpu_us_per_event"`
	PeakRSSMiB    float64 `json:"jetlog_peak_rss_mib"`
	// DirectPathMicros and JetlogPathMicros are the CPU time per record of
	// everything on each path (the harness, OpenSearch, and jetlog), and
	// CPURatio the first over the second: the throughput ratio a machine
	// that is CPU-bound on both paths would show, and a figure that a
	// machine shared with other work disturbs less than a rate.
	// JetlogDocsDocsSec is the direct bulk of jetlog's own documents.
	JetlogDocsDocsSec float64 `json:"direct_jetlog_documents_docs_per_sec"`
	DirectPathMicros  float64 `json:"direct_path_cpu_us_per_doc"`
	JetlogPathMicros  float64 `json:"jetlog_path_cpu_us_per_doc"`
	CPURatio          float64 `json:"cpu_ratio"`
}

// ProfileRun is the extra, profiled end-to-end run of the JSON mix.
type ProfileRun struct {
	Mix        Mix     `json:"mix"`
	Seconds    int     `json:"cpu_profile_seconds"`
	DocsPerSec float64 `json:"docs_per_sec"`
	CPUProfile string  `json:"cpu_profile"`
	AllocProf  string  `json:"alloc_profile"`
	CPUTop     string  `json:"cpu_top"`
	CPUTopCum  string  `json:"cpu_top_cum"`
	AllocTop   string  `json:"alloc_space_top"`
	// CPUShares and AllocShares say, for each part of the process, the
	// share of samples whose stack passes through it (parts overlap: the
	// collector runs inside the enricher's allocations, for one).
	CPUShares []Share `json:"cpu_shares"`
	// AllocBytesPerEvent is the bytes the process allocated over its life
	// (startup included, a few MB) per record of the run.
	AllocBytesPerEvent float64 `json:"alloc_bytes_per_event"`
	AllocShares        []Share `json:"alloc_space_shares"`
	LoadAverage        float64 `json:"load"`
}

// E2E runs the user's comparison for every mix, Runs times, the direct
// baseline and jetlog one after the other on the same records.
func E2E(ctx context.Context, e *Env) (*E2EReport, error) {
	r := &E2EReport{Machine: e.Machine(), Overrides: e.Sets, Date: time.Now().UTC().Format(time.RFC3339), Events: e.Events}
	data := map[Mix][]Line{}
	chunks := map[Mix][]Chunk{}
	docs := map[Mix][]jetlogDoc{}
	for i, m := range Mixes {
		data[m] = Lines(m, e.Events, uint64(10+i))
		var err error
		if chunks[m], err = ForwardChunks(m.Source(), data[m], string(m)); err != nil {
			return nil, err
		}
		if docs[m], err = e.jetlogDocs(m, data[m]); err != nil {
			return nil, err
		}
		if len(docs[m]) != len(data[m]) {
			return nil, fmt.Errorf("%s: the pipelines made %d documents of %d records; the mixes must not be dropped", m, len(docs[m]), len(data[m]))
		}
	}
	var longestJSON time.Duration
	for run := 1; run <= e.Runs; run++ {
		for _, m := range Mixes {
			d, err := e.directOnce(ctx, m, run, data[m])
			if err != nil {
				return nil, fmt.Errorf("direct %s run %d: %w", m, run, err)
			}
			e.Log.Info("direct", "mix", m, "run", run, "docs_per_sec", int(d.DocsPerSec), "load", d.LoadBefore)
			jd, err := e.docsOnce(ctx, m, run, docs[m])
			if err != nil {
				return nil, fmt.Errorf("direct bulk of jetlog's documents, %s run %d: %w", m, run, err)
			}
			e.Log.Info("direct, jetlog's documents", "mix", m, "run", run, "docs_per_sec", int(jd.DocsPerSec), "load", jd.LoadBefore)
			j, err := e.jetlogOnce(ctx, m, run, chunks[m], nil)
			if err != nil {
				return nil, fmt.Errorf("jetlog %s run %d: %w", m, run, err)
			}
			e.Log.Info("jetlog run", "mix", m, "run", run, "docs_per_sec", int(j.DocsPerSec), "ratio", fmt.Sprintf("%.2f", j.DocsPerSec/d.DocsPerSec),
				"cpu_us_per_event", int(j.CPUMicrosPerEvent), "load", j.LoadBefore)
			r.Runs = append(r.Runs, E2ERun{Mix: m, Run: run, Direct: d, JetlogDocs: jd, Jetlog: j, Ratio: j.DocsPerSec / d.DocsPerSec})
			if m == MixJSON {
				longestJSON = max(longestJSON, time.Duration(j.Seconds*float64(time.Second)))
			}
		}
	}
	for _, m := range Mixes {
		var s E2EMix
		s.Mix = m
		var ds, js, rs, cpu, rss, dp, jp, jd []float64
		for _, run := range r.Runs {
			if run.Mix == m {
				jd = append(jd, run.JetlogDocs.DocsPerSec)
				ds, js, rs = append(ds, run.Direct.DocsPerSec), append(js, run.Jetlog.DocsPerSec), append(rs, run.Ratio)
				cpu, rss = append(cpu, run.Jetlog.CPUMicrosPerEvent), append(rss, run.Jetlog.PeakRSSMiB)
				dp = append(dp, run.Direct.OpenSearchMicrosPerDoc+run.Direct.HarnessMicrosPerDoc)
				jp = append(jp, run.Jetlog.CPUMicrosPerEvent+run.Jetlog.OpenSearchMicrosPerDoc+run.Jetlog.HarnessMicrosPerDoc)
			}
		}
		s.DirectPathMicros, s.JetlogPathMicros, s.JetlogDocsDocsSec = median(dp), median(jp), median(jd)
		s.CPURatio = s.DirectPathMicros / s.JetlogPathMicros
		s.DirectDocsSec, s.JetlogDocsSec, s.Ratio = median(ds), median(js), median(rs)
		s.RatioMin, s.RatioMax = minOf(rs), maxOf(rs)
		s.CPUMicros, s.PeakRSSMiB = median(cpu), maxOf(rss)
		r.Mixes = append(r.Mixes, s)
	}
	if e.ProfileDir != "" {
		p, err := e.profileJSON(ctx, chunks[MixJSON], longestJSON)
		if err != nil {
			return nil, fmt.Errorf("profiled run: %w", err)
		}
		r.Profile = p
	}
	return r, nil
}

func (e *Env) directOnce(ctx context.Context, m Mix, run int, lines []Line) (Throughput, error) {
	index := e.Prefix("direct", m, run)
	defer func() {
		if err := deleteIndices(e.OS, index); err != nil {
			e.Log.Warn("cleanup", "err", err)
		}
	}()
	return direct(ctx, e.OS, e.OpenSearchURL, index, rawItems(index, lines))
}

// jetlogDoc is one document jetlog writes for a line: what the enricher
// publishes, and what the indexer routes it by.
type jetlogDoc struct {
	id      string
	ts      time.Time
	dataset string
	body    []byte
}

// jetlogDocs runs the gateway's publisher and the enricher with the
// shipped pipelines in this process over lines, and returns the documents
// the indexer would write for them.
func (e *Env) jetlogDocs(m Mix, lines []Line) ([]jetlogDoc, error) {
	in, err := gatewayMessages(m.Source(), lines)
	if err != nil {
		return nil, err
	}
	out, err := enrichedMessages(in, filepath.Join(e.Repo, "pipelines"))
	if err != nil {
		return nil, err
	}
	docs := make([]jetlogDoc, len(out))
	for i, o := range out {
		var r struct {
			ID        string    `json:"id"`
			Timestamp time.Time `json:"@timestamp"`
			Dataset   string    `json:"dataset"`
		}
		if err := json.Unmarshal(o.Data, &r); err != nil {
			return nil, fmt.Errorf("enriched event %d: %w", i, err)
		}
		docs[i] = jetlogDoc{id: r.ID, ts: r.Timestamp, dataset: r.Dataset, body: o.Data}
	}
	return docs, nil
}

// docsOnce bulk-indexes jetlog's own documents for the records directly,
// as the indexer would write them (its index template, its index names,
// `create` with the event ids), to tell what OpenSearch spends on jetlog's
// documents from what jetlog spends making them.
func (e *Env) docsOnce(ctx context.Context, m Mix, run int, docs []jetlogDoc) (Throughput, error) {
	prefix := e.Prefix("docs", m, run)
	defer func() {
		if err := deleteIndices(e.OS, prefix); err != nil {
			e.Log.Warn("cleanup", "err", err)
		}
	}()
	s := index.DefaultSettings()
	s.IndexPrefix = prefix
	ix := index.New(e.OS, s)
	if err := ix.EnsureTemplate(ctx); err != nil {
		return Throughput{}, err
	}
	items := make([]bulkItem, len(docs))
	for i, d := range docs {
		items[i] = bulkItem{index: ix.IndexFor(d.dataset, d.ts), id: d.id, body: d.body}
	}
	return direct(ctx, e.OS, e.OpenSearchURL, prefix+"-*", items)
}

// profiling asks jetlogOnce for profiles of the process.
type profiling struct {
	seconds          int
	cpuPath, allocTo string
}

// jetlogOnce ships the chunks to a fresh `jetlog run` and measures until
// every record is searchable, then checks that exactly that many documents
// were indexed before the figure counts.
func (e *Env) jetlogOnce(ctx context.Context, m Mix, run int, chunks []Chunk, prof *profiling) (JetlogMeasure, error) {
	prefix := e.Prefix("jetlog", m, run)
	defer func() {
		if err := deleteIndices(e.OS, prefix); err != nil {
			e.Log.Warn("cleanup", "err", err)
		}
	}()
	j, err := e.startJetlog(ctx, fmt.Sprintf("jetlog-%s-%d", m, run), e.OpenSearchURL, prefix, prof != nil)
	if err != nil {
		return JetlogMeasure{}, err
	}
	defer j.Stop()
	want := 0
	for _, c := range chunks {
		want += c.Records
	}
	cpu0, err := j.CPU()
	if err != nil {
		return JetlogMeasure{}, err
	}
	profDone := make(chan error, 1)
	if prof != nil {
		go func() {
			profDone <- fetchProfile(ctx, j.Admin, "profile", fmt.Sprintf("seconds=%d", prof.seconds), prof.cpuPath)
		}()
	}
	var res JetlogMeasure
	if res.Throughput, err = e.shipUntilSearchable(ctx, j.Forward, prefix, chunks, want); err != nil {
		return res, fmt.Errorf("%w\n%s", err, j.LogTail(2000))
	}
	cpu1, err := j.CPU()
	if err != nil {
		return res, err
	}
	res.CPUMicrosPerEvent = perEvent(cpu1-cpu0, want)
	res.PeakRSSMiB = MiB(j.PeakRSS())
	if prof != nil {
		if err := <-profDone; err != nil {
			return res, err
		}
		if err := fetchProfile(ctx, j.Admin, "allocs", "", prof.allocTo); err != nil {
			return res, err
		}
	}
	return res, e.confirmExact(ctx, j.NATS, prefix, want)
}

// shipUntilSearchable ships the chunks to a forward listener and measures
// until want documents are searchable under prefix-*: the rate, when the
// last chunk was acknowledged, the load, and the CPU per document of
// OpenSearch and of the harness.
func (e *Env) shipUntilSearchable(ctx context.Context, forwardAddr, prefix string, chunks []Chunk, want int) (Throughput, error) {
	t := Throughput{Docs: want, LoadBefore: LoadAvg()}
	self0 := SelfCPU()
	os0 := openSearchCPU(ctx, e.OpenSearchURL)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	counted := make(chan countResult, 1)
	go func() { counted <- waitCount(cctx, e.OpenSearchURL, prefix+"-*", want) }()
	shipped, err := Ship(ctx, forwardAddr, chunks)
	if err != nil {
		return t, err
	}
	t.AckedSeconds = shipped.LastAck.Sub(start).Seconds()
	c := <-counted
	if c.err != nil {
		return t, c.err
	}
	t.OpenSearchMicrosPerDoc = perEvent(openSearchCPU(ctx, e.OpenSearchURL)-os0, want)
	t.HarnessMicrosPerDoc = perEvent(SelfCPU()-self0, want)
	t.Seconds = c.at.Sub(start).Seconds()
	t.DocsPerSec = float64(want) / t.Seconds
	t.LoadAfter = LoadAvg()
	return t, nil
}

// confirmExact waits until the indexer has nothing left and checks the
// indices under prefix hold exactly one document per record sent: a
// measurement counts only then.
func (e *Env) confirmExact(ctx context.Context, n *NATS, prefix string, want int) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := n.WaitDrained(wctx, topology.EnrichedStream, "indexer"); err != nil {
		return err
	}
	return exactCount(ctx, e.OS, prefix+"-*", want)
}

// profileJSON runs the JSON mix once more through `jetlog run` with
// admin.pprof on, takes a CPU profile over (about) the whole run and the
// allocation profile at its end, and summarises both with go tool pprof.
// The run's rate is reported beside the profiles, not with the measured
// runs: profiling costs a little.
func (e *Env) profileJSON(ctx context.Context, chunks []Chunk, expected time.Duration) (*ProfileRun, error) {
	if err := os.MkdirAll(e.ProfileDir, 0o755); err != nil {
		return nil, err
	}
	secs := max(5, int(expected.Seconds()*0.9))
	p := &profiling{seconds: secs, cpuPath: filepath.Join(e.ProfileDir, "jetlog-run-json.cpu.pprof"), allocTo: filepath.Join(e.ProfileDir, "jetlog-run-json.allocs.pprof")}
	load := LoadAvg()
	m, err := e.jetlogOnce(ctx, MixJSON, 0, chunks, p)
	if err != nil {
		return nil, err
	}
	bin, err := e.Bin("cmd/jetlog")
	if err != nil {
		return nil, err
	}
	cpuTop, err := pprofTop(bin, p.cpuPath)
	if err != nil {
		return nil, err
	}
	cpuCum, err := pprofTop(bin, p.cpuPath, "-cum")
	if err != nil {
		return nil, err
	}
	allocTop, err := pprofTop(bin, p.allocTo, "-sample_index=alloc_space")
	if err != nil {
		return nil, err
	}
	cpuShares, err := pprofShares(bin, p.cpuPath, false)
	if err != nil {
		return nil, err
	}
	allocShares, err := pprofShares(bin, p.allocTo, true, "-sample_index=alloc_space")
	if err != nil {
		return nil, err
	}
	e.Log.Info("profiled run", "docs_per_sec", int(m.DocsPerSec), "cpu_profile", p.cpuPath)
	return &ProfileRun{Mix: MixJSON, Seconds: secs, DocsPerSec: m.DocsPerSec, CPUProfile: filepath.Join("profiles", filepath.Base(p.cpuPath)), AllocProf: filepath.Join("profiles", filepath.Base(p.allocTo)),
		CPUTop: cpuTop, CPUTopCum: cpuCum, AllocTop: allocTop, CPUShares: cpuShares, AllocShares: allocShares, LoadAverage: load,
		AllocBytesPerEvent: profileTotalBytes(allocTop) / float64(m.Docs)}, nil
}

// Share is the part of a profile's samples whose stacks pass through one
// part of the program.
type Share struct {
	Part    string  `json:"part"`
	Percent float64 `json:"percent"`
}

// profileParts are the parts of `jetlog run` a profile is split into, each
// a regular expression over function names (pprof -focus).
var profileParts = []struct {
	name, focus string
	cpuOnly     bool // a runtime part, with no allocations of its own
}{
	{"embedded NATS server", `nats-server/v2/server`, false},
	{"NATS client (nats.go, jetstream)", `nats-io/nats%2ego`, false},
	{"gateway (services/gateway)", `jetlog/services/gateway`, false},
	{"enricher and archiver (services/enricher)", `jetlog/services/enricher`, false},
	{"indexer (services/indexer)", `jetlog/services/indexer`, false},
	{"alerter (services/alerter)", `jetlog/services/alerter`, false},
	{"notifier (services/notifier)", `jetlog/services/notifier`, false},
	{"worker runtime (libs/worker)", `jetlog/libs/worker`, false},
	{"event model (libs/event)", `jetlog/libs/event`, false},
	{"encoding/json", `^encoding/json`, false},
	{"allocation (runtime.mallocgc)", `^runtime\.mallocgc$`, true},
	{"garbage collector, background (runtime.gcBgMarkWorker)", `^runtime\.gcBgMarkWorker$`, true},
	{"system calls", `^(internal/runtime/)?syscall`, true},
}

var profileTotal = regexp.MustCompile(`of ([\d.]+)([kMGT]?B) total`)

// profileTotalBytes reads the total of a memory profile's -top output.
func profileTotalBytes(top string) float64 {
	m := profileTotal.FindStringSubmatch(top)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v * map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[2]]
}

var accounting = regexp.MustCompile(`Showing nodes accounting for \S+, ([\d.]+)% of`)

// pprofShares measures each of profileParts in a profile; in an
// allocation profile (alloc true) the runtime's own parts are -1.
func pprofShares(bin, profile string, alloc bool, args ...string) ([]Share, error) {
	var out []Share
	for _, p := range profileParts {
		if alloc && p.cpuOnly {
			out = append(out, Share{Part: p.name, Percent: -1})
			continue
		}
		cmdArgs := append([]string{"tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-edgefraction=0", "-focus=" + p.focus}, args...)
		b, err := exec.Command("go", append(cmdArgs, bin, profile)...).CombinedOutput()
		share := Share{Part: p.name}
		if m := accounting.FindSubmatch(b); m != nil {
			share.Percent, _ = strconv.ParseFloat(string(m[1]), 64)
		} else if err != nil && !bytes.Contains(b, []byte("no samples")) && !bytes.Contains(b, []byte("matched no samples")) {
			return nil, fmt.Errorf("go tool pprof -focus=%s %s: %v\n%s", p.focus, profile, err, b)
		}
		out = append(out, share)
	}
	return out, nil
}

// pprofTop renders the top 30 functions of a profile (flat and cumulative).
func pprofTop(bin, profile string, args ...string) (string, error) {
	cmdArgs := append([]string{"tool", "pprof", "-top", "-nodecount=30"}, args...)
	cmd := exec.Command("go", append(cmdArgs, bin, profile)...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof %s: %w", profile, err)
	}
	// Drop pprof's header lines about files and build ids: they name
	// this machine's paths.
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n"), nil
}
