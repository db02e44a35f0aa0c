package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// defaultSource is the source of records whose resource has no string
// service.name.
const defaultSource = "otlp"

// Keys the receiver adds to an event's attributes.
const (
	attrScopeName    = "otel.scope.name"
	attrScopeVersion = "otel.scope.version"
	attrEventName    = "event.name"
)

// Trace and span id sizes, in bytes.
const (
	traceIDSize = 16
	spanIDSize  = 8
)

// badDataError is a request that cannot be decoded: answered 400, with the
// offending field in a google.rpc.BadRequest when it is known.
type badDataError struct {
	field string // e.g. resourceLogs[0].scopeLogs[1].logRecords[2].traceId; may be empty
	desc  string
}

func (e *badDataError) Error() string {
	if e.field == "" {
		return e.desc
	}
	return e.field + ": " + e.desc
}

func badData(field, format string, args ...any) *badDataError {
	return &badDataError{field: field, desc: fmt.Sprintf(format, args...)}
}

// pos locates a log record in a request, for error messages.
type pos struct{ res, scope, rec int }

func (p pos) String() string {
	return fmt.Sprintf("resourceLogs[%d].scopeLogs[%d].logRecords[%d]", p.res, p.scope, p.rec)
}

// batch is what a decoder makes of a request body: the records, in request
// order, and where each came from.
type batch struct {
	recs []ingest.Record
	pos  []pos
}

func tooManyRecords(n int, lim ingest.Limits) error {
	return badData("", "%d log records in one request, limit %d (set gateway.limits.max_batch_records, or lower the sender's batch size)", n, lim.MaxBatchRecords)
}

// decodeProtobuf decodes a binary ExportLogsServiceRequest. The envelope
// (request, ResourceLogs, ScopeLogs) is walked on the wire, so records are
// counted before any is built and each LogRecord is unmarshalled on its own:
// one that the protobuf runtime refuses for a string that is not UTF-8 is
// read again leniently and refused alone by the publisher.
func decodeProtobuf(body []byte, lim ingest.Limits) (*batch, error) {
	n, err := countProtoRecords(body)
	if err != nil {
		return nil, err
	}
	if n > lim.MaxBatchRecords {
		return nil, tooManyRecords(n, lim)
	}
	b := &batch{recs: make([]ingest.Record, 0, n), pos: make([]pos, 0, n)}
	ri := 0
	err = eachField(body, func(num protowire.Number, typ protowire.Type, rl []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType { // ExportLogsServiceRequest.resource_logs
			return nil
		}
		r := ri
		ri++
		res, err := unmarshalResource(field(rl, 1)) // ResourceLogs.resource
		if err != nil {
			return badData(fmt.Sprintf("resourceLogs[%d].resource", r), "malformed protobuf: %v", err)
		}
		rc := newResourceCtx(res, field(rl, 1))
		si := 0
		return eachField(rl, func(num protowire.Number, typ protowire.Type, sl []byte, _ uint64) error {
			if num != 2 || typ != protowire.BytesType { // ResourceLogs.scope_logs
				return nil
			}
			s := si
			si++
			scb := field(sl, 1) // ScopeLogs.scope
			sc, err := unmarshalScope(scb)
			if err != nil {
				return badData(fmt.Sprintf("resourceLogs[%d].scopeLogs[%d].scope", r, s), "malformed protobuf: %v", err)
			}
			ctx := rc.context(sc, scb)
			li := 0
			return eachField(sl, func(num protowire.Number, typ protowire.Type, enc []byte, _ uint64) error {
				if num != 2 || typ != protowire.BytesType { // ScopeLogs.log_records
					return nil
				}
				p := pos{r, s, li}
				li++
				if len(enc) > lim.MaxRecordBytes {
					// The publisher refuses it for its size; no need to decode it.
					b.add(ingest.Record{Source: rc.source, Raw: enc, Event: &event.Event{Source: rc.source}}, p)
					return nil
				}
				lr, err := unmarshalLogRecord(enc)
				if err != nil {
					return badData(p.String(), "malformed protobuf: %v", err)
				}
				rec, err := buildRecord(lr, rc, sc, ctx, enc, p)
				if err != nil {
					return err
				}
				b.add(rec, p)
				return nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (b *batch) add(rec ingest.Record, p pos) {
	b.recs = append(b.recs, rec)
	b.pos = append(b.pos, p)
}

// countProtoRecords counts the log records of a binary request without
// decoding them, and checks that the envelope is well-formed.
func countProtoRecords(body []byte) (int, error) {
	n, ri, si := 0, -1, -1
	level := 0 // where an error is: 0 the request, 1 resourceLogs[ri], 2 its scopeLogs[si]
	err := eachField(body, func(num protowire.Number, typ protowire.Type, rl []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		ri, si, level = ri+1, -1, 1
		err := eachField(rl, func(num protowire.Number, typ protowire.Type, sl []byte, _ uint64) error {
			if num != 2 || typ != protowire.BytesType {
				return nil
			}
			si, level = si+1, 2
			err := eachField(sl, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) error {
				if num == 2 && typ == protowire.BytesType {
					n++
				}
				return nil
			})
			if err == nil {
				level = 1
			}
			return err
		})
		if err == nil {
			level = 0
		}
		return err
	})
	if err != nil {
		where := ""
		switch level {
		case 1:
			where = fmt.Sprintf("resourceLogs[%d]", ri)
		case 2:
			where = fmt.Sprintf("resourceLogs[%d].scopeLogs[%d]", ri, si)
		}
		return 0, badData(where, "malformed protobuf: %v", err)
	}
	return n, nil
}

// eachField calls fn for each field of the protobuf message b, in wire
// order, with a length-delimited field's bytes in val and a varint or fixed
// field's value in x. Groups are skipped.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, val []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var val []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			val, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			x = uint64(v)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, val, x); err != nil {
			return err
		}
	}
	return nil
}

// field returns the encoding of the singular message field num of b. A
// message field that occurs more than once is merged, which on the wire is
// the concatenation of the occurrences. b was walked by countProtoRecords,
// so it is well-formed.
func field(b []byte, num protowire.Number) []byte {
	var out []byte
	n := 0
	_ = eachField(b, func(fn protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
		if fn != num || typ != protowire.BytesType {
			return nil
		}
		switch n++; n {
		case 1:
			out = val
		case 2:
			out = append(append([]byte(nil), out...), val...)
		default:
			out = append(out, val...)
		}
		return nil
	})
	return out
}

func unmarshalResource(b []byte) (*resourcepb.Resource, error) {
	r := &resourcepb.Resource{}
	if err := proto.Unmarshal(b, r); err != nil {
		return lenientResource(b)
	}
	return r, nil
}

func unmarshalScope(b []byte) (*commonpb.InstrumentationScope, error) {
	s := &commonpb.InstrumentationScope{}
	if err := proto.Unmarshal(b, s); err != nil {
		return lenientScope(b)
	}
	return s, nil
}

func unmarshalLogRecord(b []byte) (*logspb.LogRecord, error) {
	lr := &logspb.LogRecord{}
	if err := proto.Unmarshal(b, lr); err != nil {
		return lenientLogRecord(b)
	}
	return lr, nil
}

// jsonUnmarshal follows the OTLP/JSON rules protojson does not know by
// default: unknown fields are ignored.
var jsonUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// decodeJSON decodes an OTLP/JSON ExportLogsServiceRequest. Records are
// counted by a scan of the text first, so a body of ten million "{}" is
// refused before protojson builds them.
func decodeJSON(body []byte, lim ingest.Limits) (*batch, error) {
	if n := countJSONRecords(body); n > lim.MaxBatchRecords {
		return nil, tooManyRecords(n, lim)
	}
	req := &collogspb.ExportLogsServiceRequest{}
	if err := jsonUnmarshal.Unmarshal(body, req); err != nil {
		return nil, badData("", "malformed OTLP/JSON: %v", err)
	}
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	if n > lim.MaxBatchRecords {
		return nil, tooManyRecords(n, lim)
	}
	b := &batch{recs: make([]ingest.Record, 0, n), pos: make([]pos, 0, n)}
	for ri, rl := range req.GetResourceLogs() {
		rc := newResourceCtx(rl.GetResource(), nil)
		for si, sl := range rl.GetScopeLogs() {
			ctx := rc.context(sl.GetScope(), nil)
			for li, lr := range sl.GetLogRecords() {
				p := pos{ri, si, li}
				var err error
				if lr.TraceId, err = hexFromJSON(lr.TraceId, traceIDSize); err != nil {
					return nil, badData(p.String()+".traceId", "%v", err)
				}
				if lr.SpanId, err = hexFromJSON(lr.SpanId, spanIDSize); err != nil {
					return nil, badData(p.String()+".spanId", "%v", err)
				}
				rec, err := buildRecord(lr, rc, sl.GetScope(), ctx, nil, p)
				if err != nil {
					return nil, err
				}
				b.add(rec, p)
			}
		}
	}
	return b, nil
}

// hexFromJSON recovers a trace or span id sent, as OTLP/JSON requires, as
// hex text. protojson decodes every bytes field as base64, and hex digits
// are base64 digits: 32 hex digits (a trace id) decode to 24 bytes, 16 (a
// span id) to 12, and as whole 4-digit groups that decoding is one-to-one.
// Encoding those bytes as base64 again gives back the text that was sent,
// which is then decoded as hex. Any other length was not a hex id of the
// right size (base64-encoded ids, as the plain proto3 mapping would send
// them, included) and is refused.
func hexFromJSON(b []byte, size int) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	digits := 2 * size
	if len(b) != digits/4*3 {
		return nil, fmt.Errorf("want %d hex digits (OTLP/JSON ids are hex, not base64)", digits)
	}
	id, err := hex.DecodeString(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("not %d hex digits", digits)
	}
	return id, nil
}

// countJSONRecords counts the objects in every
// resourceLogs[].scopeLogs[].logRecords[] array of an OTLP/JSON request, in
// one pass over the text and without decoding it. It knows both spellings
// protojson accepts (logRecords and log_records) and escaped keys. On
// malformed JSON the count means little; protojson then reports the error.
func countJSONRecords(b []byte) int {
	const recDepth = 7 // root{ resourceLogs[ {scopeLogs[ {logRecords[ {
	var keys [recDepth]string
	var arrays [recDepth]bool
	depth, n := 0, 0
	key := "" // the last object key seen, for the container that may follow it
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := stringEnd(b, i)
			if depth < recDepth {
				j := end + 1
				for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
					j++
				}
				if j < len(b) && b[j] == ':' {
					key = jsonKey(b[i : end+1])
					end = j
				}
			}
			i = end
		case '{', '[':
			depth++
			if depth < recDepth {
				keys[depth], arrays[depth] = key, c == '['
			}
			if c == '{' && depth == recDepth && isRecordPath(&keys, &arrays) {
				n++
			}
			key = ""
		case '}', ']':
			if depth > 0 { // more closing than opening: malformed, for protojson to report
				depth--
			}
			key = ""
		}
	}
	return n
}

func isRecordPath(keys *[7]string, arrays *[7]bool) bool {
	return !arrays[1] &&
		arrays[2] && (keys[2] == "resourceLogs" || keys[2] == "resource_logs") &&
		!arrays[3] &&
		arrays[4] && (keys[4] == "scopeLogs" || keys[4] == "scope_logs") &&
		!arrays[5] &&
		arrays[6] && (keys[6] == "logRecords" || keys[6] == "log_records")
}

// stringEnd returns the index of the quote closing the JSON string that
// opens at b[i], or len(b)-1 when it is not closed.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(b) - 1
}

// jsonKey returns the text of a quoted JSON key.
func jsonKey(q []byte) string {
	if len(q) < 2 {
		return ""
	}
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	if json.Unmarshal(q, &s) != nil {
		return ""
	}
	return s
}

// resourceCtx is what every record of one ResourceLogs shares.
type resourceCtx struct {
	attrs  map[string]any
	source string
	key    []byte // the resource's encoding, for the records' ids
}

// newResourceCtx reads a resource; received is its encoding as it came
// (nil for JSON).
func newResourceCtx(res *resourcepb.Resource, received []byte) *resourceCtx {
	rc := &resourceCtx{attrs: attributes(res.GetAttributes()), source: defaultSource, key: encodingOf(res, received)}
	if s, ok := rc.attrs[event.ServiceName].(string); ok && s != "" {
		rc.source = s
	}
	return rc
}

// context is the part of the ids of a scope's records that their own
// bytes do not carry: the resource and the scope, so two hosts (or two
// scopes) logging the same record at the same time make two events.
// Records of an empty resource and scope have none, as before resources
// counted. received is the scope's encoding as it came (nil for JSON).
func (rc *resourceCtx) context(scope *commonpb.InstrumentationScope, received []byte) string {
	sk := encodingOf(scope, received)
	if len(rc.key) == 0 && len(sk) == 0 {
		return ""
	}
	return string(protowire.AppendBytes(protowire.AppendBytes(nil, rc.key), sk))
}

// encodingOf returns m's deterministic encoding, the same whether m came as
// protobuf or JSON; received when m cannot be encoded again (a string that
// is not UTF-8).
func encodingOf(m proto.Message, received []byte) []byte {
	b, err := deterministic.Marshal(m)
	if err != nil {
		return received
	}
	return b
}

// deterministic makes Raw, the input of the event id, the same for the same
// record whatever map order or encoding it came in.
var deterministic = proto.MarshalOptions{Deterministic: true}

// buildRecord maps one LogRecord onto an ingest record with its event.
// ctx is its resource's and scope's part of its id. received is the
// record's encoding as it came (nil for JSON): Raw when the record cannot
// be encoded again (a string that is not UTF-8).
func buildRecord(lr *logspb.LogRecord, rc *resourceCtx, scope *commonpb.InstrumentationScope, ctx string, received []byte, p pos) (ingest.Record, error) {
	traceID, err := hexID(lr.GetTraceId(), traceIDSize)
	if err != nil {
		return ingest.Record{}, badData(p.String()+".traceId", "%v", err)
	}
	spanID, err := hexID(lr.GetSpanId(), spanIDSize)
	if err != nil {
		return ingest.Record{}, badData(p.String()+".spanId", "%v", err)
	}
	raw := encodingOf(lr, received)
	ev := &event.Event{
		Timestamp:  unixNano(lr.GetTimeUnixNano()),
		Body:       bodyText(lr.GetBody()),
		Severity:   severity(lr.GetSeverityText(), lr.GetSeverityNumber()),
		TraceID:    traceID,
		SpanID:     spanID,
		Attributes: attributes(lr.GetAttributes()),
		Source:     rc.source,
	}
	if len(rc.attrs) > 0 {
		// A copy per event: a later stage that changes one event's resource
		// must not change its neighbours'.
		ev.Resource = maps.Clone(rc.attrs)
	}
	if obs := unixNano(lr.GetObservedTimeUnixNano()); !obs.IsZero() {
		if ev.Timestamp.IsZero() {
			ev.Timestamp = obs // the publisher refuses it if it is out of range
		}
		if _, err := event.ParseTime(obs); err == nil {
			ev.ObservedTimestamp = obs
		}
	}
	setNew(ev, attrScopeName, scope.GetName())
	setNew(ev, attrScopeVersion, scope.GetVersion())
	setNew(ev, attrEventName, lr.GetEventName())
	return ingest.Record{Source: rc.source, Time: ev.Timestamp, Raw: raw, Context: ctx, Event: ev}, nil
}

// setNew sets a non-empty attribute the record does not hold already.
func setNew(ev *event.Event, k, v string) {
	if v == "" {
		return
	}
	if _, ok := ev.Attributes[k]; !ok {
		ev.SetAttr(k, v)
	}
}

// hexID renders a trace or span id as lowercase hex; an absent or all-zero
// id (both mean "none" in OTLP) is "".
func hexID(b []byte, size int) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	if len(b) != size {
		return "", fmt.Errorf("%d bytes, want %d (or none)", len(b), size)
	}
	for _, c := range b {
		if c != 0 {
			return hex.EncodeToString(b), nil
		}
	}
	return "", nil
}

// unixNano turns OTLP nanoseconds into a time; 0 means unset. Values past
// what int64 holds are clamped (and refused by the publisher as out of
// range) rather than wrapped into the past.
func unixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(min(n, math.MaxInt64))).UTC()
}

// severityNames are the OpenTelemetry short names of the first number of
// each severity range; the other three of a range get a digit (INFO2…4).
var severityNames = [...]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}

func severity(text string, num logspb.SeverityNumber) event.Severity {
	n := int(num)
	if n < 1 || n > 24 {
		n = 0
	}
	if utf8.ValidString(text) { // else left as it is, for the publisher to refuse
		text = strings.ToUpper(text)
	}
	if n == 0 && text != "" {
		if s, ok := event.ParseSeverity(text); ok {
			n = s.Number
		}
	}
	if text == "" && n != 0 {
		text = severityNames[(n-1)/4]
		if k := (n - 1) % 4; k > 0 {
			text += strconv.Itoa(k + 1)
		}
	}
	return event.Severity{Text: text, Number: n}
}

// bodyText renders a body: a string as it is, any other kind as JSON text.
func bodyText(v *commonpb.AnyValue) string {
	if v.GetValue() == nil {
		return ""
	}
	g := value(v)
	if s, ok := g.(string); ok {
		return s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(g); err != nil {
		return fmt.Sprint(g) // not reached: value makes only JSON-safe values
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// attributes turns OTLP key/values into a map; nil when there are none.
func attributes(kvs []*commonpb.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

// value turns an AnyValue into a Go value that encoding/json can encode.
func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		switch f := x.DoubleValue; {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		default:
			return f
		}
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = value(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		m := attributes(x.KvlistValue.GetValues())
		if m == nil {
			m = map[string]any{}
		}
		return m
	}
	return nil // unset, or a string-table index, which only profiles use
}
