package event

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// stdJSON is what encoding/json makes of an event (without HTML escaping).
func stdJSON(t testing.TB, e *Event) []byte {
	type plain Event // no MarshalJSON method
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plain)(e)); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 120000000, time.UTC)
	tests := map[string]*Event{
		"empty":                {ID: "x"},
		"full":                 {ID: "a\"b", Timestamp: ts, ObservedTimestamp: ts.Add(time.Nanosecond), Body: "line\n\ttab \x01 é \xff\u2028 <&>", Severity: Severity{"WARN", 13}, TraceID: "t", SpanID: "s", Source: "web.a", Dataset: "web", Resource: map[string]any{"service.name": "web", "host.name": "h"}},
		"values":               {ID: "v", Attributes: map[string]any{"i": int64(-3), "n": 7, "f": 0.5, "big": 1e21, "tiny": 1e-7, "neg": -2.5e-9, "whole": 3.0, "b": true, "nil": nil, "s": []any{"a", int64(1), map[string]any{"z": 1.25, "a": []any{}}}, "num": json.Number("12.50"), "when": ts}},
		"severity number only": {ID: "s", Severity: Severity{Number: 9}},
		"kept after a failure": {ID: "k", Tags: []string{"_parsefailure", "_grok\"parsefailure"}, Error: &Failure{Stage: "web/access line", Message: "no grok pattern matched body\n"}},
		"failure message only": {ID: "m", Error: &Failure{Message: "m"}},
		"empty failure":        {ID: "f", Error: &Failure{}, Tags: []string{}},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := e.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if want := stdJSON(t, e); !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestMarshalRefusesWhatJSONCannotSay(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), json.Number("1x")} {
		if _, err := (&Event{ID: "x", Attributes: map[string]any{"v": v}}).Marshal(); err == nil {
			t.Errorf("%v encoded", v)
		}
	}
}

func FuzzMarshal(f *testing.F) {
	f.Add("id", "body", "k", "v", 1.5, int64(3))
	f.Add("\xff", "\x00\u2028", "\"", "\\", -1e-300, int64(-1))
	f.Fuzz(func(t *testing.T, id, body, k, v string, fl float64, n int64) {
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			return
		}
		e := &Event{ID: id, Body: body, Attributes: map[string]any{k: v, k + "f": fl, k + "n": n, "m": map[string]any{v: []any{k, fl}}},
			Tags: []string{k, v}, Error: &Failure{Stage: k, Message: v}}
		got, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if want := stdJSON(t, e); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	e := &Event{ID: "5f0c1a2b3c4d5e6f", Timestamp: time.Now(), ObservedTimestamp: time.Now(), Body: "GET /cart 200 in 12ms for customer 4412",
		Severity: Severity{"INFO", 9}, Source: "nginx.edge", Dataset: "web", Resource: map[string]any{"service.name": "web", "host.name": "web-3"},
		Attributes: map[string]any{"http.response.status_code": int64(200), "url.original": "/cart", "duration_ms": 12.5, "user_agent": map[string]any{"name": "Chrome", "os": "Windows"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
