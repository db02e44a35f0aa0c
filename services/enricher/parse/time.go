package parse

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// defaultTimeLayouts are the layouts Time tries when it is given none.
var defaultTimeLayouts = []string{"ISO8601", "RFC1123Z", "RFC1123", "apache", "syslog", "unix"}

// namedLayouts maps the layout names Time accepts to Go reference layouts.
// ISO8601, unix*, and syslog are handled separately.
var namedLayouts = map[string][]string{
	"RFC3339":     {time.RFC3339},
	"RFC3339Nano": {time.RFC3339Nano},
	"RFC1123":     {time.RFC1123},
	"RFC1123Z":    {time.RFC1123Z},
	"RFC822":      {time.RFC822, time.RFC822Z},
	"apache":      {"02/Jan/2006:15:04:05 -0700"},
	// Go accepts a fractional second after the seconds, with a dot or a
	// comma, even when the layout has none.
	"ISO8601": {
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05Z07",
		"2006-01-02T15:04:05",
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05Z0700",
		"2006-01-02 15:04:05 Z07:00",
		"2006-01-02 15:04:05 Z0700",
		"2006-01-02 15:04:05",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"20060102T150405Z0700",
		"20060102T150405",
		"2006-01-02",
	},
}

// unixUnits maps the numeric layout names to the number of units per second.
var unixUnits = map[string]int64{"unix": 1, "unix_ms": 1e3, "unix_us": 1e6, "unix_ns": 1e9}

// Year bounds for numeric timestamps: OpenSearch dates and RFC 3339 both
// want four-digit years.
var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// Time reads a timestamp from v, a string or a number (any Go integer or
// float type, or json.Number; a time.Time is returned as is), trying layouts
// in order and returning the first that reads all of v.
//
// A layout is a Go reference layout such as "2006-01-02 15:04:05" or one of
// the names RFC3339, RFC3339Nano, RFC1123, RFC1123Z, RFC822, ISO8601 (date,
// 'T' or space, optional seconds, dot or comma fractions, optional Z or
// offset), apache (02/Jan/2006:15:04:05 -0700), syslog (Jan _2 15:04:05,
// year inferred as in SyslogOptions), and unix, unix_ms, unix_us, unix_ns
// (seconds, milliseconds, microseconds or nanoseconds since 1970, from a
// number or a numeric string, fractions allowed). Only the unix layouts read
// numbers as such; other layouts read a number's decimal form. Layouts
// without a zone read the time in loc (nil means UTC); layouts without a year
// get one inferred. No layouts means ISO8601, RFC1123Z, RFC1123, apache,
// syslog and unix, in that order.
//
// The error, wrapping ErrSyntax, lists the layouts tried.
func Time(v any, layouts []string, loc *time.Location) (time.Time, error) {
	return timeAt(v, layouts, loc, time.Now)
}

func timeAt(v any, layouts []string, loc *time.Location, now func() time.Time) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(layouts) == 0 {
		layouts = defaultTimeLayouts
	}
	var (
		str   string
		num   float64
		isNum bool
	)
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		str = strings.TrimSpace(v)
	case []byte:
		str = strings.TrimSpace(string(v))
	case json.Number:
		str = string(v)
	case int:
		str = strconv.FormatInt(int64(v), 10)
	case int8:
		str = strconv.FormatInt(int64(v), 10)
	case int16:
		str = strconv.FormatInt(int64(v), 10)
	case int32:
		str = strconv.FormatInt(int64(v), 10)
	case int64:
		str = strconv.FormatInt(v, 10)
	case uint:
		str = strconv.FormatUint(uint64(v), 10)
	case uint8:
		str = strconv.FormatUint(uint64(v), 10)
	case uint16:
		str = strconv.FormatUint(uint64(v), 10)
	case uint32:
		str = strconv.FormatUint(uint64(v), 10)
	case uint64:
		str = strconv.FormatUint(v, 10)
	case float32:
		num, isNum = float64(v), true
		str = strconv.FormatFloat(num, 'f', -1, 32)
	case float64:
		num, isNum = v, true
		str = strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return time.Time{}, fmt.Errorf("time: %w: no value (want a string or a number)", ErrSyntax)
	default:
		return time.Time{}, fmt.Errorf("time: %w: cannot read a timestamp from a %T (want a string or a number)", ErrSyntax, v)
	}
	if isNum && (math.IsNaN(num) || math.IsInf(num, 0)) {
		return time.Time{}, fmt.Errorf("time: %w: %v is not a timestamp", ErrSyntax, num)
	}
	for _, layout := range layouts {
		if t, ok := parseLayout(str, layout, loc, now); ok {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time: %w: %q matches none of the layouts %s (add a layout to the stage, e.g. a Go layout like 2006-01-02 15:04:05)",
		ErrSyntax, truncate(str, 64), strings.Join(quoteAll(layouts), ", "))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

func parseLayout(s, layout string, loc *time.Location, now func() time.Time) (time.Time, bool) {
	if per, ok := unixUnits[layout]; ok {
		return parseUnix(s, per)
	}
	if layout == "syslog" {
		t, err := time.Parse(time.Stamp, s)
		if err != nil {
			return time.Time{}, false
		}
		return inferYear(t, loc, now()), true
	}
	gos, ok := namedLayouts[layout]
	if !ok {
		gos = []string{layout}
	}
	for _, l := range gos {
		t, err := time.ParseInLocation(l, s, loc)
		if err != nil {
			continue
		}
		if t.Year() == 0 {
			// A layout without a year: place the date in the right one,
			// keeping an offset the input carried.
			z := loc
			if t.Location() != loc {
				z = t.Location()
			}
			return inferYear(t, z, now()), true
		}
		return t, true
	}
	return time.Time{}, false
}

// parseUnix reads a decimal number of units since the Unix epoch, with an
// optional sign, fraction or exponent, without losing nanoseconds to float
// rounding when there is no exponent.
func parseUnix(s string, per int64) (time.Time, bool) {
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	neg := false
	body := s
	if body[0] == '-' || body[0] == '+' {
		neg = body[0] == '-'
		body = body[1:]
	}
	intPart, frac, _ := strings.Cut(body, ".")
	if intPart == "" && frac == "" {
		return time.Time{}, false
	}
	if !isDigits(intPart) || !isDigits(frac) {
		// Only a decimal exponent may take the float64 path; hex
		// floats, "Inf" and "NaN" are not timestamps.
		if strings.Trim(body, "0123456789.eE+-") != "" || !strings.ContainsAny(body, "eE") {
			return time.Time{}, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, false
		}
		secs := f / float64(per)
		if secs < float64(minTime.Unix()) || secs > float64(maxTime.Unix()) {
			return time.Time{}, false
		}
		whole := math.Floor(secs)
		return time.Unix(int64(whole), int64((secs-whole)*1e9)).UTC(), true
	}
	if intPart == "" {
		intPart = "0"
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	sec, rem := n/per, n%per
	nsPerUnit := int64(time.Second) / per
	nsec := rem * nsPerUnit
	// The fraction is of one unit: keep the digits that reach a nanosecond.
	if frac != "" {
		digits := 0
		for u := nsPerUnit; u > 1; u /= 10 {
			digits++
		}
		f := frac
		if len(f) > digits {
			f = f[:digits]
		}
		if f != "" {
			x, _ := strconv.ParseInt(f, 10, 64)
			for i := len(f); i < digits; i++ {
				x *= 10
			}
			nsec += x
		}
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	t := time.Unix(sec, nsec).UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, false
	}
	return t, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
