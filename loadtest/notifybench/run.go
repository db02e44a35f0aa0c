package notifybench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options configure a measurement.
type Options struct {
	// Repo is the repository root (the notifier is built from it).
	Repo string
	// Notifier is a notifier binary to measure instead of building one.
	Notifier string
	// Systems are the systems measured (default all: Jetlog, Alertmanager,
	// Direct).
	Systems []string
	// WorkDir holds the processes' files.
	WorkDir string
	// Runs is how many times both systems are measured, alternately.
	Runs int
	// Rate (alerts/s) and Duration make the latency phase.
	Rate     int
	Duration time.Duration
	// Burst is the number of alerts of the throughput phase.
	Burst int
	// Warmup alerts precede each measurement, unmeasured.
	Warmup int
	// ProfileDir, when set, receives a CPU profile of the notifier during
	// each burst.
	ProfileDir string
	Log        *slog.Logger
}

// Latency summarises one system's added latencies, in milliseconds.
type Latency struct {
	Alerts  int     `json:"alerts"`
	Missing int     `json:"missing"`
	P50     float64 `json:"p50Ms"`
	P90     float64 `json:"p90Ms"`
	P99     float64 `json:"p99Ms"`
	Max     float64 `json:"maxMs"`
}

// Result is one system's figures in one run.
type Result struct {
	System string `json:"system"`
	// Latency is at the fixed rate.
	Latency Latency `json:"latency"`
	// JetStream is, for jetlog, the same interval for an ordered consumer
	// subscribed directly to ALERTS.
	JetStream *Latency `json:"jetstream,omitempty"`
	// BurstAlerts were handed over at once; InputPerSec is how fast the
	// system took them, PerSec how fast their notifications arrived.
	BurstAlerts  int     `json:"burstAlerts"`
	BurstMissing int     `json:"burstMissing"`
	InputPerSec  float64 `json:"inputPerSec"`
	PerSec       float64 `json:"notificationsPerSec"`
	// CPUPerNotification is the process's CPU time in the burst divided
	// by its alerts, in microseconds.
	CPUPerNotification float64 `json:"cpuUsPerNotification,omitempty"`
	PeakRSSMiB         float64 `json:"peakRssMiB,omitempty"`
	Duplicates         int64   `json:"duplicates"`
	// Connections is how many TCP connections the receiver accepted.
	Connections int64 `json:"connections"`
	Refused     int64 `json:"refused"`
}

// Run is one round of every system.
type Run struct {
	LoadBefore string   `json:"loadBefore"`
	LoadAfter  string   `json:"loadAfter"`
	Results    []Result `json:"results"`
}

// Report is the whole measurement.
type Report struct {
	Date         string        `json:"date"`
	Machine      Machine       `json:"machine"`
	Alertmanager string        `json:"alertmanager"`
	Rate         int           `json:"rate"`
	Duration     time.Duration `json:"durationNs"`
	Burst        int           `json:"burst"`
	Runs         []Run         `json:"runs"`
}

// Systems, in the order of a report's columns.
const (
	Jetlog       = "jetlog notifier"
	Alertmanager = "Alertmanager"
	Direct       = "direct POST"
)

// Measure runs the measurement.
func Measure(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if len(o.Systems) == 0 {
		o.Systems = []string{Jetlog, Alertmanager, Direct}
	}
	amVersion, err := exec.Command("prometheus-alertmanager", "--version").CombinedOutput()
	if err != nil && slices.Contains(o.Systems, Alertmanager) {
		return nil, fmt.Errorf("alertmanager is not installed: run `make deps` (Debian package prometheus-alertmanager): %v", err)
	}
	bin := o.Notifier
	if bin == "" && slices.Contains(o.Systems, Jetlog) {
		o.Log.Info("building the notifier")
		bin = filepath.Join(o.WorkDir, "notifier")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = filepath.Join(o.Repo, "services", "notifier")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build services/notifier: %v\n%s", err, out)
		}
	}
	rcv, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer rcv.close()
	r := &Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: thisMachine(), Rate: o.Rate, Duration: o.Duration, Burst: o.Burst,
		Alertmanager: strings.TrimSpace(strings.SplitN(string(amVersion), "\n", 2)[0])}
	for run := range o.Runs {
		rr := Run{LoadBefore: loadAvg()}
		order := []string{Direct, Jetlog, Alertmanager}
		if run%2 == 1 {
			order = []string{Direct, Alertmanager, Jetlog}
		}
		for _, name := range order {
			if !slices.Contains(o.Systems, name) {
				continue
			}
			dir := filepath.Join(o.WorkDir, fmt.Sprintf("run%d-%s", run+1, strings.Fields(name)[0]))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			res, err := measure(ctx, o, name, run+1, dir, bin, rcv)
			if err != nil {
				return nil, fmt.Errorf("run %d, %s: %w", run+1, name, err)
			}
			o.Log.Info("measured", "run", run+1, "system", name, "notifications/s", int(res.PerSec), "p50_ms", res.Latency.P50, "p99_ms", res.Latency.P99,
				"missing", res.Latency.Missing+res.BurstMissing, "connections", res.Connections)
			rr.Results = append(rr.Results, res)
		}
		slices.SortStableFunc(rr.Results, func(a, b Result) int { return rank(a.System) - rank(b.System) })
		rr.LoadAfter = loadAvg()
		r.Runs = append(r.Runs, rr)
	}
	return r, nil
}

func rank(system string) int { return slices.Index([]string{Jetlog, Alertmanager, Direct}, system) }

// measure runs one system through warm-up, the latency phase and the burst.
func measure(ctx context.Context, o Options, name string, run int, dir, bin string, rcv *receiver) (Result, error) {
	nLat := int(float64(o.Rate) * o.Duration.Seconds())
	total := o.Warmup + nLat + o.Burst
	as := makeAlerts(fmt.Sprintf("%d-%s", run, strings.Fields(name)[0]), total)
	clk := newClock()
	arr := newArrivals(clk, total)
	rcv.record(arr)
	defer rcv.record(nil)

	var sys system
	var js *jetlogSystem
	var err error
	switch name {
	case Jetlog:
		js, err = startJetlog(ctx, bin, dir, rcv.URL(), as)
		sys = js
	case Alertmanager:
		sys, err = startAlertmanager(ctx, dir, rcv.URL(), as)
	case Direct:
		sys = &directSystem{url: rcv.URL() + "/direct", as: as, httpSender: newHTTPSender()}
	}
	if err != nil {
		return Result{}, err
	}
	defer sys.stop()
	const stall = 30 * time.Second
	res := Result{System: name, BurstAlerts: o.Burst}

	// Warm-up: connections, caches, the stream's first blocks.
	if err := sys.burst(ctx, 0, o.Warmup); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	if m := arr.wait(ctx, 0, o.Warmup, stall); m > 0 {
		return res, fmt.Errorf("warm-up: %d of %d notifications did not arrive", m, o.Warmup)
	}

	// Latency at a fixed rate, open loop.
	from := o.Warmup
	var direct *arrivals
	stopDirect := func() {}
	if js != nil {
		direct = newArrivals(clk, total)
		if stopDirect, err = js.direct(ctx, direct); err != nil {
			return res, err
		}
	}
	sent := make([]time.Duration, nLat)
	interval := time.Second / time.Duration(o.Rate)
	start := time.Now()
	for k := range nLat {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		sent[k] = clk.now()
		sys.send(from + k)
	}
	missing := arr.wait(ctx, from, from+nLat, stall)
	res.Latency = latencies(arr, sent, from, missing)
	if direct != nil {
		m := direct.wait(ctx, from, from+nLat, stall)
		l := latencies(direct, sent, from, m)
		res.JetStream = &l
	}
	stopDirect() // its deliveries would count in the burst's CPU

	// Throughput: a burst.
	from += nLat
	p := sys.proc()
	var cpu0 time.Duration
	if p != nil {
		cpu0 = p.cpu()
	}
	profDone := make(chan struct{})
	if js != nil && o.ProfileDir != "" {
		go func() {
			defer close(profDone)
			path := filepath.Join(o.ProfileDir, fmt.Sprintf("notifier-burst-run%d.pprof", run))
			if err := saveProfile(ctx, js.admin, 5, path); err != nil {
				o.Log.Warn("no profile", "err", err)
			}
		}()
	} else {
		close(profDone)
	}
	t0 := clk.now()
	if err := sys.burst(ctx, from, from+o.Burst); err != nil {
		return res, fmt.Errorf("burst: %w", err)
	}
	tIn := clk.now()
	res.BurstMissing = arr.wait(ctx, from, from+o.Burst, stall)
	tLast := arr.last(from, from+o.Burst)
	res.InputPerSec = float64(o.Burst) / (tIn - t0).Seconds()
	res.PerSec = float64(o.Burst-res.BurstMissing) / (tLast - t0).Seconds()
	if p != nil {
		res.CPUPerNotification = float64((p.cpu() - cpu0).Microseconds()) / float64(o.Burst)
		res.PeakRSSMiB = float64(p.peakRSS()) / (1 << 20)
	}
	<-profDone
	res.Duplicates = arr.dups.Load()
	res.Connections = arr.conns.Load()
	res.Refused = sys.failures()
	if s := arr.stray.Load(); s > 0 {
		return res, fmt.Errorf("%d requests at the receiver carried no alert of this run", s)
	}
	return res, nil
}

// latencies computes the arrival − hand-over intervals of [from, from+len(sent)).
func latencies(a *arrivals, sent []time.Duration, from, missing int) Latency {
	ds := make([]float64, 0, len(sent))
	for k, s := range sent {
		if at := a.at[from+k].Load(); at != 0 {
			ds = append(ds, float64(time.Duration(at)-s)/float64(time.Millisecond))
		}
	}
	slices.Sort(ds)
	l := Latency{Alerts: len(sent), Missing: missing}
	if len(ds) == 0 {
		return l
	}
	pct := func(p float64) float64 { return round2(ds[max(0, int(math.Ceil(p*float64(len(ds))))-1)]) }
	l.P50, l.P90, l.P99, l.Max = pct(0.5), pct(0.9), pct(0.99), round2(ds[len(ds)-1])
	return l
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// result returns the named system's result in a run.
func (r *Run) result(system string) *Result {
	for i := range r.Results {
		if r.Results[i].System == system {
			return &r.Results[i]
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
