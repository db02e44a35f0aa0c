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

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
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
	// fields, when set, are raw already decoded (and checked against the
	// depth limit) by the NDJSON fast path.
	fields map[string]any
}

// jsonValues splits a body into JSON values: the elements of an array, or
// a stream of values (one object, NDJSON, Fluent Bit's json_lines and
// json_stream). Each value's raw bytes are kept. In a stream, values may
// span lines until one does not parse; from there on each line is read on
// its own, a value that does not parse making the rest of its line one bad
// value (err set), so one malformed line of NDJSON costs that line only
// and reading stays linear in the body whatever follows. An error refuses
// the body as a whole: empty, an array that does not parse, or too many
// values.
func jsonValues(body []byte, lim ingest.Limits) ([]jsonValue, error) {
	maxRecords := lim.MaxBatchRecords
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body")
	}
	if trimmed[0] != '[' {
		if out, ok := ndjson(body, lim); ok {
			return out, nil
		}
	}
	return splitValues(body, trimmed, maxRecords)
}

// splitValues is jsonValues without the NDJSON fast path.
func splitValues(body, trimmed []byte, maxRecords int) ([]jsonValue, error) {
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
	sp := &splitter{body: body, lines: lineCounter{body: body}, max: maxRecords}
	pos, err := sp.values(0, len(body)) // where the first value that does not parse starts
	for err == nil && pos < len(body) {
		stop := len(body)
		if nl := bytes.IndexByte(body[pos:], '\n'); nl >= 0 {
			stop = pos + nl
		}
		var bad int
		if bad, err = sp.values(pos, stop); err == nil && bad < stop {
			err = sp.add(jsonValue{raw: bytes.TrimRight(body[bad:stop], " \t\r"), line: sp.lines.at(bad), err: sp.why})
		}
		pos = stop + spaces(body[stop:])
	}
	if err != nil {
		return nil, tooMany
	}
	return sp.out, nil
}

// ndjson is the fast path for what most shippers send, one JSON value per
// line: each line is decoded once, straight into its record's fields. It
// gives up (ok false) as soon as a line is not a whole JSON value alone (a
// value spanning lines, a malformed line) or the body holds too many, and
// jsonValues then reads the body the general way, which reports those.
func ndjson(body []byte, lim ingest.Limits) (out []jsonValue, ok bool) {
	line := 0
	for len(body) > 0 {
		line++
		end := bytes.IndexByte(body, '\n')
		if end < 0 {
			end = len(body)
		}
		raw := bytes.Trim(body[:end], " \t\r\n")
		body = body[min(end+1, len(body)):]
		if len(raw) == 0 {
			continue
		}
		if len(out) >= lim.MaxBatchRecords {
			return nil, false
		}
		if hasControl(raw) {
			return nil, false // raw tabs and returns are JSON only between tokens: let the general reading judge
		}
		v := jsonValue{raw: raw, line: line}
		if jsonscan.Depth(raw, lim.MaxDepth) == nil {
			fields, err := event.DecodeFields(raw)
			switch {
			case err == nil:
				v.fields = fields
			case !errors.Is(err, event.ErrNotObject):
				return nil, false
			}
		}
		out = append(out, v)
	}
	return out, len(out) > 0
}

// hasControl reports whether b holds a byte below 0x20.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// splitter collects the values of a stream.
type splitter struct {
	body  []byte
	out   []jsonValue
	lines lineCounter
	max   int
	why   error // why the last value that did not parse failed
}

// errTooManyValues stops a splitter at its limit.
var errTooManyValues = errors.New("too many values")

// values decodes the values of body[from:to] and returns where the first
// that does not parse starts (to when every one did), leaving why in
// s.why; err is errTooManyValues past the limit.
func (s *splitter) values(from, to int) (bad int, err error) {
	dec := json.NewDecoder(bytes.NewReader(s.body[from:to]))
	end := from // where the last good value ended
	for {
		var raw json.RawMessage
		derr := dec.Decode(&raw)
		if errors.Is(derr, io.EOF) {
			return to, nil
		}
		start := end + spaces(s.body[end:to])
		if derr != nil {
			s.why = derr
			return start, nil
		}
		if err := s.add(jsonValue{raw: raw, line: s.lines.at(start)}); err != nil {
			return 0, err
		}
		end = from + int(dec.InputOffset())
	}
}

// add appends a value, or refuses it past the limit.
func (s *splitter) add(v jsonValue) error {
	if len(s.out) >= s.max {
		return errTooManyValues
	}
	s.out = append(s.out, v)
	return nil
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
