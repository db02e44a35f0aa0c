// Package httpin is the gateway's HTTP ingest: JSON, NDJSON and Fluent Bit's
// http output formats on /v1/ingest/<source>, and an OpenSearch _bulk-compatible
// API so Fluent Bit's opensearch output, Vector, Logstash, Filebeat or any
// OpenSearch client can ship to jetlog unchanged. Every answer is given only
// after JetStream acknowledged (or refused) each record.
package httpin

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Handler serves the HTTP ingest routes.
type Handler struct {
	sink Sink
	m    *ingest.Metrics
	log  *slog.Logger
	// denied rate-limits the log lines of requests refused for their
	// sources.
	denied *rate.Sometimes
}

// New returns the handler; mount it with Register. Each request is held to
// the sources of the principal in its context (auth.FromContext); without
// one, any source may be written.
func New(sink Sink, m *ingest.Metrics, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{sink: sink, m: m, log: log, denied: &rate.Sometimes{Interval: 10 * time.Second}}
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ingest", h.ingest)
	mux.HandleFunc("POST /v1/ingest/{source...}", h.ingest)
	mux.HandleFunc("PUT /v1/ingest/{source...}", h.ingest)
	h.registerBulk(mux)
}

// Rejected is one record refused for good, in an ingest answer.
type Rejected struct {
	// Index is the record's position in the request, from 0.
	Index int `json:"index"`
	// Line is the line the record starts on, from 1, in a body of lines
	// (NDJSON, text); 0 otherwise.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

// Answer is the body of a /v1/ingest response.
type Answer struct {
	Accepted int        `json:"accepted"`
	Rejected []Rejected `json:"rejected,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// source picks the source of a /v1/ingest request: the path, Fluent Bit's
// tag header, X-Source, ?source=, else "http".
func source(r *http.Request) string {
	for _, s := range []string{r.PathValue("source"), r.Header.Get("X-Fluent-Tag"), r.Header.Get("X-Source"), r.URL.Query().Get("source")} {
		if s = strings.Trim(s, "/ "); s != "" {
			return strings.ReplaceAll(s, "/", ".")
		}
	}
	return "http"
}

// Protocol labels of this package's routes in the gateway's metrics.
const (
	// ProtocolIngest is /v1/ingest.
	ProtocolIngest = "http"
	// ProtocolBulk is the _bulk-compatible API and its probes.
	ProtocolBulk = "bulk"
)

// Protocol returns the protocol label of a request to one of this
// package's routes.
func Protocol(r *http.Request) string {
	if r.URL.Path == "/v1/ingest" || strings.HasPrefix(r.URL.Path, "/v1/ingest/") {
		return ProtocolIngest
	}
	return ProtocolBulk
}

// Refuse answers a request refused by authentication (401) or by its
// credential's sources (403) in the form of its route: an Answer for
// /v1/ingest, OpenSearch's security_exception for the _bulk API. A 401
// needs its WWW-Authenticate header set by the caller.
func Refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if Protocol(r) == ProtocolIngest {
		writeJSON(w, status, Answer{Error: err.Error()})
		return
	}
	writeJSON(w, status, osError("security_exception", err.Error(), status))
}

// ingest accepts a JSON array of objects, one object, NDJSON, Fluent Bit's
// json / json_lines / json_stream formats (a "date" field is the time) and
// its msgpack format, or plain text (one record per line). A record that
// cannot be decoded is refused alone and dead-lettered; the request as a
// whole only when its framing cannot be read (bad gzip, a JSON array that
// does not parse).
func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	const protocol = ProtocolIngest
	src := source(r)
	if err := auth.FromContext(r.Context()).Check(src); err != nil {
		// Refused before the body is read: one source per request.
		h.m.AuthFailures.WithLabelValues(protocol, ingest.ReasonForbiddenSource).Inc()
		h.m.Requests.WithLabelValues(protocol, "denied").Inc()
		h.denied.Do(func() {
			h.log.Warn("request refused: a source its credential may not write", "protocol", protocol, "remote", r.RemoteAddr, "err", err)
		})
		Refuse(w, r, http.StatusForbidden, err)
		return
	}
	lim := h.sink.Limits()
	body, err := readBody(r, lim.MaxRequestBytes)
	if err != nil {
		badRequest(w, h.m, protocol, err, h.log)
		return
	}
	var recs []ingest.Record
	var lines []int    // the line each record starts on, when the body is lines
	var pre []Rejected // entries of a msgpack stream that could not be decoded
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(ct, "text/plain"):
		for n, line := range strings.Split(string(body), "\n") {
			if line = strings.TrimRight(line, "\r"); strings.TrimSpace(line) == "" {
				continue
			}
			recs = append(recs, ingest.Record{Source: src, Raw: []byte(line), Fields: map[string]any{"message": line}})
			lines = append(lines, n+1)
		}
	case strings.Contains(ct, "msgpack"):
		// Fluent Bit's http output with its default format: a stream of
		// [time, record] msgpack entries, as in PackedForward.
		var skipped int
		var why string
		recs, skipped, why, err = forward.DecodeEntries(src, body, lim)
		if err != nil {
			badRequest(w, h.m, protocol, err, h.log)
			return
		}
		if skipped > 0 {
			pre = append(pre, Rejected{Index: -1, Reason: fmt.Sprintf("%d entries could not be decoded; the first: %s", skipped, why)})
		}
	case ct == "" || strings.Contains(ct, "json"):
		vals, err := jsonValues(body, lim)
		if err != nil {
			badRequest(w, h.m, protocol, err, h.log)
			return
		}
		for _, v := range vals {
			recs = append(recs, jsonRecord(src, v, lim))
			lines = append(lines, v.line)
		}
	default:
		h.m.Requests.WithLabelValues(protocol, "bad_request").Inc()
		writeJSON(w, http.StatusUnsupportedMediaType, Answer{Error: fmt.Sprintf("unsupported Content-Type %q: send application/json, application/x-ndjson, application/msgpack or text/plain", ct)})
		return
	}
	ingest.KeyRequest(recs, r.Header.Get(ingest.IdempotencyKeyHeader))
	res := h.sink.Publish(r.Context(), protocol, recs)
	ans := Answer{Rejected: pre}
	var retry error
	for i, err := range res {
		switch {
		case err == nil:
			ans.Accepted++
		case ingest.IsReject(err):
			rej := Rejected{Index: i, Reason: err.Error()}
			if i < len(lines) {
				rej.Line = lines[i]
			}
			ans.Rejected = append(ans.Rejected, rej)
		case retry == nil:
			retry = err
		}
	}
	switch {
	case retry != nil:
		h.m.Requests.WithLabelValues(protocol, "retry").Inc()
		ans.Error = retry.Error()
		writeJSON(w, retryStatus(w, retry), ans)
	case len(ans.Rejected) > 0:
		h.m.Requests.WithLabelValues(protocol, "partial").Inc()
		writeJSON(w, http.StatusOK, ans)
	default:
		h.m.Requests.WithLabelValues(protocol, "ok").Inc()
		writeJSON(w, http.StatusOK, ans)
	}
}

// jsonRecord makes a record of one JSON value of a request; a value that
// does not parse, nests too deep or is no object is refused alone.
func jsonRecord(src string, v jsonValue, lim ingest.Limits) ingest.Record {
	rec := ingest.Record{Source: src, Raw: v.raw}
	where := "record"
	if v.line > 0 {
		where = fmt.Sprintf("line %d", v.line)
	}
	if v.err != nil {
		rec.Reject = ingest.Rejectf(ingest.ReasonMalformed, "malformed JSON on %s: %v", where, v.err)
		return rec
	}
	if v.fields != nil {
		rec.Fields = v.fields
		return rec
	}
	if err := jsonscan.Depth(v.raw, lim.MaxDepth); err != nil {
		rec.Reject = ingest.Rejectf(ingest.ReasonTooDeep, "%s: %v (set gateway.limits.max_depth)", where, err)
		return rec
	}
	fields, err := event.DecodeFields(v.raw)
	if err != nil {
		rec.Reject = ingest.Rejectf(ingest.ReasonMalformed, "%s: %v", where, err)
		return rec
	}
	rec.Fields = fields
	return rec
}
