package httpin_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchutil"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/httpin"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/gateway/ingest/ingesttest"
)

type env struct {
	nats *testkit.NATS
	srv  *httptest.Server
	raw  *testkit.Recorder
	ie   *ingesttest.Env
}

func setup(t *testing.T, mut func(*ingest.PublisherConfig)) *env {
	t.Helper()
	ie := ingesttest.Start(t, nil, mut)
	mux := http.NewServeMux()
	httpin.New(ie.Publisher, ie.Metrics, nil).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{nats: ie.NATS, srv: srv, raw: testkit.Record(t, ie.NATS.JS, topology.RawStream), ie: ie}
}

func (e *env) post(t *testing.T, path, ctype string, body []byte, hdr ...string) (int, httpin.Answer, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a httpin.Answer
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &a)
	return resp.StatusCode, a, resp.Header
}

// events decodes what reached the raw stream, by subject.
func (e *env) events(t *testing.T, n int) map[string][]*event.Event {
	t.Helper()
	out := map[string][]*event.Event{}
	for _, m := range e.raw.Wait(t, n, 10*time.Second) {
		ev, err := event.Unmarshal(m.Data())
		if err != nil {
			t.Fatalf("raw message is not an event: %v", err)
		}
		if m.Headers().Get("Nats-Msg-Id") != ev.ID {
			t.Errorf("Nats-Msg-Id %q differs from event id %q", m.Headers().Get("Nats-Msg-Id"), ev.ID)
		}
		out[m.Subject()] = append(out[m.Subject()], ev)
	}
	return out
}

func TestIngestFormats(t *testing.T) {
	e := setup(t, nil)
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	cases := []struct {
		name, path, ctype string
		body              []byte
		hdr               []string
		n                 int
	}{
		{"json array", "/v1/ingest/web", "application/json", []byte(`[{"msg":"a","level":"info"},{"msg":"b"}]`), nil, 2},
		{"ndjson", "/v1/ingest/api", "application/x-ndjson", []byte("{\"msg\":\"c\"}\n{\"msg\":\"d\"}\n"), nil, 2},
		// Fluent Bit's http output, Format json: an array with a "date" key,
		// the tag in the header configured by header_tag.
		{"fluent bit json", "/v1/ingest", "application/json", []byte(`[{"date":1795575198.972944,"log":"fb line","stream":"stdout"}]`), []string{"X-Fluent-Tag", "kube.app"}, 1},
		{"fluent bit json_lines gzip", "/v1/ingest/fb", "application/json", gz("{\"date\":1795575199.5,\"log\":\"zipped\"}\n"), []string{"Content-Encoding", "gzip"}, 1},
		{"plain text", "/v1/ingest/legacy", "text/plain", []byte("first line\nsecond line\n"), nil, 2},
		// Fluent Bit's http output with its default format, msgpack: a
		// stream of [time, record] entries.
		{"fluent bit msgpack", "/v1/ingest", "application/msgpack", msgpackEntries(t, 1795575200, "mp line", "mp second"), []string{"X-Fluent-Tag", "kube.mp"}, 2},
	}
	total := 0
	for _, c := range cases {
		code, a, _ := e.post(t, c.path, c.ctype, c.body, c.hdr...)
		if code != 200 || a.Accepted != c.n || len(a.Rejected) != 0 {
			t.Errorf("%s: %d %+v", c.name, code, a)
		}
		total += c.n
	}
	got := e.events(t, total)
	if evs := got["logs.raw.kube.app"]; len(evs) != 1 || evs[0].Body != "fb line" || !evs[0].Timestamp.Equal(time.Unix(1795575198, 972944000)) || evs[0].Attributes["stream"] != "stdout" {
		t.Errorf("fluent bit record: %+v", evs)
	}
	if evs := got["logs.raw.web"]; len(evs) != 2 || evs[0].Severity.Number != event.SeverityInfo {
		t.Errorf("web records: %+v", evs)
	}
	if evs := got["logs.raw.fb"]; len(evs) != 1 || evs[0].Body != "zipped" {
		t.Errorf("gzip record: %+v", evs)
	}
	if evs := got["logs.raw.legacy"]; len(evs) != 2 || evs[1].Body != "second line" {
		t.Errorf("text records: %+v", evs)
	}
	if evs := got["logs.raw.kube.mp"]; len(evs) != 2 || evs[0].Body != "mp line" || !evs[0].Timestamp.Equal(time.Unix(1795575200, 0)) {
		t.Errorf("msgpack records: %+v", evs)
	}
}

func TestRetryOfTheSameRequestIsStoredOnce(t *testing.T) {
	e := setup(t, nil)
	body := []byte(`[{"msg":"once","time":"2026-11-25T10:00:00Z"},{"msg":"twice","time":"2026-11-25T10:00:01Z"}]`)
	for range 3 {
		if code, a, _ := e.post(t, "/v1/ingest/web", "application/json", body); code != 200 || a.Accepted != 2 {
			t.Fatalf("%d %+v", code, a)
		}
	}
	if got := e.nats.StreamMsgs(topology.RawStream); got != 2 {
		t.Errorf("raw stream holds %d events after 3 sends of 2, want 2", got)
	}
}

func TestBadRecordsAreRefusedWithReasonsAndGoodOnesStored(t *testing.T) {
	e := setup(t, nil)
	big := `{"msg":"` + strings.Repeat("x", 2<<20) + `"}`
	body := "{\"msg\":\"good 1\"}\n" + big + "\n{\"msg\":\"nul \\u0000 byte\"}\n[1,2]\n{\"msg\":\"good 2\"}\n{\"time\":\"2500-01-01T00:00:00Z\",\"msg\":\"far future\"}\n"
	code, a, _ := e.post(t, "/v1/ingest/mixed", "application/x-ndjson", []byte(body))
	if code != 200 || a.Accepted != 3 {
		t.Fatalf("%d accepted=%d rejected=%+v", code, a.Accepted, a.Rejected)
	}
	want := map[int]string{1: "too large", 2: "NUL", 3: "array"}
	for _, r := range a.Rejected {
		if w, ok := want[r.Index]; !ok || !strings.Contains(r.Reason, w) || r.Line != r.Index+1 {
			t.Errorf("rejected %+v, want %v on the line after the index", r, want)
		}
		delete(want, r.Index)
	}
	if len(want) != 0 {
		t.Errorf("not rejected: %v", want)
	}
	// The far-future "time" is not a valid timestamp, so the record keeps it
	// as an attribute and gets the receive time: accepted, not lost.
	e.events(t, 3)
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		n := e.nats.StreamMsgs(topology.DLQStream)
		return n == 3, fmt.Sprintf("%d dead letters, want 3 (too large, NUL, the array)", n)
	})
}

func TestMalformedRequests(t *testing.T) {
	e := setup(t, nil)
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	cases := []struct {
		name, ctype, body string
		hdr               []string
		code              int
	}{
		{"truncated json", "application/json", `[{"msg":"x"`, nil, 400},
		{"10000-deep nesting in a broken array", "application/json", "[" + deep, nil, 400},
		{"wrong content type", "application/xml", "<log/>", nil, 415},
		{"bad gzip", "application/json", "not gzip", []string{"Content-Encoding", "gzip"}, 400},
		{"empty", "application/json", "", nil, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, a, _ := e.post(t, "/v1/ingest/x", c.ctype, []byte(c.body), c.hdr...)
			if code != c.code || a.Error == "" {
				t.Errorf("got %d %+v, want %d with a reason", code, a, c.code)
			}
		})
	}
	// A record nested too deep is refused alone: the body's framing is fine.
	if code, a, _ := e.post(t, "/v1/ingest/x", "application/json", []byte(deep)); code != 200 || len(a.Rejected) != 1 || !strings.Contains(a.Rejected[0].Reason, "nested too deep") {
		t.Errorf("10000-deep nesting: got %d %+v, want the record rejected as too deep", code, a)
	}
	// A gzip bomb: 64 MiB of zeros in a small body is cut at the limit.
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(make([]byte, 64<<20))
	_ = zw.Close()
	if code, _, _ := e.post(t, "/v1/ingest/x", "application/json", b.Bytes(), "Content-Encoding", "gzip"); code != 413 {
		t.Errorf("gzip bomb: %d, want 413", code)
	}
}

func TestRefusesRetryablyWhenJetStreamIsDown(t *testing.T) {
	e := setup(t, func(c *ingest.PublisherConfig) { c.AckTimeout = 2 * time.Second })
	e.nats.Shutdown()
	// Several records: every one must be refused when the ack deadline passes.
	code, a, hdr := e.post(t, "/v1/ingest/web", "application/json", []byte(`[{"msg":"x"},{"msg":"y"},{"msg":"z"}]`))
	if code != 503 || hdr.Get("Retry-After") == "" || a.Accepted != 0 {
		t.Errorf("got %d Retry-After=%q %+v, want 503 with Retry-After", code, hdr.Get("Retry-After"), a)
	}
}

func TestRefusesWithTooManyRequestsWhenTheStreamIsFull(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	s, _ := e.nats.JS.Stream(ctx, topology.RawStream)
	info, _ := s.Info(ctx)
	cfg := info.Config
	cfg.MaxMsgs = 3
	if _, err := e.nats.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	code, a, _ := e.post(t, "/v1/ingest/web", "application/json", []byte(`[{"msg":"1"},{"msg":"2"},{"msg":"3"},{"msg":"4"},{"msg":"5"}]`))
	if code != 429 || a.Accepted != 3 || !strings.Contains(a.Error, "stream full") {
		t.Errorf("got %d %+v, want 429 with 3 accepted", code, a)
	}
	if got := e.nats.StreamMsgs(topology.RawStream); got != 3 {
		t.Errorf("stream holds %d, want 3: nothing old may be evicted", got)
	}
}

func TestOpenSearchBulkIndexerShipsThroughTheGateway(t *testing.T) {
	e := setup(t, nil)
	client, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{Addresses: []string{e.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Info(context.Background(), nil)
	if err != nil || info.Version.Distribution != "opensearch" {
		t.Fatalf("GET / = %+v, %v", info, err)
	}
	var failed atomic.Int64
	bi, err := opensearchutil.NewBulkIndexer(opensearchutil.BulkIndexerConfig{Client: client, Index: "app-logs", NumWorkers: 2, FlushBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		doc := fmt.Sprintf(`{"@timestamp":"2026-11-25T10:00:%02d.%03dZ","message":"order %d shipped","level":"info"}`, i%60, i, i)
		item := opensearchutil.BulkIndexerItem{Action: "create", DocumentID: fmt.Sprintf("order-%d", i), Body: strings.NewReader(doc),
			OnFailure: func(_ context.Context, _ opensearchutil.BulkIndexerItem, r opensearchapi.BulkRespItem, err error) {
				failed.Add(1)
				t.Logf("item failed: %d %+v %v", r.Status, r.Error, err)
			}}
		if err := bi.Add(context.Background(), item); err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := bi.Stats()
	if failed.Load() != 0 || st.NumFailed != 0 || st.NumCreated != 1000 {
		t.Fatalf("bulk indexer stats %+v, failures %d", st, failed.Load())
	}
	evs := e.events(t, 1000)["logs.raw.app-logs"]
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev.ID] = true
	}
	if len(evs) != 1000 || !ids["app-logs:order-7"] || !ids["app-logs:order-999"] {
		t.Errorf("%d events, ids include app-logs:order-7: %v", len(evs), ids["app-logs:order-7"])
	}
}

func TestBulkItemsReportEachDocument(t *testing.T) {
	e := setup(t, nil)
	br := e.postBulk(t, "/fallback/_bulk",
		`{"index":{"_index":"web","_id":"a"}}`, `{"message":"fine"}`,
		`{"create":{"_index":"web"}}`, `{"message":"no id given"}`,
		`{"delete":{"_index":"web","_id":"a"}}`,
		`{"index":{"_index":"web"}}`, `{"message":`,
		`{"create":{}}`, `{"message":"default index from the path"}`,
	)
	want := []int{201, 201, 400, 400, 201}
	if !br.Errors || len(br.Items) != len(want) {
		t.Fatalf("bulk response %+v", br)
	}
	for i, it := range br.Items {
		for action, r := range it {
			if r.Status != want[i] {
				t.Errorf("item %d (%s) status %d, want %d (%+v)", i, action, r.Status, want[i], r.Error)
			}
		}
	}
	if id := br.Items[0]["index"].ID; id != "web:a" {
		t.Errorf("first item id %q, want the shipper's id a within its index web", id)
	}
	if id := br.Items[1]["create"].ID; len(id) != 32 {
		t.Errorf("generated id %q, want the 32-hex event id", id)
	}
	if idx := br.Items[4]["create"].Index; idx != "fallback" {
		t.Errorf("index from path: %q", idx)
	}
	e.events(t, 3)
}

// msgpackEntries builds what Fluent Bit's http output sends with format
// msgpack: concatenated [epoch_seconds, {"log": line}] arrays.
func msgpackEntries(t *testing.T, ts int64, lines ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		e, err := msgpack.Marshal([]any{ts, map[string]any{"log": l}})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(e)
	}
	return b.Bytes()
}
