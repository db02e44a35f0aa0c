package otlp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/gateway/ingest/ingesttest"
	"github.com/jetlog/jetlog/services/gateway/otlp"
)

type env struct {
	nats *testkit.NATS
	srv  *httptest.Server
	raw  *testkit.Recorder
	m    *ingest.Metrics
	reg  *prometheus.Registry
}

// setup runs a real JetStream, the real publisher and the receiver at
// /v1/logs; mut adjusts the publisher's configuration.
func setup(t *testing.T, mut func(*ingest.PublisherConfig)) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ie := ingesttest.Start(t, logger, mut)
	mux := http.NewServeMux()
	mux.Handle(otlp.Path, otlp.NewHandler(ie.Publisher, logger, ie.Metrics))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{nats: ie.NATS, srv: srv, m: ie.Metrics, reg: ie.Registry}
}

// record starts recording LOGS_RAW. (Tests that stop JetStream do without:
// the recorder's consumer takes seconds to stop after that.)
func (e *env) record(t *testing.T) *testkit.Recorder {
	t.Helper()
	e.raw = testkit.Record(t, e.nats.JS, topology.RawStream)
	return e.raw
}

// post sends body to /v1/logs with the given Content-Type and extra
// header pairs, and returns the status, the answer's body and headers.
func (e *env) post(t *testing.T, ctype string, body []byte, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+otlp.Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data, resp.Header
}

func (e *env) requests(result string) float64 {
	return testutil.ToFloat64(e.m.Requests.WithLabelValues(otlp.Protocol, result))
}

// events decodes the messages recorded on the raw stream, by body.
func events(t *testing.T, msgs []jetstream.Msg) map[string]*event.Event {
	t.Helper()
	out := make(map[string]*event.Event, len(msgs))
	for _, m := range msgs {
		ev, err := event.Unmarshal(m.Data())
		if err != nil {
			t.Fatalf("%s: %v", m.Subject(), err)
		}
		if ev.Source == "" || !strings.HasSuffix(m.Subject(), "."+ev.Source) {
			t.Errorf("event source %q on subject %s", ev.Source, m.Subject())
		}
		out[ev.Body] = ev
	}
	return out
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// request builds an ExportLogsServiceRequest of one resource (service
// svc) and one scope holding recs.
func request(svc string, recs ...*logspb.LogRecord) *collogspb.ExportLogsServiceRequest {
	var attrs []*commonpb.KeyValue
	if svc != "" {
		attrs = append(attrs, kv("service.name", str(svc)))
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: attrs},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "test"}, LogRecords: recs}},
	}}}
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)

func record(body string) *logspb.LogRecord {
	return &logspb.LogRecord{TimeUnixNano: uint64(t0.UnixNano()), Body: str(body), SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSDKExporter ships through the OpenTelemetry Go SDK's OTLP/HTTP log
// exporter (gzip-compressed protobuf) and reads the events off LOGS_RAW.
func TestSDKExporter(t *testing.T) {
	e := setup(t, nil)
	e.record(t)
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(e.srv.URL+otlp.Path), otlploghttp.WithCompression(otlploghttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("host.name", "web-1"), attribute.Int("k8s.pod.restarts", 2))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	t.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
	lg := lp.Logger("shop/orders", otellog.WithInstrumentationVersion("1.2.3"))

	tid := trace.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	sid := trace.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
	tctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	var r otellog.Record
	r.SetTimestamp(t0)
	r.SetBody(attribute.StringValue("order placed"))
	r.SetSeverity(otellog.SeverityWarn)
	r.SetSeverityText("warn")
	r.SetEventName("order.placed")
	r.AddAttributes(
		attribute.String("user", "ada"),
		attribute.Int("items", 3),
		attribute.Bool("paid", true),
		attribute.Float64("amount", 12.5),
		attribute.Map("http", attribute.String("method", "POST"), attribute.Int("status", 201)),
		attribute.Slice("tags", attribute.StringValue("new"), attribute.IntValue(7)),
		attribute.ByteSlice("blob", []byte{1, 2, 3}),
	)
	lg.Emit(tctx, r)

	var r2 otellog.Record // no severity text, a structured body, no trace
	r2.SetTimestamp(t0.Add(time.Millisecond))
	r2.SetSeverity(otellog.SeverityError2)
	r2.SetBody(attribute.MapValue(attribute.String("msg", "payment <declined>"), attribute.Int("code", 51)))
	lg.Emit(ctx, r2)

	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	msgs := e.raw.Wait(t, 2, 10*time.Second)
	for _, m := range msgs {
		if m.Subject() != "logs.raw.checkout" {
			t.Errorf("subject %s, want logs.raw.checkout", m.Subject())
		}
	}
	evs := events(t, msgs)
	ev := evs["order placed"]
	if ev == nil {
		t.Fatalf("no event with body %q in %v", "order placed", evs)
	}
	if len(ev.ID) != 32 {
		t.Errorf("id %q, want 32 hex digits", ev.ID)
	}
	if !ev.Timestamp.Equal(t0) || ev.ObservedTimestamp.IsZero() {
		t.Errorf("timestamps %v / %v, want %v / set", ev.Timestamp, ev.ObservedTimestamp, t0)
	}
	if ev.Severity != (event.Severity{Text: "WARN", Number: 13}) {
		t.Errorf("severity %+v", ev.Severity)
	}
	if ev.TraceID != "5b8efff798038103d269b633813fc60c" || ev.SpanID != "eee19b7ec3c1b174" {
		t.Errorf("trace %q span %q", ev.TraceID, ev.SpanID)
	}
	if ev.Service() != "checkout" || ev.Host() != "web-1" || ev.Resource["k8s.pod.restarts"] != int64(2) {
		t.Errorf("resource %v", ev.Resource)
	}
	want := map[string]any{
		"user": "ada", "items": int64(3), "paid": true, "amount": 12.5,
		"http":               map[string]any{"method": "POST", "status": int64(201)},
		"tags":               []any{"new", int64(7)},
		"blob":               "AQID",
		"otel.scope.name":    "shop/orders",
		"otel.scope.version": "1.2.3",
		"event.name":         "order.placed",
	}
	assertAttrs(t, ev.Attributes, want)

	ev2 := evs[`{"code":51,"msg":"payment <declined>"}`]
	if ev2 == nil {
		t.Fatalf("no event with the map body as JSON in %v", evs)
	}
	if ev2.Severity != (event.Severity{Text: "ERROR2", Number: 18}) || ev2.TraceID != "" || ev2.SpanID != "" {
		t.Errorf("second event: severity %+v trace %q span %q", ev2.Severity, ev2.TraceID, ev2.SpanID)
	}
	if got := e.requests("ok"); got < 1 {
		t.Errorf("requests{result=ok} = %v", got)
	}
}

func assertAttrs(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || !equalJSON(g, w) {
			t.Errorf("attribute %s = %#v, want %#v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("attributes %v, want %d keys", got, len(want))
	}
}

func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalJSON(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// specJSON is an OTLP/JSON request in the shape of the specification's
// example, with upper-case hex ids and a field jetlog does not know.
const specJSON = `{
  "resourceLogs": [{
    "resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": "checkout"}},
      {"key": "host.name", "value": {"stringValue": "web-1"}}
    ]},
    "scopeLogs": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "logRecords": [{
        "timeUnixNano": "1544712660300000000",
        "observedTimeUnixNano": 1544712660300000001,
        "severityNumber": 10,
        "severityText": "Information",
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "body": {"stringValue": "Example log record"},
        "attributes": [
          {"key": "string.attribute", "value": {"stringValue": "some string"}},
          {"key": "boolean.attribute", "value": {"boolValue": true}},
          {"key": "int.attribute", "value": {"intValue": "10"}},
          {"key": "double.attribute", "value": {"doubleValue": 637.704}},
          {"key": "array.attribute", "value": {"arrayValue": {"values": [{"stringValue": "many"}, {"stringValue": "values"}]}}},
          {"key": "map.attribute", "value": {"kvlistValue": {"values": [{"key": "some.map.key", "value": {"stringValue": "some value"}}]}}}
        ],
        "aFieldFromTheFuture": {"x": 1}
      }]
    }]
  }]
}`

func TestJSON(t *testing.T) {
	e := setup(t, nil)
	e.record(t)
	code, body, hdr := e.post(t, "application/json; charset=utf-8", []byte(specJSON))
	if code != http.StatusOK || hdr.Get("Content-Type") != otlp.ContentTypeJSON {
		t.Fatalf("status %d, Content-Type %q: %s", code, hdr.Get("Content-Type"), body)
	}
	var resp collogspb.ExportLogsServiceResponse
	if err := protojson.Unmarshal(body, &resp); err != nil || resp.PartialSuccess != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	ev := events(t, e.raw.Wait(t, 1, 10*time.Second))["Example log record"]
	if ev == nil {
		t.Fatal("event not stored")
	}
	if !ev.Timestamp.Equal(time.Unix(0, 1544712660300000000)) || !ev.ObservedTimestamp.Equal(time.Unix(0, 1544712660300000001)) {
		t.Errorf("timestamps %v / %v", ev.Timestamp, ev.ObservedTimestamp)
	}
	if ev.Severity != (event.Severity{Text: "INFORMATION", Number: 10}) {
		t.Errorf("severity %+v", ev.Severity)
	}
	if ev.TraceID != "5b8efff798038103d269b633813fc60c" || ev.SpanID != "eee19b7ec3c1b174" {
		t.Errorf("trace %q span %q", ev.TraceID, ev.SpanID)
	}
	if ev.Service() != "checkout" || ev.Host() != "web-1" {
		t.Errorf("resource %v", ev.Resource)
	}
	assertAttrs(t, ev.Attributes, map[string]any{
		"string.attribute": "some string", "boolean.attribute": true, "int.attribute": int64(10),
		"double.attribute": 637.704, "array.attribute": []any{"many", "values"},
		"map.attribute":   map[string]any{"some.map.key": "some value"},
		"otel.scope.name": "my.library", "otel.scope.version": "1.0.0",
	})
}

// TestSameRecordSameID: a retry, and the same record sent as protobuf
// instead of JSON, get the event id of the first, so JetStream keeps one.
func TestSameRecordSameID(t *testing.T) {
	e := setup(t, nil)
	var req collogspb.ExportLogsServiceRequest
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(specJSON,
		`"5B8EFFF798038103D269B633813FC60C"`, `"W47/95gDgQPSabYzgT/GDA=="`), `"EEE19B7EC3C1B174"`, `"7uGbfsPBsXQ="`)), &req); err != nil {
		t.Fatal(err) // the same request in the plain proto3 JSON mapping (base64 ids), for protobuf
	}
	for i, send := range []struct{ ctype, body string }{
		{otlp.ContentTypeJSON, specJSON},
		{otlp.ContentTypeJSON, specJSON},
		{otlp.ContentTypeProtobuf, string(marshal(t, &req))},
	} {
		if code, body, _ := e.post(t, send.ctype, []byte(send.body)); code != http.StatusOK {
			t.Fatalf("send %d: status %d: %s", i, code, body)
		}
	}
	if n := e.nats.StreamMsgs(topology.RawStream); n != 1 {
		t.Errorf("LOGS_RAW holds %d messages, want 1", n)
	}
}

func TestPartialSuccess(t *testing.T) {
	e := setup(t, nil)
	e.record(t)
	bad := record("XXXX")
	bad.Attributes = []*commonpb.KeyValue{kv("user", str("YYYY"))}
	req := request("checkout", record("first"), record("nul \x00 byte"), record("third"), bad)
	// The protobuf runtime cannot encode a string that is not UTF-8: write
	// it into the encoding by hand.
	body := bytes.Replace(marshal(t, req), []byte("YYYY"), []byte("a\xffb\xfe"), 1)

	code, data, hdr := e.post(t, otlp.ContentTypeProtobuf, body)
	if code != http.StatusOK || hdr.Get("Content-Type") != otlp.ContentTypeProtobuf {
		t.Fatalf("status %d, Content-Type %q", code, hdr.Get("Content-Type"))
	}
	var resp collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(data, &resp); err != nil {
		t.Fatal(err)
	}
	ps := resp.GetPartialSuccess()
	if ps.GetRejectedLogRecords() != 2 {
		t.Fatalf("partial success %v, want 2 rejected", ps)
	}
	for _, want := range []string{"2 of 4", "logRecords[1]: field body contains a NUL byte", "logRecords[3]: field attributes.user is not valid UTF-8"} {
		if !strings.Contains(ps.GetErrorMessage(), want) {
			t.Errorf("error message %q does not say %q", ps.GetErrorMessage(), want)
		}
	}
	evs := events(t, e.raw.Wait(t, 2, 10*time.Second))
	if evs["first"] == nil || evs["third"] == nil || len(evs) != 2 {
		t.Errorf("stored %v, want first and third", evs)
	}
	if n := e.nats.StreamMsgs(topology.DLQStream); n != 2 {
		t.Errorf("DLQ holds %d, want the 2 rejected records", n)
	}
	if e.requests("partial") != 1 {
		t.Errorf("requests{result=partial} = %v", e.requests("partial"))
	}
}

// TestBadResource: a resource string that is not UTF-8 refuses each of its
// records, not the request, and not the records of another resource.
func TestBadResource(t *testing.T) {
	e := setup(t, nil)
	e.record(t)
	req := request("checkout", record("a"), record("b"))
	req.ResourceLogs[0].Resource.Attributes = append(req.ResourceLogs[0].Resource.Attributes, kv("host.name", str("ZZZZ")))
	req.ResourceLogs = append(req.ResourceLogs, request("billing", record("c")).ResourceLogs...)
	body := bytes.Replace(marshal(t, req), []byte("ZZZZ"), []byte("\xc3\x28ok"), 1)
	code, data, _ := e.post(t, otlp.ContentTypeProtobuf, body)
	var resp collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(data, &resp); code != http.StatusOK || err != nil {
		t.Fatalf("status %d: %v", code, err)
	}
	if resp.GetPartialSuccess().GetRejectedLogRecords() != 2 || !strings.Contains(resp.GetPartialSuccess().GetErrorMessage(), "resource.host.name is not valid UTF-8") {
		t.Errorf("partial success %v", resp.GetPartialSuccess())
	}
	msgs := e.raw.Wait(t, 1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].Subject() != "logs.raw.billing" {
		t.Errorf("stored %d messages, want the billing one", len(msgs))
	}
}

func TestJetStreamDown(t *testing.T) {
	e := setup(t, func(c *ingest.PublisherConfig) { c.AckTimeout = 300 * time.Millisecond })
	e.nats.Shutdown()
	body := marshal(t, request("checkout", record("retried, not lost"), record("nor this one")))
	code, data, hdr := e.post(t, otlp.ContentTypeProtobuf, body)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "5" {
		t.Fatalf("status %d, Retry-After %q, want 503 and 5", code, hdr.Get("Retry-After"))
	}
	var st statuspb.Status
	if err := proto.Unmarshal(data, &st); err != nil || !strings.Contains(st.GetMessage(), "JetStream unavailable") {
		t.Errorf("status body %v (%v)", &st, err)
	}
	if len(st.GetDetails()) != 1 {
		t.Errorf("details %v, want a RetryInfo", st.GetDetails())
	} else {
		var ri errdetails.RetryInfo
		if err := st.GetDetails()[0].UnmarshalTo(&ri); err != nil || ri.GetRetryDelay().AsDuration() != 5*time.Second {
			t.Errorf("retry info %v (%v)", &ri, err)
		}
	}
	if e.requests("retry") != 1 {
		t.Errorf("requests{result=retry} = %v", e.requests("retry"))
	}

	// Once JetStream is back, the sender's resend is stored (the
	// publisher's connection may take a moment to come back: the sender
	// retries, as it would).
	e.nats.Start()
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		code, data, _ := e.post(t, otlp.ContentTypeProtobuf, body)
		return code == http.StatusOK, fmt.Sprintf("resend: status %d: %q", code, data)
	})
	if n := e.nats.StreamMsgs(topology.RawStream); n != 2 {
		t.Errorf("LOGS_RAW holds %d messages, want 2 (resends are de-duplicated)", n)
	}
}

// TestBusy: while one request holds every in-flight byte (JetStream is
// down, so it waits for its acks), the next is refused with 429.
func TestBusy(t *testing.T) {
	e := setup(t, func(c *ingest.PublisherConfig) {
		c.MaxInflightBytes = 4096
		c.QueueTimeout = 50 * time.Millisecond
		c.AckTimeout = 3 * time.Second
	})
	e.nats.Shutdown()
	body := marshal(t, request("checkout", record(strings.Repeat("x", 5000))))
	var wg sync.WaitGroup
	wg.Add(1)
	var first int
	go func() {
		defer wg.Done()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+otlp.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", otlp.ContentTypeProtobuf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		first = resp.StatusCode
	}()
	testkit.Poll(t, 5*time.Second, func() (bool, string) {
		g, err := e.reg.Gather()
		if err != nil {
			return false, err.Error()
		}
		for _, mf := range g {
			if mf.GetName() == "jetlog_gateway_inflight_bytes" && mf.GetMetric()[0].GetGauge().GetValue() > 0 {
				return true, ""
			}
		}
		return false, "waiting for the first request to hold the in-flight bytes"
	})
	code, _, hdr := e.post(t, otlp.ContentTypeProtobuf, body)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q, want 429 and 2", code, hdr.Get("Retry-After"))
	}
	wg.Wait()
	if first != http.StatusServiceUnavailable {
		t.Errorf("first request: status %d, want 503", first)
	}

}

// gzipBomb returns a small gzip stream that expands to n zero bytes (n a
// multiple of 1 MiB): one compressed MiB, repeated as gzip members.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), n>>20)
}

func TestBadRequests(t *testing.T) {
	e := setup(t, func(c *ingest.PublisherConfig) {
		c.Limits.MaxBatchRecords = 3
		c.Limits.MaxRequestBytes = 1 << 20
	})
	good := marshal(t, request("checkout", record("a"), record("b")))
	shortTrace := record("c")
	shortTrace.TraceId = []byte{1, 2, 3, 4, 5}
	type check struct {
		method, ctype string
		body          []byte
		hdr           []string
		status        int
		says          string // in the Status message
		field         string // in a BadRequest detail, if any
	}
	for name, c := range map[string]check{
		"truncated protobuf": {ctype: otlp.ContentTypeProtobuf, body: good[:len(good)-3], status: 400, says: "malformed protobuf"},
		"garbage protobuf":   {ctype: otlp.ContentTypeProtobuf, body: []byte("{\"json\": true}"), status: 400, says: "malformed protobuf"},
		"invalid JSON":       {ctype: otlp.ContentTypeJSON, body: []byte(`{"resourceLogs": [`), status: 400, says: "malformed OTLP/JSON"},
		"JSON of other type": {ctype: otlp.ContentTypeJSON, body: []byte(`{"resourceLogs": 5}`), status: 400, says: "malformed OTLP/JSON"},
		"base64 trace id in JSON": {ctype: otlp.ContentTypeJSON, status: 400, says: "hex, not base64", field: "resourceLogs[0].scopeLogs[0].logRecords[0].traceId",
			body: []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"W47/95gDgQPSabYzgT/GDA=="}]}]}]}`)},
		"non-hex trace id in JSON": {ctype: otlp.ContentTypeJSON, status: 400, says: "not 32 hex digits", field: "resourceLogs[0].scopeLogs[0].logRecords[0].traceId",
			body: []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5B8EFFF798038103D269B633813FC6ZZ"}]}]}]}`)},
		"short trace id": {ctype: otlp.ContentTypeProtobuf, body: marshal(t, request("x", shortTrace)), status: 400, says: "5 bytes, want 16",
			field: "resourceLogs[0].scopeLogs[0].logRecords[0].traceId"},
		"too many records": {ctype: otlp.ContentTypeProtobuf, body: marshal(t, request("x", record("1"), record("2"), record("3"), record("4"))),
			status: 400, says: "4 log records in one request, limit 3 (set gateway.limits.max_batch_records"},
		"too many records in JSON": {ctype: otlp.ContentTypeJSON, body: []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{},{}]},{"log_records":[{}]}]}]}`),
			status: 400, says: "4 log records in one request, limit 3"},
		"text/plain":       {ctype: "text/plain", body: []byte("hello"), status: 415, says: "unsupported Content-Type"},
		"no content type":  {body: good, status: 415, says: "unsupported Content-Type"},
		"brotli":           {ctype: otlp.ContentTypeProtobuf, body: good, hdr: []string{"Content-Encoding", "br"}, status: 415, says: "unsupported Content-Encoding"},
		"bad gzip":         {ctype: otlp.ContentTypeProtobuf, body: good, hdr: []string{"Content-Encoding", "gzip"}, status: 400, says: "bad gzip body"},
		"too large":        {ctype: otlp.ContentTypeProtobuf, body: make([]byte, 1<<20+1), status: 413, says: "over 1 MiB"},
		"gzip bomb":        {ctype: otlp.ContentTypeProtobuf, body: gzipBomb(t, 16<<20), hdr: []string{"Content-Encoding", "gzip"}, status: 413, says: "gateway.limits.max_request_bytes"},
		"GET":              {method: http.MethodGet, status: 405, says: "POST /v1/logs"},
		"GET JSON":         {method: http.MethodGet, ctype: otlp.ContentTypeJSON, status: 405, says: "POST /v1/logs"},
		"empty JSON":       {ctype: otlp.ContentTypeJSON, status: 400, says: "malformed OTLP/JSON"},
		"JSON with a null": {ctype: otlp.ContentTypeJSON, body: []byte(`{"resourceLogs":[null]}`), status: 400, says: "malformed OTLP/JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, e.srv.URL+otlp.Path, bytes.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %q", resp.StatusCode, c.status, data)
			}
			if c.status == 405 && resp.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			var st statuspb.Status
			if c.ctype == otlp.ContentTypeJSON {
				if resp.Header.Get("Content-Type") != otlp.ContentTypeJSON {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				err = protojson.Unmarshal(data, &st)
			} else {
				if resp.Header.Get("Content-Type") != otlp.ContentTypeProtobuf {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				err = proto.Unmarshal(data, &st)
			}
			if err != nil {
				t.Fatalf("answer is not a google.rpc.Status: %v: %q", err, data)
			}
			if !strings.Contains(st.GetMessage(), c.says) {
				t.Errorf("message %q does not say %q", st.GetMessage(), c.says)
			}
			if c.field != "" {
				var br errdetails.BadRequest
				if len(st.GetDetails()) != 1 || st.GetDetails()[0].UnmarshalTo(&br) != nil || br.GetFieldViolations()[0].GetField() != c.field {
					t.Errorf("details %v, want a BadRequest on %s", st.GetDetails(), c.field)
				}
			}
		})
	}
	if n := e.nats.StreamMsgs(topology.RawStream); n != 0 {
		t.Errorf("%d messages stored from bad requests", n)
	}
	if got := e.requests("bad_request"); got != 19 {
		t.Errorf("requests{result=bad_request} = %v, want 19", got)
	}
}

// TestRecordLimits: records over the publisher's limits are refused one by
// one, the rest stored; a record too large is not even decoded.
func TestRecordLimits(t *testing.T) {
	e := setup(t, func(c *ingest.PublisherConfig) { c.Limits.MaxRecordBytes = 1024 })
	e.record(t)
	big := record(strings.Repeat("x", 2000))
	old := record("old")
	old.TimeUnixNano = uint64(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	deep := record("deep")
	v := str("bottom")
	for range 40 {
		v = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", v)}}}}
	}
	deep.Attributes = []*commonpb.KeyValue{kv("nested", v)}
	code, data, _ := e.post(t, otlp.ContentTypeProtobuf, marshal(t, request("checkout", record("fine"), big, old, deep)))
	var resp collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(data, &resp); code != http.StatusOK || err != nil {
		t.Fatalf("status %d: %v", code, err)
	}
	msg := resp.GetPartialSuccess().GetErrorMessage()
	for _, want := range []string{"3 of 4", "logRecords[1]: record too large", "logRecords[2]: bad timestamp", "logRecords[3]: record nested deeper"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message %q does not say %q", msg, want)
		}
	}
	if evs := events(t, e.raw.Wait(t, 1, 10*time.Second)); evs["fine"] == nil {
		t.Errorf("stored %v", evs)
	}
}

// TestNoServiceName: records without service.name go to logs.raw.otlp.
func TestNoServiceName(t *testing.T) {
	e := setup(t, nil)
	e.record(t)
	code, _, _ := e.post(t, otlp.ContentTypeProtobuf, marshal(t, request("", record("anonymous"))))
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if msgs := e.raw.Wait(t, 1, 10*time.Second); msgs[0].Subject() != "logs.raw.otlp" {
		t.Errorf("subject %s", msgs[0].Subject())
	}
}

// TestEmptyRequest: an empty request is a success (the spec says so).
func TestEmptyRequest(t *testing.T) {
	e := setup(t, nil)
	for _, c := range []struct{ ctype, body string }{{otlp.ContentTypeProtobuf, ""}, {otlp.ContentTypeJSON, "{}"}, {otlp.ContentTypeJSON, `{"resourceLogs":[]}`}} {
		if code, data, _ := e.post(t, c.ctype, []byte(c.body)); code != http.StatusOK {
			t.Errorf("%s %q: status %d: %q", c.ctype, c.body, code, data)
		}
	}
}
