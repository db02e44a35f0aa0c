package index_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/libs/worker/workertest"
	"github.com/jetlog/jetlog/services/indexer/index"
)

var day = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func settings(prefix string) index.Settings {
	s := index.DefaultSettings()
	s.IndexPrefix = prefix
	s.Retry.Initial, s.Retry.Max, s.Retry.MaxElapsed = 50*time.Millisecond, 200*time.Millisecond, 2*time.Second
	return s
}

func consumer() worker.ConsumerConfig {
	c := index.Spec.DefaultConsumer()
	c.Batch, c.Linger = 100, 20*time.Millisecond
	c.Retry.Initial, c.Retry.Max = 50*time.Millisecond, 200*time.Millisecond
	return c
}

func newIndexer(t *testing.T, cl *opensearchapi.Client, prefix string) *index.Indexer {
	t.Helper()
	ix := index.New(cl, settings(prefix))
	if err := ix.EnsureTemplate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: prefix})
	})
	return ix
}

func goodEvent(i int) *event.Event {
	return &event.Event{
		ID: fmt.Sprintf("ev-%05d", i), Timestamp: day.Add(time.Duration(i) * time.Second), Body: fmt.Sprintf("request %d", i),
		Severity: event.Severity{Text: "INFO", Number: event.SeverityInfo}, Source: "web",
		Resource: map[string]any{event.ServiceName: "web"}, Attributes: map[string]any{"status": 200, "path": "/x"},
	}
}

func TestConformance(t *testing.T) {
	cl := testkit.OpenSearch(t)
	workertest.Run(t, workertest.Case{
		Name:     "indexer",
		Consumer: consumer(),
		Subject:  "logs.enriched.web",
		New: func(t *testing.T, env workertest.Env) worker.BatchHandler {
			return newIndexer(t, cl, prefixFor(t, cl, env.Token))
		},
		Good: func(i int) ([]byte, string) {
			ev := goodEvent(i)
			b, _ := ev.Marshal()
			return b, ev.ID
		},
		Poison: []byte(`{"id":"p1","@timestamp":"2026-11-24T00:00:00Z","attributes":{"status":"not-a-number"}}`),
		Outputs: func(t *testing.T, env workertest.Env) map[string]int {
			return docsByID(t, cl, prefixFor(t, cl, env.Token)+"-*")
		},
	})
}

var prefixes = map[string]string{}

// prefixFor gives each conformance subtest its own index prefix.
func prefixFor(t *testing.T, cl *opensearchapi.Client, token string) string {
	if p, ok := prefixes[token]; ok {
		return p
	}
	p := testkit.IndexName(t, cl)
	prefixes[token] = p
	return p
}

// docsByID counts the documents per _id in the indices matching pattern.
func docsByID(t *testing.T, cl *opensearchapi.Client, pattern string) map[string]int {
	t.Helper()
	ctx := context.Background()
	if _, err := cl.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{pattern}}); err != nil {
		return map[string]int{}
	}
	resp, err := cl.Search(ctx, &opensearchapi.SearchReq{
		Indices: []string{pattern},
		Body:    strings.NewReader(`{"size":10000,"_source":false,"sort":["_doc"]}`),
		Params:  opensearchapi.SearchParams{AllowNoIndices: new(true)},
	})
	if err != nil {
		// A just-created index answers 503 until its shard starts; callers poll.
		t.Logf("search %s: %v", pattern, err)
		return map[string]int{}
	}
	out := map[string]int{}
	for _, h := range resp.Hits.Hits {
		out[h.ID]++
	}
	return out
}

func TestWritesReadableDocumentsIdempotently(t *testing.T) {
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	ix := newIndexer(t, cl, prefix)
	n := testkit.StartNATS(t)
	runIndexer(t, n, ix)
	publishAll := func(round string) {
		for i := range 500 {
			b, _ := goodEvent(i).Marshal()
			// A fresh Nats-Msg-Id each round defeats JetStream's de-duplication,
			// so the second round really reaches OpenSearch again.
			n.Publish("logs.enriched.web", fmt.Sprintf("%s-%d", round, i), b)
		}
	}
	publishAll("first")
	waitDocs(t, cl, prefix, 500)
	publishAll("second")
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		c, _ := n.JS.Consumer(context.Background(), topology.EnrichedStream, "indexer")
		info, _ := c.Info(context.Background())
		return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	})
	if got := docsByID(t, cl, prefix+"-*"); len(got) != 500 {
		t.Fatalf("%d documents after sending every event twice, want 500", len(got))
	}
	// Read one back: it sits in the index of its own day, with its fields.
	ev := goodEvent(42)
	resp, err := cl.Document.Get(context.Background(), opensearchapi.DocumentGetReq{Index: prefix + "-2026.11.24", DocumentID: ev.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got event.Event
	if err := json.Unmarshal(resp.Source, &got); err != nil {
		t.Fatal(err)
	}
	if got.Body != ev.Body || !got.Timestamp.Equal(ev.Timestamp) || got.Service() != "web" || got.Attributes["status"] != float64(200) {
		t.Errorf("document read back = %+v", got)
	}
}

// runIndexer runs ix as the indexer worker until the test ends.
func runIndexer(t *testing.T, n *testkit.NATS, ix *index.Indexer) {
	t.Helper()
	w, err := worker.New(worker.Options{Name: "indexer", JS: n.JS, Consumer: consumer(), Handler: ix, Metrics: worker.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
}

func waitDocs(t *testing.T, cl *opensearchapi.Client, prefix string, want int) {
	t.Helper()
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		got := len(docsByID(t, cl, prefix+"-*"))
		return got >= want, fmt.Sprintf("%d of %d documents", got, want)
	})
}

func TestMappingConflictGoesToDLQAndNeighboursAreIndexed(t *testing.T) {
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	ix := newIndexer(t, cl, prefix)
	n := testkit.StartNATS(t)
	dead := testkit.Record(t, n.JS, topology.DLQStream)
	// Fix the mapping of attributes.status as a number first.
	first, _ := goodEvent(0).Marshal()
	n.Publish("logs.enriched.web", "first", first)
	runIndexer(t, n, ix)
	waitDocs(t, cl, prefix, 1)
	for i := 1; i <= 20; i++ {
		ev := goodEvent(i)
		if i == 10 {
			ev.Attributes["status"] = map[string]any{"code": "teapot"} // object where a number is mapped
		}
		b, _ := ev.Marshal()
		n.Publish("logs.enriched.web", ev.ID, b)
	}
	msgs := dead.Wait(t, 1, 60*time.Second)
	r, err := dlq.Parse(msgs[0].Headers(), msgs[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	if r.Stage != "indexer" || r.Kind != dlq.KindPermanent || !strings.Contains(r.Reason, "ev-00010") || !strings.Contains(r.Reason, "mapper_parsing_exception") {
		t.Errorf("dead letter: kind %q reason %q", r.Kind, r.Reason)
	}
	waitDocs(t, cl, prefix, 20)
	docs := docsByID(t, cl, prefix+"-*")
	if docs["ev-00010"] != 0 || len(docs) != 20 {
		t.Errorf("documents: %d (ev-00010 present: %v), want the 20 good ones", len(docs), docs["ev-00010"] > 0)
	}
}

func TestTemplateMapsGeoLocationsAsGeoPoints(t *testing.T) {
	ev := goodEvent(1)
	ev.Attributes["geo"] = map[string]any{"city_name": "London", "location": map[string]any{"lat": 51.5, "lon": -0.09}}
	cl, prefix := indexEvents(t, ev)
	resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{Indices: []string{prefix + "-*"},
		Body: strings.NewReader(`{"query":{"geo_distance":{"distance":"5km","attributes.geo.location":{"lat":51.5,"lon":-0.1}}}}`)})
	if err != nil {
		t.Fatalf("geo_distance query: %v", err)
	}
	if len(resp.Hits.Hits) != 1 {
		t.Errorf("geo_distance found %d documents, want 1", len(resp.Hits.Hits))
	}
}

func TestComponentConformance(t *testing.T) {
	cl := testkit.OpenSearch(t)
	componenttest.Run(t, componenttest.Case{
		Factory:    index.Spec.Factory(),
		OpenSearch: true,
		Configure: func(t *testing.T, cfg any) {
			s := cfg.(*worker.Section[index.Settings])
			s.Settings.IndexPrefix = testkit.IndexName(t, cl)
			prefix := s.Settings.IndexPrefix
			t.Cleanup(func() {
				_, _ = cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: prefix})
			})
		},
	})
}
