package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/indexer/index"
)

// The stage benchmarks measure each stage's own work per event on what the
// stage really receives for each mix: the gateway decoding Fluent Bit's
// forward entries and publishing them; the enricher decoding what the
// gateway wrote, running the shipped pipelines and encoding its output;
// the indexer routing what the enricher wrote and building its bulk
// request, and reading the answer. JetStream and OpenSearch are stood in
// for by stubs that answer at once without allocating, so one op is one
// event and allocs/op is the stage's allocations per event. The stages'
// CPU with the real servers is measured end to end by `jetlog-bench
// -scenario cpu`.

const (
	benchLines   = 3000 // distinct lines per mix, cycled
	pipelinesDir = "../../pipelines"
)

// BenchmarkGatewayPublish is the gateway's publisher path per record:
// forward.DecodeEntries of chunks of 1000 records, then
// ingest.Publisher.Publish (limits, event, id, JSON, publish, acks).
func BenchmarkGatewayPublish(b *testing.B) {
	for i, m := range Mixes {
		b.Run(string(m), func(b *testing.B) {
			lines := Lines(m, benchLines, uint64(50+i))
			var stream []byte
			offs := []int{0}
			for _, l := range lines {
				stream = appendEntry(stream, l)
				offs = append(offs, len(stream))
			}
			js := newCaptureJS(4096)
			p := ingest.NewPublisher(js, ingest.DefaultPublisherConfig(), ingest.NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler))
			ctx := context.Background()
			lim := ingest.DefaultLimits()
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b)()
			for done := 0; done < b.N; {
				at := done % len(lines)
				n := min(1000, b.N-done, len(lines)-at)
				recs, _, _, err := forward.DecodeEntries(m.Source(), stream[offs[at]:offs[at+n]], lim)
				if err != nil || len(recs) != n {
					b.Fatalf("%d records of %d: %v", len(recs), n, err)
				}
				for _, err := range p.Publish(ctx, "forward", recs) {
					if err != nil {
						b.Fatal(err)
					}
				}
				done += n
			}
		})
	}
}

// BenchmarkEnricher is the enricher's work per event: worker.Events over
// the enricher with the shipped pipelines (raw decoding, the pipeline,
// encoding, publishing), in batches of 500 as it consumes.
func BenchmarkEnricher(b *testing.B) {
	for i, m := range Mixes {
		b.Run(string(m), func(b *testing.B) {
			in, err := gatewayMessages(m.Source(), Lines(m, benchLines, uint64(50+i)))
			if err != nil {
				b.Fatal(err)
			}
			h, err := newEnricher(newCaptureJS(4096), pipelinesDir)
			if err != nil {
				b.Fatal(err)
			}
			benchBatches(b, h, in, 500)
		})
	}
}

// BenchmarkIndexer is the indexer's work per event: routing each event,
// building the bulk request and reading OpenSearch's answer, in batches
// of 2000 as it consumes.
func BenchmarkIndexer(b *testing.B) {
	for i, m := range Mixes {
		b.Run(string(m), func(b *testing.B) {
			in, err := gatewayMessages(m.Source(), Lines(m, benchLines, uint64(50+i)))
			if err != nil {
				b.Fatal(err)
			}
			out, err := enrichedMessages(in, pipelinesDir)
			if err != nil {
				b.Fatal(err)
			}
			enriched := make([]*worker.Msg, len(out))
			for i, o := range out {
				enriched[i] = &worker.Msg{Subject: o.Subject, Data: o.Data, Header: o.Header, Deliveries: 1, Stream: topology.EnrichedStream, Sequence: uint64(i + 1), Time: time.Now()}
			}
			cl, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{Addresses: []string{"http://opensearch.stub:9200"}, Transport: &bulkStub{}}})
			if err != nil {
				b.Fatal(err)
			}
			s := index.DefaultSettings()
			s.ApplyTemplate = false
			benchBatches(b, index.New(cl, s), enriched, 2000)
		})
	}
}

// benchBatches hands msgs to h in batches of size, cycling, for b.N
// messages in all.
func benchBatches(b *testing.B, h worker.BatchHandler, msgs []*worker.Msg, size int) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for done := 0; done < b.N; {
		at := done % len(msgs)
		n := min(size, b.N-done, len(msgs)-at)
		for _, err := range h.HandleBatch(ctx, msgs[at:at+n]) {
			if err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
}

// reportCPU starts counting the process's CPU time; the function it
// returns stops the timer and reports that time per op as cpu-ns/op. On a
// machine shared with other work, ns/op (wall time) grows with the load
// while CPU time per op (the collector's included) barely moves.
func reportCPU(b *testing.B) func() {
	start := SelfCPU()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64((SelfCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// bulkStub answers every _bulk request as OpenSearch does when it creates
// every document, with one item per document of the request.
type bulkStub struct {
	mu      sync.Mutex
	body    bytes.Buffer
	answers map[int][]byte
}

func (t *bulkStub) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.body.Reset()
	if req.Body != nil {
		if _, err := t.body.ReadFrom(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	if !strings.HasSuffix(req.URL.Path, "/_bulk") {
		return nil, fmt.Errorf("bulk stub: unexpected %s %s", req.Method, req.URL.Path)
	}
	items := bytes.Count(t.body.Bytes(), []byte{'\n'}) / 2
	if t.answers == nil {
		t.answers = map[int][]byte{}
	}
	answer, ok := t.answers[items]
	if !ok {
		var b bytes.Buffer
		b.WriteString(`{"took":30,"errors":false,"items":[`)
		for i := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"create":{"_index":"logs-jetlog-2026.11.24","_id":"%064d","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":201}}`, i, i)
		}
		b.WriteString("]}")
		answer = b.Bytes()
		t.answers[items] = answer
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": []string{"application/json; charset=UTF-8"}}, ContentLength: int64(len(answer)),
		Body: io.NopCloser(bytes.NewReader(answer)), Request: req}, nil
}
