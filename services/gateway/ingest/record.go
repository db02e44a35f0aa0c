// Package ingest is the core of the ingest gateway: every protocol decodes
// what it receives into Records and hands them to a Publisher, which checks
// each against the limits, turns it into an event with a deterministic id,
// publishes it on logs.raw.<source> with that id as Nats-Msg-Id, and reports
// per record whether JetStream stored it. A protocol answers its sender
// "accepted" only for records the Publisher reports stored.
package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
)

// Record is one log record as a shipper sent it.
type Record struct {
	// Source names where it came from: the Fluent tag, the _bulk index, the
	// OTLP service. It becomes the subject tokens after logs.raw.
	Source string
	// Time is the record's own timestamp; zero means "none given", and the
	// record's fields (or else the receive time) decide.
	Time time.Time
	// Fields are the record's key/value pairs.
	Fields map[string]any
	// Raw is the record's bytes as received: the input of its id and what a
	// dead letter keeps.
	Raw []byte
	// ID is the shipper's own id for the record, if it sent one.
	ID string
	// IDScope is what ID names the record within (the _bulk _index): the
	// same ID in two scopes is two events. It must not contain ':'.
	IDScope string
	// Context is what the record belongs to that Raw does not carry (an
	// OTLP record's resource and scope): part of its id, not of its event.
	Context string
	// RequestKey names the request or chunk the record came in, as the
	// client does (an Idempotency-Key header, a forward chunk id): it stands
	// for the time in the id of a record without a timestamp of its own.
	// Empty: the publisher derives one from the bytes of the records
	// published together.
	RequestKey string
	// Dataset is the family of indices the shipper asked for (the _bulk
	// _index); a pipeline's route stage may change it.
	Dataset string
	// Event, when set, is used as it is instead of Fields (a protocol that
	// maps straight onto the event model, like OTLP).
	Event *event.Event
	// Reject, when set, refuses the record for this reason without
	// publishing it (a line the protocol could not decode): it is
	// dead-lettered and reported like a record over a limit.
	Reject *RejectError
}

// IdempotencyKeyHeader is the HTTP header by which a client names its
// request (the IETF idempotency-key draft): a client that sends the same
// key when it resends a request has its records without a timestamp of
// their own stored once, and one that sends two requests of the same bytes
// under different keys has both stored.
const IdempotencyKeyHeader = "Idempotency-Key"

// KeyRequest names recs, one request's records, by the client's key; an
// empty key leaves them to be named by their bytes.
func KeyRequest(recs []Record, key string) {
	if key == "" {
		return
	}
	for i := range recs {
		recs[i].RequestKey = key
	}
}

// Limits bound what one record may be. Every violation is a RejectError
// whose Code is also the reason label of jetlog_gateway_rejected_total.
type Limits struct {
	// MaxRecordBytes bounds one record's encoded size.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxDepth bounds nesting of maps and arrays within a record.
	MaxDepth int `yaml:"max_depth"`
	// MaxFields bounds the keys of a record, counted at every level.
	MaxFields int `yaml:"max_fields"`
	// MaxBatchRecords bounds the records of one request or chunk. Fluent
	// Bit's chunks are about 2 MB whatever the line length, so the default
	// (100 000) takes a chunk of 20-byte lines; max_request_bytes bounds the
	// memory.
	MaxBatchRecords int `yaml:"max_batch_records"`
	// MaxRequestBytes bounds one request body or forward chunk.
	MaxRequestBytes int `yaml:"max_request_bytes"`
}

// DefaultLimits suit real logs.
func DefaultLimits() Limits {
	return Limits{MaxRecordBytes: 1 << 20, MaxDepth: 32, MaxFields: 1000, MaxBatchRecords: 100000, MaxRequestBytes: 16 << 20}
}

// Validate checks the limits.
func (l *Limits) Validate() error {
	var errs config.Errors
	if l.MaxRecordBytes < 1024 || l.MaxRecordBytes > 8<<20 {
		errs.Addf("max_record_bytes", "%d is outside 1 KiB..8 MiB (the raw stream's max_msg_bytes caps it)", l.MaxRecordBytes)
	}
	if l.MaxDepth < 1 || l.MaxDepth > 1000 {
		errs.Addf("max_depth", "%d is outside 1..1000", l.MaxDepth)
	}
	if l.MaxFields < 1 {
		errs.Addf("max_fields", "must be >= 1")
	}
	if l.MaxBatchRecords < 1 {
		errs.Addf("max_batch_records", "must be >= 1")
	}
	if l.MaxRequestBytes < l.MaxRecordBytes {
		errs.Addf("max_request_bytes", "%d is below max_record_bytes %d", l.MaxRequestBytes, l.MaxRecordBytes)
	}
	return errs.Err()
}

// Reject reasons, the bounded values of the metric label.
const (
	ReasonTooLarge      = "too_large"
	ReasonTooDeep       = "too_deep"
	ReasonTooManyFields = "too_many_fields"
	ReasonInvalidUTF8   = "invalid_utf8"
	ReasonNULByte       = "nul_byte"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonMalformed     = "malformed"
	ReasonTooManyRecs   = "too_many_records"
)

// RejectError says why a record is refused for good: sending it again will
// not help. It is reported to the sender and the record is dead-lettered.
type RejectError struct {
	Code   string // one of the Reason constants
	Reason string // for a person: the value, the limit and the fix
}

func (e *RejectError) Error() string { return e.Reason }

// Rejectf builds a RejectError.
func Rejectf(code, format string, args ...any) *RejectError {
	return &RejectError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// IsReject reports whether err is a RejectError.
func IsReject(err error) bool {
	var r *RejectError
	return errors.As(err, &r)
}

// ReasonForbiddenSource is the reason label of a record, message or request
// refused because its sender's credential may not write its source.
const ReasonForbiddenSource = "forbidden_source"

// ForbiddenError refuses a record whose source the sender's credential may
// not write (gateway.auth.credentials[].sources). It is neither retryable
// nor dead-lettered: resending will not help, and what a sender may not
// write is not kept anywhere. Protocols answer it as 403 (per _bulk item,
// or per request), in OTLP's partial success, or by not acknowledging a
// forward chunk.
type ForbiddenError struct {
	// Credential is the name of the credential (never its secret).
	Credential string
	// Source is the source the record was for, as the subject names it.
	Source string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("credential %q may not write source %q (its sources are set in gateway.auth.credentials)", e.Credential, e.Source)
}

// IsForbidden reports whether err is a ForbiddenError.
func IsForbidden(err error) bool {
	var f *ForbiddenError
	return errors.As(err, &f)
}

// Check returns a RejectError when rec breaks a limit.
func (l *Limits) Check(rec *Record) error {
	if len(rec.Raw) > l.MaxRecordBytes {
		return Rejectf(ReasonTooLarge, "record too large: %s, limit %s (set gateway.limits.max_record_bytes)", FormatBytes(len(rec.Raw)), FormatBytes(l.MaxRecordBytes))
	}
	if !rec.Time.IsZero() {
		if _, err := event.ParseTime(rec.Time); err != nil {
			return Rejectf(ReasonBadTimestamp, "bad timestamp: %v", err)
		}
	}
	if rec.Event != nil {
		return l.checkEvent(rec.Event)
	}
	fields := 0
	if err := l.walk(rec.Fields, 1, &fields); err != nil {
		return err.reject()
	}
	return nil
}

func (l *Limits) checkEvent(ev *event.Event) error {
	fields := 0
	for _, s := range []string{ev.Body, ev.Severity.Text, ev.TraceID, ev.SpanID} {
		if err := checkString(s, "body"); err != nil {
			return err
		}
	}
	if err := l.walkTop(ev.Resource, "resource", &fields); err != nil {
		return err
	}
	return l.walkTop(ev.Attributes, "attributes", &fields)
}

func (l *Limits) walkTop(v any, root string, fields *int) error {
	if err := l.walk(v, 1, fields); err != nil {
		return err.at(root).reject()
	}
	return nil
}

// walkError is a limit broken somewhere inside a record; the path to it is
// built on the way back up, so a record within its limits costs no string
// building at all.
type walkError struct {
	code, what string
	path       []string // innermost first
}

func (e *walkError) at(key string) *walkError { e.path = append(e.path, key); return e }

func (e *walkError) Error() string { return e.reject().Error() }

func (e *walkError) reject() *RejectError {
	p := make([]string, 0, len(e.path))
	for i := len(e.path) - 1; i >= 0; i-- {
		p = append(p, e.path[i])
	}
	return Rejectf(e.code, "%s", strings.ReplaceAll(e.what, "{path}", strings.Join(p, ".")))
}

// walk checks depth, field count and strings of a decoded value.
func (l *Limits) walk(v any, depth int, fields *int) *walkError {
	if depth > l.MaxDepth {
		return &walkError{code: ReasonTooDeep, what: fmt.Sprintf("record nested deeper than %d levels at {path} (set gateway.limits.max_depth)", l.MaxDepth)}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			*fields++
			if *fields > l.MaxFields {
				return &walkError{code: ReasonTooManyFields, what: fmt.Sprintf("record has more than %d fields (set gateway.limits.max_fields)", l.MaxFields)}
			}
			if code, what := stringProblem(k); code != "" {
				return (&walkError{code: code, what: "a key under {path} " + what}).at(k)
			}
			if err := l.walk(e, depth+1, fields); err != nil {
				return err.at(k)
			}
		}
	case []any:
		for i, e := range x {
			if err := l.walk(e, depth+1, fields); err != nil {
				return err.at(strconv.Itoa(i))
			}
		}
	case string:
		if code, what := stringProblem(x); code != "" {
			return &walkError{code: code, what: "field {path} " + what}
		}
	}
	return nil
}

func stringProblem(s string) (code, what string) {
	if !utf8.ValidString(s) {
		return ReasonInvalidUTF8, "is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return ReasonNULByte, "contains a NUL byte"
	}
	return "", ""
}

func checkString(s, path string) error {
	if code, what := stringProblem(s); code != "" {
		return Rejectf(code, "field %s %s", path, what)
	}
	return nil
}

// FormatBytes writes a byte count for a person: "2.1 MiB", "12.0 KiB", "80 B".
func FormatBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Subject returns the raw subject for a source: prefix + its dot-separated
// tokens, each made safe ("*", ">", spaces become "_"; empty tokens dropped).
func Subject(prefix, source string) (subject, cleanSource string) {
	parts := strings.Split(source, ".")
	out := parts[:0]
	for _, p := range parts {
		if p == "" {
			continue
		}
		out = append(out, strings.Map(func(r rune) rune {
			if r <= ' ' || r == '*' || r == '>' || r == 0x7f || !utf8.ValidRune(r) || r == utf8.RuneError {
				return '_'
			}
			return r
		}, p))
		if len(out) == 16 {
			break
		}
	}
	if len(out) == 0 {
		out = append(out, "default")
	}
	clean := strings.Join(out, ".")
	return prefix + clean, clean
}
