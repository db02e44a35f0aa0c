package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// Protocol is the protocol label of the gateway's metrics and dead letters
// for what arrives over the forward protocol.
const Protocol = "forward"

// Timings that are not configuration.
const (
	// handshakeTimeout bounds the TLS handshake and the wait for PING, so a
	// client that connects and says nothing holds a slot briefly.
	handshakeTimeout = 30 * time.Second
	// logEvery is the least time between two log lines of a repeated
	// server-wide condition (retry refusals, the connection limit).
	logEvery = 10 * time.Second
)

// Sink takes decoded records; *ingest.Publisher is the real one. Publish
// returns one result per record: nil (stored), an *ingest.RejectError
// (refused for good, already dead-lettered) or a retryable error.
type Sink interface {
	Publish(ctx context.Context, protocol string, recs []ingest.Record) []error
	Limits() ingest.Limits
}

var _ Sink = (*ingest.Publisher)(nil)

// errStopping ends a connection's read loop when the server stops.
var errStopping = errors.New("server stopping")

// Server is a Fluentd forward protocol server: it accepts connections,
// decodes what they send, hands the records to a Sink and acknowledges a
// chunk only once every record of it is stored or refused for good.
type Server struct {
	cfg    Config
	budget *semaphore.Weighted // MaxBufferBytes, shared by every connection
	sink   Sink
	lim    ingest.Limits
	m      *ingest.Metrics
	log    *slog.Logger
	tls    *tls.Config
	host   string
	key    string      // the shared key; "" means no handshake
	auth   *auth.Store // credentials; nil or disabled means none

	// ctx is what publishing runs under; it is cancelled only when Stop's
	// deadline passes, so a message being published when Stop is called
	// still gets its ack.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	started  bool
	stopped  bool
	stopping atomic.Bool
	quit     chan struct{} // closed when Stop begins
	done     chan struct{} // closed when every goroutine has ended
	stopOnce sync.Once
	wg       sync.WaitGroup

	// Server-wide limits on repeated log lines: refused chunks (JetStream
	// down), refused connections, protocol violations, and clients refused
	// by authentication or their credential's sources.
	retryLog, limitLog, badLog, authLog logLimiter
}

// New returns a server for cfg that hands records to sink. m receives the
// connection and request metrics (nil: a private registry); log nil means
// slog.Default(). creds, when enabled, authenticates clients by the
// handshake's user name and password or their client certificate, and
// holds each message's tag to the credential's sources (nil: anyone may
// write any tag). The server does not listen until Start.
func New(cfg Config, sink Sink, m *ingest.Metrics, log *slog.Logger, creds *auth.Store) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if sink == nil {
		return nil, errors.New("forward: no sink")
	}
	lim := sink.Limits()
	if err := lim.Validate(); err != nil {
		return nil, fmt.Errorf("forward: sink limits: %w", err)
	}
	if need := 4 * int64(lim.MaxRequestBytes+readSlack); cfg.MaxBufferBytes < need {
		return nil, fmt.Errorf("forward: %w: max_buffer_bytes %d must hold four messages of max_request_bytes (%d)", config.ErrInvalid, cfg.MaxBufferBytes, need)
	}
	tc, err := cfg.TLS.ServerConfig()
	if err != nil {
		return nil, fmt.Errorf("forward: tls: %w", err)
	}
	key := cfg.SharedKey
	if cfg.SharedKeyFile != "" {
		b, err := os.ReadFile(cfg.SharedKeyFile)
		if err != nil {
			return nil, fmt.Errorf("forward: shared_key_file: %w", err)
		}
		if key = strings.TrimSpace(string(b)); key == "" {
			return nil, fmt.Errorf("forward: %w: shared_key_file %s is empty", config.ErrInvalid, cfg.SharedKeyFile)
		}
	}
	if m == nil {
		m = ingest.NewMetrics(prometheus.NewRegistry())
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.SharedKey != "" {
		log.Warn("forward: shared_key is written in the configuration; prefer shared_key_file (a mounted secret)")
	}
	host := cfg.SelfHostname
	if host == "" {
		if host, err = os.Hostname(); err != nil || host == "" {
			host = "jetlog-gateway"
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, budget: semaphore.NewWeighted(cfg.MaxBufferBytes), sink: sink, lim: lim, m: m, log: log.With("component", "forward"), tls: tc, host: host,
		key: key, auth: creds, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{},
		quit: make(chan struct{}), done: make(chan struct{}),
		retryLog: newLogLimiter(logEvery, 1), limitLog: newLogLimiter(logEvery, 1), badLog: newLogLimiter(logEvery, 20), authLog: newLogLimiter(logEvery, 20),
	}, nil
}

// Start listens and accepts connections in the background. It returns once
// the listener is bound (see Addr), or the error binding it.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return errors.New("forward: start after stop")
	case s.started:
		return errors.New("forward: already started")
	}
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}}
	ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("forward: listen on %s: %w (set gateway.forward.listen)", s.cfg.Listen, err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln, s.started = ln, true
	s.wg.Add(1)
	go s.accept(ln)
	s.log.Info("forward: listening", "addr", ln.Addr().String(), "tls", s.tls != nil, "client_auth", s.cfg.TLS.ClientAuth,
		"shared_key", s.key != "", "credentials", s.auth.Enabled(), "auth_required", s.auth.Required())
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stop stops accepting, closes idle connections, and lets each connection
// finish the message it is receiving or publishing (and send its ack)
// before closing it. When ctx ends first, publishing in flight is
// abandoned — those chunks are not acknowledged, so clients resend them —
// and every connection is closed; Stop then returns ctx's error. Stop is
// idempotent and safe without Start; every call waits for the end.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.stopping.Store(true)
		ln := s.ln
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		close(s.quit)
		if ln != nil {
			_ = ln.Close()
		}
		for _, c := range conns {
			c.interrupt()
		}
		go func() {
			s.wg.Wait()
			s.cancel()
			close(s.done)
		}()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	<-s.done
	return fmt.Errorf("forward: stop: %w: connections closed with messages in flight (not acknowledged: clients resend them)", ctx.Err())
}

// accept runs until the listener is closed.
func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// net/http does, rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if ok, n := s.limitLog.allow(); ok {
				s.log.Warn("forward: accept failed; retrying", "err", err, "retry_in", delay, "suppressed", n)
			}
			select {
			case <-time.After(delay):
			case <-s.quit:
				return
			}
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			_ = nc.Close()
			if ok, n := s.limitLog.allow(); ok {
				s.log.Warn("forward: connection refused: too many connections", "remote", nc.RemoteAddr().String(),
					"limit", s.cfg.MaxConnections, "fix", "set gateway.forward.max_connections or add gateways", "suppressed", n)
			}
			continue
		}
		c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String(), timeout: s.cfg.IdleTimeout}
		c.fr = newFramer(nc, s.lim.MaxRequestBytes, s.lim.MaxDepth, c.beforeRead)
		c.fr.reserve, c.fr.release = c.reserve, c.release
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// conn is one client connection.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	fr     *framer
	// who is the credential the client authenticated as (its certificate
	// or the handshake's user name); nil is anonymous.
	who *auth.Principal

	// mu orders arming the read deadline against Stop's interrupt, so a
	// connection never goes back to a long wait after Stop woke it.
	mu sync.Mutex

	// Used by the connection's goroutine only.
	timeout     time.Duration // read deadline of the next read
	held        int64         // bytes of the server's budget this connection holds
	interrupted bool          // Stop woke the connection in the middle of a message
	warned      bool          // an undecodable entry was logged
}

// interrupt wakes a connection blocked reading; see beforeRead.
func (c *conn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.nc.SetReadDeadline(time.Now())
}

// beforeRead arms the read deadline. Once the server stops, a connection
// between messages reads no more; one in the middle of a message reads on
// until it has the message.
func (c *conn) beforeRead(partial bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s.stopping.Load() && !partial {
		return errStopping
	}
	return c.nc.SetReadDeadline(time.Now().Add(c.timeout))
}

// resume reports whether a read error was Stop's interrupt of a message
// being received, which then is read to its end (once).
func (c *conn) resume(err error) bool {
	var ne net.Error
	if !c.s.stopping.Load() || c.interrupted || !errors.As(err, &ne) || !ne.Timeout() || c.fr.end == c.fr.start {
		return false
	}
	c.interrupted = true
	return true
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	gauge := c.s.m.Connections.WithLabelValues(Protocol)
	gauge.Inc()
	defer func() {
		_ = c.nc.Close()
		c.release(c.held)
		gauge.Dec()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.s.ctx, min(handshakeTimeout, c.s.cfg.IdleTimeout))
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.s.log.Debug("forward: TLS handshake failed", "remote", c.remote, "err", err)
			return
		}
		cs := tc.ConnectionState()
		c.who = c.s.auth.Certificate(&cs)
	}
	switch {
	case c.s.key != "":
		if !c.handshake() {
			return
		}
	case c.who == nil && c.s.auth.Required():
		// Without a handshake the protocol carries no credential: only a
		// client certificate could have named one.
		c.denied("forward: connection refused: authentication required, and the client's certificate names no credential (without shared_key the protocol carries no user name)",
			auth.ReasonMissing, "", nil)
		return
	}
	for {
		msg, err := c.fr.next()
		if err != nil {
			if c.resume(err) {
				continue
			}
			c.readFailed(err)
			return
		}
		if !c.handle(msg) {
			return
		}
	}
}

// readFailed logs why reading ended: quietly for a client that went away
// or idled, at Warn (and as bad_request) for one that broke the protocol.
func (c *conn) readFailed(err error) {
	var tooLarge *tooLargeError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, errInvalid), errors.Is(err, errIncomplete):
		c.refuse(err.Error(), 0)
	case errors.Is(err, errTooDeep):
		c.refuse(fmt.Sprintf("message nests deeper than %d levels, more than any record may (gateway.limits.max_depth is %d)", c.fr.depth, c.s.lim.MaxDepth), 0)
	case errors.Is(err, errBusy):
		c.s.m.Requests.WithLabelValues(Protocol, "retry").Inc()
		if ok, n := c.s.retryLog.allow(); ok {
			c.s.log.Warn("forward: no room to receive a message (max_buffer_bytes); closing the connection so the client resends",
				"remote", c.remote, "max_buffer_bytes", c.s.cfg.MaxBufferBytes, "suppressed", n)
		}
	case errors.As(err, &ne) && ne.Timeout():
		c.s.log.Debug("forward: closing an idle connection", "remote", c.remote, "idle_timeout", c.timeout)
	case errors.Is(err, io.EOF), errors.Is(err, errStopping), errors.Is(err, net.ErrClosed):
	default:
		c.s.log.Debug("forward: connection ended", "remote", c.remote, "err", err)
	}
}

// refuse counts and logs a message refused as a whole (the caller closes
// the connection).
func (c *conn) refuse(reason string, bytes int) {
	c.s.m.Requests.WithLabelValues(Protocol, "bad_request").Inc()
	if ok, n := c.s.badLog.allow(); ok {
		args := []any{"remote", c.remote, "reason", reason, "suppressed", n}
		if bytes > 0 {
			args = append(args, "bytes", bytes)
		}
		c.s.log.Warn("forward: refusing a message; closing the connection", args...)
	}
}

// handle decodes, publishes and answers one message. It reports whether
// the connection stays open.
func (c *conn) handle(msg []byte) bool {
	// The message, its copy and its decoded values live until the answer.
	hold := 3 * int64(len(msg))
	if err := c.reserve(hold); err != nil {
		c.s.m.Requests.WithLabelValues(Protocol, "retry").Inc()
		if ok, n := c.s.retryLog.allow(); ok {
			c.s.log.Warn("forward: gateway busy decoding other messages; closing the connection without an ack so the client resends",
				"remote", c.remote, "bytes", len(msg), "max_buffer_bytes", c.s.cfg.MaxBufferBytes, "suppressed", n)
		}
		return false
	}
	defer c.release(hold)
	m, err := decodeMessage(msg, c.s.lim)
	if err != nil {
		c.refuse(err.Error(), len(msg))
		return false
	}
	if m.heartbeat {
		return true
	}
	if !c.who.Allows(m.tag) {
		// The protocol cannot refuse a chunk for good: an unacknowledged
		// chunk and a closed connection make the client log an error and
		// retry on its schedule, with nothing stored.
		c.denied("forward: message of a tag the credential may not write; closing the connection without an ack",
			ingest.ReasonForbiddenSource, c.who.Name(), c.who.Check(m.tag), "tag", m.tag)
		return false
	}
	var res []error
	if len(m.records) > 0 {
		ctx, cancel := context.WithTimeout(c.s.ctx, c.s.cfg.AckTimeout)
		res = c.s.sink.Publish(ctx, Protocol, m.records)
		cancel()
	}
	sum := ingest.Summarize(res)
	if sum.Retry != nil {
		// Some records were not stored. The protocol cannot say which, so
		// the chunk is not acknowledged and the connection is closed: the
		// client resends it at once, and what was stored already is
		// de-duplicated by its Nats-Msg-Id.
		c.s.m.Requests.WithLabelValues(Protocol, "retry").Inc()
		if ok, n := c.s.retryLog.allow(); ok {
			c.s.log.Warn("forward: chunk not stored; closing the connection without an ack so the client resends it",
				"remote", c.remote, "tag", m.tag, "records", len(m.records), "stored", sum.Accepted, "err", sum.Retry, "suppressed", n)
		}
		return false
	}
	if m.malformed > 0 && !c.warned {
		c.warned = true
		c.s.log.Warn("forward: skipping entries that cannot be decoded (logged once per connection)", "remote", c.remote,
			"tag", m.tag, "mode", m.mode, "skipped", m.malformed, "entries", m.entries, "reason", m.firstWhy)
	}
	result := "ok"
	if sum.Rejected > 0 || m.malformed > 0 {
		result = "partial"
	}
	c.s.m.Requests.WithLabelValues(Protocol, result).Inc()
	if m.chunk == "" {
		return true
	}
	ack := appendStr(appendStr(appendMap(nil, 1), "ack"), m.chunk)
	return c.write(ack)
}

// denied counts and logs a client refused by authentication, or a message
// of a tag its credential may not write (the caller closes the
// connection). credential names the credential concerned, if any; args
// add to the log line.
func (c *conn) denied(msg, reason, credential string, err error, args ...any) {
	c.s.m.AuthFailures.WithLabelValues(Protocol, reason).Inc()
	c.s.m.Requests.WithLabelValues(Protocol, "denied").Inc()
	if ok, n := c.s.authLog.allow(); ok {
		c.s.log.Warn(msg, append([]any{"remote", c.remote, "reason", reason, "credential", credential, "err", err, "suppressed", n}, args...)...)
	}
}

// errBusy: the server-wide buffer budget had no room in time.
var errBusy = errors.New("forward: no room in max_buffer_bytes")

// reserve takes n bytes of the server's buffer budget, waiting up to the
// ack timeout.
func (c *conn) reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.cfg.AckTimeout)
	defer cancel()
	if err := c.s.budget.Acquire(ctx, n); err != nil {
		return errBusy
	}
	c.held += n
	return nil
}

// release gives n bytes back to the budget.
func (c *conn) release(n int64) {
	if n <= 0 {
		return
	}
	c.held -= n
	c.s.budget.Release(n)
}

// write sends an answer within the ack timeout.
func (c *conn) write(b []byte) bool {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.AckTimeout)); err != nil {
		return false
	}
	if _, err := c.nc.Write(b); err != nil {
		c.s.log.Debug("forward: cannot answer the client", "remote", c.remote, "err", err)
		return false
	}
	return true
}

// logLimiter lets at most burst lines of a repeated log line through per
// period and counts what it held back.
type logLimiter struct {
	every, burst int64 // period in nanoseconds; lines per period
	mu           sync.Mutex
	start        time.Time // of the current period
	n            int64     // lines let through in it
	suppressed   int
}

func newLogLimiter(every time.Duration, burst int) logLimiter {
	return logLimiter{every: int64(every), burst: int64(burst)}
}

// allow reports whether to log now, and how many lines were held back
// since the last one let through.
func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.start.IsZero() || now.Sub(l.start) >= time.Duration(l.every) {
		l.start, l.n = now, 0
	}
	if l.n >= l.burst {
		l.suppressed++
		return false, 0
	}
	l.n++
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
