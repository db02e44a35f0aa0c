package parse

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// SyslogOptions configures how Syslog reads RFC 3164 timestamps, which carry
// neither a year nor a zone. The zero value means UTC and an inferred year.
type SyslogOptions struct {
	// Location is the zone of RFC 3164 timestamps; nil means UTC.
	// RFC 5424 and RFC 3339 timestamps carry their own offset.
	Location *time.Location
	// Year, when not zero, is the year given to RFC 3164 timestamps.
	// When zero, the year is inferred: the one that puts the timestamp
	// closest to Now without being more than 31 days in the future, so
	// "Dec 31 23:59:59" read on January 1st lands in the previous year.
	Year int
	// Now is the clock for year inference; nil means time.Now.
	Now func() time.Time
}

// severityNames are the syslog level keywords, indexed by severity.
var severityNames = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// severityValues are severityNames as values of a map[string]any, made
// once rather than per message.
var severityValues = func() (v [8]any) {
	for i, name := range severityNames {
		v[i] = name
	}
	return v
}()

// SyslogSeverityName returns the keyword of a syslog severity (0–7):
// emerg, alert, crit, err, warning, notice, info or debug.
func SyslogSeverityName(severity int) string { return severityNames[severity&7] }

// SyslogMessage is one syslog message, as ParseSyslog reads it.
type SyslogMessage struct {
	// Facility (0–23) and Severity (0–7) come from the <PRI> part.
	Facility, Severity int
	// Timestamp is the message's time, in UTC; zero when it has none.
	Timestamp time.Time
	// The header's fields and the message; empty when absent or "-".
	// MsgID is RFC 5424's only.
	Hostname, Appname, ProcID, MsgID, Message string
	// StructuredData is RFC 5424's structured data: a map of SD-ID to a
	// map[string]any of parameter name to value (a string); nil when the
	// message has none.
	StructuredData map[string]any
}

// The attribute names Each gives a syslog message's fields.
const (
	SyslogFacilityField       = "facility"
	SyslogSeverityField       = "severity"
	SyslogSeverityTextField   = "severity_text"
	SyslogHostnameField       = "hostname"
	SyslogAppnameField        = "appname"
	SyslogProcIDField         = "procid"
	SyslogMsgIDField          = "msgid"
	SyslogStructuredDataField = "structured_data"
)

// NumFields returns how many fields Each gives.
func (m *SyslogMessage) NumFields() int {
	n := 3
	for _, s := range [...]string{m.Hostname, m.Appname, m.ProcID, m.MsgID} {
		if s != "" {
			n++
		}
	}
	if m.StructuredData != nil {
		n++
	}
	return n
}

// Each calls fn with the attribute name and value of each field the
// message has but its time and text: facility and severity (int64),
// severity_text (emerg, alert, crit, err, warning, notice, info, debug),
// hostname, appname, procid, msgid and structured_data.
func (m *SyslogMessage) Each(fn func(key string, value any)) {
	fn(SyslogFacilityField, int64(m.Facility))
	fn(SyslogSeverityField, int64(m.Severity))
	fn(SyslogSeverityTextField, severityValues[m.Severity&7])
	putString(fn, SyslogHostnameField, m.Hostname)
	putString(fn, SyslogAppnameField, m.Appname)
	putString(fn, SyslogProcIDField, m.ProcID)
	putString(fn, SyslogMsgIDField, m.MsgID)
	if m.StructuredData != nil {
		fn(SyslogStructuredDataField, m.StructuredData)
	}
}

// Syslog parses one syslog message with ParseSyslog and returns its fields
// as a map: those Each gives, "timestamp" (a time.Time in UTC) and
// "message", each when the message has it. The error is ParseSyslog's;
// with ErrPartial the map holds what was read, and with ErrNoPriority it
// is nil.
func Syslog(s string, opts SyslogOptions) (map[string]any, error) {
	m, err := ParseSyslog(s, opts)
	if err != nil && !errors.Is(err, ErrPartial) {
		return nil, err
	}
	out := make(map[string]any, m.NumFields()+2)
	m.Each(func(k string, v any) { out[k] = v })
	if !m.Timestamp.IsZero() {
		out["timestamp"] = m.Timestamp
	}
	if m.Message != "" {
		out["message"] = m.Message
	}
	return out, err
}

// ParseSyslog parses one syslog message, RFC 5424 ("<PRI>1 TIMESTAMP HOST
// APP PROCID MSGID [SD] MSG") or RFC 3164 ("<PRI>Mmm dd hh:mm:ss HOST
// TAG[PID]: MSG", also with an RFC 3339 timestamp), told apart by the "1 "
// version after the PRI. Both are read by hand, without copying: every
// string but an escaped structured data value is a part of s.
//
// A message that does not start with a valid <PRI> is an error wrapping
// ErrNoPriority. When the PRI is valid but the rest of the header is not, the
// message holds what was read — at least facility and severity and, for RFC
// 3164, the unread text as message — and the error, which names the byte
// offset and the part expected, wraps ErrPartial, so a lenient caller can
// keep the fields.
func ParseSyslog(s string, opts SyslogOptions) (SyslogMessage, error) {
	pri, n, err := syslogPriority(s)
	if err != nil {
		return SyslogMessage{}, err
	}
	m := SyslogMessage{Facility: pri / 8, Severity: pri % 8}
	if strings.HasPrefix(s[n:], "1 ") {
		return m, parse5424(s, n+2, &m)
	}
	return m, parse3164(s, n, opts, &m)
}

// syslogPriority reads "<PRI>" at the start of s and returns its value and
// length.
func syslogPriority(s string) (int, int, error) {
	if s == "" || s[0] != '<' {
		return 0, 0, fmt.Errorf("syslog: %w: message must start with <PRI>, e.g. <34>, found %q", ErrNoPriority, truncate(s, 20))
	}
	pri, i := 0, 1
	for ; i < len(s) && i <= 4 && s[i] >= '0' && s[i] <= '9'; i++ {
		pri = pri*10 + int(s[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(s) || s[i] != '>' {
		return 0, 0, fmt.Errorf("syslog: %w: want <PRI> with 1 to 3 digits at the start, found %q", ErrNoPriority, truncate(s, 20))
	}
	if pri > 191 {
		return 0, 0, fmt.Errorf("syslog: %w: priority %d is above 191 (facility 23, severity 7)", ErrNoPriority, pri)
	}
	return pri, i + 1, nil
}

// syslogStamp gives an RFC 3164 "Mmm dd hh:mm:ss" timestamp, read as
// year 0 UTC, its year and zone. RFC 3339 timestamps (a year other than 0)
// are returned unchanged.
func syslogStamp(t time.Time, opts SyslogOptions) time.Time {
	if t.Year() != 0 {
		return t
	}
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	if opts.Year != 0 {
		return time.Date(opts.Year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	return inferYear(t, loc, now())
}

// inferYear places the month, day and clock of t (whose year is ignored) in
// loc, in the year that puts it closest to now without being more than 31
// days ahead of now. Feb 29 only lands in leap years, up to 8 years back.
func inferYear(t time.Time, loc *time.Location, now time.Time) time.Time {
	const ahead = 31 * 24 * time.Hour
	var best time.Time
	var bestDist time.Duration
	for y := now.Year() + 1; y >= now.Year()-8; y-- {
		// A date in last year is less than a year from now, and closer
		// than any further back: only Feb 29 looks further.
		if y < now.Year()-1 && !best.IsZero() {
			break
		}
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
		if c.Month() != t.Month() || c.Sub(now) > ahead {
			continue // Feb 29 in a common year, or too far ahead
		}
		d := now.Sub(c)
		if d < 0 {
			d = -d
		}
		if best.IsZero() || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best.IsZero() {
		return time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	}
	return best
}
