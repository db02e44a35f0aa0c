// Package forward is the gateway's Fluentd forward-protocol server: what
// Fluent Bit's forward output, fluentd's out_forward, the fluent-logger
// libraries and Docker's fluentd log driver send. Records are handed to a
// Sink (the gateway's ingest.Publisher) and a chunk is acknowledged only
// once JetStream stored, or refused for good, every record of it.
//
// # Protocol
//
// Forward Protocol v1 (and the parts of v1.5 that concern logs) over TCP,
// optionally TLS: a stream of msgpack arrays, each in one of four modes:
//
//	Message                  [tag, time, record(, option)]
//	Forward                  [tag, [[time, record], ...](, option)]
//	PackedForward            [tag, bin|str: msgpack stream of [time, record](, option)]
//	CompressedPackedForward  PackedForward with option {"compressed": "gzip"} (or "zstd")
//
// time is an integer of seconds, EventTime (msgpack ext type 0: big-endian
// uint32 seconds and nanoseconds), a float of seconds, or — v1.5, Fluent
// Bit 2.1 and later — [time, metadata], whose metadata is not kept. 0 and
// nil mean "none given": the record's own time fields, else the receive
// time, decide. A nil message is a heartbeat and is ignored. JSON-encoded
// messages (fluentd accepts them) and UDP heartbeats are not served.
//
// A record becomes an ingest.Record with the tag as Source (an empty tag
// becomes "default"), the decoded map as Fields and the record's own
// msgpack bytes as Raw, from which the publisher derives the event's id.
// Map keys that are not strings get their text form; str and bin values
// both become strings, unchecked, so the publisher rejects invalid UTF-8
// and NUL bytes with a reason and a dead letter; EventTime values become
// time.Time, other ext values []byte.
//
// When a shared key is configured (shared_key or shared_key_file), each
// connection starts with the handshake of the v1 specification: HELO (a
// 16-byte nonce, "auth", keepalive true), the client's PING with
// hex(sha512(salt + client_hostname + nonce + shared_key)), and PONG with
// the server's digest hex(sha512(salt + server_hostname + nonce +
// shared_key)), or PONG false with a reason, after which the connection is
// closed.
//
// # Authentication
//
// With gateway.auth credentials (an *auth.Store given to New), a
// connection authenticates as one credential, whose sources its messages'
// tags must be:
//
//   - By user name and password, in the handshake (so only with a shared
//     key): when some credential has a password, HELO's "auth" carries a
//     salt (32 hex digits) and the PING's username and
//     hex(sha512(salt + username + password)) are checked. That is Fluent
//     Bit's forward output with shared_key, username and password, and
//     fluentd's <security> with <user>. A wrong user name or password is
//     refused with PONG false "username/password mismatch".
//   - By a client certificate verified against tls.client_ca_file
//     (tls.client_auth request or require) whose name is some credential's
//     client_cert_names. A user name in the handshake takes precedence.
//
// When gateway.auth.required is on, a connection that authenticates as
// nobody is refused: PONG false "authentication required", or, without a
// handshake, closed at once. A message whose tag the credential may not
// write is not acknowledged and the connection is closed: the client logs
// the failed chunk and resends it on its retry schedule (Fluent Bit's
// retry_limit decides when it gives up), and nothing of it is stored. Each
// is logged (rate-limited) with the credential's name, never a secret, and
// counted in jetlog_gateway_auth_failures_total{protocol="forward",reason}
// (missing, invalid: a wrong password or shared key, forbidden_source) and
// jetlog_gateway_requests_total{protocol="forward",result="denied"}. A
// connection keeps the credential it started with: a revoked password
// stops working at the client's next connection.
//
// # Acknowledgements
//
// An option with "chunk" asks for {"ack": chunk}. It is sent only after
// every record of the message was either stored by JetStream or refused
// for good (an *ingest.RejectError: the publisher dead-lettered it, and
// resending would not help; the protocol cannot report per record). If
// any record got a retryable error, no ack is sent and the connection is
// closed: the client resends the whole chunk at once, and the records
// stored the first time are de-duplicated by their Nats-Msg-Id. The same
// happens when storing takes longer than ack_timeout: publishing is given
// up (the publisher answers "retry" for what is still pending). Messages
// without a chunk id are published the same way and answered with
// nothing, which is at-most-once from the client's side.
//
// # Limits and malformed input
//
// The limits are the sink's ingest.Limits. Each refusal is counted in
// jetlog_gateway_requests_total{protocol="forward"} and logged with its
// reason (repeats are rate-limited server-wide, with a count of what was
// held back):
//
//   - A message over max_request_bytes (raw, or once decompressed), one
//     with more entries than max_batch_records, one that is not valid
//     msgpack or not one of the four modes, a bad option, an unsupported
//     compression, and a failed handshake are refused as a whole:
//     bad_request, no ack, the connection is closed. A connection never
//     buffers more than max_request_bytes plus a few KiB; the size is
//     known from each header before the bytes arrive, so a message that
//     cannot fit is refused before it is read.
//   - Nesting is checked by an iterative scanner before anything is
//     decoded into Go values, with memory bounded by the depth limit,
//     never by the input. Each record is checked against max_depth on its
//     own; a message nested deeper than any record may be checked for
//     (over 1000 levels) is refused at once.
//   - Each entry is decoded on its own, so one bad entry does not cost its
//     neighbours. An entry that cannot be decoded into (time, map) — not
//     an array, a record that is not a map, a time of the wrong type (a
//     string), a record nested deeper than max_depth, the undecodable tail
//     of a packed or compressed stream — is left out of the publish call:
//     the publisher could only dead-letter a record it has Fields for,
//     and it checks Fields only. Such entries are counted (the message
//     counts as partial), logged at Warn with the reason once per
//     connection, and the chunk is still acknowledged once everything
//     else is stored: it would never decode better when resent.
//   - Records that decode but break a record limit (too large, too many
//     fields, invalid UTF-8, NUL bytes, an implausible timestamp) are
//     refused by the publisher with a RejectError and dead-lettered on
//     dlq.gateway; the message counts as partial and is acknowledged.
//
// # Identical records
//
// The publisher's event id is a hash of source, record bytes and the
// record's time; for a record without a time (0 or nil) the chunk id, or
// without one the bytes of the whole message, stand for the time. Within
// one message the n-th repeat of an identical record gets that id with
// "-n" appended: a resent chunk repeats in the same order, so retries are
// still de-duplicated. Identical records in different messages with the
// same time (integer-second clients logging the same line twice a second,
// one message each) remain indistinguishable from a resend and are stored
// once.
//
// # Connections
//
// Each connection has its own goroutine; at most max_connections are
// open (one more is closed at once). A connection that sends nothing for
// idle_timeout is closed; answers are written within ack_timeout; TCP
// keepalive is on. Stop closes the listener and idle connections, lets
// every connection finish the message it is receiving or publishing and
// send its ack, and, when its context ends first, abandons what is in
// flight (unacknowledged) and closes everything.
package forward
