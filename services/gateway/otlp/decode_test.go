package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

func sv(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func iv(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}

func dv(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}

func arr(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}

func kvl(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}

func pair(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// fullRequest uses every field the receiver maps.
func fullRequest() *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{pair("service.name", sv("checkout")), pair("host.name", sv("web-1"))}, DroppedAttributesCount: 1},
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope: &commonpb.InstrumentationScope{Name: "lib", Version: "2.0", Attributes: []*commonpb.KeyValue{pair("a", sv("b"))}},
			LogRecords: []*logspb.LogRecord{{
				TimeUnixNano: 1764064800000000001, ObservedTimeUnixNano: 1764064800000000002,
				SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN2, SeverityText: "Warning",
				Body: sv("hello"),
				Attributes: []*commonpb.KeyValue{
					pair("s", sv("x")), pair("i", iv(-7)), pair("d", dv(1.5)), pair("nan", dv(math.NaN())),
					pair("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
					pair("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("hi")}}),
					pair("arr", arr(sv("a"), iv(1), arr())), pair("map", kvl(pair("k", sv("v")), pair("empty", kvl()))),
					pair("null", &commonpb.AnyValue{}), pair("nil", nil),
				},
				DroppedAttributesCount: 2, Flags: 1,
				TraceId:   []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c},
				SpanId:    []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74},
				EventName: "order.placed",
			}},
		}},
	}}}
}

// hexJSON writes a request in OTLP/JSON: protojson, with ids in hex.
func hexJSON(t testing.TB, req *collogspb.ExportLogsServiceRequest) []byte {
	t.Helper()
	b, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				for _, id := range [][]byte{lr.TraceId, lr.SpanId} {
					if len(id) > 0 {
						b64 := `"` + base64.StdEncoding.EncodeToString(id) + `"`
						b = bytes.Replace(b, []byte(b64), []byte(`"`+strings.ToUpper(hex.EncodeToString(id))+`"`), 1)
					}
				}
			}
		}
	}
	return b
}

var lim = ingest.DefaultLimits()

func TestMapping(t *testing.T) {
	req := fullRequest()
	b, err := decodeProtobuf(mustMarshal(t, req), lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.recs) != 1 {
		t.Fatalf("%d records", len(b.recs))
	}
	rec := b.recs[0]
	want := &event.Event{
		Timestamp:         unixNano(1764064800000000001),
		ObservedTimestamp: unixNano(1764064800000000002),
		Body:              "hello",
		Severity:          event.Severity{Text: "WARNING", Number: 14},
		TraceID:           "5b8efff798038103d269b633813fc60c",
		SpanID:            "eee19b7ec3c1b174",
		Resource:          map[string]any{"service.name": "checkout", "host.name": "web-1"},
		Attributes: map[string]any{
			"s": "x", "i": int64(-7), "d": 1.5, "nan": "NaN", "b": true, "bytes": "aGk=",
			"arr": []any{"a", int64(1), []any{}}, "map": map[string]any{"k": "v", "empty": map[string]any{}},
			"null": nil, "nil": nil,
			"otel.scope.name": "lib", "otel.scope.version": "2.0", "event.name": "order.placed",
		},
		Source: "checkout",
	}
	if !reflect.DeepEqual(rec.Event, want) {
		t.Errorf("event\n got %#v\nwant %#v", rec.Event, want)
	}
	if rec.Source != "checkout" || !rec.Time.Equal(want.Timestamp) {
		t.Errorf("source %q time %v", rec.Source, rec.Time)
	}
	wantRaw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(req.ResourceLogs[0].ScopeLogs[0].LogRecords[0])
	if !bytes.Equal(rec.Raw, wantRaw) {
		t.Errorf("raw is not the record's deterministic encoding")
	}

	// The same request in OTLP/JSON gives the same record, Raw included.
	jb, err := decodeJSON(hexJSON(t, req), lim)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jb.recs, b.recs) {
		t.Errorf("JSON record differs:\n got %#v\nwant %#v", jb.recs[0].Event, b.recs[0].Event)
	}
}

func TestRecordAttributesWin(t *testing.T) {
	req := fullRequest()
	lr := req.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	lr.Attributes = []*commonpb.KeyValue{pair("otel.scope.name", sv("mine")), pair("event.name", sv("mine too")), pair("dup", sv("1")), pair("dup", sv("2"))}
	b, err := decodeProtobuf(mustMarshal(t, req), lim)
	if err != nil {
		t.Fatal(err)
	}
	got := b.recs[0].Event.Attributes
	if got["otel.scope.name"] != "mine" || got["event.name"] != "mine too" || got["otel.scope.version"] != "2.0" || got["dup"] != "2" {
		t.Errorf("attributes %v", got)
	}
}

func TestTimestamps(t *testing.T) {
	const ts, obs = 1764064800000000001, 1764064800000000002
	for name, c := range map[string]struct {
		time, observed uint64
		wantTime       uint64 // of rec.Time and ev.Timestamp; 0: zero
		wantObserved   uint64 // 0: zero
	}{
		"both":              {ts, obs, ts, obs},
		"time only":         {ts, 0, ts, 0},
		"observed only":     {0, obs, obs, obs},
		"neither":           {0, 0, 0, 0},
		"observed too old":  {ts, 1, ts, 0},
		"time past int64":   {math.MaxUint64, obs, math.MaxInt64, obs},
		"observed too late": {ts, math.MaxInt64, ts, 0},
	} {
		t.Run(name, func(t *testing.T) {
			req := fullRequest()
			lr := req.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
			lr.TimeUnixNano, lr.ObservedTimeUnixNano = c.time, c.observed
			b, err := decodeProtobuf(mustMarshal(t, req), lim)
			if err != nil {
				t.Fatal(err)
			}
			rec := b.recs[0]
			if !rec.Time.Equal(unixNano(c.wantTime)) || !rec.Event.Timestamp.Equal(unixNano(c.wantTime)) || rec.Time.IsZero() != (c.wantTime == 0) {
				t.Errorf("time %v / %v, want %v", rec.Time, rec.Event.Timestamp, unixNano(c.wantTime))
			}
			if !rec.Event.ObservedTimestamp.Equal(unixNano(c.wantObserved)) {
				t.Errorf("observed %v, want %v", rec.Event.ObservedTimestamp, unixNano(c.wantObserved))
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		text string
		num  int32
		want event.Severity
	}{
		{"", 0, event.Severity{}},
		{"info", 9, event.Severity{Text: "INFO", Number: 9}},
		{"", 9, event.Severity{Text: "INFO", Number: 9}},
		{"", 12, event.Severity{Text: "INFO4", Number: 12}},
		{"", 1, event.Severity{Text: "TRACE", Number: 1}},
		{"", 24, event.Severity{Text: "FATAL4", Number: 24}},
		{"warning", 0, event.Severity{Text: "WARNING", Number: 13}},
		{"crit", 0, event.Severity{Text: "CRIT", Number: 21}},
		{"custom", 0, event.Severity{Text: "CUSTOM"}},
		{"custom", 99, event.Severity{Text: "CUSTOM"}},
		{"", -3, event.Severity{}},
		{"Notice", 10, event.Severity{Text: "NOTICE", Number: 10}},
		{"bad\xff", 0, event.Severity{Text: "bad\xff"}},
	} {
		if got := severity(c.text, logspb.SeverityNumber(c.num)); got != c.want {
			t.Errorf("severity(%q, %d) = %+v, want %+v", c.text, c.num, got, c.want)
		}
	}
}

func TestBodyText(t *testing.T) {
	for _, c := range []struct {
		v    *commonpb.AnyValue
		want string
	}{
		{nil, ""},
		{&commonpb.AnyValue{}, ""},
		{sv("plain <text>"), "plain <text>"},
		{iv(42), "42"},
		{dv(0.5), "0.5"},
		{dv(math.Inf(-1)), "-Infinity"},
		{&commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: false}}, "false"},
		{&commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0xff}}}, "/w=="},
		{arr(sv("a<b"), iv(1), dv(math.NaN())), `["a<b",1,"NaN"]`},
		{kvl(pair("z", iv(1)), pair("a", kvl(pair("x", sv("&"))))), `{"a":{"x":"&"},"z":1}`},
	} {
		if got := bodyText(c.v); got != c.want {
			t.Errorf("bodyText(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestJSONIDs(t *testing.T) {
	rec := func(trace, span string) string {
		return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"` + trace + `","spanId":"` + span + `"}]}]}]}`
	}
	for _, c := range []struct {
		trace, span         string
		wantTrace, wantSpan string
		err                 string
	}{
		{"5B8EFFF798038103D269B633813FC60C", "EEE19B7EC3C1B174", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", ""},
		{"5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", ""},
		{"", "", "", "", ""},
		{"00000000000000000000000000000000", "0000000000000000", "", "", ""},
		{"W47/95gDgQPSabYzgT/GDA==", "", "", "", "traceId: want 32 hex digits (OTLP/JSON ids are hex, not base64)"},
		{"", "7uGbfsPBsXQ=", "", "", "spanId: want 16 hex digits"},
		{"5b8efff798038103d269b633813fc6", "", "", "", "traceId: want 32 hex digits"},
		{"5b8efff798038103d269b633813fc60c00", "", "", "", "traceId: want 32 hex digits"},
		{"5b8efff798038103d269b633813fc6-_", "", "", "", "traceId: not 32 hex digits"},
		{"5b8efff798038103d269b633813fc6+/", "", "", "", "traceId: not 32 hex digits"},
		{"", "eee19b7ec3c1b17g", "", "", "spanId: not 16 hex digits"},
		{"5b8e fff7", "", "", "", "malformed OTLP/JSON"},
	} {
		b, err := decodeJSON([]byte(rec(c.trace, c.span)), lim)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q/%q: err %v, want %q", c.trace, c.span, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q/%q: %v", c.trace, c.span, err)
			continue
		}
		if ev := b.recs[0].Event; ev.TraceID != c.wantTrace || ev.SpanID != c.wantSpan {
			t.Errorf("%q/%q: got %q/%q", c.trace, c.span, ev.TraceID, ev.SpanID)
		}
	}
}

func TestCountJSONRecords(t *testing.T) {
	for _, c := range []struct {
		json string
		want int
	}{
		{``, 0},
		{`{}`, 0},
		{`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"body":{"stringValue":"{[{"}},{}]}]}]}`, 3},
		{`{"resource_logs":[{"scope_logs":[{"log_records":[{}]},{"logRecords":[{},{}]}]},{"scopeLogs":[{"logRecords":[{}]}]}]}`, 4},
		{` { "resourceLogs" : [ { "scopeLogs" : [ { "logRecords" : [ { } , { } ] } ] } ] } `, 2},
		{`{"resourceLogs":[{"scopeLogs":[{"log\u0052ecords":[{},{}]}]}]}`, 2},
		{`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"logRecords","value":{"kvlistValue":{}}}]}]}]}]}`, 1},
		{`{"other":[{"scopeLogs":[{"logRecords":[{}]}]}]}`, 0},
		{`{"resourceLogs":[{"x":[{"logRecords":[{}]}]}]}`, 0},
		{`{"resourceLogs":[[{"scopeLogs":[{"logRecords":[{}]}]}]]}`, 0},
		{`{"resourceLogs":[{"scopeLogs":[{"logRecords":[[{}]]}]}]}`, 0},
		{`{"resourceLogs":[{"scopeLogs":[{"schemaUrl":"\"]}","logRecords":[{}]}]}]}`, 1},
		{`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"a":"\\"},{}]}]}]}`, 2},
		{`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{`, 2},
		{`}}{`, 0},
		{`]]]]]]]]{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}`, 1},
	} {
		if got := countJSONRecords([]byte(c.json)); got != c.want {
			t.Errorf("countJSONRecords(%s) = %d, want %d", c.json, got, c.want)
		}
	}
}

// TestLenient: for valid input the lenient reader agrees with the protobuf
// runtime; for strings that are not UTF-8 it keeps them as they are.
func TestLenient(t *testing.T) {
	req := fullRequest()
	lr := req.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	lr.Body = kvl(pair("nested", arr(kvl(pair("deep", iv(1))))))
	got, err := lenientLogRecord(mustMarshal(t, lr))
	if err != nil || !proto.Equal(got, lr) {
		t.Errorf("lenient log record %v (%v), want %v", got, err, lr)
	}
	res := req.ResourceLogs[0].Resource
	if got, err := lenientResource(mustMarshal(t, res)); err != nil || !proto.Equal(got, res) {
		t.Errorf("lenient resource %v (%v), want %v", got, err, res)
	}
	sc := req.ResourceLogs[0].ScopeLogs[0].Scope
	if got, err := lenientScope(mustMarshal(t, sc)); err != nil || !proto.Equal(got, sc) {
		t.Errorf("lenient scope %v (%v), want %v", got, err, sc)
	}

	lr = &logspb.LogRecord{SeverityText: "AAAA", Body: sv("BBBB"), EventName: "CCCC", Attributes: []*commonpb.KeyValue{pair("DDDD", sv("EEEE"))}}
	enc := mustMarshal(t, lr)
	for _, s := range []string{"AAAA", "BBBB", "CCCC", "DDDD", "EEEE"} {
		enc = bytes.Replace(enc, []byte(s), []byte("\xff\xfe\xfd\xfc"), 1)
	}
	if proto.Unmarshal(enc, &logspb.LogRecord{}) == nil {
		t.Fatal("the protobuf runtime accepted strings that are not UTF-8")
	}
	got, err = unmarshalLogRecord(enc)
	bad := "\xff\xfe\xfd\xfc"
	if err != nil || got.SeverityText != bad || got.Body.GetStringValue() != bad || got.EventName != bad ||
		got.Attributes[0].Key != bad || got.Attributes[0].Value.GetStringValue() != bad {
		t.Errorf("lenient read %v (%v)", got, err)
	}
	b, err := decodeProtobuf(mustMarshal(t, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{}}}}}), lim)
	if err != nil || len(b.recs) != 0 {
		t.Errorf("empty scope: %v, %v", b, err)
	}
}

// TestMergedResource: a singular message field sent twice is merged, as
// the protobuf runtime does.
func TestMergedResource(t *testing.T) {
	r1 := mustMarshal(t, &resourcepb.Resource{Attributes: []*commonpb.KeyValue{pair("service.name", sv("a"))}})
	r2 := mustMarshal(t, &resourcepb.Resource{Attributes: []*commonpb.KeyValue{pair("host.name", sv("h"))}})
	sl := mustMarshal(t, &logspb.ScopeLogs{LogRecords: []*logspb.LogRecord{{Body: sv("x")}}})
	var rl []byte
	rl = appendField(rl, 1, r1)
	rl = appendField(rl, 2, sl)
	rl = appendField(rl, 1, r2) // after the scope logs, too
	body := appendField(nil, 1, rl)
	b, err := decodeProtobuf(body, lim)
	if err != nil {
		t.Fatal(err)
	}
	if ev := b.recs[0].Event; ev.Service() != "a" || ev.Host() != "h" || b.recs[0].Source != "a" {
		t.Errorf("resource %v, source %q", ev.Resource, b.recs[0].Source)
	}
}

func appendField(b []byte, num int, val []byte) []byte {
	b = append(b, byte(num<<3|2))
	n := len(val)
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	b = append(b, byte(n))
	return append(b, val...)
}

func TestTooManyRecordsCountedFirst(t *testing.T) {
	l := lim
	l.MaxBatchRecords = 2
	// Three empty records: "\x12\x00" inside a ScopeLogs inside a ResourceLogs.
	body := appendField(nil, 1, appendField(nil, 2, []byte("\x12\x00\x12\x00\x12\x00")))
	if _, err := decodeProtobuf(body, l); err == nil || !strings.Contains(err.Error(), "3 log records in one request, limit 2") {
		t.Errorf("err %v", err)
	}
}

// TestReadBodyBomb: a gzip bomb costs about the limit, not its expansion.
func TestReadBodyBomb(t *testing.T) {
	const limit = 1 << 20
	var member bytes.Buffer // one compressed MiB of zeros, repeated as gzip members
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	bomb := bytes.Repeat(member.Bytes(), 64)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(bomb))
	r.Header.Set("Content-Encoding", "gzip")
	_, err := readBody(r, limit)
	runtime.ReadMemStats(&after)
	var tl *errTooLarge
	if !errors.As(err, &tl) {
		t.Fatalf("err %v, want too large", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*limit {
		t.Errorf("reading a %d-byte bomb of 64 MiB allocated %d bytes, limit %d", len(bomb), alloc, limit)
	}
}

// stubSink answers every record with the same error.
type stubSink struct{ err error }

func (s stubSink) Publish(_ context.Context, _ string, recs []ingest.Record) []error {
	res := make([]error, len(recs))
	for i := range res {
		if i == len(res)-1 { // the last record gets err, the others are stored
			res[i] = s.err
		}
	}
	return res
}

func (stubSink) Limits() ingest.Limits { return ingest.DefaultLimits() }

func TestAnswers(t *testing.T) {
	body := mustMarshal(t, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{
		LogRecords: []*logspb.LogRecord{{Body: sv("a")}, {Body: sv("b")}},
	}}}}})
	for name, c := range map[string]struct {
		err        error
		status     int
		retryAfter string
		result     string
	}{
		"stored":      {nil, 200, "", "ok"},
		"rejected":    {ingest.Rejectf(ingest.ReasonNULByte, "field body contains a NUL byte"), 200, "", "partial"},
		"busy":        {ingest.ErrBusy, 429, "2", "retry"},
		"stream full": {ingest.ErrStreamFull, 429, "30", "retry"},
		"unavailable": {ingest.ErrUnavailable, 503, "5", "retry"},
		"unknown":     {errors.New("something else"), 503, "5", "retry"},
	} {
		t.Run(name, func(t *testing.T) {
			m := ingest.NewMetrics(prometheus.NewRegistry())
			h := NewHandler(stubSink{c.err}, nil, m)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
			r.Header.Set("Content-Type", ContentTypeProtobuf)
			h.ServeHTTP(w, r)
			if w.Code != c.status || w.Header().Get("Retry-After") != c.retryAfter {
				t.Errorf("status %d Retry-After %q, want %d %q", w.Code, w.Header().Get("Retry-After"), c.status, c.retryAfter)
			}
			if got := testutil.ToFloat64(m.Requests.WithLabelValues(Protocol, c.result)); got != 1 {
				t.Errorf("requests{result=%s} = %v", c.result, got)
			}
			if c.result == "partial" {
				var resp collogspb.ExportLogsServiceResponse
				if err := proto.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.GetPartialSuccess().GetRejectedLogRecords() != 1 ||
					resp.GetPartialSuccess().GetErrorMessage() != "1 of 2 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: field body contains a NUL byte" {
					t.Errorf("answer %v (%v)", &resp, err)
				}
			}
		})
	}
}

func TestRejectMessageIsBounded(t *testing.T) {
	b := &batch{}
	res := make([]error, 100)
	for i := range res {
		b.pos = append(b.pos, pos{0, 0, i})
		res[i] = ingest.Rejectf(ingest.ReasonNULByte, "field body contains a NUL byte")
	}
	msg := rejectMessage(b, res, 100)
	if !strings.HasSuffix(msg, "logRecords[4]: field body contains a NUL byte; and 95 more") {
		t.Errorf("message %q", msg)
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
