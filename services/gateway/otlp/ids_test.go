package otlp_test

import (
	"net/http"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/otlp"
)

// resourceLogs is one resource of service svc on host, with one scope
// holding recs.
func resourceLogs(svc, host, scope string, recs ...*logspb.LogRecord) *logspb.ResourceLogs {
	return &logspb.ResourceLogs{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str(svc)), kv("host.name", str(host))}},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: scope}, LogRecords: recs}},
	}
}

// Two hosts of one service, or two scopes of one host, logging the same
// record at the same nanosecond are two events; identical records of one
// scope are distinct too; and the request sent again stores nothing new.
func TestIdenticalRecordsOfDifferentResourcesAreDistinct(t *testing.T) {
	e := setup(t, nil)
	e.record(t)
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		resourceLogs("checkout", "web-1", "db", record("connection reset"), record("connection reset")),
		resourceLogs("checkout", "web-2", "db", record("connection reset")),
		resourceLogs("checkout", "web-2", "http", record("connection reset")),
	}}
	for range 2 {
		if code, body, _ := e.post(t, otlp.ContentTypeProtobuf, marshal(t, req)); code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
	}
	if n := e.nats.StreamMsgs(topology.RawStream); n != 4 {
		t.Errorf("LOGS_RAW holds %d messages, want 4", n)
	}
	ids := map[string]bool{}
	for _, m := range e.raw.Wait(t, 4, 10*time.Second) {
		ids[m.Headers().Get("Nats-Msg-Id")] = true
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct ids, want 4", len(ids))
	}
}

// A record without a timestamp (neither time nor observed time) keeps its
// id when the request is sent again.
func TestTimelessRecordKeepsItsIDWhenResent(t *testing.T) {
	e := setup(t, nil)
	same := &logspb.LogRecord{Body: str("no time given")}
	req := request("checkout", same, same, &logspb.LogRecord{Body: str("none here either")})
	for range 2 {
		if code, body, _ := e.post(t, otlp.ContentTypeProtobuf, marshal(t, req)); code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
	}
	if n := e.nats.StreamMsgs(topology.RawStream); n != 3 {
		t.Errorf("LOGS_RAW holds %d messages, want 3", n)
	}
}
