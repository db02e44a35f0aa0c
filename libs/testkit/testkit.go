// Package testkit is the shared test kit of every jetlog module: a real
// in-process JetStream per test, the local OpenSearch node, a recorder of
// what lands on a subject, and polling with a deadline. A dependency that is
// missing fails the test; it never skips it.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
)

// NATS is an in-process NATS server with JetStream, private to one test.
type NATS struct {
	t   testing.TB
	cfg natsserver.Config
	srv *natsserver.Server
	// URL is the client URL; it stays the same across Restart.
	URL string
	NC  *nats.Conn
	JS  jetstream.JetStream
}

// StartNATS starts a server on a free loopback port with its store in a
// temporary directory, connects to it, and creates jetlog's streams. The
// server stops when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{t: t, cfg: natsserver.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Sync: "1s", MaxPayload: 16 << 20}}
	n.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topology.Ensure(ctx, n.JS, topology.Defaults(), nil); err != nil {
		t.Fatalf("testkit: ensure topology: %v", err)
	}
	t.Cleanup(n.Stop)
	return n
}

func (n *NATS) start() {
	n.t.Helper()
	srv, err := natsserver.Start(n.cfg, nil)
	if err != nil {
		n.t.Fatalf("testkit: start nats: %v", err)
	}
	n.srv = srv
	n.URL = srv.ClientURL()
	if _, port, _ := net.SplitHostPort(strings.TrimPrefix(n.URL, "nats://")); port != "" {
		n.cfg.Listen = "127.0.0.1:" + port // a restart comes back on the same port
	}
	if n.NC == nil {
		n.NC, err = nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			n.t.Fatalf("testkit: connect: %v", err)
		}
		n.JS, err = jetstream.New(n.NC)
		if err != nil {
			n.t.Fatalf("testkit: jetstream: %v", err)
		}
	}
}

// Shutdown stops the server but keeps its store, for a later Start.
func (n *NATS) Shutdown() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv = nil
	}
}

// Start starts a server shut down by Shutdown again, on the same port and
// store, and waits until the test's connection is back.
func (n *NATS) Start() {
	n.t.Helper()
	n.start()
	Poll(n.t, 30*time.Second, func() (bool, string) {
		return n.NC.IsConnected(), "waiting for the client to reconnect"
	})
}

// Restart is Shutdown then Start.
func (n *NATS) Restart() { n.Shutdown(); n.Start() }

// Stop closes the connection and shuts the server down.
func (n *NATS) Stop() {
	if n.NC != nil {
		n.NC.Close()
	}
	n.Shutdown()
}

// Connect opens another connection to the server, closed at test end.
func (n *NATS) Connect() (*nats.Conn, jetstream.JetStream) {
	n.t.Helper()
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		n.t.Fatalf("testkit: connect: %v", err)
	}
	n.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		n.t.Fatal(err)
	}
	return nc, js
}

// Publish publishes data on subject with msgID as Nats-Msg-Id and waits for
// the PubAck.
func (n *NATS) Publish(subject, msgID string, data []byte) {
	n.t.Helper()
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set(nats.MsgIdHdr, msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.JS.PublishMsg(ctx, m); err != nil {
		n.t.Fatalf("testkit: publish %s: %v", subject, err)
	}
}

// StreamMsgs returns the number of messages stored in a stream.
func (n *NATS) StreamMsgs(stream string) uint64 {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := n.JS.Stream(ctx, stream)
	if err != nil {
		n.t.Fatalf("testkit: stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		n.t.Fatalf("testkit: stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}

// Poll calls cond until it reports done or timeout passes, then fails the
// test with cond's last status.
func Poll(t testing.TB, timeout time.Duration, cond func() (done bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		done, status := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testkit: not done after %v: %s", timeout, status)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// PollProgress calls cond until it reports done, failing the test only when
// the progress it reports has not moved for stall: a slow (loaded) machine
// takes longer, a stuck pipeline fails. Use it for waits on bulk work whose
// duration depends on the machine.
func PollProgress(t testing.TB, stall time.Duration, cond func() (done bool, progress int64, status string)) {
	t.Helper()
	last, since := int64(-1), time.Now()
	wait := 5 * time.Millisecond
	for {
		done, progress, status := cond()
		if done {
			return
		}
		if progress != last {
			last, since = progress, time.Now()
		} else if time.Since(since) > stall {
			t.Fatalf("testkit: no progress for %v: %s", stall, status)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// Recorder collects every message stored on some subjects of a stream, from
// the start of the stream.
type Recorder struct {
	mu   sync.Mutex
	msgs []jetstream.Msg
	cc   jetstream.ConsumeContext
}

// Record starts a recorder on stream, filtered by subjects (none: all).
func Record(t testing.TB, js jetstream.JetStream, stream string, subjects ...string) *Recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		t.Fatalf("testkit: record %s: %v", stream, err)
	}
	r := &Recorder{}
	r.cc, err = cons.Consume(func(m jetstream.Msg) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("testkit: record %s: %v", stream, err)
	}
	t.Cleanup(r.cc.Stop)
	return r
}

// Msgs returns the messages recorded so far.
func (r *Recorder) Msgs() []jetstream.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jetstream.Msg(nil), r.msgs...)
}

// Wait waits until at least n messages were recorded and returns them.
func (r *Recorder) Wait(t testing.TB, n int, timeout time.Duration) []jetstream.Msg {
	t.Helper()
	Poll(t, timeout, func() (bool, string) {
		got := len(r.Msgs())
		return got >= n, fmt.Sprintf("recorded %d of %d messages", got, n)
	})
	return r.Msgs()
}

// OpenSearchURL is the node tests use: $OPENSEARCH_URL, else the local node
// that `make opensearch-up` starts.
func OpenSearchURL() string {
	if u := os.Getenv("OPENSEARCH_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:9200"
}

// OpenSearch returns a client of the test node, failing the test (never
// skipping it) when the node does not answer.
func OpenSearch(t testing.TB) *opensearchapi.Client {
	t.Helper()
	cfg := osclient.Defaults()
	cfg.URLs = []string{OpenSearchURL()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := osclient.New(ctx, cfg)
	if err != nil {
		t.Fatalf("testkit: opensearch client: %v", err)
	}
	if err := osclient.Ping(ctx, cl); err != nil {
		t.Fatalf("testkit: OpenSearch at %s is not available (%v); start it with `make opensearch-up` or set OPENSEARCH_URL", OpenSearchURL(), err)
	}
	return cl
}

// IndexName returns an index name unique to the test, and deletes indices
// with that prefix when the test ends.
func IndexName(t testing.TB, cl *opensearchapi.Client) string {
	t.Helper()
	name := strings.ToLower(fmt.Sprintf("test-%s-%d", sanitize(t.Name()), time.Now().UnixNano()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = cl.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{name + "*"}})
	})
	return name
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// PublishMany publishes count messages made by msg, 1000 at a time, each
// with its Nats-Msg-Id, and waits for every PubAck: a fast way to load a
// stream that never outruns JetStream's async publish window.
func (n *NATS) PublishMany(count int, msg func(i int) (subject, msgID string, data []byte)) {
	n.t.Helper()
	const window = 1000
	for start := 0; start < count; start += window {
		futs := make([]jetstream.PubAckFuture, 0, window)
		for i := start; i < min(start+window, count); i++ {
			subj, id, data := msg(i)
			f, err := n.JS.PublishAsync(subj, data, jetstream.WithMsgID(id))
			if err != nil {
				n.t.Fatalf("testkit: publish %d: %v", i, err)
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				n.t.Fatalf("testkit: publish: %v", err)
			case <-time.After(30 * time.Second):
				n.t.Fatal("testkit: no PubAck in 30s")
			}
		}
	}
}

// LogBuffer collects what a logger writes, for assertions; it is safe for
// concurrent writers.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
