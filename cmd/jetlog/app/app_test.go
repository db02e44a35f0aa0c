package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/testkit"
)

// startApp runs the all-in-one process on free ports with its own NATS
// store and index prefix.
func startApp(t *testing.T, cl *opensearchapi.Client) (*app.App, string) {
	t.Helper()
	cfg := app.Defaults()
	cfg.NATS.Server.Listen = "127.0.0.1:0"
	cfg.NATS.Server.StoreDir = t.TempDir()
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.OpenSearch.URLs = []string{testkit.OpenSearchURL()}
	prefix := testkit.IndexName(t, cl)
	cfg.Indexer.Settings.IndexPrefix = prefix
	t.Cleanup(func() {
		_, _ = cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: prefix})
	})
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a, prefix
}

func TestRawEventBecomesSearchable(t *testing.T) {
	cl := testkit.OpenSearch(t)
	a, prefix := startApp(t, cl)
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// What a shipper's nats output or `jetlog publish` sends: a JSON line on
	// logs.raw.<source>.
	line := `{"msg":"payment declined for order 1234","level":"error","service":"checkout","card_last4":"4242"}`
	if err := nc.Publish("logs.raw.checkout", []byte(line)); err != nil {
		t.Fatal(err)
	}
	var hit map[string]any
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		_, _ = cl.Indices.Refresh(context.Background(), &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}})
		resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{
			Indices: []string{prefix + "-*"},
			Body:    strings.NewReader(`{"query":{"match":{"body":"declined"}}}`),
			Params:  opensearchapi.SearchParams{AllowNoIndices: opensearchapi.ToPointer(true)},
		})
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Hits.Hits) == 0 {
			return false, "no hit yet"
		}
		_ = json.Unmarshal(resp.Hits.Hits[0].Source, &hit)
		return true, ""
	})
	sev, _ := hit["severity"].(map[string]any)
	res, _ := hit["resource"].(map[string]any)
	if hit["source"] != "checkout" || sev["text"] != "ERROR" || res["service.name"] != "checkout" {
		t.Errorf("indexed document = %v", hit)
	}

	ready, ok := a.Ready(context.Background())
	if !ok {
		t.Errorf("not ready: %v", ready)
	}
	for _, name := range []string{"nats", "enricher", "indexer", "opensearch"} {
		if ready[name] != "ok" {
			t.Errorf("readiness %s = %q", name, ready[name])
		}
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	cl := testkit.OpenSearch(t)
	a, _ := startApp(t, cl)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed; run `make deps` (Debian package prometheus)")
	}
	resp, err := http.Get("http://" + a.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"jetlog_worker_messages_total", "jetlog_worker_batch_duration_seconds", "jetlog_worker_consumer_pending_messages"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for path, code := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get("http://" + a.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, code)
		}
	}
}

func TestStopIsIdempotentAndSafeWithoutStart(t *testing.T) {
	a, err := app.New(app.Defaults(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := a.Stop(context.Background()); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
}

func TestInvalidConfigNamesEveryProblem(t *testing.T) {
	cfg := app.Defaults()
	cfg.NATS.Server.Sync = "sometimes"
	cfg.Indexer.Consumer.Batch = 0
	cfg.OpenSearch.URLs = nil
	_, err := app.New(cfg, nil)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"nats.server.sync", "indexer.consumer.batch", "opensearch.urls"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}

func TestExampleConfigIsValidAndMatchesTheDefaults(t *testing.T) {
	cfg := app.Defaults()
	if err := config.Load(config.Source{File: "../../../jetlog.example.yaml"}, &cfg); err != nil {
		t.Fatal(err)
	}
	want := app.Defaults()
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("jetlog.example.yaml differs from the defaults:\n file: %+v\n code: %+v", cfg, want)
	}
}
