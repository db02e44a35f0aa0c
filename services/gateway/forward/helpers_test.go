package forward

import (
	"context"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/auth/authtest"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/gateway/ingest/ingesttest"
)

// env is a forward server in front of the real publisher and a private
// in-process JetStream.
type env struct {
	n    *testkit.NATS
	pub  *ingest.Publisher
	m    *ingest.Metrics
	srv  *Server
	raw  *testkit.Recorder
	logs *logBuffer
}

// newEnv starts JetStream, the publisher and the server; cfg and pcfg, when
// not nil, adjust the defaults.
func newEnv(t *testing.T, cfg func(*Config), pcfg func(*ingest.PublisherConfig)) *env {
	t.Helper()
	return newAuthEnv(t, cfg, pcfg, nil)
}

// newAuthEnv is newEnv with the server authenticating against creds.
func newAuthEnv(t *testing.T, cfg func(*Config), pcfg func(*ingest.PublisherConfig), creds *auth.Store) *env {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ie := ingesttest.Start(t, log, pcfg)
	e := &env{n: ie.NATS, pub: ie.Publisher, m: ie.Metrics, logs: logs, raw: testkit.Record(t, ie.NATS.JS, topology.RawStream)}
	e.srv = startAuthServer(t, ie.Publisher, ie.Metrics, log, cfg, creds)
	return e
}

// startServer starts a server on a free loopback port and stops it, and
// checks it left no goroutine behind, when the test ends.
func startServer(t *testing.T, sink Sink, m *ingest.Metrics, log *slog.Logger, cfg func(*Config)) *Server {
	t.Helper()
	return startAuthServer(t, sink, m, log, cfg, nil)
}

// startAuthServer is startServer with the server authenticating against
// creds.
func startAuthServer(t *testing.T, sink Sink, m *ingest.Metrics, log *slog.Logger, cfg func(*Config), creds *auth.Store) *Server {
	t.Helper()
	c := DefaultConfig()
	c.Listen = "127.0.0.1:0"
	if cfg != nil {
		cfg(&c)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := New(c, sink, m, log, creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		noLeaks(t)
	})
	return srv
}

// noLeaks fails the test if a goroutine of this package's server is still
// running (goleak is not a dependency of the gateway module, so this
// checks the server's own goroutines only).
func noLeaks(t testing.TB) {
	t.Helper()
	var stacks string
	testkit.Poll(t, 5*time.Second, func() (bool, string) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "forward.(*Server)") || strings.Contains(g, "forward.(*conn)") {
				return false, "leaked goroutine:\n" + g
			}
		}
		return true, ""
	})
}

// logBuffer collects log output for assertions.
type logBuffer struct{ authtest.Log }

// waitLog waits for a log line containing every one of parts.
func (l *logBuffer) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		for _, line := range strings.Split(l.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no log line with %q in:\n%s", parts, l.String())
	})
}

// requests returns jetlog_gateway_requests_total{protocol="forward",result}.
func (e *env) requests(result string) float64 {
	return testutil.ToFloat64(e.m.Requests.WithLabelValues(Protocol, result))
}

// authFailures returns jetlog_gateway_auth_failures_total{protocol="forward",reason}.
func (e *env) authFailures(reason string) float64 {
	return testutil.ToFloat64(e.m.AuthFailures.WithLabelValues(Protocol, reason))
}

// events waits for at least n events on logs.raw.<tag> and returns them.
func (e *env) events(t *testing.T, tag string, n int) []*event.Event {
	t.Helper()
	subject := topology.RawPrefix + tag
	var out []*event.Event
	testkit.Poll(t, 15*time.Second, func() (bool, string) {
		out = out[:0]
		for _, m := range e.raw.Msgs() {
			if m.Subject() != subject {
				continue
			}
			ev, err := event.Unmarshal(m.Data())
			if err != nil {
				t.Fatalf("stored event does not decode: %v", err)
			}
			out = append(out, ev)
		}
		return len(out) >= n, fmt.Sprintf("%d of %d events on %s", len(out), n, subject)
	})
	return out
}

// client is a raw forward-protocol client.
type client struct {
	t   *testing.T
	nc  net.Conn
	dec *msgpack.Decoder
}

func dial(t *testing.T, addr net.Addr) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return newClient(t, nc)
}

func newClient(t *testing.T, nc net.Conn) *client {
	return &client{t: t, nc: nc, dec: msgpack.NewDecoder(nc)}
}

func (c *client) send(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read decodes the next value the server sends.
func (c *client) read(timeout time.Duration) (any, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	return c.dec.DecodeInterface()
}

// expectAck reads {"ack": chunk}.
func (c *client) expectAck(chunk string) {
	c.t.Helper()
	v, err := c.read(30 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for ack %q: %v", chunk, err)
	}
	m, ok := v.(map[string]any)
	if !ok || m["ack"] != chunk {
		c.t.Fatalf("answer %#v, want {ack: %q}", v, chunk)
	}
}

// expectClosed checks the server closes the connection without sending
// anything.
func (c *client) expectClosed() {
	c.t.Helper()
	v, err := c.read(30 * time.Second)
	if err == nil {
		c.t.Fatalf("got %#v, want the connection closed", v)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the connection is still open: %v", err)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("read: %v, want EOF", err)
	}
}

// handshake answers the server's HELO with a PING for key and returns the
// PONG; HELO must not ask for user authentication.
func (c *client) handshake(key, hostname string) []any {
	c.t.Helper()
	pong, salt := c.handshakeAs(key, hostname, "", "")
	if salt != "" {
		c.t.Fatalf("HELO auth %q: user authentication asked for without credentials", salt)
	}
	return pong
}

// handshakeAs answers HELO as Fluent Bit's forward output does with
// shared_key, username and password: when HELO's "auth" holds a salt, PING
// carries the user name and hex(sha512(salt + username + password)). It
// returns the PONG and HELO's salt.
func (c *client) handshakeAs(key, hostname, user, password string) (pong []any, authSalt string) {
	c.t.Helper()
	v, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("HELO: %v", err)
	}
	helo, ok := v.([]any)
	if !ok || len(helo) != 2 || helo[0] != "HELO" {
		c.t.Fatalf("HELO: got %#v", v)
	}
	opts := helo[1].(map[string]any)
	nonce, ok := opts["nonce"].([]byte)
	if !ok || len(nonce) != 16 {
		c.t.Fatalf("HELO nonce: %#v, want 16 bytes of bin", opts["nonce"])
	}
	authSalt, ok = opts["auth"].(string)
	if !ok || opts["keepalive"] != true {
		c.t.Fatalf("HELO options: %#v", opts)
	}
	salt := "0123456789abcdef"
	userName, digest := "", ""
	if authSalt != "" {
		userName, digest = user, sha512hex(authSalt, user, password)
	}
	c.send(mp(c.t, []any{"PING", hostname, salt, sha512hex(salt, hostname, string(nonce), key), userName, digest}))
	v, err = c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("PONG: %v", err)
	}
	pong, ok = v.([]any)
	if !ok || len(pong) != 5 || pong[0] != "PONG" {
		c.t.Fatalf("PONG: got %#v", v)
	}
	if pong[1] == true {
		// The server proves it knows the key too.
		if want := sha512hex(salt, pong[3].(string), string(nonce), key); pong[4] != want {
			c.t.Fatalf("PONG digest %v, want %s", pong[4], want)
		}
	}
	return pong, authSalt
}

func sha512hex(parts ...string) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// mp encodes v with vmihailenco/msgpack.
func mp(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventTime is Fluentd's EventTime for vmihailenco/msgpack: ext type 0,
// big-endian uint32 seconds and nanoseconds.
type eventTime time.Time

func (e *eventTime) MarshalMsgpack() ([]byte, error) {
	t := time.Time(*e)
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, uint32(t.Unix()))
	binary.BigEndian.PutUint32(b[4:], uint32(t.Nanosecond()))
	return b, nil
}

func (e *eventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("EventTime of %d bytes", len(b))
	}
	*e = eventTime(time.Unix(int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:]))))
	return nil
}

func init() { msgpack.RegisterExt(0, (*eventTime)(nil)) }

func et(t time.Time) *eventTime { e := eventTime(t); return &e }

// packed concatenates the msgpack encodings of entries.
func packed(t testing.TB, entries ...any) []byte {
	t.Helper()
	var b []byte
	for _, e := range entries {
		b = append(b, mp(t, e)...)
	}
	return b
}

// recordingSink records what it is given and answers from fn (nil: all
// stored).
type recordingSink struct {
	mu   sync.Mutex
	lim  ingest.Limits
	recs []ingest.Record
	fn   func(ctx context.Context, recs []ingest.Record) []error
}

func (s *recordingSink) Limits() ingest.Limits { return s.lim }

func (s *recordingSink) Publish(ctx context.Context, _ string, recs []ingest.Record) []error {
	s.mu.Lock()
	s.recs = append(s.recs, recs...)
	fn := s.fn
	s.mu.Unlock()
	if fn != nil {
		return fn(ctx, recs)
	}
	return make([]error, len(recs))
}

func (s *recordingSink) records() []ingest.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.Record(nil), s.recs...)
}
