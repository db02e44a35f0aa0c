// Package parse holds the pure parsing and enrichment functions that the
// enricher's pipeline stages call on strings taken from an event: JSON,
// logfmt, grok, regular expressions, nginx and Apache access logs, syslog
// (RFC 5424 and RFC 3164), CSV, key=value pairs, timestamps, user agents,
// GeoIP and redaction.
//
// Every parser returns a map[string]any whose values are string, int64,
// float64, bool, []any or map[string]any (JSON adds nil for null, Syslog a
// time.Time under "timestamp"), so the result can be merged into an event's
// attributes and encoded as JSON for OpenSearch without further
// conversion. The formats with fixed fields also have a reader that returns
// a struct of them (ParseAccessLog, ParseSyslog), whose strings are parts
// of the input and whose Each method gives the same fields one by one, so
// a stage can put them in an event without a map in between. Parsers leave
// type coercion to later stages unless their format carries types (JSON
// numbers, grok's :int and :float suffixes, access log status and size).
//
// # Speed
//
// The common formats are read by hand, byte by byte, without regular
// expressions: access logs, syslog (RFC 5424 and RFC 3164), logfmt and
// key=value. Grok is for everything else.
//
// # Safety
//
// Nothing here panics on any input, and every function is safe for
// concurrent use once constructed (Grok, Redactor and GeoIP are immutable
// after their constructor returns). Work is bounded: Go's regexp runs in time
// linear in the input, JSON nesting is checked by an iterative scan before
// decoding, and the regular-expression matchers (Grok and Regex) refuse
// inputs longer than MaxMatchInput, because searching a line with a large
// expanded grok pattern costs about half a microsecond per byte.
//
// # Errors
//
// Errors name the value, the limit and the fix, and wrap one of the
// sentinels below so that a stage can classify them with errors.Is:
// ErrSyntax for input the format cannot read, ErrTooDeep, ErrNoPriority,
// ErrPartial for a syslog header read only in part, and ErrInvalidOption
// for a bad pattern, rule name, delimiter or database given to a
// constructor.
//
// # Grok patterns
//
// The grok pattern library is the one shipped by github.com/elastic/go-grok
// (package patterns), itself derived from Logstash's legacy and ECS pattern
// files; both are licensed under the Apache License 2.0, Copyright
// Elasticsearch B.V. Two patterns that go-grok simplified to capture nothing,
// SYSLOGPROG and SYSLOGFACILITY, are restored to their Logstash ECS
// definitions. The patterns produce ECS-style field names such as
// "source.address" and "http.response.status_code"; this package keeps dotted
// names flat, exactly as written in the pattern.
package parse
