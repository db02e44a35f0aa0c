package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/libs/testkit"
)

// TestShippedFluentBitConfigs checks the Fluent Bit configurations in
// infra/fluent-bit against the gateway they point at: ports and paths match
// its defaults, every file buffers on disk and retries without limit, and
// the at-least-once paths wait for jetlog's acknowledgement, the opensearch
// output can read jetlog's whole _bulk answer, and all four ship the same
// application under the same source.
func TestShippedFluentBitConfigs(t *testing.T) {
	d := Defaults()
	_, httpPort, _ := net.SplitHostPort(d.HTTP.Listen)
	_, fwdPort, _ := net.SplitHostPort(d.Forward.Listen)
	type plugin map[string]any
	type file struct {
		Service  map[string]any `yaml:"service"`
		Pipeline struct {
			Inputs  []plugin `yaml:"inputs"`
			Outputs []plugin `yaml:"outputs"`
		} `yaml:"pipeline"`
	}
	files, _ := filepath.Glob("../../../infra/fluent-bit/*.yaml")
	if len(files) != 4 {
		t.Fatalf("%d Fluent Bit configs, want forward, http, opensearch and nats", len(files))
	}
	str := func(v any) string {
		switch x := v.(type) {
		case bool:
			if x {
				return "on"
			}
			return "off"
		case nil:
			return ""
		}
		return strings.ToLower(strings.TrimSpace(toString(v)))
	}
	sources := map[string]string{} // file → the source its records get
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var cfg file
			if err := yaml.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Service["storage.path"] == nil {
				t.Error("service has no storage.path: chunks would live in memory only")
			}
			for _, in := range cfg.Pipeline.Inputs {
				if str(in["storage.type"]) != "filesystem" {
					t.Errorf("input %v does not buffer on disk", in["name"])
				}
			}
			if len(cfg.Pipeline.Outputs) != 1 {
				t.Fatalf("%d outputs", len(cfg.Pipeline.Outputs))
			}
			out := cfg.Pipeline.Outputs[0]
			if str(out["retry_limit"]) != "no_limits" {
				t.Errorf("retry_limit %v: Fluent Bit would discard chunks", out["retry_limit"])
			}
			if out["storage.total_limit_size"] == nil {
				t.Error("no storage.total_limit_size")
			}
			tag := ""
			if len(cfg.Pipeline.Inputs) > 0 {
				tag = str(cfg.Pipeline.Inputs[0]["tag"])
			}
			switch str(out["name"]) {
			case "forward":
				if str(out["port"]) != fwdPort || str(out["require_ack_response"]) != "on" {
					t.Errorf("forward output: port %v (gateway %s), require_ack_response %v", out["port"], fwdPort, out["require_ack_response"])
				}
				sources[f] = tag
			case "http":
				if str(out["port"]) != httpPort || str(out["uri"]) != "/v1/ingest" || str(out["header_tag"]) != "x-fluent-tag" {
					t.Errorf("http output: port %v uri %v header_tag %v", out["port"], out["uri"], out["header_tag"])
				}
				sources[f] = tag
			case "opensearch":
				if str(out["port"]) != httpPort || str(out["generate_id"]) != "on" {
					t.Errorf("opensearch output: port %v generate_id %v", out["port"], out["generate_id"])
				}
				sources[f] = strings.TrimPrefix(str(out["index"]), ".")
				checkBulkBuffer(t, out["buffer_size"])
				for _, k := range []string{"trace_error", "trace_output"} {
					if v := str(out[k]); v != "" && v != "off" && v != "false" {
						t.Errorf("%s %v: Fluent Bit prints every failed flush's whole request or response (megabytes) to its log; diagnosis only", k, out[k])
					}
				}
			case "nats":
				for _, in := range cfg.Pipeline.Inputs {
					if !strings.HasPrefix(str(in["tag"]), "logs.raw.") {
						t.Errorf("tag %v is outside logs.raw.: the raw stream would not capture it", in["tag"])
					}
				}
				sources[f] = strings.TrimPrefix(tag, "logs.raw.")
			default:
				t.Errorf("unexpected output %v", out["name"])
			}
		})
	}
	// The four files ship the same application's logs: each path must give
	// its records the same source, so they land on the same subject and the
	// same pipeline (pipelines/app.yaml takes app.>).
	want := sources[files[0]]
	for f, src := range sources {
		if src != want || src == "" {
			t.Errorf("%s ships as source %q, %s as %q: the paths must agree", filepath.Base(f), src, filepath.Base(files[0]), want)
		}
	}
}

// checkBulkBuffer checks the opensearch output's buffer_size against the
// largest answer the gateway gives to one chunk. Fluent Bit reads the whole
// _bulk response into that buffer; when it does not fit, the flush fails
// (http_do=-1, "cannot increase buffer") and the whole chunk is sent again,
// with retry_limit no_limits for ever.
func checkBulkBuffer(t *testing.T, v any) {
	t.Helper()
	limit, unlimited, err := fluentBitSize(v)
	if err != nil {
		t.Errorf("buffer_size: %v", err)
		return
	}
	if unlimited {
		return
	}
	if v == nil {
		v = "unset (512k)"
	}
	records, answer := largestBulkAnswer(t)
	if limit < int64(answer) {
		t.Errorf("buffer_size %v holds %d bytes; the gateway's answer to a chunk of %d records (limits.max_batch_records) with Fluent Bit's ids and a 255-byte index is %d bytes: every such flush would fail and be resent for ever",
			v, limit, records, answer)
	}
}

// largestBulkAnswer sends a gateway with its defaults, over JetStream, the
// largest chunk the gateway accepts in one request, written the way Fluent
// Bit's opensearch output writes it (create, the index, generate_id's
// 36-character id), with the longest index name OpenSearch allows (255
// bytes), and returns the record count and the bytes of the whole HTTP
// answer (status line and headers included: Fluent Bit buffers them too).
func largestBulkAnswer(t *testing.T) (records, size int) {
	t.Helper()
	n := testkit.StartNATS(t)
	cfg := Defaults()
	cfg.HTTP.Listen, cfg.Forward.Enabled = "127.0.0.1:0", false
	g, err := New(cfg, n.NC, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Stop(context.Background()) })
	records = cfg.Limits.MaxBatchRecords
	index := "app." + strings.Repeat("x", 251)
	var body bytes.Buffer
	for i := range records {
		fmt.Fprintf(&body, "{\"create\":{\"_index\":%q,\"_id\":\"%08X-0000-4000-8000-%012X\"}}\n", index, i, i)
		fmt.Fprintf(&body, "{\"@timestamp\":\"2026-11-30T10:00:00.%06dZ\",\"log\":\"line %d\"}\n", i, i)
	}
	conn, err := net.Dial("tcp", g.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /_bulk HTTP/1.1\r\nHost: jetlog\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", body.Len())
	if _, err := conn.Write(body.Bytes()); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]any `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != http.StatusOK || answer.Errors || len(answer.Items) != records {
		t.Fatalf("_bulk of %d records: status %d, errors %v, %d items, %v", records, resp.StatusCode, answer.Errors, len(answer.Items), err)
	}
	return records, len(raw)
}

// fluentBitDefaultBuffer is the opensearch output's buffer_size when the
// file sets none: 512k.
const fluentBitDefaultBuffer = 512_000

// fluentBitSize reads a Fluent Bit size the way Fluent Bit does: a number
// with an optional K, M or G (powers of 1000, an optional B after it), or
// false for no limit; unset is the opensearch output's default.
func fluentBitSize(v any) (n int64, unlimited bool, err error) {
	s := ""
	switch x := v.(type) {
	case nil:
		return fluentBitDefaultBuffer, false, nil
	case bool:
		if !x {
			return 0, true, nil
		}
		s = "true"
	default:
		s = strings.ToUpper(strings.TrimSpace(toString(v)))
	}
	if s == "FALSE" {
		return 0, true, nil
	}
	mult := int64(1)
	s = strings.TrimSuffix(s, "B")
	for suffix, m := range map[string]int64{"K": 1e3, "M": 1e6, "G": 1e9} {
		if rest, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = rest, m
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, false, fmt.Errorf("%v is not a Fluent Bit size", v)
	}
	return int64(f * float64(mult)), false, nil
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	}
	return ""
}
