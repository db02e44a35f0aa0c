package notifybench

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// idLabel is the label that numbers the alerts of a run.
const idLabel = "bench_id"

var idKey = []byte(`"` + idLabel + `":"`)

// parseID finds the first bench_id label value in a JSON body (the
// webhook payload of either system, or an alert event).
func parseID(body []byte) (int, bool) {
	i := bytes.Index(body, idKey)
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(idKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	id, err := strconv.Atoi(string(rest[:j]))
	return id, err == nil
}

// arrivals records, for each alert id, when its first notification
// arrived (on the run's clock), and counts repeats.
type arrivals struct {
	clock *clock
	at    []atomic.Int64 // 0: not arrived
	got   atomic.Int64
	dups  atomic.Int64
	stray atomic.Int64 // a request without a known id
	conns atomic.Int64 // connections the receiver accepted
}

func newArrivals(c *clock, n int) *arrivals { return &arrivals{clock: c, at: make([]atomic.Int64, n)} }

func (a *arrivals) mark(body []byte, t time.Duration) {
	id, ok := parseID(body)
	if !ok || id < 0 || id >= len(a.at) {
		a.stray.Add(1)
		return
	}
	if a.at[id].CompareAndSwap(0, int64(t)) {
		a.got.Add(1)
		return
	}
	a.dups.Add(1)
}

// wait waits until the alerts [from, to) have all arrived, or nothing new
// arrived for stall; it returns how many are missing.
func (a *arrivals) wait(ctx context.Context, from, to int, stall time.Duration) int {
	missing := func() int {
		n := 0
		for i := from; i < to; i++ {
			if a.at[i].Load() == 0 {
				n++
			}
		}
		return n
	}
	last, lastChange := a.got.Load(), time.Now()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if m := missing(); m == 0 {
			return 0
		}
		if g := a.got.Load(); g != last {
			last, lastChange = g, time.Now()
		} else if time.Since(lastChange) > stall {
			return missing()
		}
		select {
		case <-ctx.Done():
			return missing()
		case <-t.C:
		}
	}
}

// last is the latest arrival among [from, to).
func (a *arrivals) last(from, to int) time.Duration {
	var m int64
	for i := from; i < to; i++ {
		m = max(m, a.at[i].Load())
	}
	return time.Duration(m)
}

// receiver is the webhook receiver both systems deliver to. Its handler
// notes the arrival before reading the body, so what it measures is when
// the request reached it, not how fast it parses.
type receiver struct {
	srv *http.Server
	ln  net.Listener

	mu  sync.Mutex
	cur *arrivals
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{ln: ln}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s != http.StateNew {
				return
			}
			r.mu.Lock()
			if r.cur != nil {
				r.cur.conns.Add(1)
			}
			r.mu.Unlock()
		}}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	var t time.Duration
	if cur != nil {
		t = cur.clock.now()
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if cur != nil {
		cur.mark(body, t)
	}
	w.WriteHeader(http.StatusOK)
}

// record makes the receiver note arrivals in a.
func (r *receiver) record(a *arrivals) {
	r.mu.Lock()
	r.cur = a
	r.mu.Unlock()
}

// URL is the receiver's base URL.
func (r *receiver) URL() string { return "http://" + r.ln.Addr().String() }

func (r *receiver) close() { _ = r.srv.Close() }

// clock reads durations since the start of a run from the monotonic clock.
type clock struct{ base time.Time }

func newClock() *clock { return &clock{base: time.Now()} }

func (c *clock) now() time.Duration { return time.Since(c.base) }
