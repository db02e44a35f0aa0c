package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRoundTripKeepsEveryField(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	in := &Event{
		ID: "abc", Timestamp: ts, ObservedTimestamp: ts.Add(time.Second), Body: "hello",
		Severity: Severity{"WARN", SeverityWarn}, TraceID: "t1", SpanID: "s1",
		Resource:   map[string]any{ServiceName: "web", HostName: "h1"},
		Attributes: map[string]any{"status": int64(500), "ratio": 0.5}, Source: "web",
	}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"@timestamp":"2026-11-25T10:00:00.123456789Z"`, `"severity":{"text":"WARN","number":13}`, `"service.name":"web"`, `"traceId":"t1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoded event lacks %s: %s", want, b)
		}
	}
	out, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Service() != "web" || out.Host() != "h1" || !out.Timestamp.Equal(ts) || out.Attributes["status"] != int64(500) || out.Attributes["ratio"] != 0.5 {
		t.Errorf("round trip changed the event: %+v", out)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":   `{"id":`,
		"no id":      `{"body":"x"}`,
		"wrong type": `{"id":"a","@timestamp":12}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Unmarshal([]byte(in)); err == nil {
				t.Fatalf("Unmarshal(%s) succeeded", in)
			}
		})
	}
}

func TestEmptyEventOmitsOptionalFields(t *testing.T) {
	b, _ := json.Marshal(&Event{ID: "x"})
	if strings.Contains(string(b), "severity") || strings.Contains(string(b), "observedTimestamp") || strings.Contains(string(b), "resource") {
		t.Errorf("optional fields encoded: %s", b)
	}
}

func TestIDs(t *testing.T) {
	ts := time.Unix(100, 5)
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same input", NewID("s", []byte("x"), ts), NewID("s", []byte("x"), ts), true},
		{"other source", NewID("s", []byte("x"), ts), NewID("t", []byte("x"), ts), false},
		{"other time", NewID("s", []byte("x"), ts), NewID("s", []byte("x"), ts.Add(1)), false},
		{"source/raw boundary", NewID("ab", []byte("c"), ts), NewID("a", []byte("bc"), ts), false},
		{"shipper id kept", IDFromShipper("s", "order-42"), "order-42", true},
		{"long shipper id hashed", IDFromShipper("s", strings.Repeat("x", 200)), strings.Repeat("x", 200), false},
		{"control bytes hashed", IDFromShipper("s", "a\x00b"), "a\x00b", false},
		{"input without context or request is NewID", IDInput{Source: "s", Raw: []byte("x"), Time: ts}.ID(), NewID("s", []byte("x"), ts), true},
		{"context counts", IDInput{Source: "s", Raw: []byte("x"), Time: ts, Context: "host a"}.ID(), IDInput{Source: "s", Raw: []byte("x"), Time: ts, Context: "host b"}.ID(), false},
		{"context is not time", IDInput{Source: "s", Raw: []byte("x"), Time: ts, Context: "c"}.ID(), NewID("s", []byte("x"), ts), false},
		{"same request", IDInput{Source: "s", Raw: []byte("x"), Request: "r1"}.ID(), IDInput{Source: "s", Raw: []byte("x"), Request: "r1"}.ID(), true},
		{"other request", IDInput{Source: "s", Raw: []byte("x"), Request: "r1"}.ID(), IDInput{Source: "s", Raw: []byte("x"), Request: "r2"}.ID(), false},
		{"context/request boundary", IDInput{Source: "s", Context: "ab", Request: "c"}.ID(), IDInput{Source: "s", Context: "a", Request: "bc"}.ID(), false},
		{"scoped shipper id readable", IDFromShipperIn("users", "users", "1"), "users:1", true},
		{"same id, other scope", IDFromShipperIn("s", "users", "1"), IDFromShipperIn("s", "orders", "1"), false},
		{"long scoped id hashed with its scope", IDFromShipperIn("s", "users", strings.Repeat("x", 200)), IDFromShipperIn("s", "orders", strings.Repeat("x", 200)), false},
		{"no scope", IDFromShipperIn("s", "", "order-42"), "order-42", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.same {
				t.Errorf("ids %q and %q: same=%v, want %v", tt.a, tt.b, tt.a == tt.b, tt.same)
			}
		})
	}
}

// TestNewIDIsStable pins the id of one record: ids are stored as
// OpenSearch _id, so a change of formula would index a replay twice.
func TestNewIDIsStable(t *testing.T) {
	got := NewID("web", []byte(`{"msg":"hi"}`), time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	if want := "d42909fb3de2fbe92aa204dab219bebc"; got != want {
		t.Errorf("NewID = %s, want %s", got, want)
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]int{"warning": SeverityWarn, "ERR": SeverityError, "crit": SeverityFatal, "Info": SeverityInfo, "7": SeverityDebug} {
		got, ok := ParseSeverity(in)
		if !ok || got.Number != want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want number %d", in, got, ok, want)
		}
	}
	if _, ok := ParseSeverity("loud"); ok {
		t.Error("ParseSeverity accepted an unknown level")
	}
}
