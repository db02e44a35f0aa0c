package httpin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// CompatVersion is the OpenSearch version the _bulk-compatible API reports,
// so clients that check the server version before shipping accept jetlog.
const CompatVersion = "2.19.6"

func (h *Handler) registerBulk(mux *http.ServeMux) {
	mux.HandleFunc("POST /_bulk", h.bulk)
	mux.HandleFunc("PUT /_bulk", h.bulk)
	mux.HandleFunc("GET /{$}", h.info) // GET patterns also serve HEAD
	// Two-segment paths: /<index>/_bulk, and the templates and pipelines
	// shippers install before writing. jetlog owns its index template, so
	// those are acknowledged and ignored.
	mux.HandleFunc("/{first}/{second}", h.twoSegments)
	mux.HandleFunc("PUT /_plugins/_ism/policies/{name}", acknowledged)
}

// ignoredAPIs are the setup APIs shippers call before writing.
var ignoredAPIs = map[string]bool{"_index_template": true, "_template": true, "_ingest": true, "_ilm": true}

func (h *Handler) twoSegments(w http.ResponseWriter, r *http.Request) {
	first, second := r.PathValue("first"), r.PathValue("second")
	switch {
	case second == "_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		h.bulk(w, r)
	case first == "_cluster" && second == "health" && r.Method == http.MethodGet:
		h.health(w, r)
	case ignoredAPIs[first] && r.Method == http.MethodHead:
		w.WriteHeader(http.StatusOK)
	case ignoredAPIs[first] && r.Method != http.MethodGet:
		acknowledged(w, r)
	default:
		writeJSON(w, http.StatusNotFound, osError("not_found", fmt.Sprintf("jetlog's gateway serves _bulk, not %s %s", r.Method, r.URL.Path), http.StatusNotFound))
	}
}

func acknowledged(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         "jetlog-gateway",
		"cluster_name": "jetlog",
		"cluster_uuid": "jetlog",
		"version": map[string]any{
			"distribution": "opensearch", "number": CompatVersion, "build_type": "jetlog",
			"lucene_version": "9.12.1", "minimum_wire_compatibility_version": "7.10.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "jetlog ingest gateway: an OpenSearch _bulk-compatible endpoint in front of NATS JetStream",
	})
}

func (h *Handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"cluster_name": "jetlog", "status": "green", "timed_out": false, "number_of_nodes": 1,
		"number_of_data_nodes": 1, "active_primary_shards": 0, "active_shards": 0,
	})
}

// bulkItem is one action of a _bulk request.
type bulkItem struct {
	action string // index, create, update, delete
	index  string
	id     string
	rec    int   // position in the published records, or -1
	err    error // refused while parsing
}

// bulk accepts index and create actions; each document becomes a record
// whose source is its index, whose dataset is the index's family and whose
// shipper id is its _id within that index.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	const protocol = ProtocolBulk
	start := time.Now()
	lim := h.sink.Limits()
	body, err := readBody(r, lim.MaxRequestBytes)
	if err != nil {
		badRequest(w, h.m, protocol, err, h.log)
		return
	}
	index := ""
	if r.PathValue("second") == "_bulk" {
		index = r.PathValue("first")
	}
	items, recs, err := parseBulk(body, index, lim)
	if err != nil {
		h.m.Requests.WithLabelValues(protocol, "bad_request").Inc()
		writeJSON(w, http.StatusBadRequest, osError("illegal_argument_exception", err.Error(), http.StatusBadRequest))
		return
	}
	ingest.KeyRequest(recs, r.Header.Get(ingest.IdempotencyKeyHeader))
	who := auth.FromContext(r.Context())
	res, forbidden := who.Publish(recs, func(recs []ingest.Record) []error { return h.sink.Publish(r.Context(), protocol, recs) })
	if forbidden > 0 {
		h.m.AuthFailures.WithLabelValues(protocol, ingest.ReasonForbiddenSource).Inc()
		h.denied.Do(func() {
			h.log.Warn("bulk items refused: indices their credential may not write", "remote", r.RemoteAddr, "credential", who.Name(), "refused", forbidden, "items", len(items))
		})
	}
	out := make([]map[string]any, len(items))
	failed, retry := false, false
	for i, it := range items {
		err := it.err
		id := it.id
		if it.rec >= 0 {
			err = res[it.rec]
			id = recs[it.rec].ID
		}
		status, result := http.StatusCreated, "created"
		var errBody any
		switch {
		case err == nil:
		case ingest.IsReject(err):
			status, result = http.StatusBadRequest, ""
			errBody = map[string]any{"type": "mapper_parsing_exception", "reason": err.Error()}
		case ingest.IsForbidden(err):
			// As OpenSearch's security plugin answers an item of an index
			// the user may not write.
			status, result = http.StatusForbidden, ""
			errBody = map[string]any{"type": "security_exception", "reason": err.Error()}
		case ingest.IsRetryable(err):
			status, result, retry = http.StatusTooManyRequests, "", true
			errBody = map[string]any{"type": "rejected_execution_exception", "reason": err.Error()}
		default:
			status, result = http.StatusBadRequest, ""
			errBody = map[string]any{"type": "illegal_argument_exception", "reason": err.Error()}
		}
		item := map[string]any{"_index": it.index, "_id": id, "status": status}
		if errBody != nil {
			failed = true
			item["error"] = errBody
		} else {
			item["result"] = result
			item["_version"] = 1
			item["_seq_no"] = 0
			item["_primary_term"] = 1
			item["_shards"] = map[string]int{"total": 1, "successful": 1, "failed": 0}
		}
		out[i] = map[string]any{it.action: item}
	}
	switch {
	case retry:
		h.m.Requests.WithLabelValues(protocol, "retry").Inc()
	case failed:
		h.m.Requests.WithLabelValues(protocol, "partial").Inc()
	default:
		h.m.Requests.WithLabelValues(protocol, "ok").Inc()
	}
	writeJSON(w, http.StatusOK, map[string]any{"took": time.Since(start).Milliseconds(), "errors": failed, "items": out})
}

func osError(typ, reason string, status int) map[string]any {
	e := map[string]any{"type": typ, "reason": reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{e}, "type": typ, "reason": reason}, "status": status}
}

// parseBulk reads the NDJSON action/document pairs. A malformed action line
// fails the request, as OpenSearch does; a bad document fails its item only.
func parseBulk(body []byte, defaultIndex string, lim ingest.Limits) ([]bulkItem, []ingest.Record, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), lim.MaxRequestBytes+1)
	var items []bulkItem
	var recs []ingest.Record
	line := 0
	next := func() ([]byte, bool) {
		for sc.Scan() {
			line++
			if b := bytes.TrimSpace(sc.Bytes()); len(b) > 0 {
				return append([]byte(nil), b...), true
			}
		}
		return nil, false
	}
	for {
		actLine, ok := next()
		if !ok {
			break
		}
		var act map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(actLine, &act); err != nil || len(act) != 1 {
			return nil, nil, fmt.Errorf("malformed action/metadata line %d: expected one of index, create, update, delete", line)
		}
		var it bulkItem
		for k, v := range act {
			it = bulkItem{action: k, index: v.Index, id: v.ID, rec: -1}
		}
		if it.index == "" {
			it.index = defaultIndex
		}
		switch it.action {
		case "index", "create":
		case "delete":
			it.err = errors.New("jetlog accepts index and create actions only: events are immutable")
			items = append(items, it)
			continue
		case "update":
			next()
			it.err = errors.New("jetlog accepts index and create actions only: events are immutable")
			items = append(items, it)
			continue
		default:
			return nil, nil, fmt.Errorf("malformed action/metadata line %d: unknown action %q", line, it.action)
		}
		doc, ok := next()
		if !ok {
			return nil, nil, fmt.Errorf("the request ends after the action on line %d without its document", line)
		}
		if it.index == "" {
			it.err = errors.New("no _index in the action and none in the path")
			items = append(items, it)
			continue
		}
		if strings.Contains(it.index, ":") {
			// As OpenSearch refuses it; it also keeps "<index>:<_id>" ids apart.
			it.err = fmt.Errorf("invalid index name [%s], must not contain ':'", it.index)
			items = append(items, it)
			continue
		}
		if err := jsonscan.Depth(doc, lim.MaxDepth+1); err != nil {
			it.err = ingest.Rejectf(ingest.ReasonTooDeep, "%v (set gateway.limits.max_depth)", err)
			items = append(items, it)
			continue
		}
		fields, err := event.DecodeFields(doc)
		if err != nil {
			it.err = ingest.Rejectf(ingest.ReasonMalformed, "failed to parse the document: %v", err)
			items = append(items, it)
			continue
		}
		it.rec = len(recs)
		recs = append(recs, ingest.Record{Source: strings.TrimPrefix(it.index, "."), Raw: doc, Fields: fields,
			ID: it.id, IDScope: it.index, Dataset: datasetOf(it.index)})
		items = append(items, it)
		if len(items) > lim.MaxBatchRecords {
			return nil, nil, fmt.Errorf("more than %d actions in one request (set gateway.limits.max_batch_records)", lim.MaxBatchRecords)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read the request: %w", err)
	}
	if len(items) == 0 {
		return nil, nil, errors.New("the request has no actions")
	}
	return items, recs, nil
}

// dateSuffix matches the date a shipper appends to an index name per day
// or month (Logstash's and Vector's default "<name>-%Y.%m.%d", and
// -YYYY-MM-DD, -YYYYMMDD, -YYYY.MM, with an optional hour).
var dateSuffix = regexp.MustCompile(`[-_.](\d{4}([-.]\d{2}){1,3}|\d{8})$`)

// datasetOf returns the family of indices an OpenSearch index name stands
// for, as jetlog names datasets: lowercase letters, digits, '-' and '_',
// without the date a shipper appends ("logstash-2026.11.25" is
// "logstash"), other characters made '-', at most 100 characters; "" when
// nothing is left.
func datasetOf(index string) string {
	d := dateSuffix.ReplaceAllString(strings.ToLower(index), "")
	b := make([]byte, 0, len(d))
	for i := 0; i < len(d) && len(b) < 100; i++ {
		c := d[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-':
		default:
			c = '-'
		}
		if c == '-' && len(b) > 0 && b[len(b)-1] == '-' {
			continue
		}
		b = append(b, c)
	}
	return strings.Trim(string(b), "-_")
}
