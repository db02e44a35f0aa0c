package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// shipper sends NDJSON to the gateway the way an at-least-once shipper does:
// a request refused with 429 or 503 is sent again, unchanged, after a
// pause, so its records keep their ids.
type shipper struct {
	url      string
	refusals atomic.Int64
	reasons  atomic.Value // the last refusal's body
}

func (s *shipper) send(t *testing.T, body []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Post(s.url, "application/x-ndjson", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			s.refusals.Add(1)
			s.reasons.Store(string(b))
			if time.Now().After(deadline) {
				t.Fatalf("still refused after 5 minutes: %d %s", resp.StatusCode, b)
			}
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("gateway answered %d: %s", resp.StatusCode, b)
		}
	}
}

// batch returns NDJSON of events from..to-1, each about size bytes.
func batch(from, to, size int) []byte {
	pad := strings.Repeat("lorem ipsum dolor sit amet ", size/27+1)[:size]
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"@timestamp":"2026-11-30T%02d:%02d:%02d.%03dZ","message":"soak event %d %s","level":"info","n":%d}`+"\n",
			i/3600000%24, i/60000%60, i/1000%60, i%1000, i, pad, i)
	}
	return b.Bytes()
}

// countDocs returns the documents in prefix's indices, after a refresh.
func countDocs(t *testing.T, cl *opensearchapi.Client, prefix string) int {
	t.Helper()
	_, _ = cl.Indices.Refresh(context.Background(), &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}})
	c, err := cl.Indices.Count(context.Background(), &opensearchapi.IndicesCountReq{Indices: []string{prefix + "-*"}})
	if err != nil {
		return -1
	}
	return c.Count
}

// distinctN returns how many distinct values of the field n the indices hold.
func distinctN(t *testing.T, cl *opensearchapi.Client, prefix string) int {
	t.Helper()
	q := `{"size":0,"aggs":{"n":{"cardinality":{"field":"attributes.n","precision_threshold":40000}}}}`
	resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{Indices: []string{prefix + "-*"}, Body: strings.NewReader(q)})
	if err != nil {
		t.Fatal(err)
	}
	var aggs struct {
		N struct {
			Value int `json:"value"`
		} `json:"n"`
	}
	if err := json.Unmarshal(resp.Aggregations, &aggs); err != nil {
		t.Fatal(err)
	}
	return aggs.N.Value
}

// TestSoakThreeTimesTheStreamBounds runs more than three times the streams'
// byte bounds (32 MiB each) through gateway → enricher → indexer. Under the
// old limits retention the streams filled with processed data and refused
// every write; here what every stage acknowledged is freed, so everything is
// indexed exactly once, and once the stages have caught up the gateway
// accepts without a single "retry later".
func TestSoakThreeTimesTheStreamBounds(t *testing.T) {
	const total, per, size = 28000, 250, 3600 // about 100 MiB of raw events
	cl := testkit.OpenSearch(t)
	cfg, prefix := testConfig(t, cl)
	cfg.Streams.RawMaxBytes, cfg.Streams.EnrichedMaxBytes, cfg.Streams.Archive.MaxBytes = 32<<20, 32<<20, 8<<20
	h := start(t, cfg)
	s := &shipper{url: "http://" + app.GatewayOf(h).HTTPAddr() + "/v1/ingest/soak"}
	for i := 0; i < total; i += per {
		s.send(t, batch(i, i+per, size))
	}
	testkit.PollProgress(t, 2*time.Minute, func() (bool, int64, string) {
		n := countDocs(t, cl, prefix)
		return n >= total, int64(n), fmt.Sprintf("%d of %d indexed (%d refusals so far)", n, total, s.refusals.Load())
	})
	waitDrained(t, h)
	if n := countDocs(t, cl, prefix); n != total {
		t.Fatalf("%d documents for %d events", n, total)
	}
	if d := distinctN(t, cl, prefix); d < total*99/100 { // cardinality is approximate above its threshold
		t.Errorf("only about %d distinct events among %d documents", d, total)
	}
	before := s.refusals.Load()
	s.send(t, batch(total, total+per, size))
	if s.refusals.Load() != before {
		t.Errorf("refused after the stages caught up: %v", s.reasons.Load())
	}
	t.Logf("%d requests refused with retry-later while the stages were behind", before)
}

// waitDrained waits until no pipeline stream holds an unprocessed event.
func waitDrained(t *testing.T, h *host.Host) {
	t.Helper()
	nc, js := connect(t, h)
	defer nc.Close()
	testkit.Poll(t, 5*time.Minute, func() (bool, string) {
		for _, name := range []string{topology.RawStream, topology.EnrichedStream} {
			b, err := topology.ReadBacklog(context.Background(), js, name)
			if err != nil || b.Messages != 0 {
				return false, fmt.Sprintf("%s holds %d messages (%v)", name, b.Messages, err)
			}
		}
		return true, ""
	})
}

func connect(t *testing.T, h *host.Host) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(h.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// TestAFullBacklogIsBackPressureAndDrainsWithNothingLost runs the gateway
// and the enricher with the indexer (and the alerter) stopped, so the backlog fills: the
// gateway refuses with a retryable status and says why, /readyz/gateway
// takes it out of service, and nothing is dead-lettered. Then the indexer
// and the alerter start (another process on the same NATS) and everything drains: every
// event indexed once, nothing lost.
func TestAFullBacklogIsBackPressureAndDrainsWithNothingLost(t *testing.T) {
	const total, per, size = 6000, 200, 3600 // about 21 MiB, beyond both 8 MiB bounds
	cl := testkit.OpenSearch(t)
	cfg, prefix := testConfig(t, cl)
	cfg.Streams.RawMaxBytes, cfg.Streams.EnrichedMaxBytes, cfg.Streams.Archive.MaxBytes = 8<<20, 8<<20, 4<<20
	cfg.Components = []string{"gateway", "enricher", "archiver"}
	front := start(t, cfg)
	s := &shipper{url: "http://" + app.GatewayOf(front).HTTPAddr() + "/v1/ingest/backlog"}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; i < total; i += per {
			s.send(t, batch(i, i+per, size))
		}
	}()
	testkit.Poll(t, 5*time.Minute, func() (bool, string) {
		return s.refusals.Load() > 0, "the gateway has not refused yet"
	})
	if r, _ := s.reasons.Load().(string); !strings.Contains(r, "full") {
		t.Errorf("refusal does not say the backlog is full: %s", r)
	}
	testkit.Poll(t, time.Minute, func() (bool, string) {
		resp, err := http.Get("http://" + front.AdminAddr() + "/readyz/gateway")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 503 && strings.Contains(string(b), "backlog full"), fmt.Sprintf("/readyz/gateway %d %s", resp.StatusCode, b)
	})

	back := testConfigFor(t, cfg, front)
	start(t, back)
	<-sent
	testkit.PollProgress(t, 2*time.Minute, func() (bool, int64, string) {
		n := countDocs(t, cl, prefix)
		return n >= total, int64(n), fmt.Sprintf("%d of %d indexed", n, total)
	})
	waitDrained(t, front)
	if n := countDocs(t, cl, prefix); n != total {
		t.Errorf("%d documents for %d events", n, total)
	}
	nc, js := connect(t, front)
	defer nc.Close()
	if s, err := js.Stream(context.Background(), topology.DLQStream); err == nil {
		if info, _ := s.Info(context.Background()); info.State.Msgs != 0 {
			t.Errorf("%d dead letters: back-pressure is never poison", info.State.Msgs)
		}
	}
}

// testConfigFor returns a configuration that runs the readers of LOGS of
// cfg (the indexer and the alerter, whose durable LOGS keeps events for),
// connected to front's NATS.
func testConfigFor(t *testing.T, cfg *host.Config, front *host.Host) *host.Config {
	t.Helper()
	back := app.NewConfig()
	back.Streams = cfg.Streams
	back.OpenSearch = cfg.OpenSearch
	back.NATS.Embedded = false
	back.NATS.URL = front.NATSURL()
	back.Admin.Listen = "127.0.0.1:0"
	back.Components = []string{"indexer", "alerter"}
	*app.Indexer(back) = *app.Indexer(cfg)
	*app.Alerter(back) = *app.Alerter(cfg)
	return back
}
