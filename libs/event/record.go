package event

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Keys shippers commonly use for the fields of the event model, in the
// order they are tried. The matched key is removed from the attributes.
var (
	bodyKeys     = []string{"message", "msg", "log", "body", "MESSAGE"}
	severityKeys = []string{"level", "severity", "lvl", "loglevel", "log.level", "severity_text"}
	timeKeys     = []string{"@timestamp", "timestamp", "time", "ts", "date"}
	traceKeys    = []string{"trace_id", "traceId", "trace.id", "traceid"}
	spanKeys     = []string{"span_id", "spanId", "span.id", "spanid"}
	serviceKeys  = []string{"service", "service.name", "service_name", "app"}
	hostKeys     = []string{"host", "hostname", "host.name"}
)

// FromRecord builds an event from a shipper's key/value record (a Fluent Bit
// record, a JSON log line). Well-known keys become the event's fields; the
// rest become attributes. ts is used when the record has no parseable time
// of its own. The caller sets ID and Source.
func FromRecord(rec map[string]any, ts, observed time.Time) *Event {
	ev := &Event{Timestamp: ts, ObservedTimestamp: observed, Attributes: rec}
	if s, k := take(rec, bodyKeys); k != "" {
		ev.Body = s
	}
	if s, k := take(rec, severityKeys); k != "" {
		if sev, ok := ParseSeverity(s); ok {
			ev.Severity = sev
		} else {
			ev.Severity = Severity{Text: strings.ToUpper(s)}
		}
	}
	for _, k := range timeKeys {
		v, ok := rec[k]
		if !ok {
			continue
		}
		if t, err := ParseTime(v); err == nil {
			ev.Timestamp = t
			delete(rec, k)
			break
		}
	}
	if s, k := take(rec, traceKeys); k != "" {
		ev.TraceID = s
	}
	if s, k := take(rec, spanKeys); k != "" {
		ev.SpanID = s
	}
	if s, k := take(rec, serviceKeys); k != "" {
		ev.SetResource(ServiceName, s)
	}
	if s, k := take(rec, hostKeys); k != "" {
		ev.SetResource(HostName, s)
	}
	if len(rec) == 0 {
		ev.Attributes = nil
	}
	return ev
}

// take returns the first of keys whose value is a string, and removes it.
func take(rec map[string]any, keys []string) (string, string) {
	for _, k := range keys {
		if s, ok := rec[k].(string); ok {
			delete(rec, k)
			return s, k
		}
	}
	return "", ""
}

// Plausible timestamps: anything outside is treated as absent, since a
// document dated in 1970 or 2400 lands in a useless index.
var (
	minTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ParseTime reads a timestamp as shippers send it: RFC 3339 text, or a
// number of seconds, milliseconds, microseconds or nanoseconds since the
// epoch (told apart by magnitude). It refuses times before 1990 or after
// 2200.
func ParseTime(v any) (time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		p, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			f, ferr := strconv.ParseFloat(x, 64)
			if ferr != nil {
				return time.Time{}, fmt.Errorf("timestamp %q is neither RFC 3339 nor epoch", x)
			}
			return ParseTime(f)
		}
		t = p
	case float64:
		t = epoch(x)
	case int64:
		t = epoch(float64(x))
	case int:
		t = epoch(float64(x))
	case uint64:
		t = epoch(float64(x))
	default:
		return time.Time{}, fmt.Errorf("timestamp of type %T", v)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("timestamp %s is outside 1990..2200", t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

func epoch(f float64) time.Time {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}
	}
	switch {
	case f > 1e17: // nanoseconds
		return time.Unix(0, int64(f))
	case f > 1e14: // microseconds
		return time.UnixMicro(int64(f))
	case f > 1e11: // milliseconds
		return time.UnixMilli(int64(f))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
}
