package otlp

import (
	"bytes"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// fuzzLimits are small, so the fuzzer reaches the limits.
func fuzzLimits() ingest.Limits {
	l := ingest.DefaultLimits()
	l.MaxBatchRecords = 50
	l.MaxRecordBytes = 4096
	return l
}

// checkBatch holds for whatever a decoder accepts: one position per
// record, every record with an event and a source, ids of the right size.
func checkBatch(t *testing.T, b *batch, lim ingest.Limits) {
	t.Helper()
	if len(b.recs) != len(b.pos) || len(b.recs) > lim.MaxBatchRecords {
		t.Fatalf("%d records, %d positions, limit %d", len(b.recs), len(b.pos), lim.MaxBatchRecords)
	}
	for i, rec := range b.recs {
		if rec.Event == nil || rec.Source == "" || rec.Event.Source != rec.Source {
			t.Fatalf("record %d: event %v, source %q", i, rec.Event, rec.Source)
		}
		if n := len(rec.Event.TraceID); n != 0 && n != 2*traceIDSize {
			t.Fatalf("record %d: trace id %q", i, rec.Event.TraceID)
		}
		if n := len(rec.Event.SpanID); n != 0 && n != 2*spanIDSize {
			t.Fatalf("record %d: span id %q", i, rec.Event.SpanID)
		}
		if !rec.Time.Equal(rec.Event.Timestamp) {
			t.Fatalf("record %d: time %v, event timestamp %v", i, rec.Time, rec.Event.Timestamp)
		}
		if _, err := rec.Event.Marshal(); err != nil {
			t.Fatalf("record %d: event cannot be encoded: %v", i, err)
		}
	}
}

func FuzzDecodeProtobuf(f *testing.F) {
	full := fullRequest()
	seed, _ := deterministic.Marshal(full)
	f.Add(seed)
	f.Add([]byte{})
	f.Add(seed[:len(seed)/2])
	f.Add(bytes.Replace(seed, []byte("checkout"), []byte("check\xffut"), 1))
	f.Add(appendField(nil, 1, appendField(nil, 2, []byte("\x12\x00\x12\x00\x12\x00"))))
	two, _ := deterministic.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		full.ResourceLogs[0], {ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Body: kvl(pair("k", arr(iv(1))))}}}}},
	}})
	f.Add(two)
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeProtobuf(data, lim)
		if err != nil {
			if _, ok := err.(*badDataError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		checkBatch(t, b, lim)
	})
}

func FuzzDecodeJSON(f *testing.F) {
	full := fullRequest()
	full.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Attributes = append(full.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Attributes,
		pair("esc", sv("quote \" backslash \\ brace } bracket ]")))
	f.Add(hexJSON(f, full))
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"traceId":"5B8EFFF798038103D269B633813FC60C"}]},{"log_records":[{}]}]}]}`))
	f.Add([]byte(`{"resource_logs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a\u0000b"}}]},"scope_logs":[{"log\u0052ecords":[{"body":{"kvlistValue":{"values":[{"key":"x","value":{"doubleValue":"NaN"}}]}}}]}]}]}`))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"18446744073709551615","severityNumber":"SEVERITY_NUMBER_WARN","spanId":"0000000000000000"}]}]}]}`))
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		counted := countJSONRecords(data)
		b, err := decodeJSON(data, lim)
		if err != nil {
			if _, ok := err.(*badDataError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		checkBatch(t, b, lim)
		// The scan that bounds the work before decoding must not count
		// fewer records than protojson then builds.
		if counted < len(b.recs) {
			t.Fatalf("scan counted %d records, protojson decoded %d", counted, len(b.recs))
		}
	})
}
