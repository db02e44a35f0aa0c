// Package event defines jetlog's canonical log event, the one type every
// stage of the pipeline reads and writes.
//
// The JSON shape follows the OpenTelemetry log data model with the field
// names of OpenSearch's Simple Schema for Observability (SS4O) logs schema,
// so OpenSearch Dashboards' observability views understand the documents the
// indexer writes:
//
//	{
//	  "id": "5f0c…",                        // deterministic event id, also the OpenSearch _id
//	  "@timestamp": "2026-11-25T10:00:00Z", // when the event happened
//	  "observedTimestamp": "…",             // when jetlog first saw it
//	  "body": "GET /health 200",
//	  "severity": {"text": "INFO", "number": 9},
//	  "traceId": "…", "spanId": "…",
//	  "resource": {"service.name": "web", "host.name": "web-1"},
//	  "attributes": {"http.status": 200},
//	  "source": "web",                      // the shipper's tag or subject suffix
//	  "tags": ["_parsefailure", "_grokparsefailure"],                   // only when a pipeline
//	  "error": {"stage": "web/access line", "message": "no grok …"}    // kept it after a failure
//	}
//
// Resource keys use OpenTelemetry semantic-convention names ("service.name",
// "host.name"); OpenSearch expands the dotted keys into objects, so they are
// searched as resource.service.name and resource.host.name.
package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Resource attribute keys jetlog fills itself.
const (
	ServiceName = "service.name"
	HostName    = "host.name"
)

// Severity is the normalised level of an event: the text as the source wrote
// it (upper-cased) and the OpenTelemetry severity number (1–24).
type Severity struct {
	Text   string `json:"text,omitempty"`
	Number int    `json:"number,omitempty"`
}

// Event is one log record.
type Event struct {
	// ID is deterministic: the same input always gets the same ID, which makes
	// redelivery and replay idempotent (Nats-Msg-Id, OpenSearch _id).
	ID string `json:"id"`
	// Timestamp is when the event happened, as the source says.
	Timestamp time.Time `json:"@timestamp"`
	// ObservedTimestamp is when jetlog first received the event.
	ObservedTimestamp time.Time `json:"observedTimestamp,omitzero"`
	// Body is the log message.
	Body string `json:"body,omitempty"`
	// Severity is the log level.
	Severity Severity `json:"severity,omitzero"`
	// TraceID and SpanID link the event to a trace (hex, W3C form).
	TraceID string `json:"traceId,omitempty"`
	SpanID  string `json:"spanId,omitempty"`
	// Resource describes what produced the event (service.name, host.name, …).
	Resource map[string]any `json:"resource,omitempty"`
	// Attributes are the event's own fields.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Source names where the event entered jetlog: the shipper's tag or the
	// last tokens of the raw subject.
	Source string `json:"source,omitempty"`
	// Dataset names the family of indices the event belongs to (a pipeline's
	// route stage sets it); the indexer writes into <prefix>-<dataset>-<day>,
	// or <prefix>-<day> when it is empty.
	Dataset string `json:"dataset,omitempty"`
	// Subject, when set by a route stage, replaces the source as the last
	// token of the enriched subject. It is not part of the document.
	Subject string `json:"-"`
	// Tags label the event for filtering. A pipeline that keeps an event
	// after one of its stages failed tags it (_parsefailure,
	// _grokparsefailure, …), so the failures are one search away.
	Tags []string `json:"tags,omitempty"`
	// Error says which stage failed on the event and why, when a pipeline
	// kept it regardless; nil otherwise. It is jetlog's, apart from the
	// attributes, so it never collides with a field the event brought.
	Error *Failure `json:"error,omitempty"`
}

// Failure is what went wrong with an event that was kept regardless.
type Failure struct {
	// Stage names where: <pipeline>/<stage>.
	Stage string `json:"stage,omitempty"`
	// Message says why.
	Message string `json:"message,omitempty"`
}

// AddTag adds tag to the event's tags unless it is there already.
func (e *Event) AddTag(tag string) {
	if !slices.Contains(e.Tags, tag) {
		e.Tags = append(e.Tags, tag)
	}
}

// Service returns resource["service.name"] as a string, or "".
func (e *Event) Service() string { return e.resourceString(ServiceName) }

// Host returns resource["host.name"] as a string, or "".
func (e *Event) Host() string { return e.resourceString(HostName) }

func (e *Event) resourceString(k string) string {
	if s, ok := e.Resource[k].(string); ok {
		return s
	}
	return ""
}

// SetResource sets one resource attribute, creating the map when needed.
func (e *Event) SetResource(k string, v any) {
	if e.Resource == nil {
		e.Resource = make(map[string]any, 2)
	}
	e.Resource[k] = v
}

// SetAttr sets one attribute, creating the map when needed.
func (e *Event) SetAttr(k string, v any) {
	if e.Attributes == nil {
		e.Attributes = make(map[string]any, 4)
	}
	e.Attributes[k] = v
}

// Marshal encodes the event as JSON, the form it has on every JetStream
// subject and in OpenSearch.
func (e *Event) Marshal() ([]byte, error) { return e.AppendJSON(make([]byte, 0, 512)) }

// ErrNoID reports an event without an id.
var ErrNoID = fmt.Errorf("event has no id")

// maxShipperID is the longest shipper-given id used verbatim. OpenSearch
// allows 512 bytes in _id; longer ids and ids with unusual bytes are hashed.
const maxShipperID = 128

// NewID derives the deterministic id of an event from its source, its raw
// bytes as received and its timestamp: a retry of the same record gets the
// same id, two different records practically never do. The result is 32
// lowercase hex characters (128 bits of SHA-256). It is IDInput's ID with
// only these three inputs.
func NewID(source string, raw []byte, ts time.Time) string {
	h := sha256.New()
	writeString(h, source)
	writeUint(h, uint64(ts.UnixNano()))
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// IDInput is what the id of an event without a shipper-given id is derived
// from. Each input tells records apart that the others do not.
type IDInput struct {
	// Source is where the record entered jetlog (the subject-safe source).
	Source string
	// Context is what the record belongs to that its bytes do not carry:
	// an OTLP record's resource and instrumentation scope. Empty for most.
	Context string
	// Raw is the record's bytes as received.
	Raw []byte
	// Time is the record's own timestamp; zero when it has none.
	Time time.Time
	// Request names the request (or chunk) the record came in, for a record
	// without a time of its own: a retry of the request names it the same,
	// another request differently. Empty when Time is set.
	Request string
}

// noTime stands where NewID writes the timestamp, in ids that also hash a
// context or a request: no timestamp a record or a receive clock gives
// (1990..2200) is -1 ns, so the two forms never share an input.
const noTime = ^uint64(0)

// ID returns the event id for in: NewID(Source, Raw, Time) when Context and
// Request are empty, so ids of earlier releases are kept; else the same
// 32 hex characters of SHA-256 over every input, each length-prefixed.
func (in IDInput) ID() string {
	if in.Context == "" && in.Request == "" {
		return NewID(in.Source, in.Raw, in.Time)
	}
	h := sha256.New()
	writeString(h, in.Source)
	writeUint(h, noTime)
	writeString(h, in.Context)
	writeString(h, in.Request)
	var ts uint64
	if !in.Time.IsZero() {
		ts = uint64(in.Time.UnixNano())
	}
	writeUint(h, ts)
	h.Write(in.Raw)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func writeUint(h hash.Hash, v uint64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], v)
	h.Write(n[:])
}

func writeString(h hash.Hash, s string) {
	writeUint(h, uint64(len(s)))
	h.Write([]byte(s))
}

// IDFromShipper turns an id sent by the shipper (an OpenSearch _bulk _id, a
// Fluent Bit record id) into the event id. Short printable ids are kept as
// they are, so a user who searches for their own id finds it; anything else
// is hashed together with the source.
func IDFromShipper(source, id string) string {
	if id != "" && len(id) <= maxShipperID && utf8.ValidString(id) && printable(id) {
		return id
	}
	return NewID(source, []byte(id), time.Time{})
}

// IDFromShipperIn turns a shipper's id that names a record only within a
// scope (an OpenSearch _id within its _index) into the event id
// "<scope>:<id>", kept or hashed as IDFromShipper does. scope must not
// contain ':' (OpenSearch index names do not), so two scopes never make
// the same id; an empty scope is IDFromShipper.
func IDFromShipperIn(source, scope, id string) string {
	if scope == "" {
		return IDFromShipper(source, id)
	}
	return IDFromShipper(source, scope+":"+id)
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' })
}
