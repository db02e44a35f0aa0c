package event

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
)

// sample is a realistic enriched event, as the enricher publishes it.
var sample = []byte(`{"id":"5f0c1a2b3c4d5e6f708192a3b4c5d6e7","@timestamp":"2026-11-25T10:00:00.123456Z","observedTimestamp":"2026-11-25T10:00:00.2Z","body":"payment declined for order 1234: card expired","severity":{"text":"ERROR","number":17},"resource":{"service.name":"checkout","host.name":"web-7"},"attributes":{"order":1234,"amount":12.5,"currency":"EUR","user":{"id":"u-42","country":"FR"},"http.status":402,"retry":false,"path":"/api/v1/checkout/pay","items":[1,"two",null,3.5e2]},"source":"app.shop.checkout","tags":["_parsefailure"],"error":{"stage":"app/json","message":"bad"}}`)

// TestUnmarshalAgreesWithEncodingJSON checks the decoder against the
// standard library's reading of the same bytes, but for numbers: integral
// ones are int64 here (as in DecodeFields), float64 there.
func TestUnmarshalAgreesWithEncodingJSON(t *testing.T) {
	got, err := Unmarshal(sample)
	if err != nil {
		t.Fatal(err)
	}
	var want Event
	dec := stdjson.NewDecoder(bytes.NewReader(sample))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	normalize(want.Attributes)
	normalize(want.Resource)
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("decoded\n %+v\nencoding/json\n %+v", got, &want)
	}
	if got.Attributes["order"] != int64(1234) || got.Attributes["amount"] != 12.5 || got.Attributes["items"].([]any)[3] != 350.0 {
		t.Errorf("numbers: %#v", got.Attributes)
	}
}

// normalize turns encoding/json's numbers into int64 when the literal is an
// integer in range, float64 otherwise.
func normalize(m map[string]any) {
	for k, v := range m {
		m[k] = normalizeValue(v)
	}
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		normalize(x)
	case []any:
		for i := range x {
			x[i] = normalizeValue(x[i])
		}
	case stdjson.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// sameNumbers makes int64 and float64 of one value compare equal: JSON has
// one number type, so 350.0 encodes as 350 and comes back an int64.
func sameNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = sameNumbers(e)
		}
	case []any:
		for i := range x {
			x[i] = sameNumbers(x[i])
		}
	case int64:
		return float64(x)
	}
	return v
}

func TestUnmarshalNullsAndUnknownKeys(t *testing.T) {
	ev, err := Unmarshal([]byte(`{"id":"a","body":null,"attributes":null,"severity":null,"extra":{"x":1},"tags":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Body != "" || ev.Attributes != nil || ev.Tags != nil || ev.Severity != (Severity{}) {
		t.Errorf("nulls did not stand for absent: %+v", ev)
	}
}

func TestDecodeFields(t *testing.T) {
	m, err := DecodeFields([]byte(` {"a":1,"b":1.5,"c":"x","d":[true,null],"e":{"f":-2}} `))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": int64(1), "b": 1.5, "c": "x", "d": []any{true, nil}, "e": map[string]any{"f": int64(-2)}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v", m)
	}
	for in, reason := range map[string]string{`[1]`: "not an object", `{"a":1} x`: "unexpected tail", `{"a":`: "", `"s"`: "not an object"} {
		if _, err := DecodeFields([]byte(in)); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("DecodeFields(%s) = %v, want an error containing %q", in, err, reason)
		}
	}
	if _, err := DecodeFields([]byte(`{"n":99999999999999999999}`)); err != nil {
		t.Errorf("a number beyond int64 must be a float: %v", err)
	}
	// A lone surrogate escape is U+FFFD, as encoding/json reads it; pairs
	// are characters.
	for in, want := range map[string]string{`{"s":"\ud800"}`: "\uFFFD", `{"s":"a\udc00b"}`: "a\uFFFDb", `{"s":"\ud83d\ude00"}`: "😀",
		`{"s":"\ud83dx\ude00"}`: "\uFFFDx\uFFFD", `{"s":"\\ud800"}`: `\ud800`, `{"s":"\ud800\u0041"}`: "\uFFFDA"} {
		m, err := DecodeFields([]byte(in))
		if err != nil || m["s"] != want {
			t.Errorf("DecodeFields(%s) = %q, %v, want %q", in, m["s"], err, want)
		}
	}
	// Beyond float64 there is no value to keep: an infinity cannot be
	// encoded again, so the record would fail later, far from its cause.
	for _, in := range []string{`{"n":1e400}`, `{"a":{"b":[-1e999]}}`} {
		if _, err := DecodeFields([]byte(in)); err == nil || !strings.Contains(err.Error(), "beyond the float64 range") {
			t.Errorf("DecodeFields(%s) = %v, want an error about the float64 range", in, err)
		}
	}
}

// FuzzUnmarshal: any input either fails cleanly or decodes to an event that
// encodes and decodes to itself.
func FuzzUnmarshal(f *testing.F) {
	f.Add(sample)
	f.Add([]byte(`{"id":"a","attributes":{"\u0000":"\ud83d\ude00"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Unmarshal(data)
		if err != nil {
			return
		}
		b, err := ev.Marshal()
		if err != nil {
			return // a value the encoder refuses (NaN cannot come from JSON, deep nesting can)
		}
		again, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		for _, e := range []*Event{ev, again} {
			sameNumbers(e.Attributes)
			sameNumbers(e.Resource)
			// Empty and absent are one thing in the encoding (omitempty).
			if len(e.Attributes) == 0 {
				e.Attributes = nil
			}
			if len(e.Resource) == 0 {
				e.Resource = nil
			}
			if len(e.Tags) == 0 {
				e.Tags = nil
			}
		}
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("round trip changed the event:\n %+v\n %+v", ev, again)
		}
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(sample); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalEncodingJSON(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var e Event
		if err := stdjson.Unmarshal(sample, &e); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeRoute(t *testing.T) {
	r, err := DecodeRoute(sample)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "5f0c1a2b3c4d5e6f708192a3b4c5d6e7" || r.Timestamp.Format("2006-01-02T15:04:05.000000Z07:00") != "2026-11-25T10:00:00.123456Z" || r.Dataset != "" {
		t.Errorf("route %+v", r)
	}
	for in, reason := range map[string]string{
		`{"id":"a","@timestamp":"2026-11-25T10:00:00Z"`: "decode event",
		`{"id":7}`:                    "id: a JSON number",
		`{"id":"a","@timestamp":"x"}`: "@timestamp",
		`[1]`:                         "not an object",
	} {
		if _, err := DecodeRoute([]byte(in)); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("DecodeRoute(%s) = %v, want an error with %q", in, err, reason)
		}
	}
}

func TestNumbersAreStrictJSON(t *testing.T) {
	for _, n := range []string{"+", "-", "01", "1.", ".5", "1e", "1e+", "1..2", "--1", "0x10", "Infinity"} {
		if _, err := DecodeFields([]byte(`{"n":` + n + `}`)); err == nil {
			t.Errorf("%s accepted as a number", n)
		}
	}
	for _, n := range []string{"0", "-0", "12", "-1.5", "1e9", "1E-3", "2.5e+10", "99999999999999999999"} {
		if _, err := DecodeFields([]byte(`{"n":` + n + `}`)); err != nil {
			t.Errorf("%s refused: %v", n, err)
		}
	}
}

func TestStringsAreStrictJSON(t *testing.T) {
	for _, in := range []string{`{"a":"\0"}`, `{"a":"\x41"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":"\`} {
		if _, err := DecodeFields([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	for _, in := range []string{`{"a":"\"\\\/\b\f\n\r\t\u00e9"}`, "{\"a\":\t\"x\"}", `{"a\\":"b\\"}`} {
		if _, err := DecodeFields([]byte(in)); err != nil {
			t.Errorf("%q refused: %v", in, err)
		}
	}
}
