package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/enricher/raw"
	"github.com/jetlog/jetlog/services/indexer/index"
)

// PipelineOptions configure the indexing and enricher measurements.
type PipelineOptions struct {
	Events        int
	OpenSearchURL string
	Repo          string // repository root: pipelines/ and services/
	WorkDir       string // binaries and logs
	Log           *slog.Logger
}

// PipelineReport holds the figures of one run.
type PipelineReport struct {
	Machine        Machine `json:"machine"`
	Date           string  `json:"date"`
	Events         int     `json:"events"`
	Documents      int     `json:"documents"` // after drops by the pipelines
	RawBulkDocsSec float64 `json:"raw_bulk_docs_per_sec"`
	PipelineDocs   float64 `json:"pipeline_docs_per_sec"`
	IndexRatio     float64 `json:"pipeline_over_raw_bulk"`
	PassthroughSec float64 `json:"passthrough_events_per_sec"`
	EnricherSec    float64 `json:"enricher_events_per_sec"`
	EnrichRatio    float64 `json:"enricher_over_passthrough"`
	EnricherRSSMiB float64 `json:"enricher_peak_rss_mib"`
	IndexerRSSMiB  float64 `json:"indexer_peak_rss_mib"`
}

// Pipeline measures, in one run on one OpenSearch node with the same
// documents: raw _bulk docs/s from a pre-built payload, jetlog's end-to-end
// indexed docs/s (enricher and indexer processes with the shipped
// pipelines), and the enricher's events/s against a JetStream
// consume→republish passthrough.
func Pipeline(ctx context.Context, o PipelineOptions) (*PipelineReport, error) {
	r := &PipelineReport{Machine: ThisMachine(), Date: time.Now().UTC().Format(time.RFC3339), Events: o.Events}
	evs := Generate(o.Events, 1)
	cfg := osclient.Defaults()
	cfg.URLs = []string{o.OpenSearchURL}
	cl, err := osclient.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := osclient.Ping(ctx, cl); err != nil {
		return nil, err
	}
	enricherBin, err := Build(o.Repo, "enricher", o.WorkDir)
	if err != nil {
		return nil, err
	}
	indexerBin, err := Build(o.Repo, "indexer", o.WorkDir)
	if err != nil {
		return nil, err
	}

	// The documents the pipeline will write, built in-process for the
	// raw _bulk baseline.
	docs, err := enrichInProcess(o, evs)
	if err != nil {
		return nil, err
	}
	r.Documents = len(docs)
	o.Log.Info("documents prepared", "events", len(evs), "documents", len(docs))

	stamp := time.Now().Unix()
	rawPrefix := fmt.Sprintf("bench-raw-%d", stamp)
	jlPrefix := fmt.Sprintf("bench-jetlog-%d", stamp)
	defer cleanup(cl, rawPrefix, jlPrefix)
	if r.RawBulkDocsSec, err = rawBulk(ctx, cl, o.OpenSearchURL, rawPrefix, docs); err != nil {
		return nil, fmt.Errorf("raw _bulk: %w", err)
	}
	o.Log.Info("raw _bulk", "docs_per_sec", int(r.RawBulkDocsSec))

	// End to end: enricher + indexer processes over a pre-loaded raw stream.
	n, err := preloaded(ctx, evs)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	env := []string{"JETLOG_NATS__URL=" + n.URL()}
	start := time.Now()
	ix, err := StartProc("indexer", indexerBin, o.WorkDir, env, "-set", "admin.enabled=false", "-set", "opensearch.urls=["+o.OpenSearchURL+"]", "-set", "indexer.index_prefix="+jlPrefix)
	if err != nil {
		return nil, err
	}
	defer ix.Stop()
	en, err := StartProc("enricher", enricherBin, o.WorkDir, env, "-set", "admin.enabled=false", "-set", "enricher.pipelines_dir="+filepath.Join(o.Repo, "pipelines"))
	if err != nil {
		return nil, err
	}
	defer en.Stop()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	if _, err := n.WaitDrained(wctx, topology.RawStream, "enricher"); err != nil {
		return nil, err
	}
	end, err := n.WaitDrained(wctx, topology.EnrichedStream, "indexer")
	if err != nil {
		return nil, err
	}
	r.PipelineDocs = float64(len(docs)) / end.Sub(start).Seconds()
	r.IndexRatio = r.PipelineDocs / r.RawBulkDocsSec
	r.EnricherRSSMiB, r.IndexerRSSMiB = MiB(en.PeakRSS()), MiB(ix.PeakRSS())
	if got, err := count(cl, jlPrefix); err != nil || got != len(docs) {
		return nil, fmt.Errorf("the pipeline indexed %d documents, want %d (%v)", got, len(docs), err)
	}
	o.Log.Info("end to end", "docs_per_sec", int(r.PipelineDocs), "ratio", fmt.Sprintf("%.2f", r.IndexRatio))

	// The enricher alone against a passthrough on the same events.
	if r.PassthroughSec, err = passthrough(ctx, evs); err != nil {
		return nil, fmt.Errorf("passthrough: %w", err)
	}
	if r.EnricherSec, err = enricherAlone(ctx, o, enricherBin, evs); err != nil {
		return nil, fmt.Errorf("enricher: %w", err)
	}
	r.EnrichRatio = r.EnricherSec / r.PassthroughSec
	o.Log.Info("enricher", "events_per_sec", int(r.EnricherSec), "passthrough", int(r.PassthroughSec), "ratio", fmt.Sprintf("%.2f", r.EnrichRatio))
	return r, nil
}

type doc struct {
	index, id string
	body      []byte
}

// enrichInProcess runs the shipped pipelines over the events as the
// enricher would, and returns the documents the indexer would write.
func enrichInProcess(o PipelineOptions, evs []RawEvent) ([]doc, error) {
	cfg := enrich.Defaults()
	cfg.PipelinesDir = filepath.Join(o.Repo, "pipelines")
	e, err := enrich.New(cfg, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ix := index.New(nil, index.DefaultSettings())
	stored := time.Now().UTC()
	var out []doc
	for _, re := range evs {
		decoded, err := raw.Decode(raw.Message{Subject: topology.RawPrefix + re.Source, Data: re.Data,
			Header: map[string][]string{"Nats-Msg-Id": {re.ID}}, Time: stored}, raw.DefaultLimits())
		if err != nil {
			return nil, err
		}
		for _, ev := range decoded {
			res, err := e.Handle(context.Background(), ev)
			if err != nil {
				continue // dropped by a pipeline
			}
			for _, o := range res {
				b, err := o.Marshal()
				if err != nil {
					return nil, err
				}
				out = append(out, doc{index: ix.IndexFor(o.Dataset, o.Timestamp), id: o.ID, body: b})
			}
		}
	}
	return out, nil
}

// rawBulk writes docs with _bulk create requests of about 5 MiB, two in
// flight (the indexer's defaults), from payloads built before the clock
// starts, into indices made from the indexer's own template.
func rawBulk(ctx context.Context, cl *opensearchapi.Client, url, prefix string, docs []doc) (float64, error) {
	s := index.DefaultSettings()
	s.IndexPrefix = prefix
	if err := index.New(cl, s).EnsureTemplate(ctx); err != nil {
		return 0, err
	}
	var payloads [][]byte
	var b bytes.Buffer
	for _, d := range docs {
		idx := prefix + strings.TrimPrefix(d.index, index.DefaultSettings().IndexPrefix)
		fmt.Fprintf(&b, "{\"create\":{\"_index\":%q,\"_id\":%q}}\n", idx, d.id)
		b.Write(d.body)
		b.WriteByte('\n')
		if b.Len() >= s.BulkMaxBytes {
			payloads = append(payloads, bytes.Clone(b.Bytes()))
			b.Reset()
		}
	}
	if b.Len() > 0 {
		payloads = append(payloads, bytes.Clone(b.Bytes()))
	}
	work := make(chan []byte)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				resp, err := http.Post(url+"/_bulk", "application/x-ndjson", bytes.NewReader(p))
				if err == nil {
					var br struct {
						Errors bool `json:"errors"`
					}
					err = decodeJSON(resp, &br)
					if err == nil && br.Errors {
						err = errors.New("bulk answered item errors")
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range payloads {
		work <- p
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(len(docs)) / time.Since(start).Seconds(), nil
}

func count(cl *opensearchapi.Client, prefix string) (int, error) {
	ctx := context.Background()
	if _, err := cl.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{prefix + "-*"}}); err != nil {
		return 0, err
	}
	resp, err := cl.Indices.Count(ctx, &opensearchapi.IndicesCountReq{Indices: []string{prefix + "-*"}})
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

func cleanup(cl *opensearchapi.Client, prefixes ...string) {
	ctx := context.Background()
	for _, p := range prefixes {
		_, _ = cl.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{p + "-*"}})
		_, _ = cl.IndexTemplate.Delete(ctx, opensearchapi.IndexTemplateDeleteReq{IndexTemplate: p})
	}
}

// preloaded starts an embedded NATS whose LOGS_RAW already holds evs, each
// on logs.raw.<source> with its id, as shippers would have left them.
func preloaded(ctx context.Context, evs []RawEvent) (*NATS, error) {
	n, err := StartNATS(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := n.PublishAll(ctx, evs, func(ev RawEvent) string { return topology.RawPrefix + ev.Source }, func(ev RawEvent) []byte { return ev.Data }); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// passthrough consumes the raw events and republishes each one with its id,
// acking after the PubAcks: what an enricher with no work to do costs.
func passthrough(ctx context.Context, evs []RawEvent) (float64, error) {
	n, err := preloaded(ctx, evs)
	if err != nil {
		return 0, err
	}
	defer n.Close()
	cons, err := n.JS.CreateOrUpdateConsumer(ctx, topology.RawStream, jetstreamConsumer("passthrough"))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	done := 0
	for done < len(evs) {
		batch, err := cons.Fetch(500, fetchWait)
		if err != nil {
			return 0, err
		}
		var msgs []jsMsg
		var futs []pubFuture
		for m := range batch.Messages() {
			f, err := n.JS.PublishMsgAsync(republish(m))
			if err != nil {
				return 0, err
			}
			msgs = append(msgs, m)
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return 0, err
			}
		}
		for _, m := range msgs {
			_ = m.Ack()
		}
		done += len(msgs)
	}
	return float64(len(evs)) / time.Since(start).Seconds(), nil
}

// enricherAlone runs the enricher process over the pre-loaded raw events.
func enricherAlone(ctx context.Context, o PipelineOptions, bin string, evs []RawEvent) (float64, error) {
	n, err := preloaded(ctx, evs)
	if err != nil {
		return 0, err
	}
	defer n.Close()
	start := time.Now()
	en, err := StartProc("enricher-alone", bin, o.WorkDir, []string{"JETLOG_NATS__URL=" + n.URL()},
		"-set", "admin.enabled=false", "-set", "enricher.pipelines_dir="+filepath.Join(o.Repo, "pipelines"))
	if err != nil {
		return 0, err
	}
	defer en.Stop()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	end, err := n.WaitDrained(wctx, topology.RawStream, "enricher")
	if err != nil {
		return 0, err
	}
	return float64(len(evs)) / end.Sub(start).Seconds(), nil
}
