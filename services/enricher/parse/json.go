package parse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
)

// DefaultMaxDepth is the nesting limit JSON applies when it is given a
// maxDepth below 1.
const DefaultMaxDepth = 64

// JSON decodes s, which must hold exactly one JSON object (surrounding
// whitespace allowed), into a map.
//
// Numbers written as integers that fit in an int64 become int64; every other
// number (a fraction, an exponent, or an integer beyond int64) becomes
// float64. Objects and arrays nested deeper than maxDepth are rejected by an
// iterative scan before decoding, so a megabyte of '[' costs one pass and no
// stack; a maxDepth below 1 means DefaultMaxDepth. The top-level object is
// depth 1. Duplicate keys keep the last value; invalid UTF-8 in strings is
// replaced by U+FFFD.
//
// Errors say at which byte offset the input went wrong and wrap ErrSyntax or
// ErrTooDeep.
func JSON(s string, maxDepth int) (map[string]any, error) {
	if maxDepth < 1 {
		maxDepth = DefaultMaxDepth
	}
	start := skipJSONSpace(s, 0)
	if start == len(s) {
		return nil, fmt.Errorf("json: %w: empty input, want an object such as {\"msg\":\"hi\"}", ErrSyntax)
	}
	if s[start] != '{' {
		return nil, fmt.Errorf("json: %w: want an object at byte %d, found %s", ErrSyntax, start, describeByte(s[start]))
	}
	b := []byte(s) // one copy, for the depth scan and the fast decoder
	if err := checkJSONDepth(b, maxDepth); err != nil {
		return nil, err
	}
	// The event decoder's fastjson path reads a valid object at a fraction
	// of encoding/json's cost; encoding/json explains what it refuses, with
	// offsets, and reads what the fast path would let through: a raw tab,
	// CR or LF, which JSON allows between tokens but not inside strings
	// (the fast path's cheap check cannot tell the two apart).
	if strings.IndexAny(strings.TrimSpace(s), "\t\r\n") < 0 {
		if m, err := event.DecodeFields(b); err == nil {
			return m, nil
		}
	}
	return decodeJSONStd(s)
}

// decodeJSONStd is JSON's reference decoding with encoding/json.
func decodeJSONStd(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, jsonDecodeError(s, err)
	}
	if end := skipJSONSpace(s, int(dec.InputOffset())); end != len(s) {
		return nil, fmt.Errorf("json: %w: trailing data at byte %d after the object ending at byte %d (one object per event)",
			ErrSyntax, end, dec.InputOffset())
	}
	if err := convertNumbers(m, ""); err != nil {
		return nil, err
	}
	return m, nil
}

// checkJSONDepth rejects b when objects and arrays nest deeper than max
// (jsonscan's linear scan: no recursion, whatever the input).
func checkJSONDepth(b []byte, max int) error {
	var de *jsonscan.DepthError
	if err := jsonscan.Depth(b, max); errors.As(err, &de) {
		return fmt.Errorf("json: %w: more than %d levels of objects and arrays at byte %d (raise the stage's max_depth, or flatten the producer's output)",
			ErrTooDeep, de.Max, de.Offset)
	}
	return nil
}

func skipJSONSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

func jsonDecodeError(s string, err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		off := max(int(syn.Offset)-1, 0)
		return fmt.Errorf("json: %w at byte %d: %s", ErrSyntax, off, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("json: %w: input ends at byte %d inside the object (truncated?)", ErrSyntax, len(s))
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("json: %w at byte %d: %s", ErrSyntax, typ.Offset, typ.Error())
	}
	return fmt.Errorf("json: %w: %v", ErrSyntax, err)
}

// convertNumbers replaces json.Number values in place. Its recursion is
// bounded by the depth check that ran before decoding.
func convertNumbers(v any, path string) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch e := e.(type) {
			case json.Number:
				n, err := jsonNumber(e, joinPath(path, k))
				if err != nil {
					return err
				}
				v[k] = n
			case map[string]any, []any:
				if err := convertNumbers(e, joinPath(path, k)); err != nil {
					return err
				}
			}
		}
	case []any:
		for i, e := range v {
			switch e := e.(type) {
			case json.Number:
				n, err := jsonNumber(e, path+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return err
				}
				v[i] = n
			case map[string]any, []any:
				if err := convertNumbers(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonNumber(n json.Number, path string) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("json: %w: number %s in field %q is beyond the float64 range (±1.8e308)", ErrSyntax, truncate(s, 40), path)
	}
	return f, nil
}

// describeByte names a byte for an error message.
func describeByte(c byte) string {
	switch {
	case c >= 0x20 && c < 0x7f:
		return strconv.QuoteRune(rune(c))
	default:
		return fmt.Sprintf("byte 0x%02x", c)
	}
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
