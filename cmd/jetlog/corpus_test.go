package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// TestMalformedCorpusAndRedrive sends good and bad input through the whole
// pipeline: every bad one lands in the DLQ of the stage that refused it,
// with its reason, and every good one is indexed. Then a pipeline is fixed
// and `jetlog dlq redrive` brings the refused syslog line in, once.
func TestMalformedCorpusAndRedrive(t *testing.T) {
	cl := testkit.OpenSearch(t)
	pipelines := t.TempDir()
	for _, f := range []string{"nginx.yaml", "syslog.yaml", "app.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "pipelines", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pipelines, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := app.NewConfig()
	cfg.NATS.Server.Listen = "127.0.0.1:0"
	cfg.NATS.Server.StoreDir = t.TempDir()
	cfg.Admin.Enabled = false
	app.Gateway(cfg).HTTP.Listen = "127.0.0.1:0"
	app.Gateway(cfg).Forward.Enabled = false
	cfg.OpenSearch.URLs = []string{testkit.OpenSearchURL()}
	app.Enricher(cfg).Settings.PipelinesDir = pipelines
	prefix := testkit.IndexName(t, cl)
	app.Indexer(cfg).Settings.IndexPrefix = prefix
	t.Cleanup(func() {
		_, _ = cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: prefix})
	})
	a, err := host.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
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
	lines = append(lines, "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address in use)") // bad: not an access line
	post("/v1/ingest/nginx.edge", "text/plain", strings.Join(lines, "\n"))
	good += 10
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
		"enricher/nginx":  "no grok pattern matched",
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

	// jetlog dlq ls shows them; fix the syslog pipeline; redrive.
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"dlq", "ls", "-nats", a.NATSURL(), "-stage", "enricher", "-reason", "syslog"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "logs.raw.syslog.paris") {
		t.Fatalf("dlq ls: %d\n%s%s", code, out.String(), errOut.String())
	}
	fixed := strings.Replace(readFile(t, filepath.Join(pipelines, "syslog.yaml")), "name: syslog\n", "name: syslog\non_error: keep\n", 1)
	if err := os.WriteFile(filepath.Join(pipelines, "syslog.yaml"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the enricher reloads after the directory is quiet for 250 ms
	for range 2 {           // a second redrive finds nothing left to do
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
	time.Sleep(2 * time.Second) // anything redriven twice would show up now
	if n := docs(cl, prefix); n != good {
		t.Errorf("%d documents after two redrives, want %d", n, good)
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
