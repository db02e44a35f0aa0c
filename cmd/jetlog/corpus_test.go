package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// TestMalformedCorpusAndRedrive sends good and bad input through the whole
// pipeline: a line a pipeline cannot parse is indexed as it came, tagged
// with the failure; every other bad one lands in the DLQ of the stage that
// refused it, with its reason; every good one is indexed. The syslog
// pipeline is set to dead-letter its failures (on_error: dlq, a
// per-pipeline choice); then it is fixed and `jetlog dlq redrive` brings
// the refused syslog line in, once, as the event it was.
func TestMalformedCorpusAndRedrive(t *testing.T) {
	cl := testkit.OpenSearch(t)
	pipelines := t.TempDir()
	for _, f := range []string{"nginx.yaml", "syslog.yaml", "app.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "pipelines", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "syslog.yaml" {
			b = []byte(strings.Replace(string(b), "name: syslog\n", "name: syslog\non_error: dlq\n", 1))
		}
		if err := os.WriteFile(filepath.Join(pipelines, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := app.NewConfig()
	cfg.NATS.Server.Listen = "127.0.0.1:0"
	cfg.NATS.Server.StoreDir = t.TempDir()
	cfg.Admin.Listen = "127.0.0.1:0"
	app.Gateway(cfg).HTTP.Listen = "127.0.0.1:0"
	app.Notifier(cfg).HTTP.Listen = "127.0.0.1:0"
	app.Gateway(cfg).Forward.Enabled = false
	cfg.OpenSearch.URLs = []string{testkit.OpenSearchURL()}
	app.Enricher(cfg).Settings.PipelinesDir = pipelines
	app.Alerter(cfg).RulesDir = ""
	prefix := testkit.IndexName(t, cl)
	app.Indexer(cfg).Settings.IndexPrefix = prefix
	t.Cleanup(func() {
		_, _ = cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: prefix})
	})
	a := hosttest.Start(t, cfg)
	gw := "http://" + app.GatewayOf(a).HTTPAddr()
	post := func(path, ctype, body string) int {
		t.Helper()
		resp, err := http.Post(gw+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	good := 0
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf(`203.0.113.%d - - [24/Nov/2026:10:00:%02d +0000] "GET /p/%d HTTP/1.1" 200 %d "-" "curl/8.5"`, i, i, i, 100+i))
	}
	unparsed := "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address in use)"
	lines = append(lines, unparsed) // not an access line: indexed as it came, tagged
	post("/v1/ingest/nginx.edge", "text/plain", strings.Join(lines, "\n"))
	good += 11
	post("/v1/ingest/syslog.paris", "text/plain", "<165>1 2026-11-24T10:00:00Z web-1 billing - - - invoice sent\n"+
		"<34>Nov 24 10:00:01 web-2 su: auth failure\n"+
		"this line has no syslog header") // bad: no PRI
	good += 2
	post("/v1/ingest/app.shop.orders", "application/json", `[{"message":"order placed","order":{"id":1},"level":"info","time":"2026-11-24T10:00:00Z"}]`)
	good++
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := docs(cl, prefix)
		return n >= good, fmt.Sprintf("%d of %d", n, good)
	})
	// Mapping conflict: order was an object, now a number.
	post("/v1/ingest/app.shop.orders", "application/json", `[{"message":"order paid","order":42,"level":"info","time":"2026-11-24T10:00:05Z"},{"message":"order shipped","order":{"id":2},"level":"info","time":"2026-11-24T10:00:06Z"}]`)
	good++
	// A 10 MB record and malformed JSON.
	if code := post("/v1/ingest/app.shop.orders", "application/json", `{"message":"`+strings.Repeat("x", 10<<20)+`"}`); code != http.StatusOK {
		t.Errorf("10 MB record: HTTP %d, want 200 with the record rejected", code)
	}
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("logs.raw.app.shop.orders", []byte(`{"message": "truncated`)); err != nil {
		t.Fatal(err)
	}

	js, _ := jetstream.New(nc)
	want := map[string]string{ // stage → a part of the reason
		"enricher/syslog": "syslog",
		"enricher/json":   "malformed JSON",
		"indexer":         "mapper_parsing_exception",
		"gateway":         "too large",
	}
	var records []*dlq.Record
	testkit.Poll(t, time.Minute, func() (bool, string) {
		records = deadLetters(t, js)
		return len(records) >= len(want), fmt.Sprintf("%d dead letters", len(records))
	})
	found := map[string]bool{}
	for _, r := range records {
		for k, reason := range want {
			stage, _, _ := strings.Cut(k, "/")
			if r.Stage == stage && strings.Contains(r.Reason, reason) {
				found[k] = true
			}
		}
	}
	for k := range want {
		if !found[k] {
			t.Errorf("no %s dead letter with %q; got %d: %v", k, want[k], len(records), reasons(records))
		}
	}
	if len(records) != len(want) {
		t.Errorf("%d dead letters, want %d: %v", len(records), len(want), reasons(records))
	}
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := docs(cl, prefix)
		return n == good, fmt.Sprintf("%d documents, want %d", n, good)
	})
	// What a user does to find the lines nginx's pipeline could not parse.
	hits := search(t, cl, prefix, `{"query":{"term":{"tags":"_accesslogparsefailure"}}}`)
	var e map[string]any
	if len(hits) == 1 {
		e, _ = hits[0]["error"].(map[string]any)
	}
	if len(hits) != 1 || hits[0]["body"] != unparsed || e["stage"] != "nginx/access line" ||
		!strings.HasPrefix(fmt.Sprint(e["message"]), "access log: syntax error at byte 22: want a time") {
		t.Errorf("documents tagged _accesslogparsefailure: %v, want the one unparsed line with its error", hits)
	}

	// jetlog dlq ls shows them; fix the syslog pipeline; redrive.
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"dlq", "ls", "-nats", a.NATSURL(), "-stage", "enricher", "-reason", "syslog"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "logs.raw.syslog.paris") {
		t.Fatalf("dlq ls: %d\n%s%s", code, out.String(), errOut.String())
	}
	var redriven string // the event id of the refused syslog line
	for _, r := range records {
		if r.Stage == "enricher" && strings.Contains(r.Reason, "syslog") {
			redriven = r.MsgID
		}
	}
	fixed := strings.Replace(readFile(t, filepath.Join(pipelines, "syslog.yaml")), "on_error: dlq\n", "on_error: keep\n", 1)
	if err := os.WriteFile(filepath.Join(pipelines, "syslog.yaml"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, time.Minute, func() (bool, string) { // the enricher reloads once the directory is quiet
		n := metric(t, a.AdminAddr(), `jetlog_enricher_pipeline_reloads_total{result="success"}`)
		return n >= 2, fmt.Sprintf("%v successful pipeline loads, want the start and the fix", n)
	})
	for range 2 { // a second redrive finds nothing left to do
		out.Reset()
		if code := dispatch([]string{"dlq", "redrive", "-nats", a.NATSURL(), "-stage", "enricher", "-reason", "syslog"}, nil, &out, &errOut); code != 0 {
			t.Fatalf("dlq redrive: %d\n%s%s", code, out.String(), errOut.String())
		}
	}
	good++
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := docs(cl, prefix)
		return n == good, fmt.Sprintf("%d documents, want %d", n, good)
	})
	waitDrained(t, js) // anything redriven twice would be indexed by now
	if n := docs(cl, prefix); n != good {
		t.Errorf("%d documents after two redrives, want %d", n, good)
	}
	hits = search(t, cl, prefix, fmt.Sprintf(`{"query":{"ids":{"values":[%q]}}}`, redriven))
	if len(hits) != 1 || hits[0]["body"] != "this line has no syslog header" || hits[0]["source"] != "syslog.paris" || fmt.Sprint(hits[0]["tags"]) != "[_parsefailure _syslogparsefailure]" {
		t.Errorf("redriven event %s: %v, want the line as the event it was, tagged", redriven, hits)
	}
	left := 0
	for _, r := range deadLetters(t, js) {
		if r.Stage == "enricher" && strings.Contains(r.Reason, "syslog") {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d redriven dead letters still in the DLQ", left)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func docs(cl *opensearchapi.Client, prefix string) int {
	ctx := context.Background()
	_, _ = cl.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}})
	resp, err := cl.Indices.Count(ctx, &opensearchapi.IndicesCountReq{Indices: []string{prefix + "-*"}, Params: opensearchapi.IndicesCountParams{AllowNoIndices: new(true)}})
	if err != nil {
		return -1
	}
	return resp.Count
}

func deadLetters(t *testing.T, js jetstream.JetStream) []*dlq.Record {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, topology.DLQStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*dlq.Record
	for {
		b, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			if r, err := dlq.Parse(m.Headers(), m.Data()); err == nil {
				out = append(out, r)
			}
		}
		if n == 0 {
			return out
		}
	}
}

func reasons(rs []*dlq.Record) []string {
	var out []string
	for _, r := range rs {
		s := r.Reason
		if len(s) > 120 {
			s = s[:120]
		}
		out = append(out, r.Stage+": "+s)
	}
	return out
}

// search returns the _source of the documents of prefix's indices that
// match query.
func search(t *testing.T, cl *opensearchapi.Client, prefix, query string) []map[string]any {
	t.Helper()
	ctx := context.Background()
	_, _ = cl.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}})
	resp, err := cl.Search(ctx, &opensearchapi.SearchReq{Indices: []string{prefix + "-*"}, Body: strings.NewReader(query)})
	if err != nil {
		t.Fatalf("search %s: %v", query, err)
	}
	var out []map[string]any
	for _, h := range resp.Hits.Hits {
		var doc map[string]any
		if err := json.Unmarshal(h.Source, &doc); err != nil {
			t.Fatal(err)
		}
		out = append(out, doc)
	}
	return out
}

// metric reads one sample of the admin endpoint's /metrics, 0 when absent.
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// waitDrained waits until the enricher and the indexer have acknowledged
// everything in their streams.
func waitDrained(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	testkit.Poll(t, time.Minute, func() (bool, string) {
		for _, c := range []struct{ stream, durable string }{{topology.RawStream, "enricher"}, {topology.EnrichedStream, "indexer"}} {
			cons, err := js.Consumer(context.Background(), c.stream, c.durable)
			if err != nil {
				return false, err.Error()
			}
			info, err := cons.Info(context.Background())
			if err != nil {
				return false, err.Error()
			}
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return false, fmt.Sprintf("%s: %d pending, %d unacknowledged", c.durable, info.NumPending, info.NumAckPending)
			}
		}
		return true, ""
	})
}
