package otlp

import (
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// benchRequest is n records like fullRequest's, under one resource.
func benchRequest(n int) *collogspb.ExportLogsServiceRequest {
	req := fullRequest()
	sl := req.ResourceLogs[0].ScopeLogs[0]
	one := sl.LogRecords[0]
	sl.LogRecords = make([]*logspb.LogRecord, n)
	for i := range sl.LogRecords {
		lr := proto.Clone(one).(*logspb.LogRecord)
		lr.TimeUnixNano += uint64(i)
		sl.LogRecords[i] = lr
	}
	return req
}

func BenchmarkDecodeProtobuf(b *testing.B) {
	body := mustMarshal(b, benchRequest(1000))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeProtobuf(body, lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	body := hexJSON(b, benchRequest(1000))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeJSON(body, lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCountJSONRecords(b *testing.B) {
	body := hexJSON(b, benchRequest(1000))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if n := countJSONRecords(body); n != 1000 {
			b.Fatal(n)
		}
	}
}
