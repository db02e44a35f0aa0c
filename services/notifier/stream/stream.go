// Package stream serves alert events to live subscribers over HTTP
// Server-Sent Events (GET /v1/alerts/stream): every event of the ALERTS
// stream from where the client asks, filtered by label matchers, each
// with its ALERTS stream sequence as the SSE id, so a client that
// reconnects with Last-Event-ID resumes after the last event it saw,
// without gaps or repeats. Comment lines are sent as heartbeats, so
// proxies keep an idle stream open.
//
// Query parameters:
//
//	filter=<matcher>   label matchers as Alertmanager writes them, repeatable
//	                   (filter=severity="critical"&filter=team=~"db|web");
//	                   every one must match
//	state=<state>      firing, resolved, pending or acknowledged, repeatable;
//	                   default all
//	from=<seq>|now|start  where to begin without Last-Event-ID: after
//	                   sequence seq, new events only (default), or the oldest
//	                   kept
//	last_event_id=<seq>   the same as the Last-Event-ID header, for clients
//	                   that cannot set headers
package stream

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/match"
)

// Path is where the stream is served.
const Path = "/v1/alerts/stream"

// Options configure the handler.
type Options struct {
	JS jetstream.JetStream
	// Heartbeat is the interval of comment lines on an idle stream.
	Heartbeat time.Duration
	// MaxClients bounds concurrent subscribers; more are answered 503.
	MaxClients int
	Logger     *slog.Logger
	Registry   prometheus.Registerer
}

// Handler serves the alert stream.
type Handler struct {
	o       Options
	clients atomic.Int64
	gauge   prometheus.Gauge
}

// New returns the handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &Handler{o: o, gauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jetlog_notifier_stream_clients",
		Help: "Clients subscribed to the alert stream (Server-Sent Events)."})}
	if o.Registry != nil {
		_ = o.Registry.Register(h.gauge)
	}
	return h
}

type request struct {
	matchers match.Matchers
	subjects []string
	deliver  jetstream.DeliverPolicy
	startSeq uint64
}

func parse(r *http.Request) (*request, error) {
	q := r.URL.Query()
	ms, err := match.Parse(q["filter"])
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	req := &request{matchers: ms, deliver: jetstream.DeliverNewPolicy}
	for _, s := range q["state"] {
		switch alert.State(s) {
		case alert.StateFiring, alert.StateResolved, alert.StatePending, alert.StateAcknowledged:
			req.subjects = append(req.subjects, alert.SubjectPrefix+s+".>")
		default:
			return nil, fmt.Errorf("state %q: use firing, resolved, pending or acknowledged", s)
		}
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	from := q.Get("from")
	if last != "" {
		from = last
	}
	switch from {
	case "", "now":
	case "start":
		req.deliver = jetstream.DeliverAllPolicy
	default:
		seq, err := strconv.ParseUint(from, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("Last-Event-ID / from %q: want an ALERTS stream sequence, now or start", from)
		}
		req.deliver, req.startSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	return req, nil
}

// ServeHTTP streams events until the client goes away.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	req, err := parse(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if n := h.clients.Add(1); h.o.MaxClients > 0 && n > int64(h.o.MaxClients) {
		h.clients.Add(-1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("too many subscribers (notifier.http.max_clients = %d)", h.o.MaxClients), http.StatusServiceUnavailable)
		return
	}
	h.gauge.Inc()
	defer func() { h.clients.Add(-1); h.gauge.Dec() }()
	ctx := r.Context()
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: req.subjects, DeliverPolicy: req.deliver, OptStartSeq: req.startSeq}
	cons, err := h.o.JS.OrderedConsumer(ctx, topology.AlertsStream, cc)
	if err != nil {
		http.Error(w, "cannot read the alert stream: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	msgs := make(chan jetstream.Msg, 256)
	sub, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	})
	if err != nil {
		http.Error(w, "cannot read the alert stream: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer sub.Stop()
	flusher, _ := w.(http.Flusher)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": jetlog alert stream\nretry: 2000\n\n")
	flush(flusher)
	tick := time.NewTicker(h.o.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(h.o.Heartbeat))
			if _, err := fmt.Fprintf(w, ": heartbeat %s\n\n", time.Now().UTC().Format(time.RFC3339)); err != nil {
				return
			}
			flush(flusher)
		case m := <-msgs:
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			var a alert.Alert
			if json.Unmarshal(m.Data(), &a) != nil || !req.matchers.Matches(a.Labels) {
				continue
			}
			_ = rc.SetWriteDeadline(time.Now().Add(max(h.o.Heartbeat, 10*time.Second)))
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", md.Sequence.Stream, compact(m.Data())); err != nil {
				return
			}
			if len(msgs) == 0 {
				flush(flusher)
			}
		}
	}
}

func flush(f http.Flusher) {
	if f != nil {
		f.Flush()
	}
}

// compact makes the event one line (SSE data lines end at a newline).
func compact(b []byte) []byte {
	for _, c := range b {
		if c == '\n' || c == '\r' {
			var out []byte
			buf := json.RawMessage(b)
			if m, err := json.Marshal(buf); err == nil {
				out = m
			}
			return out
		}
	}
	return b
}
