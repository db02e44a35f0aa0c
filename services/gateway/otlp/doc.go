// Package otlp is the gateway's OTLP/HTTP logs receiver: POST /v1/logs, so an
// OpenTelemetry Collector (otlphttp exporter) or any OpenTelemetry SDK's
// OTLP/HTTP log exporter ships to jetlog unchanged.
//
// A request body is an ExportLogsServiceRequest, in binary protobuf
// (Content-Type: application/x-protobuf) or in OTLP/JSON
// (Content-Type: application/json: the proto3 JSON mapping with trace and
// span ids as hex strings, unknown fields ignored), optionally
// gzip-compressed (Content-Encoding: gzip). Each LogRecord becomes one
// ingest.Record carrying a fully built event, handed to the Sink (the
// gateway's ingest.Publisher); the answer is given only after JetStream
// stored, or refused, every record.
//
// # Mapping
//
//	OTLP                                      event.Event
//	----------------------------------------  ------------------------------------------------
//	time_unix_nano                            Timestamp (else observed_time_unix_nano, else
//	                                          the receive time, filled by the publisher)
//	observed_time_unix_nano                   ObservedTimestamp (else the receive time)
//	body (string)                             Body, as it is
//	body (any other kind)                     Body, as JSON text (bytes: base64 text)
//	severity_text                             Severity.Text, upper-cased; when empty, the
//	                                          OpenTelemetry short name of severity_number
//	                                          ("INFO", "WARN3")
//	severity_number                           Severity.Number (1–24); when 0 or out of range,
//	                                          event.ParseSeverity(severity_text)
//	trace_id, span_id                         TraceID, SpanID: lowercase hex, empty when all zero
//	resource.attributes                       Resource: one key per attribute (service.name,
//	                                          host.name, …), values as Go values
//	attributes                                Attributes, the same way
//	scope.name, scope.version                 Attributes["otel.scope.name"],
//	                                          Attributes["otel.scope.version"]
//	event_name                                Attributes["event.name"]
//	resource attribute service.name           Source (so the subject is logs.raw.<service>);
//	                                          "otlp" when absent or not a string
//	dropped_attributes_count, flags,          not kept
//	scope attributes, schema_url
//
// AnyValue kinds become string, bool, int64, float64, []any, map[string]any
// and, for bytes, a base64 string; an empty AnyValue becomes nil. A double
// that JSON cannot hold (NaN, ±Inf) becomes the string "NaN", "Infinity" or
// "-Infinity", as in the proto3 JSON mapping. The scope and event-name keys
// are added only when the record's own attributes do not already hold them.
// When two attributes share a key, the last one wins.
//
// The event id is left to the publisher: a hash of the source, the
// deterministic encodings of the record's resource and scope
// (ingest.Record.Context) and of the record itself (ingest.Record.Raw), and
// its timestamp, so a sender's retry of the same batch is de-duplicated by
// JetStream and OpenSearch, whether it came as protobuf or as JSON, while
// two hosts or two scopes logging the same record at the same nanosecond
// make two events. A record with neither time nor observed time is named
// by its request instead (an Idempotency-Key header, else the request's
// records); identical records of one request get "-n" ids of their own.
//
// # Answers
//
//	200  every record stored, or some refused for good: partial_success holds
//	     rejected_log_records and an error_message naming each record
//	     (resourceLogs[i].scopeLogs[j].logRecords[k]) and why: it broke a
//	     limit, or is of a service its credential may not write (see below)
//	400  the body cannot be decoded (truncated protobuf, invalid JSON, a
//	     trace id that is not 16 bytes / 32 hex digits, bad gzip), or more
//	     records than gateway.limits.max_batch_records
//	401  no valid credential, when the gateway has credentials (answered
//	     by the gateway before the body is read; see Refuse)
//	403  every record is of a service the credential may not write
//	405  not a POST
//	413  the body, before or after gunzip, is over
//	     gateway.limits.max_request_bytes
//	415  a Content-Type other than application/x-protobuf or application/json,
//	     or a Content-Encoding other than gzip
//	429  with Retry-After: the gateway holds too many bytes in flight
//	     (ingest.ErrBusy, 2 s) or the raw stream is full (ingest.ErrStreamFull,
//	     30 s)
//	503  with Retry-After: JetStream did not confirm the writes
//	     (ingest.ErrUnavailable, 5 s)
//
// If any record of a request got a retryable refusal, the whole request is
// answered 429/503, since an OTLP client resends whole requests and must not
// retry a partial success; the records that were stored are stored again
// under the same ids and de-duplicated. Every 4xx and 5xx body is a
// google.rpc.Status in the request's encoding (binary protobuf when the
// encoding is unknown), with a google.rpc.BadRequest detail naming the field
// for bad data and a google.rpc.RetryInfo for retryable refusals.
//
// A record is refused for good (counted in partial_success) when the
// publisher's limits say so: too large, too deep, too many fields, a string
// that is not UTF-8 or holds a NUL byte, a timestamp outside 1990..2200.
// The protobuf runtime refuses a whole message over one string that is not
// UTF-8; this receiver reads such a record again leniently, so only that
// record is refused (and dead-lettered), not its neighbours.
//
// # Bounds
//
// A body is read up to gateway.limits.max_request_bytes (a gzip bomb costs
// at most that much memory); records are counted before any is built, on the
// wire for protobuf and by a scan of the text for JSON; a LogRecord whose
// encoding is over gateway.limits.max_record_bytes is refused as too large
// without being decoded.
//
// # Sources
//
// A record's source is its resource's service.name, and the request's
// credential (auth.FromContext) must be allowed to write it. Records of
// other services are not published nor dead-lettered; they are counted in
// partial_success with the others refused for good, so the sender does not
// retry what resending cannot fix, and the rest of the request is stored.
// A request of such records only is answered 403 (PERMISSION_DENIED). A
// request with any counts once in
// jetlog_gateway_auth_failures_total{protocol="otlp",reason="forbidden_source"}.
//
// Every request counts once in jetlog_gateway_requests_total{protocol="otlp"}
// with result ok, partial, retry, bad_request or denied.
package otlp
