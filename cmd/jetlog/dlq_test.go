package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/enricher/raw"
)

// TestRedriveKeepsEventsEvents: a dead letter of the enricher whose body is
// the gateway's event goes back to logs.raw.<source> still marked as an
// event, so the enricher reads it as it was; with -legacy-events, so do the
// dead letters written before the mark existed. A shipper's own JSON line
// is never marked, even when it carries "id" and "@timestamp".
func TestRedriveKeepsEventsEvents(t *testing.T) {
	n := testkit.StartNATS(t)
	rec := testkit.Record(t, n.JS, topology.RawStream)
	seq := uint64(0)
	deadLetter := func(reason, msgID string, h nats.Header, data []byte) {
		t.Helper()
		seq++
		r := &dlq.Record{Stage: "enricher", Kind: dlq.KindPermanent, Reason: reason, Stream: topology.RawStream,
			Subject: "logs.raw.syslog.paris", Sequence: seq, Time: time.Now(), MsgID: msgID, Header: h, Data: data}
		if _, err := n.JS.PublishMsg(context.Background(), r.Msg()); err != nil {
			t.Fatal(err)
		}
	}
	gwEvent := func(id string) []byte {
		ev := &event.Event{ID: id, Timestamp: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Body: "invoice sent",
			Source: "syslog.paris", Attributes: map[string]any{"order": int64(7)}}
		b, _ := ev.Marshal()
		return b
	}
	tests := []struct {
		name      string
		flags     []string
		legacyToo bool // the dead letter written before the mark comes back as an event
	}{
		{name: "plain", legacyToo: false},
		{name: "legacy", flags: []string{"-legacy-events"}, legacyToo: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := "stage syslog#0 failed in run " + tt.name
			deadLetter(reason, "new-"+tt.name, nats.Header{event.FormatHeader: []string{event.FormatEventV1}}, gwEvent("new-"+tt.name))
			deadLetter(reason, "old-"+tt.name, nats.Header{}, gwEvent("old-"+tt.name))
			deadLetter(reason, "", nats.Header{}, []byte(fmt.Sprintf(`{"id":"line-%s","@timestamp":"2026-11-24T10:00:00Z","message":"from a shipper","user":"ann"}`, tt.name)))
			before := len(rec.Msgs())
			var out, errOut bytes.Buffer
			args := append([]string{"dlq", "redrive", "-nats", n.URL, "-reason", reason}, tt.flags...)
			if code := dispatch(args, nil, &out, &errOut); code != 0 {
				t.Fatalf("dlq redrive: %d\n%s%s", code, out.String(), errOut.String())
			}
			got := map[string]*event.Event{}
			for _, m := range rec.Wait(t, before+3, 10*time.Second)[before:] {
				evs, err := raw.Decode(raw.Message{Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), Time: time.Now()}, raw.DefaultLimits())
				if err != nil {
					t.Fatalf("redriven %s: %v", m.Data(), err)
				}
				ev := evs[0]
				if m.Headers().Get(event.FormatHeader) == event.FormatEventV1 {
					got[ev.ID] = ev
				} else {
					got[fmt.Sprint(ev.Attributes["id"])] = ev
				}
			}
			asItWas := func(id string) bool {
				ev := got[id]
				return ev != nil && ev.ID == id && ev.Body == "invoice sent" && fmt.Sprint(ev.Attributes["order"]) == "7" && ev.Source == "syslog.paris"
			}
			if !asItWas("new-" + tt.name) {
				t.Errorf("a marked dead letter came back as %+v, want the event as it was", got["new-"+tt.name])
			}
			if asItWas("old-"+tt.name) != tt.legacyToo {
				t.Errorf("a dead letter from before the mark came back as %+v; want it as an event: %v", got["old-"+tt.name], tt.legacyToo)
			}
			if ev := got["line-"+tt.name]; ev == nil || ev.Body != "from a shipper" || ev.Attributes["user"] != "ann" {
				t.Errorf("a shipper's JSON line came back as %+v, want it read as the shipper's record", ev)
			}
		})
	}
}
