package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
)

// testConfig is the all-in-one configuration on free ports with its own
// NATS store and index prefix.
func testConfig(t *testing.T, cl *opensearchapi.Client) (*host.Config, string) {
	t.Helper()
	cfg := app.NewConfig()
	cfg.NATS.Server.Listen = "127.0.0.1:0"
	cfg.NATS.Server.StoreDir = t.TempDir()
	cfg.Admin.Listen = "127.0.0.1:0"
	app.Gateway(cfg).HTTP.Listen = "127.0.0.1:0"
	app.Gateway(cfg).Forward.Listen = "127.0.0.1:0"
	app.Notifier(cfg).HTTP.Listen = "127.0.0.1:0"
	cfg.OpenSearch.URLs = []string{testkit.OpenSearchURL()}
	app.Enricher(cfg).Settings.PipelinesDir = "../../../pipelines"
	app.Alerter(cfg).RulesDir = "../../../rules"
	prefix := testkit.IndexName(t, cl)
	app.Indexer(cfg).Settings.IndexPrefix = prefix
	t.Cleanup(func() {
		_, _ = cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: prefix})
	})
	return cfg, prefix
}

// start runs a host on cfg until the test ends.
func start(t *testing.T, cfg *host.Config) *host.Host { return hosttest.Start(t, cfg) }

// startApp runs the all-in-one process on free ports with its own NATS
// store and index prefix.
func startApp(t *testing.T, cl *opensearchapi.Client) (*host.Host, string) {
	t.Helper()
	cfg, prefix := testConfig(t, cl)
	return start(t, cfg), prefix
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
			Params:  opensearchapi.SearchParams{AllowNoIndices: new(true)},
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
	for _, name := range []string{"nats", "gateway", "gateway/backlog", "enricher", "enricher/consumer", "indexer", "indexer/consumer", "indexer/opensearch"} {
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
	// Readiness waits for the indexer's template, installed in the
	// background once OpenSearch answers.
	for _, path := range []string{"/healthz", "/readyz"} {
		testkit.Poll(t, time.Minute, func() (bool, string) {
			resp, err := http.Get("http://" + a.AdminAddr() + path)
			if err != nil {
				return false, err.Error()
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == 200, fmt.Sprintf("GET %s = %d: %s", path, resp.StatusCode, b)
		})
	}
}

func TestStopIsIdempotentAndSafeWithoutStart(t *testing.T) {
	cfg := app.NewConfig()
	app.Enricher(cfg).Settings.PipelinesDir = ""
	app.Alerter(cfg).RulesDir = ""
	a, err := host.New(cfg, nil)
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
	cfg := app.NewConfig()
	cfg.NATS.Server.Sync = "sometimes"
	app.Indexer(cfg).Consumer.Batch = 0
	cfg.OpenSearch.URLs = nil
	_, err := host.New(cfg, nil)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"nats.server.sync", "indexer.consumer.batch", "opensearch.urls"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}

// TestGatewayEventsAreSearchableExactlyOnce sends 50 000 events through the
// gateway's _bulk API, checks OpenSearch holds exactly the ids the gateway
// answered with, sends them all again and checks nothing was added.
func TestGatewayEventsAreSearchableExactlyOnce(t *testing.T) {
	const total, perRequest = 50000, 1000
	cl := testkit.OpenSearch(t)
	a, prefix := startApp(t, cl)
	url := "http://" + app.GatewayOf(a).HTTPAddr() + "/orders/_bulk"
	send := func() map[string]bool {
		ids := map[string]bool{}
		for r := 0; r < total/perRequest; r++ {
			var b strings.Builder
			for i := r * perRequest; i < (r+1)*perRequest; i++ {
				fmt.Fprintf(&b, "{\"create\":{}}\n{\"@timestamp\":\"2026-11-24T%02d:%02d:%02d.%03dZ\",\"message\":\"order %d paid\",\"level\":\"info\",\"amount\":%d}\n",
					i/3600%24, i/60%60, i%60, i%1000, i, i%500)
			}
			resp, err := http.Post(url, "application/x-ndjson", strings.NewReader(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			var br opensearchapi.BulkResp
			err = json.NewDecoder(resp.Body).Decode(&br)
			resp.Body.Close()
			if err != nil || br.Errors || len(br.Items) != perRequest {
				t.Fatalf("bulk request %d: errors=%v items=%d err=%v", r, br.Errors, len(br.Items), err)
			}
			for _, it := range br.Items {
				ids[it["create"].ID] = true
			}
		}
		return ids
	}
	first := send()
	if len(first) != total {
		t.Fatalf("the gateway gave %d distinct ids for %d events", len(first), total)
	}
	indexed := func() map[string]bool {
		_, _ = cl.Indices.Refresh(context.Background(), &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}})
		out := map[string]bool{}
		var after []any
		for {
			q := map[string]any{"size": 10000, "_source": false, "sort": []any{map[string]any{"id": "asc"}}}
			if after != nil {
				q["search_after"] = after
			}
			body, _ := json.Marshal(q)
			resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{Indices: []string{prefix + "-*"}, Body: bytes.NewReader(body),
				Params: opensearchapi.SearchParams{AllowNoIndices: new(true)}})
			if err != nil || len(resp.Hits.Hits) == 0 {
				return out
			}
			for _, h := range resp.Hits.Hits {
				if out[h.ID] {
					t.Errorf("document %s twice", h.ID)
				}
				out[h.ID] = true
			}
			after = resp.Hits.Hits[len(resp.Hits.Hits)-1].Sort
		}
	}
	testkit.PollProgress(t, 2*time.Minute, func() (bool, int64, string) {
		c, err := cl.Indices.Count(context.Background(), &opensearchapi.IndicesCountReq{Indices: []string{prefix + "-*"}})
		if err != nil {
			return false, -1, err.Error()
		}
		return c.Count >= total, int64(c.Count), fmt.Sprintf("%d of %d indexed", c.Count, total)
	})
	got := indexed()
	for id := range first {
		if !got[id] {
			t.Fatalf("id %s answered by the gateway is not in OpenSearch", id)
		}
	}
	if len(got) != total {
		t.Fatalf("%d documents for %d events", len(got), total)
	}
	second := send()
	for id := range second {
		if !first[id] {
			t.Fatalf("resending gave a new id %s", id)
		}
	}
	// Wait until the pipeline has nothing left to do, then count again.
	testkit.Poll(t, time.Minute, func() (bool, string) {
		ready, _ := a.Ready(context.Background())
		c, _ := cl.Indices.Count(context.Background(), &opensearchapi.IndicesCountReq{Indices: []string{prefix + "-*"}})
		return c != nil && c.Count == total, fmt.Sprintf("count %v, ready %v", c, ready)
	})
	if got := indexed(); len(got) != total {
		t.Errorf("%d documents after sending the same events again, want %d", len(got), total)
	}
}

// TestFluentBitNATSOutputIsIndexed publishes what Fluent Bit's nats output
// sends: a core-NATS publish on the record's tag, a JSON array of
// [epoch_seconds, record] pairs with the tag added to each record.
func TestFluentBitNATSOutputIsIndexed(t *testing.T) {
	cl := testkit.OpenSearch(t)
	a, prefix := startApp(t, cl)
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	payload := `[[1795575198.972944,{"tag":"logs.raw.fb.web","msg":"hi from fluent bit","level":"info"}],[1795575199.5,{"tag":"logs.raw.fb.web","msg":"second record","level":"warn"}]]`
	if err := nc.Publish("logs.raw.fb.web", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, time.Minute, func() (bool, string) {
		_, _ = cl.Indices.Refresh(context.Background(), &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}})
		resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{Indices: []string{prefix + "-*"},
			Body:   strings.NewReader(`{"query":{"term":{"source":"fb.web"}},"sort":["@timestamp"]}`),
			Params: opensearchapi.SearchParams{AllowNoIndices: new(true)}})
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Hits.Hits) != 2 {
			return false, fmt.Sprintf("%d hits", len(resp.Hits.Hits))
		}
		var ev map[string]any
		_ = json.Unmarshal(resp.Hits.Hits[0].Source, &ev)
		return ev["body"] == "hi from fluent bit" && ev["@timestamp"] == "2026-11-25T02:53:18.972944Z", fmt.Sprint(ev)
	})
}

// TestColdStartDuringAnOpenSearchOutage starts everything while OpenSearch
// is unreachable: the gateway and the enricher run and accept, their
// readiness (/readyz/gateway, /readyz/enricher) is green, and only the
// process-wide /readyz says the indexer waits for OpenSearch.
func TestColdStartDuringAnOpenSearchOutage(t *testing.T) {
	cl := testkit.OpenSearch(t)
	cfg, _ := testConfig(t, cl)
	cfg.OpenSearch.URLs = []string{"http://127.0.0.1:1"} // nothing listens there
	h := start(t, cfg)
	resp, err := http.Post("http://"+app.GatewayOf(h).HTTPAddr()+"/v1/ingest/checkout", "application/json",
		strings.NewReader(`{"message":"accepted while OpenSearch is down","level":"info"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("gateway answered %d during an OpenSearch outage", resp.StatusCode)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + h.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		code, body := get("/readyz/enricher")
		return code == 200, body
	})
	if code, body := get("/readyz/gateway"); code != 200 {
		t.Errorf("/readyz/gateway = %d %s, want 200: the gateway does not depend on OpenSearch", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"indexer/opensearch":"opensearch unreachable`) {
		t.Errorf("/readyz = %d %s, want 503 naming indexer/opensearch", code, body)
	}
}
