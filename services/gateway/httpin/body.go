package httpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Sink takes decoded records; *ingest.Publisher is the real one.
type Sink interface {
	Publish(ctx context.Context, protocol string, recs []ingest.Record) []error
	Limits() ingest.Limits
}

// errTooLarge is the body-size refusal.
type errTooLarge struct{ limit int }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("request body larger than %d bytes (set gateway.limits.max_request_bytes)", e.limit)
}

// readBody reads the request body, gunzipping it when Content-Encoding says
// so, and refuses more than limit bytes after decompression: a small gzip
// bomb costs at most limit bytes of memory.
func readBody(r *http.Request, limit int) ([]byte, error) {
	var src io.Reader = http.MaxBytesReader(nil, r.Body, int64(limit)+1)
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("bad gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q (use gzip or none)", r.Header.Get("Content-Encoding"))
	}
	body, err := io.ReadAll(io.LimitReader(src, int64(limit)+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(body) > limit {
		return nil, &errTooLarge{limit: limit}
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return body, nil
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// retryStatus maps a retryable refusal to its HTTP status and sets
// Retry-After: 429 when the gateway or the stream is full, 503 when
// JetStream is unavailable.
func retryStatus(w http.ResponseWriter, err error) int {
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	if errors.Is(err, ingest.ErrUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// retryAfter is what the gateway asks a refused sender to wait.
const retryAfter = 5 * time.Second

// badRequest answers 400 (or 413 for size) and counts it.
func badRequest(w http.ResponseWriter, m *ingest.Metrics, protocol string, err error, log *slog.Logger) {
	code := http.StatusBadRequest
	var tl *errTooLarge
	if errors.As(err, &tl) {
		code = http.StatusRequestEntityTooLarge
	}
	m.Requests.WithLabelValues(protocol, "bad_request").Inc()
	log.Debug("bad request", "protocol", protocol, "err", err)
	writeJSON(w, code, map[string]any{"error": err.Error()})
}

// jsonObjects splits a body into JSON objects: an array of objects, one
// object, or a stream of objects (NDJSON, Fluent Bit's json_lines and
// json_stream). Each object's raw bytes are kept.
func jsonObjects(body []byte, maxRecords int) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []json.RawMessage
	if body[0] == '[' {
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("malformed JSON array: %w", err)
		}
		if dec.More() {
			return nil, errors.New("trailing data after the JSON array")
		}
	} else {
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("malformed JSON after %d objects: %w", len(out), err)
			}
			out = append(out, raw)
			if len(out) > maxRecords {
				break
			}
		}
	}
	if len(out) > maxRecords {
		return nil, fmt.Errorf("more than %d records in one request (set gateway.limits.max_batch_records)", maxRecords)
	}
	return out, nil
}
