package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
)

// AlerterOptions configure the alerter measurements.
type AlerterOptions struct {
	// Rate is the events/s sent through the gateway during the latency
	// run; 0 takes half of the pipeline's sustained rate: the median of
	// jetlog's end-to-end docs/s over the mixes in results/e2e.json.
	Rate float64
	// Seconds is how long the latency run lasts.
	Seconds int
	// CostEvents is how many events each rule count's CPU run handles (0:
	// no CPU run).
	CostEvents int
	// Standalone measures the latency through standalone processes too.
	Standalone    bool
	OpenSearchURL string
	Repo          string
	WorkDir       string
	Results       string
	Log           *slog.Logger
}

// AlerterReport holds the figures of one run.
type AlerterReport struct {
	Machine Machine `json:"machine"`
	Date    string  `json:"date"`
	// Rate is the events/s of the latency runs, Rules their rule count.
	Rate  float64 `json:"rate_events_per_sec"`
	Rules int     `json:"latency_rules"`
	// Latency holds one run per deployment shape: `jetlog run`, and the
	// standalone processes.
	Latency []LatencyFigures `json:"latency"`
	// Cost: the alerter's CPU per event with 10, 100 and 1 000 rules.
	CostEvents  int             `json:"cost_events"`
	CPUPerEvent map[int]float64 `json:"cpu_us_per_event"`
	CostRatio   float64         `json:"cost_1000_over_10"`
	// ScheduleEvery is the schedule-only rule's schedule.every.
	ScheduleEvery string `json:"schedule_every"`
}

// LatencyFigures are one latency run's: from the gateway's receipt of an
// event (its observedTimestamp) to its alert event stored in ALERTS.
type LatencyFigures struct {
	// Shape is "jetlog run" or "standalone processes".
	Shape  string  `json:"shape"`
	Probes int     `json:"probes"`
	Alerts int     `json:"probe_alerts"`
	P50Ms  float64 `json:"latency_p50_ms"`
	P99Ms  float64 `json:"latency_p99_ms"`
	MaxMs  float64 `json:"latency_max_ms"`
	// The same split at LOGS: gateway receipt → enriched event stored in
	// LOGS (the pipeline before the alerter), and LOGS → ALERTS (the
	// alerter's part: matching, the hits hop, evaluation, the publish).
	PipeP50Ms    float64 `json:"pipeline_part_p50_ms"`
	PipeP99Ms    float64 `json:"pipeline_part_p99_ms"`
	AlerterP50Ms float64 `json:"alerter_part_p50_ms"`
	AlerterP99Ms float64 `json:"alerter_part_p99_ms"`
	SentEvents   int     `json:"events_sent"`
	// ScheduledMs: the time from an event's receipt to the alert its
	// schedule-only rule raises.
	ScheduledMs []float64 `json:"scheduled_ms"`
}

// probeRules writes n `any` rules, each firing on the probes that name it,
// one alert per probe, and one schedule-only rule over the probes of
// source bench.sched.
func probeRules(dir string, n int, every time.Duration) error {
	for k := range n {
		body := fmt.Sprintf("name: probe-%04d\ntype: any\nseverity: info\nmatch: {fields: {attributes.probe_rule: r%d}}\ngroup_by: [attributes.probe_id]\nresolve_after: 1m\n", k, k)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("probe-%04d.yaml", k)), []byte(body), 0o644); err != nil {
			return err
		}
	}
	sched := fmt.Sprintf("name: scheduled-probe\ntype: any\nstream: false\nmatch: {sources: [bench.sched]}\ngroup_by: [attributes.probe_id]\nresolve_after: 1h\nschedule: {every: %v, lookback: 10m}\n", every)
	return os.WriteFile(filepath.Join(dir, "scheduled-probe.yaml"), []byte(sched), 0o644)
}

// costRules writes n rules of the kinds a deployment has: a third keyed by
// a service, a third by a source, a third by a source pattern, each a
// frequency rule grouped by host.
func costRules(dir string, n int) error {
	for k := range n {
		var match string
		switch k % 3 {
		case 0:
			match = fmt.Sprintf("{fields: {resource.service.name: svc-%d}}", k)
		case 1:
			match = fmt.Sprintf("{sources: [app.s%d]}", k)
		default:
			match = fmt.Sprintf("{sources: [\"k8s.ns%d.*\"], min_severity: warn}", k)
		}
		body := fmt.Sprintf("name: cost-%04d\ntype: frequency\nwindow: 5m\nthreshold: 2000\nmatch: %s\ngroup_by: [resource.host.name]\n", k, match)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cost-%04d.yaml", k)), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Alerter measures the alerter: latency from the gateway to ALERTS with 100
// rules at half the pipeline's sustained rate while the indexer runs, the
// scheduled path's time to raise an alert, and the CPU per event at 10, 100
// and 1 000 rules.
func Alerter(ctx context.Context, o AlerterOptions) (*AlerterReport, error) {
	r := &AlerterReport{Machine: ThisMachine(o.OpenSearchURL), Date: time.Now().UTC().Format(time.RFC3339), Rules: 100, CPUPerEvent: map[int]float64{},
		CostEvents: o.CostEvents, ScheduleEvery: "10s"}
	if o.Rate == 0 {
		o.Rate = 6000
		if b, err := os.ReadFile(filepath.Join(o.Results, "e2e.json")); err == nil {
			var p E2EReport
			if json.Unmarshal(b, &p) == nil && len(p.Mixes) > 0 {
				var rates []float64
				for _, m := range p.Mixes {
					rates = append(rates, m.JetlogDocsSec)
				}
				o.Rate = median(rates) / 2
			}
		}
	}
	r.Rate = o.Rate
	bins := map[string]string{}
	for _, s := range []string{"services/gateway", "services/enricher", "services/indexer", "services/alerter", "cmd/jetlog"} {
		b, err := Build(o.Repo, s, o.WorkDir)
		if err != nil {
			return nil, err
		}
		bins[filepath.Base(s)] = b
	}
	shapes := []bool{true}
	if o.Standalone {
		shapes = append(shapes, false)
	}
	for _, allInOne := range shapes {
		l, err := latencyRun(ctx, o, r, bins, allInOne)
		if err != nil {
			return nil, err
		}
		r.Latency = append(r.Latency, *l)
	}
	for _, n := range []int{10, 100, 1000} {
		if o.CostEvents == 0 {
			break
		}
		us, err := costRun(ctx, o, bins["alerter"], n)
		if err != nil {
			return nil, err
		}
		r.CPUPerEvent[n] = us
		o.Log.Info("alerter cost", "rules", n, "cpu_us_per_event", us)
	}
	if r.CPUPerEvent[10] > 0 {
		r.CostRatio = r.CPUPerEvent[1000] / r.CPUPerEvent[10]
	}
	return r, nil
}

// latencyRun measures the latency through `jetlog run` (allInOne) or
// through standalone processes on a NATS server in the harness.
func latencyRun(ctx context.Context, o AlerterOptions, r *AlerterReport, bins map[string]string, allInOne bool) (*LatencyFigures, error) {
	l := &LatencyFigures{Shape: "standalone processes"}
	if allInOne {
		l.Shape = "jetlog run"
	}
	cfg := osclient.Defaults()
	cfg.URLs = []string{o.OpenSearchURL}
	cl, err := osclient.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("jl-alertbench-%d", time.Now().Unix())
	defer func() { _ = deleteIndices(cl, prefix) }()
	rules := filepath.Join(o.WorkDir, "probe-rules")
	if err := os.MkdirAll(rules, 0o755); err != nil {
		return nil, err
	}
	if err := probeRules(rules, r.Rules, 10*time.Second); err != nil {
		return nil, err
	}
	osURL := []string{"-set", "opensearch.urls=[" + o.OpenSearchURL + "]"}
	indexer := append([]string{"-set", "indexer.index_prefix=" + prefix}, osURL...)
	alerter := append([]string{"-set", "alerter.rules_dir=" + rules, "-set", "alerter.index_prefix=" + prefix, "-set", "alerter.schedule.jitter=0s",
		"-set", "alerter.defaults.lateness=5s"}, osURL...)
	enricher := []string{"-set", "enricher.pipelines_dir=" + filepath.Join(o.Repo, "pipelines")}
	var n *NATS
	var addr string
	if allInOne {
		// `jetlog run`: every component in one process, on its embedded
		// server, reached in process.
		addrs, err := freeAddrs(5)
		if err != nil {
			return nil, err
		}
		store, err := os.MkdirTemp(o.WorkDir, "alerter-nats")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(store)
		addr = addrs[3]
		proc, err := StartProc("jetlog", bins["jetlog"], o.WorkDir, nil, append([]string{"run",
			"-set", "nats.server.listen=" + addrs[0], "-set", "nats.server.store_dir=" + store, "-set", "admin.listen=" + addrs[1],
			"-set", "gateway.forward.listen=" + addrs[2], "-set", "gateway.http.listen=" + addr, "-set", "notifier.http.listen=" + addrs[4]},
			slices.Concat(indexer, alerter, enricher)...)...)
		if err != nil {
			return nil, err
		}
		defer proc.Stop()
		if err := proc.WaitReady(ctx, addrs[1], ""); err != nil {
			return nil, err
		}
		if n, err = connectNATS(ctx, "nats://"+addrs[0]); err != nil {
			return nil, err
		}
		defer n.Close()
	} else {
		// Standalone processes on a NATS server in this harness.
		if n, err = StartNATS(ctx); err != nil {
			return nil, err
		}
		defer n.Close()
		addrs, err := freeAddrs(1)
		if err != nil {
			return nil, err
		}
		addr = addrs[0]
		for _, p := range []struct {
			name string
			args []string
		}{
			{"indexer", indexer},
			{"alerter", alerter},
			{"enricher", enricher},
			{"gateway", []string{"-set", "gateway.forward.enabled=false", "-set", "gateway.http.listen=" + addr}},
		} {
			proc, err := StartProc(p.name, bins[p.name], o.WorkDir, []string{"JETLOG_NATS__URL=" + n.URL()}, append([]string{"-set", "admin.enabled=false"}, p.args...)...)
			if err != nil {
				return nil, err
			}
			defer proc.Stop()
		}
		if err := waitListening(ctx, addr); err != nil {
			return nil, err
		}
	}
	stored := map[string]time.Time{} // probe id → when ALERTS stored its alert
	var mu sync.Mutex
	cons, err := n.JS.OrderedConsumer(ctx, topology.AlertsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"alerts.firing.>"}})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var a alert.Alert
		if json.Unmarshal(m.Data(), &a) != nil {
			return
		}
		md, err := m.Metadata()
		if err != nil {
			return
		}
		mu.Lock()
		stored[a.Group["attributes.probe_id"]] = md.Timestamp
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer cc.Stop()
	enriched := map[string]time.Time{} // probe id → when LOGS stored it
	received := map[string]time.Time{} // probe id → when the gateway received it (its observedTimestamp)
	lc, err := n.JS.OrderedConsumer(ctx, topology.EnrichedStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topology.EnrichedPrefix + "bench_load", topology.EnrichedPrefix + "bench_sched"}})
	if err != nil {
		return nil, err
	}
	lcc, err := lc.Consume(func(m jetstream.Msg) {
		if !bytes.Contains(m.Data(), []byte("probe_id")) {
			return
		}
		ev, err := event.Unmarshal(m.Data())
		md, err2 := m.Metadata()
		if err != nil || err2 != nil {
			return
		}
		if id, ok := ev.Attributes["probe_id"].(string); ok {
			mu.Lock()
			enriched[id] = md.Timestamp
			received[id] = ev.ObservedTimestamp
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	defer lcc.Stop()
	time.Sleep(3 * time.Second) // the alerter takes its partitions

	// The load: every 10 ms one request of rate/100 lines, one of them a
	// probe naming one of the rules.
	perTick := max(int(r.Rate/100), 1)
	hc := &http.Client{Timeout: 10 * time.Second}
	var probes []string
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(time.Duration(o.Seconds) * time.Second)
	seq := 0
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		var body bytes.Buffer
		id := fmt.Sprintf("p%06d", len(probes))
		fmt.Fprintf(&body, `{"msg":"probe %s","level":"error","probe_rule":"r%d","probe_id":%q}`+"\n", id, len(probes)%r.Rules, id)
		for range perTick - 1 {
			seq++
			fmt.Fprintf(&body, `{"msg":"GET /api/v1/orders/%d served in %d ms","level":"info","service":"svc-%d","host":"web-%d","order":%d}`+"\n",
				seq, seq%97, seq%50, seq%7, seq)
		}
		resp, err := hc.Post("http://"+addr+"/v1/ingest/bench.load", "application/x-ndjson", &body)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			o.Log.Warn("gateway refused a request", "status", resp.StatusCode)
			continue
		}
		probes = append(probes, id)
		l.SentEvents += perTick
	}
	l.Probes = len(probes)
	// Scheduled path: probes only the schedule-only rule sees.
	schedSent := map[string]time.Time{}
	for i := range 3 {
		id := fmt.Sprintf("s%d", i)
		body := fmt.Sprintf(`{"msg":"scheduled probe","level":"error","probe_id":%q}`+"\n", id)
		schedSent[id] = time.Now()
		resp, err := hc.Post("http://"+addr+"/v1/ingest/bench.sched", "application/x-ndjson", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		time.Sleep(7 * time.Second)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(stored) >= len(probes)+len(schedSent)
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var lat, pipe, own []float64
	for _, id := range probes {
		at, ok := stored[id]
		rx, ok2 := received[id]
		if ok && ok2 {
			lat = append(lat, float64(at.Sub(rx))/1e6)
			if mid, ok := enriched[id]; ok {
				pipe = append(pipe, float64(mid.Sub(rx))/1e6)
				own = append(own, float64(at.Sub(mid))/1e6)
			}
		}
	}
	l.Alerts = len(lat)
	for _, l := range [][]float64{lat, pipe, own} {
		sort.Float64s(l)
	}
	if len(lat) > 0 {
		l.P50Ms, l.P99Ms, l.MaxMs = pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1]
	}
	if len(pipe) > 0 {
		l.PipeP50Ms, l.PipeP99Ms, l.AlerterP50Ms, l.AlerterP99Ms = pct(pipe, 0.5), pct(pipe, 0.99), pct(own, 0.5), pct(own, 0.99)
	}
	for i := range 3 {
		id := fmt.Sprintf("s%d", i)
		if at, ok := stored[id]; ok {
			rx := schedSent[id]
			if t, ok := received[id]; ok {
				rx = t
			}
			l.ScheduledMs = append(l.ScheduledMs, float64(at.Sub(rx))/1e6)
		}
	}
	o.Log.Info("alerter latency", "shape", l.Shape, "probes", l.Probes, "alerts", l.Alerts, "p50_ms", l.P50Ms, "p99_ms", l.P99Ms, "max_ms", l.MaxMs, "scheduled_ms", l.ScheduledMs)
	return l, nil
}

func pct(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// observed reads when the gateway received each probe (its
// observedTimestamp) from the indexed documents.
// costRun measures the alerter's CPU per event with n rules, over events
// preloaded into LOGS.
func costRun(ctx context.Context, o AlerterOptions, bin string, n int) (float64, error) {
	nats, err := StartNATS(ctx)
	if err != nil {
		return 0, err
	}
	defer nats.Close()
	dir := filepath.Join(o.WorkDir, fmt.Sprintf("cost-rules-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	if err := costRules(dir, n); err != nil {
		return 0, err
	}
	base := time.Now().Add(-time.Minute)
	evs := make([]RawEvent, o.CostEvents)
	for i := range evs {
		src := []string{"app.s1", "app.s4", "k8s.ns2.web", "k8s.ns5.api", "nginx.edge"}[i%5]
		ev := &event.Event{ID: fmt.Sprintf("c%d", i), Timestamp: base.Add(time.Duration(i) * time.Microsecond), Source: src,
			Body: fmt.Sprintf("GET /api/v1/orders/%d 200", i), Severity: event.Severity{Text: "WARN", Number: 13},
			Resource:   map[string]any{"service.name": fmt.Sprintf("svc-%d", (i%4)*3), "host.name": fmt.Sprintf("web-%d", i%7)},
			Attributes: map[string]any{"http.status": 200, "order": i}}
		data, _ := ev.Marshal()
		evs[i] = RawEvent{Source: src, ID: ev.ID, Data: data}
	}
	p, err := StartProc(fmt.Sprintf("alerter-cost-%d", n), bin, o.WorkDir, []string{"JETLOG_NATS__URL=" + nats.URL()},
		"-set", "admin.enabled=false", "-set", "alerter.rules_dir="+dir, "-set", "alerter.schedule.enabled=false")
	if err != nil {
		return 0, err
	}
	defer p.Stop()
	time.Sleep(3 * time.Second) // rules loaded, partitions taken: not part of the cost
	before, err := p.CPU()
	if err != nil {
		return 0, err
	}
	if _, err := nats.PublishAll(ctx, evs, func(ev RawEvent) string { return topology.EnrichedPrefix + ev.Source }, func(ev RawEvent) []byte { return ev.Data }); err != nil {
		return 0, err
	}
	if _, err := nats.WaitDrained(ctx, topology.EnrichedStream, topology.AlerterDurable); err != nil {
		return 0, err
	}
	after, err := p.CPU()
	if err != nil {
		return 0, err
	}
	return perEvent(after-before, len(evs)), nil
}

// Markdown renders the report.
func (r *AlerterReport) Markdown() string { return AlerterMarkdown(r) }

// AlerterMarkdown renders a report.
func AlerterMarkdown(r *AlerterReport) string {
	var b strings.Builder
	b.WriteString("<!-- Generated by loadtest/cmd/jetlog-bench -scenario alerter; do not edit. -->\n# Alerter benchmark\n\n")
	fmt.Fprintf(&b, "%s; machine: %s; one local OpenSearch node on the same machine.\n\n", r.Date, r.Machine)
	fmt.Fprintf(&b, "Gateway (HTTP NDJSON) → enricher (shipped pipelines) → indexer and alerter, %d rules, %.0f events/s (half the pipeline's sustained rate: jetlog's end-to-end docs/s in results/e2e.json); one probe event in every request of 10 ms names one rule, which raises one alert for it. "+
		"Measured twice: through `jetlog run` (every component in one process, on its embedded NATS server), and through standalone processes (gateway, enricher, indexer, alerter) on a NATS server in the harness.\n\n",
		r.Rules, r.Rate)
	b.WriteString("| measurement |")
	for _, l := range r.Latency {
		fmt.Fprintf(&b, " %s |", l.Shape)
	}
	b.WriteString(" target |\n| --- |")
	for range r.Latency {
		b.WriteString(" --- |")
	}
	b.WriteString(" --- |\n")
	row := func(name, target string, f func(l LatencyFigures) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, l := range r.Latency {
			fmt.Fprintf(&b, " %s |", f(l))
		}
		fmt.Fprintf(&b, " %s |\n", target)
	}
	met := func(v, limit float64, l LatencyFigures) string {
		return fmt.Sprintf("%.1f ms %s", v, verdict(v <= limit && l.Alerts > 0))
	}
	row("latency, gateway receipt (observedTimestamp) → alert stored in ALERTS, p50", "≤ 5 ms", func(l LatencyFigures) string { return met(l.P50Ms, 5, l) })
	row("p99", "≤ 25 ms", func(l LatencyFigures) string { return met(l.P99Ms, 25, l) })
	row("max", "", func(l LatencyFigures) string { return fmt.Sprintf("%.1f ms", l.MaxMs) })
	row("of which gateway → LOGS (gateway, LOGS_RAW, enricher), p50 / p99", "", func(l LatencyFigures) string {
		return fmt.Sprintf("%.1f / %.1f ms", l.PipeP50Ms, l.PipeP99Ms)
	})
	row("of which LOGS → ALERTS (the alerter), p50 / p99", "", func(l LatencyFigures) string {
		return fmt.Sprintf("%.1f / %.1f ms", l.AlerterP50Ms, l.AlerterP99Ms)
	})
	row("probes alerted / sent", "all", func(l LatencyFigures) string { return fmt.Sprintf("%d / %d", l.Alerts, l.Probes) })
	row("events sent", "", func(l LatencyFigures) string { return fmt.Sprintf("%d", l.SentEvents) })
	row(fmt.Sprintf("scheduled path, receipt → alert (schedule.every %s, after indexing)", r.ScheduleEvery), "", func(l LatencyFigures) string {
		return floats(l.ScheduledMs) + " ms"
	})
	fmt.Fprintf(&b, "\nAlerter CPU per event over %d events preloaded into LOGS (rules keyed by service, source and source pattern; every event matches one):\n\n", r.CostEvents)
	b.WriteString("| rules | CPU µs per event |\n| --- | --- |\n")
	for _, n := range []int{10, 100, 1000} {
		fmt.Fprintf(&b, "| %d | %.1f |\n", n, r.CPUPerEvent[n])
	}
	fmt.Fprintf(&b, "\nCost at 1 000 rules ÷ cost at 10: **%.2f** (target ≤ 3 %s).\n", r.CostRatio, verdict(r.CostRatio > 0 && r.CostRatio <= 3))
	return b.String()
}

func floats(fs []float64) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%.0f", f)
	}
	return strings.Join(parts, ", ")
}
