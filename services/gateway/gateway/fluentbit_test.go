package gateway

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestShippedFluentBitConfigs checks the Fluent Bit configurations in
// infra/fluent-bit against the gateway they point at: ports and paths match
// its defaults, every file buffers on disk and retries without limit, and
// the at-least-once paths wait for jetlog's acknowledgement.
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
			switch str(out["name"]) {
			case "forward":
				if str(out["port"]) != fwdPort || str(out["require_ack_response"]) != "on" {
					t.Errorf("forward output: port %v (gateway %s), require_ack_response %v", out["port"], fwdPort, out["require_ack_response"])
				}
			case "http":
				if str(out["port"]) != httpPort || str(out["uri"]) != "/v1/ingest" || str(out["header_tag"]) != "x-fluent-tag" {
					t.Errorf("http output: port %v uri %v header_tag %v", out["port"], out["uri"], out["header_tag"])
				}
			case "opensearch":
				if str(out["port"]) != httpPort || str(out["generate_id"]) != "on" {
					t.Errorf("opensearch output: port %v generate_id %v", out["port"], out["generate_id"])
				}
			case "nats":
				for _, in := range cfg.Pipeline.Inputs {
					if !strings.HasPrefix(str(in["tag"]), "logs.raw.") {
						t.Errorf("tag %v is outside logs.raw.: the raw stream would not capture it", in["tag"])
					}
				}
			default:
				t.Errorf("unexpected output %v", out["name"])
			}
		})
	}
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
