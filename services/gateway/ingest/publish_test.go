package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/gateway/ingest/ingesttest"
)

// The ids of identical records with a time of their own are those earlier
// releases gave them (the forward receiver's "-n" for repeats), so a
// replay of old data is still de-duplicated.
func TestRepeatsOfATimestampedRecordKeepTheirIDs(t *testing.T) {
	e := ingesttest.Start(t, nil, nil)
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	rec := func() ingest.Record {
		return ingest.Record{Source: "app", Time: ts, Raw: []byte("GET /health"), Fields: map[string]any{"message": "GET /health"}}
	}
	recs := []ingest.Record{rec(), rec(), rec()}
	for i, err := range e.Publisher.Publish(context.Background(), "test", recs) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	base := event.NewID("app", []byte("GET /health"), ts)
	if want := []string{base, base + "-1", base + "-2"}; recs[0].ID != want[0] || recs[1].ID != want[1] || recs[2].ID != want[2] {
		t.Errorf("ids %q %q %q, want %q", recs[0].ID, recs[1].ID, recs[2].ID, want)
	}
}

// A record a protocol refused while decoding is not published, and the
// publisher dead-letters and counts it.
func TestRecordRefusedByItsProtocolIsDeadLettered(t *testing.T) {
	e := ingesttest.Start(t, nil, nil)
	recs := []ingest.Record{
		{Source: "app", Raw: []byte(`{"msg":`), Reject: ingest.Rejectf(ingest.ReasonMalformed, "malformed JSON on line 1")},
		{Source: "app", Raw: []byte(`{"msg":"fine"}`), Fields: map[string]any{"msg": "fine"}},
	}
	res := e.Publisher.Publish(context.Background(), "test", recs)
	if !ingest.IsReject(res[0]) || res[1] != nil {
		t.Fatalf("results %v", res)
	}
	if n := e.NATS.StreamMsgs(topology.RawStream); n != 1 {
		t.Errorf("the raw stream holds %d events, want 1", n)
	}
	if n := e.NATS.StreamMsgs(topology.DLQStream); n != 1 {
		t.Errorf("the DLQ holds %d dead letters, want 1", n)
	}
	if got := e.Records(t, "test", "rejected"); got != 1 {
		t.Errorf("records_total{outcome=rejected} = %v, want 1", got)
	}
}

// The key of a request without one is made of its records as they came,
// whatever ids the publisher gave the records before it: a retry of the
// same request gets the same ids, and a request differing only in a
// shipper's id is another request.
func TestDerivedRequestKeyReadsTheRecordsAsSent(t *testing.T) {
	e := ingesttest.Start(t, nil, nil)
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	request := func(shipperID string) []ingest.Record {
		return []ingest.Record{
			{Source: "app", ID: shipperID, IDScope: "app", Time: ts, Raw: []byte(`{"m":"a"}`), Fields: map[string]any{"m": "a"}},
			{Source: "app", Raw: []byte(`{"m":"no time"}`), Fields: map[string]any{"m": "no time"}},
		}
	}
	ids := func(recs []ingest.Record) string {
		for i, err := range e.Publisher.Publish(context.Background(), "test", recs) {
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		return recs[1].ID
	}
	first, again, other := ids(request("1")), ids(request("1")), ids(request("2"))
	if first != again || first == other {
		t.Errorf("time-less record ids %s, %s when resent, %s in another request; want the first two equal, the third not", first, again, other)
	}
}

// A batch larger than the JetStream context lets wait for PubAcks at once
// (a Fluent Bit chunk of short lines holds tens of thousands of records)
// is published as acknowledgements make room, not refused when JetStream
// is slower than the client's stall wait (a loaded machine). Here the
// context allows 16 pending publishes and every PubAck comes 300 ms late.
func TestABatchLargerThanThePendingLimitWaitsForRoom(t *testing.T) {
	n := testkit.StartNATS(t)
	slow, _ := n.Connect()
	sub, err := slow.Subscribe("slowraw.>", func(m *nats.Msg) {
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = m.Respond([]byte(`{"stream":"SLOW","seq":1}`))
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc, _ := n.Connect()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultPublisherConfig()
	cfg.SubjectPrefix = "slowraw."
	cfg.AckTimeout = 5 * time.Second
	p := ingest.NewPublisher(js, cfg, ingest.NewMetrics(prometheus.NewRegistry()), nil)
	recs := make([]ingest.Record, 80)
	for i := range recs {
		recs[i] = ingest.Record{Source: "app", Raw: []byte(fmt.Sprintf("line %d", i)), Fields: map[string]any{"message": fmt.Sprintf("line %d", i)}}
	}
	for i, err := range p.Publish(context.Background(), "test", recs) {
		if err != nil {
			t.Fatalf("record %d of %d refused: %v", i, len(recs), err)
		}
	}
}
