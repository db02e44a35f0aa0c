package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetlog/jetlog/libs/topology"
)

// GatewayOptions configure the gateway measurement.
type GatewayOptions struct {
	Records     int
	Connections int
	ChunkSize   int
	Repo        string
	WorkDir     string
	// ProfileDir, when set, receives a CPU profile of the gateway under load.
	ProfileDir string
	Log        *slog.Logger
}

// GatewayReport holds the figures of one run.
type GatewayReport struct {
	Machine        Machine `json:"machine"`
	Date           string  `json:"date"`
	Records        int     `json:"records"`
	Connections    int     `json:"connections"`
	ChunkSize      int     `json:"chunk_records"`
	RawPublishSec  float64 `json:"raw_publish_records_per_sec"`
	GatewaySec     float64 `json:"gateway_forward_records_per_sec"`
	Ratio          float64 `json:"gateway_over_raw_publish"`
	GatewayRSSMiB  float64 `json:"gateway_peak_rss_mib"`
	RecordBytesAvg int     `json:"record_bytes_avg"`
}

// Gateway measures forward-protocol records/s accepted and acknowledged by
// the gateway process against a raw JetStream async publish of the same
// records in the same run, and the gateway's peak RSS.
func Gateway(ctx context.Context, o GatewayOptions) (*GatewayReport, error) {
	if o.Connections == 0 {
		o.Connections = 4
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 500
	}
	r := &GatewayReport{Machine: ThisMachine(), Date: time.Now().UTC().Format(time.RFC3339), Records: o.Records, Connections: o.Connections, ChunkSize: o.ChunkSize}
	bin, err := Build(o.Repo, "gateway", o.WorkDir)
	if err != nil {
		return nil, err
	}
	evs := Generate(o.Records, 2)
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	recs := make([][]byte, len(evs)) // each record's msgpack map
	total := 0
	for i, ev := range evs {
		recs[i], err = msgpack.Marshal(map[string]any{"log": string(ev.Data), "stream": "stdout", "seq": i,
			"kubernetes": map[string]any{"namespace_name": "shop", "pod_name": fmt.Sprintf("web-%d", i%7), "container_name": "web"}})
		if err != nil {
			return nil, err
		}
		total += len(recs[i])
	}
	r.RecordBytesAvg = total / len(recs)

	// Baseline: the same records published straight to JetStream.
	n, err := StartNATS(ctx)
	if err != nil {
		return nil, err
	}
	raws := make([]RawEvent, len(recs))
	for i := range recs {
		raws[i] = RawEvent{Source: "bench", Data: recs[i], ID: fmt.Sprintf("raw-%d", i)}
	}
	r.RawPublishSec, err = n.PublishAll(ctx, raws, func(RawEvent) string { return topology.RawPrefix + "bench" }, func(ev RawEvent) []byte { return ev.Data })
	n.Close()
	if err != nil {
		return nil, err
	}
	o.Log.Info("raw publish", "records_per_sec", int(r.RawPublishSec))

	// The gateway process, fed by forward-protocol clients.
	n, err = StartNATS(ctx)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	adminAddr := "127.0.0.1:" + strconv.Itoa(adminPort)
	gw, err := StartProc("gateway", bin, o.WorkDir, []string{"JETLOG_NATS__URL=" + n.URL()},
		"-set", "admin.listen="+adminAddr, "-set", fmt.Sprintf("admin.pprof=%v", o.ProfileDir != ""), "-set", "gateway.http.enabled=false", "-set", "gateway.forward.listen="+addr)
	if err != nil {
		return nil, err
	}
	defer gw.Stop()
	if err := waitListening(ctx, addr); err != nil {
		return nil, err
	}
	// Chunks are built before the clock starts, as the baseline's messages
	// are: the measurement is the gateway's, not the client's msgpack.
	type chunk struct {
		id   string
		n    int
		data []byte
	}
	var built []chunk
	for i := 0; i < len(recs); i += o.ChunkSize {
		part := recs[i:min(i+o.ChunkSize, len(recs))]
		id := fmt.Sprintf("c%d", len(built))
		data, err := packedForward("bench.gw", part, base, id)
		if err != nil {
			return nil, err
		}
		built = append(built, chunk{id: id, n: len(part), data: data})
	}
	chunks := make(chan chunk, len(built))
	for _, c := range built {
		chunks <- c
	}
	close(chunks)
	if o.ProfileDir != "" {
		go profile(adminAddr, filepath.Join(o.ProfileDir, "gateway.cpu.pprof"), o.Log)
	}
	var acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.Connections)
	start := time.Now()
	for range o.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			rd := bufio.NewReader(c)
			for ch := range chunks {
				if _, err := c.Write(ch.data); err != nil {
					errs <- err
					return
				}
				var ack map[string]string
				_ = c.SetReadDeadline(time.Now().Add(time.Minute))
				if err := msgpack.NewDecoder(rd).Decode(&ack); err != nil || ack["ack"] != ch.id {
					errs <- fmt.Errorf("chunk %s: ack %v, %v", ch.id, ack, err)
					return
				}
				acked.Add(int64(ch.n))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r.GatewaySec = float64(acked.Load()) / time.Since(start).Seconds()
	r.Ratio = r.GatewaySec / r.RawPublishSec
	r.GatewayRSSMiB = MiB(gw.PeakRSS())
	s, err := n.JS.Stream(ctx, topology.RawStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	if int(info.State.Msgs) != len(recs) {
		return nil, fmt.Errorf("the raw stream holds %d events for %d records sent", info.State.Msgs, len(recs))
	}
	o.Log.Info("gateway", "records_per_sec", int(r.GatewaySec), "ratio", fmt.Sprintf("%.2f", r.Ratio), "rss_mib", fmt.Sprintf("%.1f", r.GatewayRSSMiB))
	return r, nil
}

// packedForward builds a PackedForward message: [tag, bin(entries), {chunk,
// size}], each entry [EventTime, record].
func packedForward(tag string, recs [][]byte, base time.Time, chunk string) ([]byte, error) {
	var entries bytes.Buffer
	for i, rec := range recs {
		ts := base.Add(time.Duration(i) * time.Millisecond)
		entries.WriteByte(0x92)           // fixarray of 2
		entries.Write([]byte{0xd7, 0x00}) // fixext 8, type 0: EventTime
		_ = binary.Write(&entries, binary.BigEndian, uint32(ts.Unix()))
		_ = binary.Write(&entries, binary.BigEndian, uint32(ts.Nanosecond()))
		entries.Write(rec)
	}
	return msgpack.Marshal([]any{tag, entries.Bytes(), map[string]any{"chunk": chunk, "size": len(recs)}})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(ctx context.Context, addr string) error {
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("gateway not listening on %s after 15s", addr)
}

// GatewayMarkdown renders a gateway report.
func GatewayMarkdown(r *GatewayReport) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!-- Generated by `make bench` (loadtest/cmd/jetlog-bench -scenario gateway); do not edit. -->\n")
	fmt.Fprintf(&b, "# Gateway benchmark\n\n%s; machine: %s; embedded NATS (sync 1s) in the benchmark process, the gateway as its own process.\n\n", r.Date, machineLine(r.Machine))
	fmt.Fprintf(&b, "%d records of %d bytes on average (msgpack), PackedForward chunks of %d records with `chunk` acks over %d connections.\n\n", r.Records, r.RecordBytesAvg, r.ChunkSize, r.Connections)
	fmt.Fprintf(&b, "| measurement | baseline: raw JetStream async publish | gateway: forward records acknowledged | ratio | target |\n| --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| records/s | %.0f | %.0f | %.2f | ≥ 0.70 (%s) |\n", r.RawPublishSec, r.GatewaySec, r.Ratio, verdict(r.Ratio >= 0.7))
	fmt.Fprintf(&b, "\n| process | peak RSS | target |\n| --- | --- | --- |\n| gateway | %.1f MiB | ≤ 64 MiB (%s) |\n", r.GatewayRSSMiB, verdict(r.GatewayRSSMiB <= 64))
	return b.String()
}
