package raw

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/event"
)

// TestAShippersRecordIsNeverTakenForAnEvent: a JSON log line that happens to
// carry "@timestamp" and "id" (logstash-logback-encoder, Bunyan, most
// structured loggers) is a shipper's record, and every field of it is kept.
func TestAShippersRecordIsNeverTakenForAnEvent(t *testing.T) {
	data := `{"@timestamp":"2026-11-25T08:00:00Z","id":"req-42","message":"payment declined","level":"warn","user":"ann","amount":12}`
	evs, err := Decode(Message{Subject: "logs.raw.app.pay", Data: []byte(data), Time: stored}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if ev.Body != "payment declined" || ev.Severity.Text != "WARN" || ev.Source != "app.pay" {
		t.Errorf("body %q, severity %q, source %q: the record's fields were not read", ev.Body, ev.Severity.Text, ev.Source)
	}
	if ev.Attributes["user"] != "ann" || ev.Attributes["amount"] != int64(12) || ev.Attributes["id"] != "req-42" {
		t.Errorf("attributes %v: the record's own fields were discarded", ev.Attributes)
	}
	if ev.Timestamp.Format("2006-01-02T15:04:05Z07:00") != "2026-11-25T08:00:00Z" {
		t.Errorf("timestamp %v, want the record's @timestamp", ev.Timestamp)
	}
}

// TestTheFormatHeaderDecides: a message is an event exactly when its header
// says so; a message that claims a format it does not have, or a format
// this enricher does not know, is refused with the reason (and so
// dead-lettered), never guessed at.
func TestTheFormatHeaderDecides(t *testing.T) {
	marked := nats.Header{event.FormatHeader: []string{event.FormatEventV1}}
	evs, err := Decode(Message{Subject: "logs.raw.web", Data: []byte(`{"id":"gw-1","@timestamp":"2026-11-25T08:00:00Z","body":"x","attributes":{"k":"v"}}`), Header: marked, Time: stored}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if ev := evs[0]; ev.ID != "gw-1" || ev.Body != "x" || ev.Attributes["k"] != "v" || ev.Source != "web" {
		t.Errorf("marked event decoded as %+v, want it as it is, with the subject's source", ev)
	}
	for name, m := range map[string]Message{
		"marked but not JSON":           {Data: []byte("plain line"), Header: marked},
		"marked but without an id":      {Data: []byte(`{"@timestamp":"2026-11-25T08:00:00Z","body":"x"}`), Header: marked},
		"marked but without @timestamp": {Data: []byte(`{"id":"a","body":"x"}`), Header: marked},
		"a format from a newer release": {Data: []byte(`{"id":"a","@timestamp":"2026-11-25T08:00:00Z"}`), Header: nats.Header{event.FormatHeader: []string{"event/v2"}}},
	} {
		t.Run(name, func(t *testing.T) {
			m.Subject, m.Time = "logs.raw.web", stored
			if evs, err := Decode(m, DefaultLimits()); err == nil {
				t.Fatalf("decoded %+v", evs[0])
			} else if !strings.Contains(err.Error(), event.FormatHeader) {
				t.Errorf("error %q does not name the header", err)
			}
		})
	}
}

// TestUnmarkedEventsOfThePreviousReleaseAreReadAsEvents: in a raw stream
// migrated from the release before the format header, the gateway's events
// (an event whose id is the message's Nats-Msg-Id) are read as events, and
// only those; the same bytes stored after the upgrade are a shipper's record.
func TestUnmarkedEventsOfThePreviousReleaseAreReadAsEvents(t *testing.T) {
	ev := &event.Event{ID: "a1b2", Body: "payment declined", Source: "app.pay", Timestamp: stored,
		Severity: event.Severity{Text: "WARN", Number: event.SeverityWarn}, Attributes: map[string]any{"user": "ann"}}
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		unmarked  bool
		msgID     string
		wantEvent bool
	}{
		{"stored before the upgrade", true, "a1b2", true},
		{"stored after the upgrade", false, "a1b2", false},
		{"id differs from Nats-Msg-Id", true, "other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			h.Set(nats.MsgIdHdr, tc.msgID)
			evs, err := Decode(Message{Subject: "logs.raw.app.pay", Data: data, Header: h, Time: stored, Unmarked: tc.unmarked}, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			got := evs[0].ID == "a1b2" && evs[0].Severity.Text == "WARN" && evs[0].Attributes["user"] == "ann" && evs[0].Attributes["severity"] == nil
			if got != tc.wantEvent {
				t.Errorf("read as the event: %v, want %v (decoded %+v)", got, tc.wantEvent, evs[0])
			}
		})
	}
}
