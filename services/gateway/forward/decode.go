package forward

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// defaultSource is the source of records whose tag is empty; it is also
// what ingest.Subject makes of a tag without usable tokens.
const defaultSource = "default"

// requestError refuses a whole message: the connection is closed without
// an answer and the message counts as bad_request. Reason is for the
// operator's log.
type requestError struct{ reason string }

func (e *requestError) Error() string { return e.reason }

func badRequestf(format string, args ...any) error {
	return &requestError{reason: fmt.Sprintf(format, args...)}
}

// message is one decoded forward-protocol message.
type message struct {
	mode      string // message, forward, packed_forward or compressed_packed_forward
	tag       string
	chunk     string // the option's chunk id: answer {"ack": chunk} once stored
	heartbeat bool   // a nil value: nothing to do
	records   []ingest.Record
	entries   int    // entries seen, malformed ones included
	malformed int    // entries that could not be decoded into (time, map)
	firstWhy  string // why the first malformed entry was
}

// skip counts an entry that cannot be decoded.
func (m *message) skip(format string, args ...any) {
	m.malformed++
	if m.malformed == 1 {
		m.firstWhy = fmt.Sprintf(format, args...)
	}
}

// DecodeEntries decodes a msgpack stream of [time, record] entries, the
// payload of PackedForward and the body Fluent Bit's http output sends with
// its default msgpack format, into records of source tag. Entries that
// cannot be decoded are left out: skipped counts them and why tells the
// first reason. An error refuses the whole stream (too many entries).
func DecodeEntries(tag string, stream []byte, lim ingest.Limits) (recs []ingest.Record, skipped int, why string, err error) {
	m := &message{tag: tag}
	if err := m.stream(stream, lim); err != nil {
		return nil, 0, "", err
	}
	return m.records, m.malformed, m.firstWhy, nil
}

// decodeMessage decodes one top-level msgpack value of the forward
// protocol into records. Errors are *requestError: the message as a whole
// is refused. An entry that cannot be decoded is counted in the message
// (malformed, firstWhy) and left out of its records.
func decodeMessage(b []byte, lim ingest.Limits) (*message, error) {
	r := &reader{b: b}
	h, err := r.header()
	if err != nil {
		return nil, badRequestf("undecodable message: %v", err)
	}
	if h.kind == kNil {
		return &message{heartbeat: true}, nil
	}
	if h.kind != kArray {
		return nil, badRequestf("message is a msgpack %s, not an array [tag, ...]", h.kind)
	}
	if h.n < 2 || h.n > 4 {
		return nil, badRequestf("message is an array of %d elements; the forward protocol sends 2 to 4", h.n)
	}
	th, err := r.header()
	if err != nil {
		return nil, badRequestf("undecodable tag: %v", err)
	}
	if th.kind != kStr && th.kind != kBin {
		return nil, badRequestf("tag is a msgpack %s, not a string", th.kind)
	}
	m := &message{tag: string(r.payload(th))}
	if m.tag == "" {
		m.tag = defaultSource
	}
	eh, err := r.peek()
	if err != nil {
		return nil, badRequestf("undecodable message after the tag: %v", err)
	}
	switch {
	case h.n <= 3 && eh.kind == kArray:
		err = m.forward(r, h.n == 3, lim)
	case h.n <= 3 && (eh.kind == kStr || eh.kind == kBin):
		err = m.packed(r, h.n == 3, lim)
	case h.n >= 3:
		err = m.single(r, h.n == 4, lim)
	default:
		err = badRequestf("message [tag, %s] is none of the forward protocol's modes", eh.kind)
	}
	if err != nil {
		return nil, err
	}
	// A client resends a chunk under the same id (Fluent Bit derives it from
	// the chunk's bytes, Fluentd from its buffer chunk): it names the
	// request, so records without a time of their own keep their ids.
	// Without one the publisher names the request by its records' bytes.
	ingest.KeyRequest(m.records, m.chunk)
	return m, nil
}

// single decodes Message mode: [tag, time, record(, option)].
func (m *message) single(r *reader, hasOption bool, lim ingest.Limits) error {
	m.mode, m.entries = "message", 1
	tm, terr := r.value(lim.MaxDepth)
	rec, rerr := r.value(lim.MaxDepth)
	if err := firstStructural(terr, rerr); err != nil && err != errTooDeep {
		return badRequestf("undecodable message: %v", err)
	}
	if hasOption {
		if _, err := m.option(r, lim); err != nil {
			return err
		}
	}
	switch {
	case terr != nil:
		m.skip("time nests deeper than %d levels", lim.MaxDepth)
	case rerr != nil:
		m.skip("record nests deeper than %d levels (set gateway.limits.max_depth)", lim.MaxDepth)
	default:
		m.add(tm, rec)
	}
	return nil
}

// forward decodes Forward mode: [tag, [[time, record], ...](, option)].
func (m *message) forward(r *reader, hasOption bool, lim ingest.Limits) error {
	m.mode = "forward"
	h, err := r.header()
	if err != nil {
		return badRequestf("undecodable entries: %v", err)
	}
	if h.n > uint64(lim.MaxBatchRecords) {
		return tooMany(h.n, lim)
	}
	for i := range int(h.n) {
		entry, err := r.value(lim.MaxDepth + 1)
		switch {
		case err == errTooDeep:
			m.entries++
			m.skip("entry %d nests deeper than %d levels (set gateway.limits.max_depth)", i, lim.MaxDepth)
		case err != nil:
			return badRequestf("undecodable entry %d: %v", i, err)
		default:
			m.entry(entry, lim)
		}
	}
	if hasOption {
		if _, err := m.option(r, lim); err != nil {
			return err
		}
	}
	return nil
}

// packed decodes PackedForward and CompressedPackedForward modes:
// [tag, <msgpack stream of [time, record]>(, option)].
func (m *message) packed(r *reader, hasOption bool, lim ingest.Limits) error {
	m.mode = "packed_forward"
	h, err := r.header()
	if err != nil {
		return badRequestf("undecodable entries: %v", err)
	}
	stream := r.payload(h)
	compressed := ""
	if hasOption {
		if compressed, err = m.option(r, lim); err != nil {
			return err
		}
	}
	var corrupt error // the stream inflated only partly: decode what did
	switch compressed {
	case "", "text":
	case "gzip", "zstd":
		m.mode = "compressed_packed_forward"
		if len(stream) > 0 {
			if stream, corrupt, err = decompress(compressed, stream, lim.MaxRequestBytes); err != nil {
				return err
			}
		}
	default:
		return badRequestf("unsupported compression %q (the gateway reads gzip, zstd or none)", compressed)
	}
	defer func() {
		if corrupt != nil {
			m.entries++
			m.skip("%s stream is corrupt after %d entries: %v", compressed, m.entries-1, corrupt)
		}
	}()
	return m.stream(stream, lim)
}

// stream decodes a concatenated msgpack stream of [time, record] entries.
func (m *message) stream(stream []byte, lim ingest.Limits) error {
	for off := 0; off < len(stream); {
		if m.entries >= lim.MaxBatchRecords {
			return badRequestf("more than %d entries in one message, limit %d (set gateway.limits.max_batch_records)", lim.MaxBatchRecords, lim.MaxBatchRecords)
		}
		n, err := scanValue(stream[off:], lim.MaxDepth+1)
		switch err {
		case nil:
			m.entry(stream[off:off+n], lim)
		case errTooDeep:
			m.entries++
			m.skip("entry %d nests deeper than %d levels (set gateway.limits.max_depth)", m.entries-1, lim.MaxDepth)
		default:
			// The rest of the stream cannot be cut into entries.
			m.entries++
			m.skip("entries from byte %d of the packed stream are not valid msgpack: %v", off, err)
			return nil
		}
		off += n
	}
	return nil
}

// entry decodes one [time, record] entry of Forward or PackedForward mode.
// Its depth was checked by the caller.
func (m *message) entry(raw []byte, lim ingest.Limits) {
	m.entries++
	r := &reader{b: raw}
	h, err := r.header()
	if err != nil || h.kind != kArray || h.n < 2 {
		what := h.kind.String()
		if h.kind == kArray {
			what = fmt.Sprintf("array of %d", h.n)
		}
		m.skip("entry %d is a msgpack %s, not [time, record]", m.entries-1, what)
		return
	}
	tm, terr := r.value(lim.MaxDepth + 1)
	rec, rerr := r.value(lim.MaxDepth + 1)
	if err := firstStructural(terr, rerr); err != nil {
		m.skip("entry %d: %v", m.entries-1, err)
		return
	}
	m.add(tm, rec)
}

// add decodes a time and a record and appends the record.
func (m *message) add(tm, rec []byte) {
	t, err := decodeTime(tm, true)
	if err != nil {
		m.skip("entry %d: %v", m.entries-1, err)
		return
	}
	r := &reader{b: rec}
	h, err := r.header()
	if err != nil {
		m.skip("entry %d: record: %v", m.entries-1, err)
		return
	}
	if h.kind != kMap {
		m.skip("entry %d: record is a msgpack %s, not a map", m.entries-1, h.kind)
		return
	}
	fields, err := r.decodeMap(h, 1)
	if err != nil {
		m.skip("entry %d: record: %v", m.entries-1, err)
		return
	}
	m.records = append(m.records, ingest.Record{Source: m.tag, Time: t, Fields: fields, Raw: rec})
}

// option reads the option map: the chunk id to acknowledge and the
// compression of a packed stream ("size" is informational; Fluent Bit's
// "fluent_signal" and "metadata" are not used).
func (m *message) option(r *reader, lim ingest.Limits) (compressed string, err error) {
	raw, err := r.value(lim.MaxDepth)
	if err != nil {
		return "", badRequestf("option: %v", err)
	}
	v, _, err := decodeValue(raw)
	if err != nil {
		return "", badRequestf("option: %v", err)
	}
	if v == nil {
		return "", nil
	}
	opt, ok := v.(map[string]any)
	if !ok {
		return "", badRequestf("option is a %T, not a map", v)
	}
	switch c := opt["chunk"].(type) {
	case nil:
	case string:
		m.chunk = c
	default:
		return "", badRequestf("option chunk is a %T, not a string", c)
	}
	switch c := opt["compressed"].(type) {
	case nil:
	case string:
		compressed = c
	default:
		return "", badRequestf("option compressed is a %T, not a string", c)
	}
	return compressed, nil
}

// firstStructural returns the first error that is not errTooDeep: with
// errTooDeep the value was still skipped correctly.
func firstStructural(errs ...error) error {
	for _, err := range errs {
		if err != nil && err != errTooDeep {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeTime reads an event time: an integer of seconds, Fluentd's
// EventTime, a float of seconds, nil or 0 ("none given": the record's own
// time fields or the receive time decide), or — Forward protocol v1.5 —
// [time, metadata], of which the metadata is not kept.
func decodeTime(b []byte, allowPair bool) (time.Time, error) {
	r := &reader{b: b}
	h, err := r.header()
	if err != nil {
		return time.Time{}, fmt.Errorf("time: %v", err)
	}
	switch h.kind {
	case kNil:
		return time.Time{}, nil
	case kInt:
		if h.i == 0 {
			return time.Time{}, nil
		}
		return time.Unix(h.i, 0).UTC(), nil
	case kUint:
		if h.u > math.MaxInt64 {
			return time.Time{}, fmt.Errorf("time %d is out of range", h.u)
		}
		if h.u == 0 {
			return time.Time{}, nil
		}
		return time.Unix(int64(h.u), 0).UTC(), nil
	case kFloat:
		if math.IsNaN(h.f) || math.IsInf(h.f, 0) || math.Abs(h.f) > 1<<62 {
			return time.Time{}, fmt.Errorf("time %v is not a number of seconds", h.f)
		}
		if h.f == 0 {
			return time.Time{}, nil
		}
		sec, frac := math.Modf(h.f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	case kExt:
		if t, ok := extTime(h.ext, r.payload(h)); ok {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("time is an ext of type %d and %d bytes; EventTime is type 0 with 8", h.ext, h.n)
	case kArray:
		if allowPair && h.n >= 1 {
			n, err := scanValue(r.b[r.off:], 1)
			if err != nil {
				return time.Time{}, fmt.Errorf("time is [%v, ...]: not a time", err)
			}
			return decodeTime(r.b[r.off:r.off+n], false)
		}
	}
	return time.Time{}, fmt.Errorf("time is a msgpack %s; the forward protocol sends an integer or EventTime", h.kind)
}

// tooMany refuses a message with more entries than a batch may hold.
func tooMany(n uint64, lim ingest.Limits) error {
	return badRequestf("%d entries in one message, limit %d (set gateway.limits.max_batch_records)", n, lim.MaxBatchRecords)
}

// decompress inflates a CompressedPackedForward stream (gzip, possibly
// several members, or zstd), refusing more than limit bytes of output: err
// is a *requestError then. A corrupt stream returns what inflated before
// the damage, and the damage as corrupt. It holds at most about limit
// bytes more than the compressed input.
func decompress(algo string, p []byte, limit int) (out []byte, corrupt, err error) {
	var src io.Reader
	switch algo {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, err, nil
		}
		defer zr.Close()
		src = zr
	default:
		zr, err := zstd.NewReader(bytes.NewReader(p), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1))
		if err != nil {
			return nil, err, nil
		}
		defer zr.Close()
		src = zr
	}
	out = make([]byte, 0, min(limit+1, max(4*len(p), 64<<10)))
	for idle := 0; ; {
		if len(out) == cap(out) {
			if cap(out) > limit {
				return nil, nil, badRequestf("%s stream inflates to more than %s (set gateway.limits.max_request_bytes)", algo, ingest.FormatBytes(limit))
			}
			out = append(make([]byte, 0, min(2*cap(out), limit+1)), out...)
		}
		n, rerr := src.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if errors.Is(rerr, io.EOF) {
			return out, nil, nil
		}
		if rerr != nil {
			return out, rerr, nil
		}
		if n > 0 {
			idle = 0
		} else if idle++; idle > 100 {
			return out, io.ErrNoProgress, nil
		}
	}
}
