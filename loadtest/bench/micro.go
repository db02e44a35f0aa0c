package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// MicroReport holds the stage benchmarks (stages_bench_test.go): time and
// allocations per event of each stage's own work.
type MicroReport struct {
	Machine Machine      `json:"machine"`
	Date    string       `json:"date"`
	Count   int          `json:"count"`
	Results []MicroBench `json:"results"`
	Load    float64      `json:"load"`
}

// MicroBench is one benchmark's medians over its runs.
type MicroBench struct {
	Name       string    `json:"name"`
	NsPerEvent float64   `json:"ns_per_event"`
	NsRuns     []float64 `json:"ns_runs"`
	// CPUNsPerEvent is the process's CPU time per event (the collector's
	// included): steadier than wall time on a shared machine.
	CPUNsPerEvent float64   `json:"cpu_ns_per_event"`
	CPUNsRuns     []float64 `json:"cpu_ns_runs"`
	BytesPerEvt   float64   `json:"bytes_per_event"`
	AllocsPerEvt  float64   `json:"allocs_per_event"`
}

// benchLine is one result line: name-GOMAXPROCS, iterations, then value
// unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

var metric = regexp.MustCompile(`([\d.]+) (\S+)`)

// Micro runs the stage benchmarks Runs times each (go test -bench
// -benchmem) and keeps the medians.
func Micro(ctx context.Context, e *Env) (*MicroReport, error) {
	r := &MicroReport{Machine: e.Machine(), Date: time.Now().UTC().Format(time.RFC3339), Count: e.Runs, Load: LoadAvg()}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^Benchmark(GatewayPublish|Enricher|Indexer)$", "-benchmem",
		"-count", strconv.Itoa(e.Runs), "-benchtime", "1s", "./bench")
	cmd.Dir = filepath.Join(e.Repo, "loadtest")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	if r.Results = parseBench(out); len(r.Results) == 0 {
		return nil, fmt.Errorf("go test -bench printed no benchmark:\n%s", out)
	}
	e.Log.Info("stage benchmarks", "benchmarks", len(r.Results))
	return r, nil
}

// parseBench reads `go test -bench` output: each benchmark's medians over
// its runs, in the order they ran.
func parseBench(out []byte) []MicroBench {
	var res []MicroBench
	type acc struct{ ns, cpu, bytes, allocs []float64 }
	byName := map[string]*acc{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		a := byName[m[1]]
		if a == nil {
			a = &acc{}
			byName[m[1]] = a
			order = append(order, m[1])
		}
		for _, kv := range metric.FindAllStringSubmatch(m[2], -1) {
			v, _ := strconv.ParseFloat(kv[1], 64)
			switch kv[2] {
			case "ns/op":
				a.ns = append(a.ns, v)
			case "cpu-ns/op":
				a.cpu = append(a.cpu, v)
			case "B/op":
				a.bytes = append(a.bytes, v)
			case "allocs/op":
				a.allocs = append(a.allocs, v)
			}
		}
	}
	for _, n := range order {
		a := byName[n]
		res = append(res, MicroBench{Name: n, NsPerEvent: median(a.ns), NsRuns: a.ns, CPUNsPerEvent: median(a.cpu), CPUNsRuns: a.cpu,
			BytesPerEvt: median(a.bytes), AllocsPerEvt: median(a.allocs)})
	}
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
