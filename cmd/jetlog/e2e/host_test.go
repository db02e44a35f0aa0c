package e2e_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/testkit"
)

// TestStandaloneAndAllInOneReadTheSameKeys runs the standalone indexer and
// then `jetlog run -only indexer` with one configuration file and one
// environment, and reads what each made of them from the server: the
// indexer's durable consumer, whose settings come from
// indexer.consumer.* (one from the file, one from the environment).
func TestStandaloneAndAllInOneReadTheSameKeys(t *testing.T) {
	n := testkit.StartNATS(t)
	file := filepath.Join(t.TempDir(), "jetlog.yaml")
	body := "nats:\n  embedded: false\n  url: " + n.URL + "\n" +
		"opensearch:\n  urls: [" + testkit.OpenSearchURL() + "]\n" +
		"log: {format: json}\nadmin: {listen: 127.0.0.1:0}\n" +
		"indexer:\n  consumer:\n    ack_wait: 17s\n  index_prefix: logs-e2e-samekeys\n" +
		// Sections of components a process does not run are accepted.
		"gateway:\n  http: {listen: 127.0.0.1:0}\nenricher:\n  pipelines_dir: \"\"\nnotifier:\n  http: {listen: 127.0.0.1:0}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// JETLOG_PORT is what Kubernetes sets for a Service named jetlog: it
	// must be warned about, not fatal.
	env := []string{"JETLOG_INDEXER__CONSUMER__MAX_ACK_PENDING=12345", "JETLOG_PORT=tcp://10.0.0.1:9464"}
	ctx := context.Background()
	for _, run := range []struct {
		name string
		bin  string
		args []string
	}{
		{"standalone indexer", binary(t, "indexer"), []string{"-config", file}},
		{"jetlog run -only indexer", binary(t, "jetlog"), []string{"run", "-config", file, "-only", "indexer"}},
	} {
		t.Run(run.name, func(t *testing.T) {
			_ = n.JS.DeleteConsumer(ctx, "LOGS", "indexer")
			p := testkit.StartProcess(t, run.bin, env, run.args...)
			var ackWait time.Duration
			var maxAckPending int
			testkit.Poll(t, 30*time.Second, func() (bool, string) {
				c, err := n.JS.Consumer(ctx, "LOGS", "indexer")
				if err != nil {
					return false, err.Error()
				}
				ackWait, maxAckPending = c.CachedInfo().Config.AckWait, c.CachedInfo().Config.MaxAckPending
				return ackWait == 17*time.Second, "consumer not configured by the process yet"
			})
			if maxAckPending != 12345 {
				t.Errorf("max_ack_pending = %d, want 12345 from JETLOG_INDEXER__CONSUMER__MAX_ACK_PENDING", maxAckPending)
			}
			if !strings.Contains(p.Logs(), "JETLOG_PORT names no configuration key") {
				t.Errorf("no warning about JETLOG_PORT in the log:\n%s", p.Logs())
			}
			p.Signal(syscall.SIGTERM)
			if code := p.Wait(30 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM\n%s", code, p.Logs())
			}
		})
	}
}

// TestTwoStandaloneComponentsShareAMachine starts the enricher and the
// indexer with their default admin addresses: each has its own port.
func TestTwoStandaloneComponentsShareAMachine(t *testing.T) {
	n := testkit.StartNATS(t)
	env := []string{"JETLOG_NATS__URL=" + n.URL, "JETLOG_LOG__FORMAT=json", "JETLOG_OPENSEARCH__URLS=[" + testkit.OpenSearchURL() + "]",
		"JETLOG_ENRICHER__PIPELINES_DIR=", "JETLOG_INDEXER__INDEX_PREFIX=logs-e2e-twoprocs"}
	en := testkit.StartProcess(t, binary(t, "enricher"), env)
	ix := testkit.StartProcess(t, binary(t, "indexer"), env)
	for p, want := range map[*testkit.Process]string{en: "127.0.0.1:9466", ix: "127.0.0.1:9467"} {
		if p.Admin != want {
			t.Errorf("admin address %s, want %s", p.Admin, want)
		}
		resp, err := http.Get("http://" + p.Admin + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s/healthz = %d %s", p.Admin, resp.StatusCode, b)
		}
	}
}
