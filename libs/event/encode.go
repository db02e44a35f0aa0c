package event

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// MarshalJSON encodes the event without reflection: every event crosses
// JSON once per stage, and encoding/json's reflection and map sorting were
// a quarter of the gateway's CPU. The output equals encoding/json's for
// the same event (map keys sorted, invalid UTF-8 replaced by U+FFFD), except
// that '<', '>' and '&' are not escaped.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 512))
}

// AppendJSON appends the event's JSON to b.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"@timestamp":`...)
	b = appendTime(b, e.Timestamp)
	if !e.ObservedTimestamp.IsZero() {
		b = append(b, `,"observedTimestamp":`...)
		b = appendTime(b, e.ObservedTimestamp)
	}
	b = appendField(b, "body", e.Body)
	if e.Severity != (Severity{}) {
		b = append(b, `,"severity":{`...)
		sep := ""
		if e.Severity.Text != "" {
			b = append(b, `"text":`...)
			b = appendString(b, e.Severity.Text)
			sep = ","
		}
		if e.Severity.Number != 0 {
			b = append(b, sep...)
			b = append(b, `"number":`...)
			b = strconv.AppendInt(b, int64(e.Severity.Number), 10)
		}
		b = append(b, '}')
	}
	b = appendField(b, "traceId", e.TraceID)
	b = appendField(b, "spanId", e.SpanID)
	if len(e.Resource) > 0 {
		b = append(b, `,"resource":`...)
		if b, err = appendMap(b, e.Resource, 0); err != nil {
			return nil, err
		}
	}
	if len(e.Attributes) > 0 {
		b = append(b, `,"attributes":`...)
		if b, err = appendMap(b, e.Attributes, 0); err != nil {
			return nil, err
		}
	}
	b = appendField(b, "source", e.Source)
	b = appendField(b, "dataset", e.Dataset)
	if len(e.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range e.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	if e.Error != nil {
		b = append(b, `,"error":{`...)
		if e.Error.Stage != "" {
			b = append(b, `"stage":`...)
			b = appendString(b, e.Error.Stage)
		}
		if e.Error.Message != "" {
			if e.Error.Stage != "" {
				b = append(b, ',')
			}
			b = append(b, `"message":`...)
			b = appendString(b, e.Error.Message)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// maxEncodeDepth stops runaway nesting (the decoders bound depth far below).
const maxEncodeDepth = 1000

func appendMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return nil, fmt.Errorf("event: value nested deeper than %d levels", maxEncodeDepth)
	}
	if m == nil {
		return append(b, "null"...), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if b, err = appendValue(b, m[k], depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		return appendFloat(b, x)
	case json.Number:
		if !json.Valid([]byte(x)) || x == "" {
			return nil, fmt.Errorf("event: invalid number %q", string(x))
		}
		return append(b, x...), nil
	case map[string]any:
		return appendMap(b, x, depth)
	case []any:
		if depth > maxEncodeDepth {
			return nil, fmt.Errorf("event: value nested deeper than %d levels", maxEncodeDepth)
		}
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case time.Time:
		return appendTime(b, x), nil
	}
	// Anything else (a type a custom stage produced): encoding/json.
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

// appendFloat writes a float64 as encoding/json does: shortest
// representation, exponent form only for very large or small magnitudes.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("event: unsupported value %v", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped (as encoding/json does, for JavaScript).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSONTime writes t as encoding/json does (RFC 3339 with
// nanoseconds, quoted).
func AppendJSONTime(b []byte, t time.Time) []byte { return appendTime(b, t) }

// AppendJSONFloat writes f as encoding/json does; NaN and ±Inf, which JSON
// cannot hold, are an error.
func AppendJSONFloat(b []byte, f float64) ([]byte, error) { return appendFloat(b, f) }

// AppendJSONString writes s as a JSON string, escaped as the event encoder
// escapes its strings; for stages that hand-write their own messages.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }
