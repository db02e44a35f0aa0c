package event

import "strings"

// OpenTelemetry severity numbers for the first level of each range.
const (
	SeverityTrace = 1
	SeverityDebug = 5
	SeverityInfo  = 9
	SeverityWarn  = 13
	SeverityError = 17
	SeverityFatal = 21
)

// ParseSeverity maps the level names and syslog-style numbers that shippers
// send ("warning", "ERR", "crit", "5") onto OpenTelemetry's severity. The
// second result is false when the text is not a known level.
func ParseSeverity(s string) (Severity, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "trc", "finest", "finer", "verbose":
		return Severity{"TRACE", SeverityTrace}, true
	case "debug", "dbg", "fine", "7":
		return Severity{"DEBUG", SeverityDebug}, true
	case "info", "inf", "information", "informational", "notice", "6", "5":
		return Severity{"INFO", SeverityInfo}, true
	case "warn", "warning", "wrn", "4":
		return Severity{"WARN", SeverityWarn}, true
	case "error", "err", "eror", "3":
		return Severity{"ERROR", SeverityError}, true
	case "fatal", "crit", "critical", "alert", "emerg", "emergency", "panic", "severe", "2", "1", "0":
		return Severity{"FATAL", SeverityFatal}, true
	}
	return Severity{}, false
}
