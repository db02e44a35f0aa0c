package parse

import (
	"fmt"
	"strings"
	"time"

	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
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

// Syslog parses one syslog message, RFC 5424 ("<PRI>1 TIMESTAMP HOST APP
// PROCID MSGID [SD] MSG") or RFC 3164 ("<PRI>Mmm dd hh:mm:ss HOST
// TAG[PID]: MSG", also with an RFC 3339 timestamp), told apart by the "1 "
// version after the PRI. It uses the machines of
// github.com/leodido/go-syslog in best-effort mode.
//
// Fields: facility and severity (int64), severity_text (emerg, alert, crit,
// err, warning, notice, info, debug), timestamp (time.Time), hostname,
// appname, procid, msgid, message, and for RFC 5424 structured_data
// (map of SD-ID → map of param → value). Absent ("-") fields are left out.
//
// A message that does not start with a valid <PRI> is an error wrapping
// ErrNoPriority. When the PRI is valid but the rest of the header is not, the
// returned map holds what was read — at least facility, severity and, for RFC
// 3164, the unread text as message — together with an error wrapping
// ErrPartial, so a lenient stage can keep the fields.
func Syslog(s string, opts SyslogOptions) (map[string]any, error) {
	pri, n, err := syslogPriority(s)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"facility":      int64(pri / 8),
		"severity":      int64(pri % 8),
		"severity_text": severityNames[pri%8],
	}
	if strings.HasPrefix(s[n:], "1 ") {
		return out, syslog5424(s, out)
	}
	return out, syslog3164(s, n, opts, out)
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

func syslog5424(s string, out map[string]any) error {
	msg, err := rfc5424.NewMachine(rfc5424.WithBestEffort()).Parse([]byte(s))
	if m, ok := msg.(*rfc5424.SyslogMessage); ok && m != nil {
		if m.Timestamp != nil {
			out["timestamp"] = *m.Timestamp
		}
		setString(out, "hostname", m.Hostname)
		setString(out, "appname", m.Appname)
		setString(out, "procid", m.ProcID)
		setString(out, "msgid", m.MsgID)
		setString(out, "message", m.Message)
		if m.StructuredData != nil && len(*m.StructuredData) > 0 {
			sd := make(map[string]any, len(*m.StructuredData))
			for id, params := range *m.StructuredData {
				p := make(map[string]any, len(params))
				for k, v := range params {
					p[k] = v
				}
				sd[id] = p
			}
			out["structured_data"] = sd
		}
	}
	if err != nil {
		return fmt.Errorf("syslog: %w: RFC 5424 header: %v", ErrPartial, err)
	}
	return nil
}

func syslog3164(s string, priLen int, opts SyslogOptions, out map[string]any) error {
	msg, err := rfc3164.NewMachine(
		rfc3164.WithBestEffort(),
		rfc3164.WithRFC3339(),
		rfc3164.WithSecondFractions(),
		rfc3164.WithLenientDay(),
		rfc3164.WithEmbeddedNewlines(),
	).Parse([]byte(s))
	if m, ok := msg.(*rfc3164.SyslogMessage); ok && m != nil {
		if m.Timestamp != nil {
			out["timestamp"] = syslogStamp(*m.Timestamp, opts)
		}
		setString(out, "hostname", m.Hostname)
		setString(out, "appname", m.Appname)
		setString(out, "procid", m.ProcID)
		setString(out, "message", m.Message)
	}
	if err == nil {
		return nil
	}
	if _, ok := out["message"]; !ok && priLen < len(s) {
		out["message"] = s[priLen:]
	}
	if _, ok := out["timestamp"]; !ok {
		return fmt.Errorf("syslog: %w: no timestamp at byte %d after <PRI>: want RFC 3164 \"Mmm dd hh:mm:ss host tag[pid]: message\" or an RFC 3339 timestamp, found %q",
			ErrPartial, priLen, truncate(s[priLen:], 20))
	}
	return fmt.Errorf("syslog: %w: RFC 3164 header: %v (want <PRI>Mmm dd hh:mm:ss host tag[pid]: message)", ErrPartial, err)
}

// syslogStamp gives an RFC 3164 "Mmm dd hh:mm:ss" timestamp, which the
// machine returns in year 0 UTC, its year and zone. RFC 3339 timestamps
// (a year other than 0) are returned unchanged.
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

func setString(out map[string]any, key string, v *string) {
	if v != nil && *v != "" && *v != "-" {
		out[key] = *v
	}
}
