package forward

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/auth/authtest"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// The official Go client, acknowledging every record, from 8 goroutines:
// every record is stored exactly once with an id of its own.
func TestFluentLoggerRequestAck(t *testing.T) {
	e := newEnv(t, nil, nil)
	host, port, _ := net.SplitHostPort(e.srv.Addr().String())
	portNum, _ := strconv.Atoi(port)
	const workers, perWorker = 8, 6250
	start := time.Now().Add(-time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := fluent.New(fluent.Config{
				FluentHost: host, FluentPort: portNum, RequestAck: true, Async: false,
				SubSecondPrecision: w%2 == 0, // half send EventTime, half integer seconds
				Timeout:            5 * time.Second, WriteTimeout: 30 * time.Second, ReadTimeout: 30 * time.Second,
				MaxRetry: 3,
			})
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			for i := range perWorker {
				rec := map[string]any{"message": fmt.Sprintf("request %d of worker %d", i, w), "worker": w, "seq": i, "level": "info"}
				if err := f.Post("app.web", rec); err != nil {
					errs <- fmt.Errorf("worker %d record %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every Post returned after its ack: everything is stored already.
	if got := e.n.StreamMsgs(topology.RawStream); got != workers*perWorker {
		t.Fatalf("LOGS_RAW holds %d messages, want %d", got, workers*perWorker)
	}
	msgs := e.raw.Wait(t, workers*perWorker, time.Minute)
	ids := make(map[string]bool, len(msgs))
	seen := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		ids[m.Headers().Get(nats.MsgIdHdr)] = true
		if m.Subject() != "logs.raw.app.web" {
			t.Fatalf("subject %s", m.Subject())
		}
		ev, err := event.Unmarshal(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		seen[fmt.Sprint(ev.Attributes["worker"], "/", ev.Attributes["seq"])] = true
		if ev.Timestamp.Before(start.Truncate(time.Second)) || ev.Timestamp.After(time.Now()) {
			t.Fatalf("event %+v", ev)
		}
	}
	if len(ids) != workers*perWorker || len(seen) != workers*perWorker {
		t.Fatalf("%d distinct Nats-Msg-Id and %d distinct records in %d messages, want %d", len(ids), len(seen), len(msgs), workers*perWorker)
	}
	if got := e.requests("ok"); got != workers*perWorker {
		t.Fatalf("requests ok = %v", got)
	}
}

// Every mode and time format, built with a real msgpack library, is
// acknowledged with its chunk id and stored with its tag, time and fields.
func TestModes(t *testing.T) {
	e := newEnv(t, nil, nil)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	rec := func(i int) map[string]any {
		return map[string]any{"message": fmt.Sprintf("line %d", i), "n": i, "nested": map[string]any{"k": []any{"a", true}}}
	}
	entries := func(withTime func(int) any) []any {
		var out []any
		for i := range 3 {
			out = append(out, []any{withTime(i), rec(i)})
		}
		return out
	}
	evTime := func(i int) any { return et(t0.Add(time.Duration(i) * time.Millisecond)) }
	intTime := func(i int) any { return t0.Unix() + int64(i) }
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	zs := func(b []byte) []byte {
		zw, _ := zstd.NewWriter(nil)
		defer zw.Close()
		return zw.EncodeAll(b, nil)
	}
	evEntries := entries(evTime)
	cases := []struct {
		name  string
		msg   []any
		times func(int) time.Time
	}{
		{"packed.bin", []any{"packed.bin", packed(t, evEntries...), map[string]any{"chunk": "c-packed-bin", "size": 3}},
			func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }},
		{"packed.str", []any{"packed.str", string(packed(t, evEntries...)), map[string]any{"chunk": "c-packed-str"}},
			func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }},
		{"compressed.gzip", []any{"compressed.gzip",
			// Two gzip members, as Fluent Bit appends them.
			append(gz(packed(t, evEntries[:1]...)), gz(packed(t, evEntries[1:]...))...),
			map[string]any{"chunk": "c-gzip", "compressed": "gzip", "size": 3}},
			func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }},
		{"compressed.zstd", []any{"compressed.zstd", zs(packed(t, evEntries...)), map[string]any{"chunk": "c-zstd", "compressed": "zstd"}},
			func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }},
		{"forward.int", []any{"forward.int", entries(intTime), map[string]any{"chunk": "c-forward-int"}},
			func(i int) time.Time { return time.Unix(t0.Unix()+int64(i), 0).UTC() }},
		{"forward.v15", []any{"forward.v15", entries(func(i int) any { return []any{evTime(i), map[string]any{}} }), map[string]any{"chunk": "c-v15", "fluent_signal": 0}},
			func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, e.srv.Addr())
			c.send(mp(t, tc.msg))
			c.expectAck(tc.msg[2].(map[string]any)["chunk"].(string))
			evs := e.events(t, tc.name, 3)
			if len(evs) != 3 {
				t.Fatalf("%d events, want 3", len(evs))
			}
			for _, ev := range evs {
				var i int
				if _, err := fmt.Sscanf(ev.Body, "line %d", &i); err != nil {
					t.Fatalf("body %q", ev.Body)
				}
				if !ev.Timestamp.Equal(tc.times(i)) {
					t.Errorf("record %d: timestamp %v, want %v", i, ev.Timestamp, tc.times(i))
				}
				if ev.Source != tc.name || ev.Attributes["n"] != int64(i) || fmt.Sprint(ev.Attributes["nested"]) != "map[k:[a true]]" {
					t.Errorf("record %d: %+v", i, ev)
				}
			}
		})
	}
	t.Run("message", func(t *testing.T) {
		c := dial(t, e.srv.Addr())
		c.send(mp(t, []any{"message.float", float64(t0.Unix()) + 0.25, rec(7), map[string]any{"chunk": "c-msg"}}))
		c.expectAck("c-msg")
		c.send(mp(t, []any{"message.float", et(t0), rec(8)})) // no option: stored, not answered
		c.send([]byte{0xc0})                                  // heartbeat (msgpack nil): ignored
		c.send(mp(t, []any{"message.float", et(t0), rec(9), map[string]any{"chunk": "c-msg-2"}}))
		c.expectAck("c-msg-2")
		evs := e.events(t, "message.float", 3)
		for _, ev := range evs {
			want := t0
			if ev.Body == "line 7" {
				want = time.Unix(t0.Unix(), 250_000_000).UTC()
			}
			if !ev.Timestamp.Equal(want) {
				t.Errorf("%s: timestamp %v, want %v", ev.Body, ev.Timestamp, want)
			}
		}
	})
	t.Run("fluent bit values", func(t *testing.T) {
		// Fluent Bit sends some strings as bin; keys need not be strings.
		c := dial(t, e.srv.Addr())
		r := map[any]any{"log": []byte("from bin"), int64(42): "int key", true: "bool key", "time": et(t0)}
		c.send(mp(t, []any{"values", []any{[]any{0, r}}, map[string]any{"chunk": "c-values"}}))
		c.expectAck("c-values")
		ev := e.events(t, "values", 1)[0]
		if ev.Body != "from bin" || ev.Attributes["42"] != "int key" || ev.Attributes["true"] != "bool key" || !ev.Timestamp.Equal(t0) {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("identical records", func(t *testing.T) {
		// Three identical lines in the same second are three events; a
		// resend of the chunk adds none.
		c := dial(t, e.srv.Addr())
		line := []any{t0.Unix(), map[string]any{"message": "GET /health 200"}}
		msg := mp(t, []any{"same", []any{line, line, line}, map[string]any{"chunk": "c-same"}})
		c.send(msg)
		c.expectAck("c-same")
		c.send(msg)
		c.expectAck("c-same")
		e.events(t, "same", 3)
		testkit.Poll(t, 10*time.Second, func() (bool, string) {
			n := e.n.StreamMsgs(topology.RawStream)
			return n == uint64(len(e.raw.Msgs())), "recorder catching up"
		})
		if evs := e.events(t, "same", 3); len(evs) != 3 {
			t.Fatalf("%d events, want 3", len(evs))
		}
	})
}

// A chunk whose records JetStream does not store is not acknowledged: the
// connection is closed so the client resends, and the resend is stored
// once.
func TestNoAckWhileJetStreamDown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AckTimeout = 2 * time.Second }, func(p *ingest.PublisherConfig) { p.AckTimeout = time.Second })
	msg := mp(t, []any{"down.test", []any{
		[]any{1764064800, map[string]any{"message": "one"}},
		[]any{1764064801, map[string]any{"message": "two"}},
		[]any{1764064802, map[string]any{"message": "three"}},
	}, map[string]any{"chunk": "c-down"}})
	c := dial(t, e.srv.Addr())
	e.n.Shutdown()
	c.send(msg)
	c.expectClosed()
	if got := e.requests("retry"); got != 1 {
		t.Fatalf("requests retry = %v", got)
	}
	e.logs.waitLog(t, "chunk not stored", "down.test")

	e.n.Start()
	c = dial(t, e.srv.Addr())
	c.send(msg)
	c.expectAck("c-down")
	e.events(t, "down.test", 3)
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		n := e.n.StreamMsgs(topology.RawStream)
		return n == 3, fmt.Sprintf("LOGS_RAW holds %d messages, want 3 (a resend must be de-duplicated)", n)
	})
}

// The shared-key handshake admits a client with the key and refuses one
// without.
func TestSharedKey(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SharedKey = "s3cret"; c.SelfHostname = "gw-test" }, nil)
	t.Run("right key", func(t *testing.T) {
		c := dial(t, e.srv.Addr())
		pong := c.handshake("s3cret", "client-1")
		if pong[1] != true || pong[2] != "" || pong[3] != "gw-test" {
			t.Fatalf("PONG %#v", pong)
		}
		c.send(mp(t, []any{"auth.ok", et(time.Now()), map[string]any{"message": "hello"}, map[string]any{"chunk": "c-auth"}}))
		c.expectAck("c-auth")
		e.events(t, "auth.ok", 1)
	})
	t.Run("wrong key", func(t *testing.T) {
		c := dial(t, e.srv.Addr())
		pong := c.handshake("guess", "client-2")
		if pong[1] != false || !strings.Contains(fmt.Sprint(pong[2]), "shared_key mismatch") {
			t.Fatalf("PONG %#v", pong)
		}
		c.expectClosed()
		e.logs.waitLog(t, "handshake refused", "client-2", "shared_key mismatch")
	})
	t.Run("no handshake", func(t *testing.T) {
		c := dial(t, e.srv.Addr())
		if _, err := c.read(10 * time.Second); err != nil { // HELO
			t.Fatal(err)
		}
		c.send(mp(t, []any{"auth.skip", 1764064800, map[string]any{"message": "sneaky"}, map[string]any{"chunk": "c-skip"}}))
		v, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pong, ok := v.([]any); !ok || pong[0] != "PONG" || pong[1] != false {
			t.Fatalf("got %#v, want PONG false", v)
		}
		c.expectClosed()
	})
	// A wrong key is an authentication failure; no PING at all is a
	// protocol violation.
	if bad, denied, invalid := e.requests("bad_request"), e.requests("denied"), e.authFailures(auth.ReasonInvalid); bad != 1 || denied != 1 || invalid != 1 {
		t.Fatalf("requests bad_request = %v, denied = %v, auth failures invalid = %v; want 1 each", bad, denied, invalid)
	}
}

// A TLS client (with the shared key, as Fluent Bit's secure forward does)
// works; a plain one does not get in.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	e := newEnv(t, func(c *Config) {
		c.TLS = TLS{CertFile: certFile, KeyFile: keyFile}
		c.SharedKey = "s3cret"
	}, nil)
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.srv.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := newClient(t, nc)
	if pong := c.handshake("s3cret", "tls-client"); pong[1] != true {
		t.Fatalf("PONG %#v", pong)
	}
	c.send(mp(t, []any{"tls.ok", []any{[]any{et(time.Now()), map[string]any{"message": "secret"}}}, map[string]any{"chunk": "c-tls"}}))
	c.expectAck("c-tls")
	e.events(t, "tls.ok", 1)

	plain := dial(t, e.srv.Addr())
	plain.send(mp(t, []any{"tls.plain", 1764064800, map[string]any{"message": "x"}, map[string]any{"chunk": "c-plain"}}))
	if v, err := plain.read(10 * time.Second); err == nil {
		if m, ok := v.(map[string]any); ok && m["ack"] != nil {
			t.Fatalf("a plain-text client got an ack: %#v", v)
		}
	}
}

// selfSigned writes a certificate for localhost and 127.0.0.1 and returns
// the files and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	ca := authtest.NewCA(t)
	certFile, keyFile = ca.Server()
	return certFile, keyFile, ca.Pool
}

// nested returns a map nested depth levels deep (depth 1: a flat map).
func nested(depth int) map[string]any {
	v := map[string]any{"leaf": "x"}
	for range depth - 1 {
		v = map[string]any{"n": v}
	}
	return v
}

// One bad entry in a chunk costs only itself: the good entries around it
// are stored, the chunk is acknowledged, and the bad one is dead-lettered
// by the publisher or skipped with a logged reason.
func TestMalformedEntries(t *testing.T) {
	e := newEnv(t, nil, nil)
	dead := testkit.Record(t, e.n.JS, topology.DLQStream, "dlq.gateway")
	now := time.Now().Truncate(time.Second)
	good := func(name string, i int) []any {
		return []any{et(now), map[string]any{"message": fmt.Sprintf("%s good %d", name, i)}}
	}
	cases := []struct {
		name string
		bad  []byte // the bad entry's msgpack bytes
		// Exactly one of code (a dead letter with this reject code) and
		// reason (a logged reason for a skipped entry).
		code, reason string
	}{
		{name: "record_10MB", bad: mp(t, []any{et(now), map[string]any{"message": strings.Repeat("x", 10<<20)}}), code: ingest.ReasonTooLarge},
		{name: "invalid_utf8", bad: mp(t, []any{et(now), map[string]any{"message": "bad \xff\xfe bytes"}}), code: ingest.ReasonInvalidUTF8},
		{name: "invalid_utf8_key", bad: mp(t, []any{et(now), map[string]any{"k\xff": "v"}}), code: ingest.ReasonInvalidUTF8},
		{name: "nul_byte", bad: mp(t, []any{et(now), map[string]any{"message": "a\x00b"}}), code: ingest.ReasonNULByte},
		{name: "year_1970", bad: mp(t, []any{5, map[string]any{"message": "ancient"}}), code: ingest.ReasonBadTimestamp},
		{name: "too_many_fields", bad: mp(t, []any{et(now), func() map[string]any {
			m := map[string]any{}
			for i := range 1001 {
				m[strconv.Itoa(i)] = i
			}
			return m
		}()}), code: ingest.ReasonTooManyFields},
		{name: "nested_100", bad: mp(t, []any{et(now), nested(100)}), reason: "nests deeper than 32 levels"},
		{name: "nested_10000", bad: mp(t, []any{et(now), nested(10000)}), reason: "nests deeper than 32 levels"},
		{name: "string_time", bad: mp(t, []any{"2026-11-25T10:00:00Z", map[string]any{"message": "x"}}), reason: "time is a msgpack str"},
		{name: "ext_time", bad: append([]byte{0x92, 0xd6, 0x05, 1, 2, 3, 4}, mp(t, map[string]any{"message": "x"})...), reason: "time is an ext of type 5"},
		{name: "non_map_record", bad: mp(t, []any{et(now), "just text"}), reason: "record is a msgpack str, not a map"},
		{name: "array_record", bad: mp(t, []any{et(now), []any{1, 2}}), reason: "record is a msgpack array, not a map"},
		{name: "nil_record", bad: mp(t, []any{et(now), nil}), reason: "record is a msgpack nil, not a map"},
		{name: "entry_not_array", bad: mp(t, "oops"), reason: "entry 1 is a msgpack str, not [time, record]"},
		{name: "short_entry", bad: mp(t, []any{et(now)}), reason: "entry 1 is a msgpack array of 1, not [time, record]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tag := "bad." + tc.name
			// PackedForward, so even a record nested 10,000 deep is only
			// an entry: the framer never looks inside the packed stream.
			stream := append(append(packed(t, good(tc.name, 1)), tc.bad...), packed(t, good(tc.name, 2))...)
			partial := e.requests("partial")
			c := dial(t, e.srv.Addr())
			c.send(mp(t, []any{tag, stream, map[string]any{"chunk": "c-" + tc.name}}))
			c.expectAck("c-" + tc.name)
			evs := e.events(t, tag, 2)
			bodies := map[string]bool{}
			for _, ev := range evs {
				bodies[ev.Body] = true
			}
			if len(evs) != 2 || !bodies[tc.name+" good 1"] || !bodies[tc.name+" good 2"] {
				t.Fatalf("stored %v, want the two good records", bodies)
			}
			if got := e.requests("partial"); got != partial+1 {
				t.Fatalf("requests partial = %v, want %v", got, partial+1)
			}
			if tc.code != "" {
				testkit.Poll(t, 10*time.Second, func() (bool, string) {
					for _, m := range dead.Msgs() {
						if m.Headers().Get(dlq.HeaderSubject) == topology.RawPrefix+tag && m.Headers().Get("Jetlog-Reject-Code") == tc.code {
							return true, ""
						}
					}
					return false, "no dead letter with code " + tc.code
				})
			} else {
				e.logs.waitLog(t, "skipping entries", tag, tc.reason)
			}
		})
	}
}

// Messages that break the protocol or a limit as a whole are refused: the
// connection is closed without an ack, the reason logged, and the server
// keeps serving.
func TestMalformedMessages(t *testing.T) {
	e := newEnv(t, nil, nil)
	lim := e.pub.Limits()
	manyEntries := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = []any{1764064800, map[string]any{"i": i}}
		}
		return out
	}
	truncated := mp(t, []any{"trunc", 1764064800, map[string]any{"message": "cut short"}, map[string]any{"chunk": "c-trunc"}})
	cases := []struct {
		name   string
		send   []byte
		reason string
		half   bool // close the client's side after sending
	}{
		{name: "truncated", send: truncated[:len(truncated)-5], half: true, reason: "truncated msgpack"},
		{name: "nested_10000", send: mp(t, []any{"deep", []any{[]any{1764064800, nested(10000)}}, map[string]any{"chunk": "c-deep"}}), reason: "nests deeper than 1016 levels"},
		{name: "flood_0x91", send: bytes.Repeat([]byte{0x91}, 10<<20), reason: "nests deeper than 1016 levels"},
		{name: "claims_100MB", send: []byte{0x93, 0xa3, 'b', 'i', 'g', 0xc6, 0x06, 0x40, 0x00, 0x00, 'x'}, reason: "message larger than 16.0 MiB"},
		{name: "too_many_entries", send: mp(t, []any{"many", manyEntries(lim.MaxBatchRecords + 1), map[string]any{"chunk": "c-many"}}), reason: fmt.Sprintf("%d entries in one message, limit %d", lim.MaxBatchRecords+1, lim.MaxBatchRecords)},
		{name: "too_many_packed_entries", send: mp(t, []any{"many", packed(t, manyEntries(lim.MaxBatchRecords+1)...), map[string]any{"chunk": "c-many"}}), reason: fmt.Sprintf("more than %d entries", lim.MaxBatchRecords)},
		{name: "not_an_array", send: mp(t, map[string]any{"tag": "x"}), reason: "message is a msgpack map"},
		{name: "reserved_byte", send: []byte{0x93, 0xa1, 'x', 0xc1}, reason: "reserved byte 0xc1"},
		{name: "tag_not_string", send: mp(t, []any{42, 1764064800, map[string]any{}}), reason: "tag is a msgpack int"},
		{name: "unknown_compression", send: mp(t, []any{"lz", []byte("xx"), map[string]any{"chunk": "c-lz", "compressed": "lz4"}}), reason: "unsupported compression"},
		{name: "option_not_map", send: mp(t, []any{"opt", 1764064800, map[string]any{}, "chunk"}), reason: "option is a string, not a map"},
		{name: "wrong_length", send: mp(t, []any{"one"}), reason: "array of 1 elements"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := e.requests("bad_request")
			c := dial(t, e.srv.Addr())
			done := make(chan struct{})
			go func() { // the server may close before all is sent
				defer close(done)
				_ = c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
				_, _ = c.nc.Write(tc.send)
				if tc.half {
					_ = c.nc.(*net.TCPConn).CloseWrite()
				}
			}()
			c.expectClosed()
			<-done
			e.logs.waitLog(t, "refusing a message", tc.reason)
			if got := e.requests("bad_request"); got != bad+1 {
				t.Fatalf("requests bad_request = %v, want %v", got, bad+1)
			}
		})
	}
	// Still serving.
	c := dial(t, e.srv.Addr())
	c.send(mp(t, []any{"after", 1764064800, map[string]any{"message": "still here"}, map[string]any{"chunk": "c-after"}}))
	c.expectAck("c-after")
	e.events(t, "after", 1)
}

// TestAFullChunkOfShortLinesIsAccepted: Fluent Bit's chunks are about 2 MB,
// whatever the line length, so a chunk of short lines (45 bytes) holds some
// 29 000 records. With the default limits the gateway must take it:
// refused, Fluent Bit resends it forever and the pipeline stalls.
func TestAFullChunkOfShortLinesIsAccepted(t *testing.T) {
	const n = 29000
	e := newEnv(t, nil, nil)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	entries := make([]any, n)
	for i := range entries {
		entries[i] = []any{et(t0.Add(time.Duration(i) * time.Microsecond)), map[string]any{"log": fmt.Sprintf("GET /health %05d ok", i)}}
	}
	chunk := packed(t, entries...)
	if len(chunk) > 2<<20 {
		t.Fatalf("test chunk is %d bytes, more than Fluent Bit's", len(chunk))
	}
	c := dial(t, e.srv.Addr())
	c.send(mp(t, []any{"short.lines", chunk, map[string]any{"chunk": "c-short", "size": n}}))
	c.expectAck("c-short")
	if got := len(e.events(t, "short.lines", n)); got != n {
		t.Errorf("%d events stored, want %d", got, n)
	}
}
