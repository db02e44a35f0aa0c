// Package auth is the gateway's authentication and authorisation: who may
// write, and which sources each may write.
//
// A credential (gateway.auth.credentials) is a bearer token, or a user
// name and password, and/or the names of client certificates, with a list
// of sources. Clients present it the way they already can:
//
//	HTTP (/v1/ingest, _bulk and its probes, /v1/logs)
//	    Authorization: Bearer <token>, or Basic (Fluent Bit's http_user /
//	    http_passwd, Vector's auth, Logstash's user / password, the
//	    OpenTelemetry Collector's headers or bearertokenauth), or a client
//	    certificate verified against the listener's tls.client_ca_file.
//	forward
//	    the user name and password of the shared-key handshake (Fluent
//	    Bit's username / password with shared_key, fluentd's <user>), or a
//	    client certificate.
//
// The Store checks what is presented (Request, Handshake, Certificate) and
// yields a *Principal, whose Allows says whether a source may be written.
// The HTTP protocols find the request's principal with FromContext; a nil
// principal is an anonymous client where none is required, and may write
// every source.
//
// Secrets come from files or environment variables, never from the YAML
// itself. They are kept only as HMAC-SHA-256 under a random per-process
// key and compared in constant time: log shippers authenticate every
// request, so a deliberately slow password hash (bcrypt, Argon2) would
// cost more than the requests themselves, and the secrets are machine
// generated, long and random, which is what such hashes make up for. A
// credential file is read again when it changes (checked at most every
// reload_interval), so a rotated token takes effect without a restart.
// Nothing here logs a secret, or a user name that matches no credential.
package auth
