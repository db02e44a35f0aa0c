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

// jsonValue is one JSON value of a request body.
type jsonValue struct {
	raw  []byte
	line int   // the line it starts on, from 1, in a stream of values; 0 in an array
	err  error // why raw, the rest of its line, is not a JSON value
}

// jsonValues splits a body into JSON values: the elements of an array, or
// a stream of values (one object, NDJSON, Fluent Bit's json_lines and
// json_stream). Each value's raw bytes are kept. In a stream, a value that
// does not parse makes the rest of its line one bad value (err set) and
// reading goes on at the next line, so one malformed line of NDJSON costs
// that line only. An error refuses the body as a whole: empty, an array
// that does not parse, or too many values.
func jsonValues(body []byte, maxRecords int) ([]jsonValue, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body")
	}
	tooMany := fmt.Errorf("more than %d records in one request (set gateway.limits.max_batch_records)", maxRecords)
	if trimmed[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		var arr []json.RawMessage
		if err := dec.Decode(&arr); err != nil {
			return nil, fmt.Errorf("malformed JSON array: %w", err)
		}
		if dec.More() {
			return nil, errors.New("trailing data after the JSON array")
		}
		if len(arr) > maxRecords {
			return nil, tooMany
		}
		out := make([]jsonValue, len(arr))
		for i, raw := range arr {
			out[i] = jsonValue{raw: raw}
		}
		return out, nil
	}
	var out []jsonValue
	lines := lineCounter{body: body}
	for base := 0; base < len(body); {
		dec := json.NewDecoder(bytes.NewReader(body[base:]))
		end := 0 // where the last good value ended, from base
		var err error
		for {
			var raw json.RawMessage
			if err = dec.Decode(&raw); err != nil {
				break
			}
			if len(out) == maxRecords {
				return nil, tooMany
			}
			out = append(out, jsonValue{raw: raw, line: lines.at(base + end + spaces(body[base+end:]))})
			end = int(dec.InputOffset())
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if len(out) == maxRecords {
			return nil, tooMany
		}
		start := base + end + spaces(body[base+end:])
		stop := len(body)
		if nl := bytes.IndexByte(body[start:], '\n'); nl >= 0 {
			stop = start + nl
		}
		out = append(out, jsonValue{raw: bytes.TrimRight(body[start:stop], " \t\r"), line: lines.at(start), err: err})
		base = stop
	}
	return out, nil
}

// spaces counts the JSON whitespace that b starts with.
func spaces(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == ' ' || b[n] == '\t' || b[n] == '\n' || b[n] == '\r') {
		n++
	}
	return n
}

// lineCounter tells the line of byte offsets asked in increasing order, in
// one pass over the body.
type lineCounter struct {
	body []byte
	off  int // counted up to here
	line int // lines before off, less one
}

func (c *lineCounter) at(off int) int {
	c.line += bytes.Count(c.body[c.off:off], []byte{'\n'})
	c.off = off
	return c.line + 1
}
