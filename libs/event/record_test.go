package event

import (
	"testing"
	"time"
)

func TestFromRecordMapsWellKnownKeys(t *testing.T) {
	fallback := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := FromRecord(map[string]any{
		"msg": "user login", "level": "warning", "ts": 1795575198.972944,
		"trace_id": "abc", "service": "auth", "hostname": "h1", "user": "ann",
	}, fallback, fallback)
	if ev.Body != "user login" || ev.Severity.Number != SeverityWarn || ev.TraceID != "abc" || ev.Service() != "auth" || ev.Host() != "h1" {
		t.Errorf("fields not mapped: %+v", ev)
	}
	if want := time.Unix(1795575198, 972944000).UTC(); !ev.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", ev.Timestamp, want)
	}
	if len(ev.Attributes) != 1 || ev.Attributes["user"] != "ann" {
		t.Errorf("attributes %v, want only user", ev.Attributes)
	}
}

func TestFromRecordKeepsFallbackForBadTime(t *testing.T) {
	fallback := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := FromRecord(map[string]any{"time": "yesterday", "level": "LOUD"}, fallback, fallback)
	if !ev.Timestamp.Equal(fallback) {
		t.Errorf("timestamp %v, want the fallback", ev.Timestamp)
	}
	if ev.Attributes["time"] != "yesterday" {
		t.Error("an unparseable time was removed from the attributes")
	}
	if ev.Severity.Text != "LOUD" || ev.Severity.Number != 0 {
		t.Errorf("unknown level: %+v", ev.Severity)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, in := range []any{"2026-11-25T10:00:00Z", "2026-11-25T11:00:00+01:00", float64(want.Unix()), want.UnixMilli(), want.UnixMicro(), want.UnixNano(), "1795600800"} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%v) = %v, %v", in, got, err)
		}
	}
	for _, in := range []any{"soon", 0, -5.0, float64(1e30), true, "1970-01-01T00:00:00Z", "2500-01-01T00:00:00Z"} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%v) = %v, want an error", in, got)
		}
	}
}
