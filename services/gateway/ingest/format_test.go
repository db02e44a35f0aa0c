package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/gateway/ingest/ingesttest"
)

// TestPublishedEventsAreMarked: what the gateway stores on logs.raw.<source>
// is its own event JSON, and the message says so in its header, so the
// enricher never has to guess it from the bytes.
func TestPublishedEventsAreMarked(t *testing.T) {
	env := ingesttest.Start(t, nil, nil)
	rec := testkit.Record(t, env.NATS.JS, topology.RawStream)
	res := env.Publisher.Publish(context.Background(), "test", []ingest.Record{{
		Source: "app.pay", Raw: []byte(`{"id":"req-1","message":"hi"}`),
		Fields: map[string]any{"id": "req-1", "message": "hi"},
	}})
	if res[0] != nil {
		t.Fatal(res[0])
	}
	m := rec.Wait(t, 1, 10*time.Second)[0]
	if got := m.Headers().Get(event.FormatHeader); got != event.FormatEventV1 {
		t.Errorf("header %s = %q, want %q", event.FormatHeader, got, event.FormatEventV1)
	}
	ev, err := event.Unmarshal(m.Data())
	if err != nil || ev.Body != "hi" || ev.Attributes["id"] != "req-1" {
		t.Errorf("body %s is not the record's event (%v)", m.Data(), err)
	}
}
