package otlp

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Path is where OTLP/HTTP senders post logs by default.
const Path = "/v1/logs"

// Protocol is the protocol label of this receiver's metrics.
const Protocol = "otlp"

// Content types of the two OTLP/HTTP encodings.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// Sink takes decoded records and reports, per record, whether they were
// stored; *ingest.Publisher is the real one.
type Sink interface {
	// Publish returns one result per record: nil (stored), an
	// *ingest.RejectError (refused for good) or a retryable error.
	Publish(ctx context.Context, protocol string, recs []ingest.Record) []error
	// Limits are the bounds the sink enforces on records and requests.
	Limits() ingest.Limits
}

var _ Sink = (*ingest.Publisher)(nil)

// How long a refused sender is asked to wait, by cause.
const (
	// retryBusy: the in-flight bytes drain within seconds.
	retryBusy = 2 * time.Second
	// retryStreamFull: the raw stream drains only as the pipeline catches up.
	retryStreamFull = 30 * time.Second
	// retryUnavailable: JetStream is restarting or electing a leader.
	retryUnavailable = 5 * time.Second
)

// google.rpc.Code values of the Status bodies. OTLP clients act on the HTTP
// status, not on these; they are for people reading the error.
const (
	codeInvalidArgument   = 3
	codePermissionDenied  = 7
	codeResourceExhausted = 8
	codeUnimplemented     = 12
	codeUnavailable       = 14
	codeUnauthenticated   = 16
)

// maxListed is how many rejected records a partial-success message names.
const maxListed = 5

type handler struct {
	sink  Sink
	log   *slog.Logger
	m     *ingest.Metrics
	quiet logLimiter
}

var _ http.Handler = (*handler)(nil)

// NewHandler returns the OTLP/HTTP logs receiver. Mount it at Path. m may be
// nil (no metrics); log nil means slog.Default().
func NewHandler(sink Sink, log *slog.Logger, m *ingest.Metrics) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return &handler{sink: sink, log: log.With("protocol", Protocol), m: m, quiet: logLimiter{every: 10 * time.Second}}
}

// encoding is a request's (and so its answer's) encoding.
type encoding int

const (
	encProtobuf encoding = iota
	encJSON
)

// requestEncoding reads Content-Type; ok is false for anything else than
// the two OTLP encodings. The answer to such a request uses JSON when the
// type mentions it, else binary protobuf.
func requestEncoding(ct string) (enc encoding, ok bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(ct))
	}
	switch mt {
	case ContentTypeProtobuf:
		return encProtobuf, true
	case ContentTypeJSON:
		return encJSON, true
	}
	if strings.Contains(mt, "json") {
		return encJSON, false
	}
	return encProtobuf, false
}

// errTooLarge is a body over max_request_bytes, answered 413.
type errTooLarge struct{ limit int }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("request body over %s, before or after gunzip (set gateway.limits.max_request_bytes, or lower the sender's batch size)", sizeText(e.limit))
}

// errUnsupported is a Content-Type or Content-Encoding the receiver does not
// read, answered 415.
type errUnsupported struct{ msg string }

func (e *errUnsupported) Error() string { return e.msg }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	enc, known := requestEncoding(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, enc, http.StatusMethodNotAllowed, codeUnimplemented,
			fmt.Errorf("method %s not allowed: OTLP/HTTP logs are sent with POST %s", r.Method, Path))
		return
	}
	if !known {
		h.refuse(w, r, enc, http.StatusUnsupportedMediaType, codeInvalidArgument,
			&errUnsupported{fmt.Sprintf("unsupported Content-Type %q: send %s or %s", r.Header.Get("Content-Type"), ContentTypeProtobuf, ContentTypeJSON)})
		return
	}
	lim := h.sink.Limits()
	body, err := readBody(r, lim.MaxRequestBytes)
	if err != nil {
		h.badRequest(w, r, enc, err)
		return
	}
	var b *batch
	if enc == encJSON {
		b, err = decodeJSON(body, lim)
	} else {
		b, err = decodeProtobuf(body, lim)
	}
	if err != nil {
		h.badRequest(w, r, enc, err)
		return
	}
	if len(b.recs) == 0 {
		h.count("ok")
		h.write(w, enc, http.StatusOK, &collogspb.ExportLogsServiceResponse{})
		return
	}
	ingest.KeyRequest(b.recs, r.Header.Get(ingest.IdempotencyKeyHeader))
	who := auth.FromContext(r.Context())
	res, forbidden := who.Publish(b.recs, func(recs []ingest.Record) []error { return h.sink.Publish(r.Context(), Protocol, recs) })
	if forbidden > 0 {
		if h.m != nil {
			h.m.AuthFailures.WithLabelValues(Protocol, ingest.ReasonForbiddenSource).Inc()
		}
		h.quiet.log(h.log, slog.LevelWarn, "forbidden", "log records refused: services their credential may not write",
			"remote", r.RemoteAddr, "credential", who.Name(), "records", len(res), "refused", forbidden)
	}
	if forbidden == len(res) {
		h.count("denied")
		h.write(w, enc, http.StatusForbidden, &statuspb.Status{Code: codePermissionDenied, Message: rejectMessage(b, res, forbidden)})
		return
	}
	h.answer(w, r, enc, b, res)
}

// Refuse answers a request refused by authentication (401) or by its
// credential's sources (403) with a google.rpc.Status in the request's
// encoding. A 401 needs its WWW-Authenticate header set by the caller.
func Refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	enc, _ := requestEncoding(r.Header.Get("Content-Type"))
	code := int32(codePermissionDenied)
	if status == http.StatusUnauthorized {
		code = codeUnauthenticated
	}
	_ = write(w, enc, status, &statuspb.Status{Code: code, Message: err.Error()})
}

// answer turns the per-record results into the OTLP answer.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, enc encoding, b *batch, res []error) {
	sum := ingest.Summarize(res)
	if sum.Retry != nil {
		code, after := retryAnswer(sum.Retry)
		h.count("retry")
		h.quiet.log(h.log, slog.LevelDebug, "retry", "request refused, the sender will retry",
			"remote", r.RemoteAddr, "records", len(res), "stored", sum.Accepted, "err", sum.Retry)
		w.Header().Set("Retry-After", strconv.Itoa(int(after.Seconds())))
		st := &statuspb.Status{
			Code: codeFor(code),
			Message: fmt.Sprintf("%v; %d of %d log records stored: resend the whole request after %v (stored records are de-duplicated)",
				sum.Retry, sum.Accepted, len(res), after),
		}
		if d, err := anypb.New(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)}); err == nil {
			st.Details = append(st.Details, d)
		}
		h.write(w, enc, code, st)
		return
	}
	refused := sum.Rejected + sum.Forbidden
	if refused == 0 {
		h.count("ok")
		h.write(w, enc, http.StatusOK, &collogspb.ExportLogsServiceResponse{})
		return
	}
	msg := rejectMessage(b, res, refused)
	h.count("partial")
	if sum.Rejected > 0 {
		h.quiet.log(h.log, slog.LevelWarn, "partial", "log records refused for good",
			"remote", r.RemoteAddr, "user_agent", r.UserAgent(), "records", len(res), "rejected", sum.Rejected, "reason", msg)
	}
	h.write(w, enc, http.StatusOK, &collogspb.ExportLogsServiceResponse{
		PartialSuccess: &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: int64(refused), ErrorMessage: msg},
	})
}

// rejectMessage names the first records refused for good (rejected, or of
// a forbidden source) and why.
func rejectMessage(b *batch, res []error, rejected int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d log records rejected: ", rejected, len(res))
	listed := 0
	for i, err := range res {
		if !ingest.IsReject(err) && !ingest.IsForbidden(err) {
			continue
		}
		if listed == maxListed {
			fmt.Fprintf(&sb, "; and %d more", rejected-listed)
			break
		}
		if listed > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "%s: %v", b.pos[i], err)
		listed++
	}
	return sb.String()
}

// retryAnswer maps a retryable refusal onto its HTTP status and wait.
func retryAnswer(err error) (int, time.Duration) {
	switch {
	case errors.Is(err, ingest.ErrBusy):
		return http.StatusTooManyRequests, retryBusy
	case errors.Is(err, ingest.ErrStreamFull):
		return http.StatusTooManyRequests, retryStreamFull
	default: // ingest.ErrUnavailable, or a sink's unclassified error: resending is safe
		return http.StatusServiceUnavailable, retryUnavailable
	}
}

func codeFor(status int) int32 {
	switch status {
	case http.StatusTooManyRequests, http.StatusRequestEntityTooLarge:
		return codeResourceExhausted
	case http.StatusServiceUnavailable:
		return codeUnavailable
	}
	return codeInvalidArgument
}

// badRequest answers a request that cannot be read or decoded: 413 for
// size, 415 for an encoding it cannot read, else 400.
func (h *handler) badRequest(w http.ResponseWriter, r *http.Request, enc encoding, err error) {
	var tl *errTooLarge
	var un *errUnsupported
	switch {
	case errors.As(err, &tl):
		h.refuse(w, r, enc, http.StatusRequestEntityTooLarge, codeResourceExhausted, err)
	case errors.As(err, &un):
		h.refuse(w, r, enc, http.StatusUnsupportedMediaType, codeInvalidArgument, err)
	default:
		h.refuse(w, r, enc, http.StatusBadRequest, codeInvalidArgument, err)
	}
}

// refuse answers a request refused as a whole, for good.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, enc encoding, status int, code int32, err error) {
	h.count("bad_request")
	h.quiet.log(h.log, slog.LevelWarn, "bad_request", "request refused",
		"remote", r.RemoteAddr, "user_agent", r.UserAgent(), "status", status, "err", err)
	st := &statuspb.Status{Code: code, Message: err.Error()}
	var bd *badDataError
	if errors.As(err, &bd) && bd.field != "" {
		detail := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: bd.field, Description: bd.desc}}}
		if d, err := anypb.New(detail); err == nil {
			st.Details = append(st.Details, d)
		}
	}
	h.write(w, enc, status, st)
}

func (h *handler) count(result string) {
	if h.m != nil {
		h.m.Requests.WithLabelValues(Protocol, result).Inc()
	}
}

// write answers with msg in the request's encoding.
func (h *handler) write(w http.ResponseWriter, enc encoding, status int, msg proto.Message) {
	if err := write(w, enc, status, msg); err != nil { // not reached: the messages are built here, with valid strings
		h.log.Error("cannot encode an OTLP answer", "err", err)
	}
}

// write answers with msg in enc, or with an empty 500 when msg cannot be
// encoded.
func write(w http.ResponseWriter, enc encoding, status int, msg proto.Message) error {
	var data []byte
	var err error
	ct := ContentTypeProtobuf
	if enc == encJSON {
		ct = ContentTypeJSON
		data, err = protojson.Marshal(msg)
	} else {
		data, err = proto.Marshal(msg)
	}
	if err != nil {
		status = http.StatusInternalServerError
		data = nil
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
	return err
}

// readBody reads the request body, gunzipping it when Content-Encoding says
// so, and refuses more than limit bytes before or after decompression: a
// gzip bomb costs at most limit bytes of memory.
func readBody(r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, &errTooLarge{limit: limit}
	}
	var src io.Reader = http.MaxBytesReader(nil, r.Body, int64(limit))
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, bodyError(err, limit, "bad gzip body")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, &errUnsupported{fmt.Sprintf("unsupported Content-Encoding %q: send gzip or none", r.Header.Get("Content-Encoding"))}
	}
	body, err := io.ReadAll(io.LimitReader(src, int64(limit)+1))
	if err != nil {
		return nil, bodyError(err, limit, "cannot read the body")
	}
	if len(body) > limit {
		return nil, &errTooLarge{limit: limit}
	}
	return body, nil
}

func bodyError(err error, limit int, what string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &errTooLarge{limit: limit}
	}
	return badData("", "%s: %v", what, err)
}

func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// logLimiter logs a kind of line at most once per period, saying how many
// it left out, so a sender that keeps sending bad data or a long outage
// does not flood the log.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	count map[string]int
}

func (l *logLimiter) log(log *slog.Logger, level slog.Level, kind, msg string, args ...any) {
	if !log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if l.last == nil {
		l.last, l.count = map[string]time.Time{}, map[string]int{}
	}
	if now.Sub(l.last[kind]) < l.every {
		l.count[kind]++
		l.mu.Unlock()
		return
	}
	left := l.count[kind]
	l.last[kind], l.count[kind] = now, 0
	l.mu.Unlock()
	if left > 0 {
		args = append(args, "similar_lines_left_out", left)
	}
	log.Log(context.Background(), level, msg, args...)
}
