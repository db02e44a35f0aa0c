package raw

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
)

var stored = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestDecodeShapes(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		data    string
		header  nats.Header
		check   func(t *testing.T, evs []*eventView)
	}{
		{
			name: "fluent bit nats output", subject: "app.web",
			data: `[[1795575198.972944,{"tag":"app.web","msg":"hi","level":"info"}],[1795575199,{"tag":"app.api","log":"second"}]]`,
			check: func(t *testing.T, evs []*eventView) {
				if len(evs) != 2 || evs[0].Body != "hi" || evs[0].Source != "app.web" || evs[1].Source != "app.api" || evs[0].Sev != 9 {
					t.Errorf("got %+v", evs)
				}
				if evs[0].TS != time.Unix(1795575198, 972944000).UTC() {
					t.Errorf("timestamp %v", evs[0].TS)
				}
			},
		},
		{
			name: "json line", subject: "logs.raw.web", data: `{"message":"GET /","status":200,"ratio":0.5}`,
			check: func(t *testing.T, evs []*eventView) {
				if len(evs) != 1 || evs[0].Body != "GET /" || evs[0].Source != "web" || evs[0].TS != stored {
					t.Errorf("got %+v", evs)
				}
				if evs[0].Attrs["status"] != int64(200) || evs[0].Attrs["ratio"] != 0.5 {
					t.Errorf("numbers: %#v", evs[0].Attrs)
				}
			},
		},
		{
			name: "plain text keeps publisher id", subject: "logs.raw.syslog", data: "<34>Oct 11 22:14:15 host su: failed",
			header: nats.Header{"Nats-Msg-Id": []string{"abc-1"}},
			check: func(t *testing.T, evs []*eventView) {
				if len(evs) != 1 || evs[0].ID != "abc-1" || !strings.HasPrefix(evs[0].Body, "<34>") {
					t.Errorf("got %+v", evs)
				}
			},
		},
		{
			name: "gateway event passes through", subject: "logs.raw.web",
			data:   `{"id":"gw-1","@timestamp":"2026-11-25T08:00:00Z","body":"x","source":"web"}`,
			header: nats.Header{event.FormatHeader: []string{event.FormatEventV1}},
			check: func(t *testing.T, evs []*eventView) {
				if len(evs) != 1 || evs[0].ID != "gw-1" || evs[0].Body != "x" {
					t.Errorf("got %+v", evs)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := Decode(Message{Subject: tt.subject, Data: []byte(tt.data), Header: tt.header, Time: stored}, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, view(evs))
		})
	}
}

func TestDecodeIsDeterministic(t *testing.T) {
	m := Message{Subject: "logs.raw.web", Data: []byte(`{"msg":"a"}`), Time: stored}
	a, _ := Decode(m, DefaultLimits())
	b, _ := Decode(m, DefaultLimits())
	m.Data = []byte(`{"msg":"b"}`)
	c, _ := Decode(m, DefaultLimits())
	if a[0].ID != b[0].ID || a[0].ID == c[0].ID {
		t.Errorf("ids a=%s b=%s c=%s", a[0].ID, b[0].ID, c[0].ID)
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	for name, data := range map[string]string{
		"empty":                 "  ",
		"truncated json":        `{"msg": "x`,
		"invalid utf-8":         "abc\xff\xfe",
		"10000-deep nesting":    deep,
		"bad fluent bit pair":   `[[1795575198, "not an object"]]`,
		"wrong-typed timestamp": `[["yesterday", {"a":1}]]`,
		"absurd timestamp":      `[[99999999999999999999, {"a":1}]]`,
		"trailing data":         `{"a":1} {"b":2}`,
		"array of non-pairs":    `[1,2,3]`,
	} {
		t.Run(name, func(t *testing.T) {
			if evs, err := Decode(Message{Subject: "logs.raw.x", Data: []byte(data), Time: stored}, DefaultLimits()); err == nil {
				t.Fatalf("decoded %d events from bad input", len(evs))
			}
		})
	}
	_, err := Decode(Message{Subject: "logs.raw.x", Data: []byte(deep)}, DefaultLimits())
	if !errors.Is(err, jsonscan.ErrTooDeep) {
		t.Errorf("deep nesting: %v, want ErrTooDeep", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"msg":"x"}`, `[[1795575198.9,{"tag":"a","msg":"x"}]]`, "plain", `{"id":"a","@timestamp":"2026-01-01T00:00:00Z"}`, `[[`, `{"a":[{"b":{}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := Decode(Message{Subject: "logs.raw.fuzz", Data: data, Time: stored}, DefaultLimits())
		if err == nil {
			check(t, data, evs)
		}
		evs, err = Decode(Message{Subject: "logs.raw.fuzz", Data: data, Time: stored, Header: nats.Header{event.FormatHeader: []string{event.FormatEventV1}}}, DefaultLimits())
		if err == nil {
			check(t, data, evs)
		}
	})
}

// check holds for every message Decode accepts: each event has an id and
// can be encoded.
func check(t *testing.T, data []byte, evs []*event.Event) {
	t.Helper()
	for _, ev := range evs {
		if ev.ID == "" {
			t.Fatalf("event without id from %q", data)
		}
		if _, err := ev.Marshal(); err != nil {
			t.Fatalf("decoded event cannot be encoded: %v", err)
		}
	}
}

// TestAFullFluentBitChunkOfShortLinesDecodes: Fluent Bit's nats output sends
// a whole chunk (about 2 MB) as one message; of short lines that is some
// 29 000 records, which the default limits must take, or every such
// message is dead-lettered.
func TestAFullFluentBitChunkOfShortLinesDecodes(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	const n = 29000
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `[1795575198.%06d,{"log":"GET /health %05d ok"}]`, i, i)
	}
	b.WriteString("]")
	if b.Len() > 2<<20 {
		t.Fatalf("test message is %d bytes, more than a Fluent Bit chunk", b.Len())
	}
	evs, err := Decode(Message{Subject: "logs.raw.short", Data: []byte(b.String()), Time: stored}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Errorf("%d events, want %d", len(evs), n)
	}
}
