package parse

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	tests := []struct {
		name     string
		in       string
		maxDepth int
		want     map[string]any
		wantErr  error
		errHas   string
	}{
		{name: "types", in: `{"s":"x","i":42,"f":0.5,"b":true,"n":null,"a":[1,"2"],"o":{"k":-1}}`,
			want: map[string]any{"s": "x", "i": int64(42), "f": 0.5, "b": true, "n": nil, "a": []any{int64(1), "2"}, "o": map[string]any{"k": int64(-1)}}},
		{name: "int64 bounds", in: `{"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808}`,
			want: map[string]any{"max": int64(9223372036854775807), "min": int64(-9223372036854775808), "over": 9223372036854775808.0}},
		{name: "fractions and exponents are float64", in: `{"a":3.0,"b":1e3,"c":-0.0}`,
			want: map[string]any{"a": 3.0, "b": 1000.0, "c": 0.0}},
		{name: "whitespace around", in: " \t\r\n{}\n ", want: map[string]any{}},
		{name: "duplicate keys keep the last", in: `{"a":1,"a":2}`, want: map[string]any{"a": int64(2)}},
		{name: "invalid UTF-8 becomes U+FFFD", in: "{\"a\":\"x\xffy\"}", want: map[string]any{"a": "x\uFFFDy"}},
		{name: "escaped NUL is kept", in: `{"a":"\u0000"}`, want: map[string]any{"a": "\x00"}},
		{name: "10 MB string value", in: `{"a":"` + big + `"}`, want: map[string]any{"a": big}},
		{name: "depth at the limit", in: `{"a":{"b":[1]}}`, maxDepth: 3, want: map[string]any{"a": map[string]any{"b": []any{int64(1)}}}},
		{name: "zero maxDepth means the default", in: `{"a":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`,
			want: map[string]any{"a": nest(63)}},

		{name: "depth over the limit", in: `{"a":{"b":[1]}}`, maxDepth: 2, wantErr: ErrTooDeep, errHas: "more than 2 levels"},
		{name: "100 000 deep", in: `{"a":` + strings.Repeat("[", 100000), maxDepth: 64, wantErr: ErrTooDeep, errHas: "at byte 68"},
		{name: "a million deep without an object", in: strings.Repeat("{", 1e6), wantErr: ErrTooDeep},
		{name: "truncated", in: `{"a":[1,2`, wantErr: ErrSyntax, errHas: "ends at byte 9"},
		{name: "truncated in a string", in: `{"a":"abc`, wantErr: ErrSyntax, errHas: "truncated"},
		{name: "empty", in: "", wantErr: ErrSyntax, errHas: "empty input"},
		{name: "blank", in: "  \n", wantErr: ErrSyntax, errHas: "empty input"},
		{name: "array", in: `[1]`, wantErr: ErrSyntax, errHas: "want an object at byte 0"},
		{name: "NUL byte outside strings", in: "{\"a\":1\x00}", wantErr: ErrSyntax, errHas: "at byte 6"},
		{name: "raw NUL in a string", in: "{\"a\":\"\x00\"}", wantErr: ErrSyntax, errHas: "at byte 6"},
		{name: "trailing data", in: `{"a":1} x`, wantErr: ErrSyntax, errHas: "trailing data at byte 8"},
		{name: "two objects", in: `{"a":1}{"a":2}`, wantErr: ErrSyntax, errHas: "trailing data at byte 7"},
		{name: "number beyond float64", in: `{"a":{"b":[1e400]}}`, wantErr: ErrSyntax, errHas: `field "a.b[0]"`},
		{name: "10 MB of garbage", in: "{" + big, wantErr: ErrSyntax, errHas: "at byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON(tt.in, tt.maxDepth)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errHas)
				}
				if got != nil {
					t.Errorf("got %v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s\nwant %s", short(got), short(tt.want))
			}
		})
	}
}

// nest returns n nested empty arrays.
func nest(n int) any {
	var v any = []any{}
	for i := 1; i < n; i++ {
		v = []any{v}
	}
	return v
}

// short renders v for a failure message without printing megabytes.
func short(v any) string {
	b, _ := json.Marshal(v)
	return truncate(string(b), 300)
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[1.5,"x",{"c":null}],"d":true}`, `{}`, `{"a":"\u00e9\ud83d\ude00"}`,
		`{"a":1e400}`, `{"a":9223372036854775808}`, `{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}`,
		`{"a":"[[[["}`, "{\"a\":\"\\\"[\"}", `{"a":1} `, `{"a":1}x`, `[`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := JSON(s, 16)
		// The fast path and encoding/json agree on every input the depth
		// check lets through.
		if checkJSONDepth([]byte(s), 16) == nil && strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{") {
			ref, refErr := decodeJSONStd(s)
			if (err == nil) != (refErr == nil) {
				t.Fatalf("JSON: %v, encoding/json: %v, for %q", err, refErr, s)
			}
			if err == nil && !reflect.DeepEqual(m, ref) {
				t.Fatalf("JSON and encoding/json differ for %q:\n%#v\n%#v", s, m, ref)
			}
		}
		if err != nil {
			if m != nil {
				t.Fatalf("map with error %v", err)
			}
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("accepted invalid JSON %q", s)
		}
		checkValues(t, m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("result does not re-encode: %v", err)
		}
		if _, err := JSON(string(b), 16); err != nil {
			t.Fatalf("re-encoded result does not parse: %v\n%s", err, b)
		}
	})
}

// checkValues fails unless every value in m has one of the types parsers
// promise: string, int64, float64, bool, nil (JSON null), []any or
// map[string]any.
func checkValues(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil, string, int64, float64, bool:
	case []any:
		for _, e := range v {
			checkValues(t, e)
		}
	case map[string]any:
		for _, e := range v {
			checkValues(t, e)
		}
	default:
		t.Fatalf("value of type %T", v)
	}
}
