package forward

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

func TestConfigValidate(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	cases := []struct {
		name string
		mut  func(*Config)
		errs []string
	}{
		{name: "defaults", mut: func(*Config) {}},
		{name: "tls", mut: func(c *Config) { c.TLS = TLS{CertFile: certFile, KeyFile: keyFile} }},
		{name: "everything wrong", mut: func(c *Config) {
			c.Listen = "24224"
			c.MaxConnections = 0
			c.IdleTimeout = time.Millisecond
			c.AckTimeout = 0
			c.TLS = TLS{CertFile: "/nonexistent/cert.pem"}
		}, errs: []string{
			`listen: "24224" is not host:port`, "max_connections: 0: must be >= 1", "idle_timeout: 1ms is below 1s",
			"ack_timeout: 0s is below 100ms", "tls.cert_file: cert_file and key_file must be given together",
			"tls.cert_file: stat /nonexistent/cert.pem",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mut(&c)
			err := c.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("got %v, want config.ErrInvalid", err)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("missing %q in:\n%v", want, err)
				}
			}
		})
	}
}

func newSink() *recordingSink { return &recordingSink{lim: ingest.DefaultLimits()} }

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	t.Run("stop without start", func(t *testing.T) {
		srv, err := New(DefaultConfig(), newSink(), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if srv.Addr() != nil {
			t.Fatal("an address before Start")
		}
		if err := srv.Start(); err == nil {
			t.Fatal("Start after Stop succeeded")
		}
	})
	t.Run("start twice, stop twice", func(t *testing.T) {
		srv := startServer(t, newSink(), nil, nil, nil)
		if err := srv.Start(); err == nil {
			t.Fatal("second Start succeeded")
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("address in use", func(t *testing.T) {
		a := startServer(t, newSink(), nil, nil, nil)
		b, err := New(Config{Listen: a.Addr().String(), MaxConnections: 1, MaxBufferBytes: 128 << 20, IdleTimeout: time.Second, AckTimeout: time.Second}, newSink(), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err == nil || !strings.Contains(err.Error(), "listen on") {
			t.Fatalf("got %v, want a listen error", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		if _, err := New(Config{}, newSink(), nil, nil, nil); !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
		bad := newSink()
		bad.lim.MaxDepth = 0
		if _, err := New(DefaultConfig(), bad, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "max_depth") {
			t.Fatalf("got %v", err)
		}
	})
}

// Stop lets a chunk being published finish and get its ack, and closes
// idle connections at once.
func TestGracefulStop(t *testing.T) {
	sink := newSink()
	entered, release := make(chan struct{}), make(chan struct{})
	sink.fn = func(_ context.Context, recs []ingest.Record) []error {
		close(entered)
		<-release
		return make([]error, len(recs))
	}
	srv := startServer(t, sink, nil, nil, nil)
	idle := dial(t, srv.Addr())
	busy := dial(t, srv.Addr())
	busy.send(mp(t, []any{"stop.test", 1764064800, map[string]any{"a": 1}, map[string]any{"chunk": "c-stop"}}))
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(context.Background()) }()
	idle.expectClosed()
	close(release)
	busy.expectAck("c-stop")
	busy.expectClosed()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// When Stop's context ends first, the chunk in flight is not acknowledged
// and its connection is closed.
func TestHardStop(t *testing.T) {
	sink := newSink()
	entered := make(chan struct{})
	sink.fn = func(ctx context.Context, recs []ingest.Record) []error {
		close(entered)
		<-ctx.Done()
		res := make([]error, len(recs))
		for i := range res {
			res[i] = ingest.ErrUnavailable
		}
		return res
	}
	srv := startServer(t, sink, nil, nil, nil)
	c := dial(t, srv.Addr())
	c.send(mp(t, []any{"stop.test", 1764064800, map[string]any{"a": 1}, map[string]any{"chunk": "c-hard"}}))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want the deadline", err)
	}
	c.expectClosed()
}

// A message half received when Stop is called is still read, stored and
// acknowledged.
func TestStopFinishesPartialMessage(t *testing.T) {
	sink := newSink()
	srv := startServer(t, sink, nil, nil, nil)
	c := dial(t, srv.Addr())
	first := mp(t, []any{"stop.partial", 1764064800, map[string]any{"a": 1}, map[string]any{"chunk": "c-first"}})
	msg := mp(t, []any{"stop.partial", 1764064800, map[string]any{"a": 2}, map[string]any{"chunk": "c-partial"}})
	// One write, one read on loopback: once the first message is
	// acknowledged, the server holds the start of the second.
	c.send(append(first, msg[:10]...))
	c.expectAck("c-first")
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(context.Background()) }()
	testkit.Poll(t, 5*time.Second, func() (bool, string) { return srv.stopping.Load(), "stopping" })
	c.send(msg[10:])
	c.expectAck("c-partial")
	c.expectClosed()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := len(sink.records()); n != 2 {
		t.Fatalf("%d records published, want 2", n)
	}
}

func TestMaxConnections(t *testing.T) {
	m := ingest.NewMetrics(prometheus.NewRegistry())
	logs := &logBuffer{}
	srv := startServer(t, newSink(), m, slog.New(slog.NewTextHandler(logs, nil)), func(c *Config) { c.MaxConnections = 2 })
	a, b := dial(t, srv.Addr()), dial(t, srv.Addr())
	testkit.Poll(t, 5*time.Second, func() (bool, string) {
		return testutil.ToFloat64(m.Connections.WithLabelValues(Protocol)) == 2, "waiting for 2 connections"
	})
	dial(t, srv.Addr()).expectClosed()
	logs.waitLog(t, "too many connections", "limit=2")
	// The two admitted ones work, and a slot frees when one leaves.
	a.send(mp(t, []any{"x", 1764064800, map[string]any{}, map[string]any{"chunk": "a"}}))
	a.expectAck("a")
	_ = b.nc.Close()
	testkit.Poll(t, 5*time.Second, func() (bool, string) {
		return testutil.ToFloat64(m.Connections.WithLabelValues(Protocol)) == 1, "waiting for 1 connection"
	})
	c := dial(t, srv.Addr())
	c.send(mp(t, []any{"x", 1764064800, map[string]any{}, map[string]any{"chunk": "c"}}))
	c.expectAck("c")
}

func TestIdleTimeout(t *testing.T) {
	srv := startServer(t, newSink(), nil, nil, func(c *Config) { c.IdleTimeout = time.Second })
	c := dial(t, srv.Addr())
	c.send(mp(t, []any{"x", 1764064800, map[string]any{}, map[string]any{"chunk": "a"}}))
	c.expectAck("a")
	c.expectClosed() // after a second of silence
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(time.Hour, 2)
	for i, want := range []bool{true, true, false, false} {
		if ok, _ := l.allow(); ok != want {
			t.Fatalf("line %d: allow = %v, want %v", i, ok, want)
		}
	}
	l.start = l.start.Add(-time.Hour) // the next period
	if ok, n := l.allow(); !ok || n != 2 {
		t.Fatalf("allow = %v, %d; want true and 2 held back", ok, n)
	}
}

// The YAML keys are the documented ones, durations read as Go durations,
// and an unknown key is an error.
func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	in := []byte("listen: 0.0.0.0:24224\nshared_key: k\nshared_key_file: k.txt\nself_hostname: gw\ntls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, client_auth: require}\nmax_connections: 10\nmax_buffer_bytes: 67108864\nidle_timeout: 90s\nack_timeout: 1m\n")
	if _, err := config.DecodeStrict("forward.yaml", in, &c); err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "0.0.0.0:24224", SharedKey: "k", SharedKeyFile: "k.txt", SelfHostname: "gw", TLS: TLS{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem", ClientAuth: "require"},
		MaxConnections: 10, MaxBufferBytes: 64 << 20, IdleTimeout: 90 * time.Second, AckTimeout: time.Minute}
	if c != want {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
	if _, err := config.DecodeStrict("forward.yaml", []byte("listn: x\n"), &c); err == nil {
		t.Fatal("an unknown key was accepted")
	}
}
