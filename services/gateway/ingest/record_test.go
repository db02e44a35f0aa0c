package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/event"
)

func TestLimitsCheck(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxDepth, lim.MaxFields = 3, 5
	deep := map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": 1}}}}
	tests := []struct {
		name string
		rec  Record
		code string
		want string
	}{
		{"fine", Record{Fields: map[string]any{"a": "x", "b": []any{1, "y"}}}, "", ""},
		{"too large", Record{Raw: make([]byte, lim.MaxRecordBytes+1)}, ReasonTooLarge, "record too large: 1.0 MiB"},
		{"too deep", Record{Fields: deep}, ReasonTooDeep, "deeper than 3 levels at a.b.c"},
		{"too many fields", Record{Fields: map[string]any{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}}, ReasonTooManyFields, "more than 5 fields"},
		{"invalid utf-8 value", Record{Fields: map[string]any{"a": []any{"ok", "\xff"}}}, ReasonInvalidUTF8, "field a.1 is not valid UTF-8"},
		{"nul in a key", Record{Fields: map[string]any{"m": map[string]any{"k\x00": 1}}}, ReasonNULByte, "a key under m.k\x00 contains a NUL byte"},
		{"bad timestamp", Record{Time: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}, ReasonBadTimestamp, "outside 1990..2200"},
		{"event attributes", Record{Event: &event.Event{Attributes: map[string]any{"x": "a\x00"}}}, ReasonNULByte, "field attributes.x contains a NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lim.Check(&tt.rec)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			r, ok := err.(*RejectError)
			if !ok || r.Code != tt.code || !strings.Contains(r.Reason, tt.want) {
				t.Errorf("got %#v, want code %s with %q", err, tt.code, tt.want)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	for in, want := range map[string]string{"app.web": "logs.raw.app.web", "": "logs.raw.default", "a..b": "logs.raw.a.b", "we b*>": "logs.raw.we_b__", "x\x00": "logs.raw.x_"} {
		if got, _ := Subject("logs.raw.", in); got != want {
			t.Errorf("Subject(%q) = %q, want %q", in, got, want)
		}
	}
}
