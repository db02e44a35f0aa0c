package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jetlog/jetlog/libs/topology"
)

// GatewayReport compares the gateway's acknowledged records/s with a raw
// JetStream async publish of the same records.
type GatewayReport struct {
	Machine Machine `json:"machine"`
	// Overrides are the -set overrides jetlog ran with (none: its defaults).
	Overrides []string     `json:"jetlog_overrides,omitempty"`
	Date      string       `json:"date"`
	Records   int          `json:"records"`
	Runs      []GatewayRun `json:"runs"`
	Ratio     float64      `json:"ratio_median"`
	// CPURatio is the median of the runs' CPU-cost ratios.
	CPURatio float64 `json:"cpu_ratio_median"`
}

// GatewayRun is one pair of measurements.
type GatewayRun struct {
	Run           int     `json:"run"`
	RawPublishSec float64 `json:"raw_publish_records_per_sec"`
	GatewaySec    float64 `json:"gateway_records_per_sec"`
	Ratio         float64 `json:"ratio"`
	RSSMiB        float64 `json:"gateway_peak_rss_mib"`
	Load          float64 `json:"load"`
	// RawCPUMicros is the harness's CPU per record during the raw publish
	// (client and server); GatewayCPUMicros the gateway process's plus the
	// harness's (shipper and server) during the gateway's run; CPURatio
	// the first over the second.
	RawCPUMicros     float64 `json:"raw_publish_cpu_us_per_record"`
	GatewayCPUMicros float64 `json:"gateway_path_cpu_us_per_record"`
	CPURatio         float64 `json:"cpu_ratio"`
}

// Gateway measures, Runs times on the three mixes: a JetStream async
// publish (4000 in flight, with ids) of every record's bytes into the
// embedded server, against the gateway process receiving the same records
// as Fluent Bit's forward output sends them (PackedForward chunks of about
// 2 MB, two connections, each chunk acknowledged after JetStream stored
// it) into the same kind of server.
func Gateway(ctx context.Context, e *Env) (*GatewayReport, error) {
	r := &GatewayReport{Machine: e.Machine(), Overrides: e.Sets, Date: time.Now().UTC().Format(time.RFC3339)}
	var chunks []Chunk
	var raws []RawEvent
	for i, m := range Mixes {
		lines := Lines(m, e.GatewayRecords/len(Mixes), uint64(30+i))
		c, err := ForwardChunks(m.Source(), lines, "gw-"+string(m))
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, c...)
		for j, l := range lines {
			raws = append(raws, RawEvent{Source: m.Source(), Data: appendEntry(nil, l), ID: fmt.Sprintf("%s-%d", m, j)})
		}
	}
	r.Records = len(raws)
	bin, err := e.Bin("services/gateway")
	if err != nil {
		return nil, err
	}
	var ratios, cpuRatios []float64
	for run := 1; run <= e.Runs; run++ {
		res := GatewayRun{Run: run, Load: LoadAvg()}
		n, err := StartNATS(ctx)
		if err != nil {
			return nil, err
		}
		self0 := SelfCPU()
		res.RawPublishSec, err = n.PublishAll(ctx, raws, func(ev RawEvent) string { return topology.RawPrefix + ev.Source }, func(ev RawEvent) []byte { return ev.Data })
		res.RawCPUMicros = perEvent(SelfCPU()-self0, len(raws))
		n.Close()
		if err != nil {
			return nil, err
		}
		if res.GatewaySec, res.GatewayCPUMicros, res.RSSMiB, err = gatewayOnce(ctx, e, bin, chunks, len(raws)); err != nil {
			return nil, err
		}
		res.Ratio = res.GatewaySec / res.RawPublishSec
		res.CPURatio = res.RawCPUMicros / res.GatewayCPUMicros
		ratios, cpuRatios = append(ratios, res.Ratio), append(cpuRatios, res.CPURatio)
		e.Log.Info("gateway", "run", run, "records_per_sec", int(res.GatewaySec), "raw_publish", int(res.RawPublishSec), "ratio", fmt.Sprintf("%.2f", res.Ratio), "load", res.Load)
		r.Runs = append(r.Runs, res)
	}
	r.Ratio, r.CPURatio = median(ratios), median(cpuRatios)
	return r, nil
}

// gatewayOnce returns the gateway's acknowledged records/s, the CPU per
// record of the gateway and the harness together, and the gateway's peak
// RSS.
func gatewayOnce(ctx context.Context, e *Env, bin string, chunks []Chunk, want int) (rate, cpu, rss float64, err error) {
	n, err := StartNATS(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer n.Close()
	addrs, err := freeAddrs(3)
	if err != nil {
		return 0, 0, 0, err
	}
	gw, err := StartProc("gateway", bin, e.WorkDir, []string{"JETLOG_NATS__URL=" + n.URL()},
		e.withSets("-set", "admin.listen="+addrs[0], "-set", "gateway.forward.listen="+addrs[1], "-set", "gateway.http.listen="+addrs[2])...)
	if err != nil {
		return 0, 0, 0, err
	}
	defer gw.Stop()
	if err := gw.WaitReady(ctx, addrs[0], ""); err != nil {
		return 0, 0, 0, err
	}
	cpu0, err := gw.CPU()
	if err != nil {
		return 0, 0, 0, err
	}
	self0 := SelfCPU()
	start := time.Now()
	shipped, err := Ship(ctx, addrs[1], chunks)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w\n%s", err, gw.LogTail(2000))
	}
	rate = float64(shipped.Records) / shipped.LastAck.Sub(start).Seconds()
	cpu1, err := gw.CPU()
	if err != nil {
		return 0, 0, 0, err
	}
	cpu = perEvent(cpu1-cpu0+SelfCPU()-self0, want)
	s, err := n.JS.Stream(ctx, topology.RawStream)
	if err != nil {
		return 0, 0, 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	if int(info.State.Msgs) != want {
		return 0, 0, 0, fmt.Errorf("the raw stream holds %d events for %d records sent", info.State.Msgs, want)
	}
	return rate, cpu, MiB(gw.PeakRSS()), nil
}
