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

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Handler serves the HTTP ingest routes.
type Handler struct {
	sink Sink
	m    *ingest.Metrics
	log  *slog.Logger
}

// New returns the handler; mount it with Register.
func New(sink Sink, m *ingest.Metrics, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{sink: sink, m: m, log: log}
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
	Index  int    `json:"index"`
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

// ingest accepts a JSON array of objects, one object, NDJSON, Fluent Bit's
// json / json_lines / json_stream formats (a "date" field is the time) and
// its msgpack format, or plain text (one record per line).
func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	const protocol = "http"
	lim := h.sink.Limits()
	body, err := readBody(r, lim.MaxRequestBytes)
	if err != nil {
		badRequest(w, h.m, protocol, err, h.log)
		return
	}
	src := source(r)
	var recs []ingest.Record
	var pre []Rejected // refused while decoding, before publishing
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(ct, "text/plain"):
		for _, line := range strings.Split(string(body), "\n") {
			if line = strings.TrimRight(line, "\r"); strings.TrimSpace(line) == "" {
				continue
			}
			recs = append(recs, ingest.Record{Source: src, Raw: []byte(line), Fields: map[string]any{"message": line}})
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
		if err := jsonscan.Depth(body, lim.MaxDepth+1); err != nil {
			badRequest(w, h.m, protocol, fmt.Errorf("%w (set gateway.limits.max_depth)", err), h.log)
			return
		}
		objs, err := jsonObjects(body, lim.MaxBatchRecords)
		if err != nil {
			badRequest(w, h.m, protocol, err, h.log)
			return
		}
		for i, raw := range objs {
			fields, err := event.DecodeFields(raw)
			if err != nil {
				pre = append(pre, Rejected{Index: i, Reason: err.Error()})
				continue
			}
			recs = append(recs, ingest.Record{Source: src, Raw: raw, Fields: fields})
		}
	default:
		h.m.Requests.WithLabelValues(protocol, "bad_request").Inc()
		writeJSON(w, http.StatusUnsupportedMediaType, Answer{Error: fmt.Sprintf("unsupported Content-Type %q: send application/json, application/x-ndjson, application/msgpack or text/plain", ct)})
		return
	}
	res := h.sink.Publish(r.Context(), protocol, recs)
	ans := Answer{Rejected: pre}
	var retry error
	idx := indexMap(len(recs)+countIndexed(pre), pre)
	for i, err := range res {
		switch {
		case err == nil:
			ans.Accepted++
		case ingest.IsReject(err):
			ans.Rejected = append(ans.Rejected, Rejected{Index: idx[i], Reason: err.Error()})
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

// countIndexed counts the refusals that stand for one record each (a
// msgpack stream's summary of skipped entries has index -1).
func countIndexed(pre []Rejected) int {
	n := 0
	for _, p := range pre {
		if p.Index >= 0 {
			n++
		}
	}
	return n
}

// indexMap maps the position of a published record back to its position in
// the request, skipping the ones refused while decoding.
func indexMap(total int, pre []Rejected) []int {
	skip := make(map[int]bool, len(pre))
	for _, p := range pre {
		skip[p.Index] = true
	}
	out := make([]int, 0, total)
	for i := range total {
		if !skip[i] {
			out = append(out, i)
		}
	}
	return out
}
