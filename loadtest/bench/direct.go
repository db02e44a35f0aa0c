package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchutil"
)

// The direct baseline's bulk settings: a shipper's OpenSearch output as
// usually configured (5 MB or 1 s, whichever comes first).
const (
	directFlushBytes    = 5 << 20
	directFlushInterval = time.Second
)

// Throughput is one measurement of documents made searchable.
type Throughput struct {
	Docs       int     `json:"docs"`
	Seconds    float64 `json:"seconds"` // from the first byte sent until all docs are searchable
	DocsPerSec float64 `json:"docs_per_sec"`
	// AckedSeconds is when the sender had every record acknowledged (the
	// last _bulk answer, or the last forward ack).
	AckedSeconds float64 `json:"acked_seconds"`
	LoadBefore   float64 `json:"load_before"`
	LoadAfter    float64 `json:"load_after"`
	// OpenSearchMicrosPerDoc is the OpenSearch node's CPU time over the
	// measurement per document (its process CPU from _nodes/stats; on a
	// shared node it includes whatever else the node did meanwhile).
	OpenSearchMicrosPerDoc float64 `json:"opensearch_cpu_us_per_doc"`
	// HarnessMicrosPerDoc is the harness's own CPU time per document: the
	// sender (BulkIndexer or forward shipper) and the count polling.
	HarnessMicrosPerDoc float64 `json:"harness_cpu_us_per_doc"`
}

// openSearchCPU is the OpenSearch node's process CPU time so far (the
// sum over the nodes of the cluster: the harness uses one node).
func openSearchCPU(ctx context.Context, url string) time.Duration {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_nodes/stats/process", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	var st struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					TotalMillis int64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if decodeJSON(resp, &st) != nil {
		return 0
	}
	var total time.Duration
	for _, n := range st.Nodes {
		total += time.Duration(n.Process.CPU.TotalMillis) * time.Millisecond
	}
	return total
}

// perEvent is d per one of n events, in microseconds.
func perEvent(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// bulkItem is one document to create: into index, with id ("" leaves the
// id to OpenSearch).
type bulkItem struct {
	index, id string
	body      []byte
}

// rawItems are lines as a shipper's OpenSearch output writes them (Fluent
// Bit's opensearch output: one document per record, {"@timestamp",
// "log"}, `create` with ids left to OpenSearch) into one index, which
// OpenSearch creates on first write with the node's defaults.
func rawItems(index string, lines []Line) []bulkItem {
	items := make([]bulkItem, len(lines))
	for i, l := range lines {
		items[i] = bulkItem{index: index, body: bulkDoc(l)}
	}
	return items
}

// direct bulk-indexes items with opensearch-go's BulkIndexer (two
// workers, 5 MB or 1 s), the documents built before the clock starts, and
// measures until all of them are searchable under pattern; it then checks
// pattern holds exactly that many.
func direct(ctx context.Context, cl *opensearchapi.Client, url, pattern string, items []bulkItem) (Throughput, error) {
	var mu sync.Mutex
	var failures []string
	fail := func(s string) {
		mu.Lock()
		if len(failures) < 5 {
			failures = append(failures, s)
		}
		mu.Unlock()
	}
	bi, err := opensearchutil.NewBulkIndexer(opensearchutil.BulkIndexerConfig{
		Client: cl, NumWorkers: shipperWorkers, FlushBytes: directFlushBytes, FlushInterval: directFlushInterval,
		OnError: func(_ context.Context, err error) { fail(err.Error()) },
	})
	if err != nil {
		return Throughput{}, err
	}
	t := Throughput{Docs: len(items), LoadBefore: LoadAvg()}
	os0 := openSearchCPU(ctx, url)
	self0 := SelfCPU()
	start := time.Now()
	counted := make(chan countResult, 1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { counted <- waitCount(cctx, url, pattern, len(items)) }()
	onFailure := func(_ context.Context, _ opensearchutil.BulkIndexerItem, r opensearchapi.BulkRespItem, err error) {
		if err != nil {
			fail(err.Error())
		} else {
			fail(fmt.Sprintf("%d %s", r.Status, r.Error.Reason))
		}
	}
	for _, it := range items {
		if err := bi.Add(ctx, opensearchutil.BulkIndexerItem{Action: "create", Index: it.index, DocumentID: it.id, Body: bytes.NewReader(it.body), OnFailure: onFailure}); err != nil {
			return Throughput{}, err
		}
	}
	if err := bi.Close(ctx); err != nil {
		return Throughput{}, err
	}
	t.AckedSeconds = time.Since(start).Seconds()
	if len(failures) > 0 {
		return Throughput{}, fmt.Errorf("direct bulk: %d items failed: %s", bi.Stats().NumFailed, strings.Join(failures, "; "))
	}
	c := <-counted
	if c.err != nil {
		return Throughput{}, c.err
	}
	t.OpenSearchMicrosPerDoc = perEvent(openSearchCPU(ctx, url)-os0, t.Docs)
	t.HarnessMicrosPerDoc = perEvent(SelfCPU()-self0, t.Docs)
	t.Seconds = c.at.Sub(start).Seconds()
	t.DocsPerSec = float64(t.Docs) / t.Seconds
	t.LoadAfter = LoadAvg()
	if err := exactCount(ctx, cl, pattern, len(items)); err != nil {
		return Throughput{}, err
	}
	return t, nil
}

type countResult struct {
	at  time.Time
	err error
}

// waitCount polls the count of pattern every 100 ms (without forcing a
// refresh: documents become searchable at the indices' own refresh
// interval) until it reaches want, and says when. It gives up when the
// count has not moved for three minutes.
func waitCount(ctx context.Context, url, pattern string, want int) countResult {
	last, moved := -1, time.Now()
	for {
		n, err := countDocs(ctx, url, pattern)
		if err == nil && n >= want {
			return countResult{at: time.Now()}
		}
		if n != last {
			last, moved = n, time.Now()
		}
		if time.Since(moved) > 3*time.Minute {
			return countResult{err: fmt.Errorf("%s holds %d searchable documents of %d after three minutes without progress (last error: %v)", pattern, max(last, 0), want, err)}
		}
		select {
		case <-ctx.Done():
			return countResult{err: ctx.Err()}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// countDocs asks for the number of searchable documents of pattern; a
// pattern that matches no index yet counts 0.
func countDocs(ctx context.Context, url, pattern string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+pattern+"/_count?allow_no_indices=true&ignore_unavailable=true", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	var c struct {
		Count int `json:"count"`
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return 0, nil
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return 0, fmt.Errorf("count %s: %s", pattern, resp.Status)
	}
	return c.Count, decodeJSON(resp, &c)
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// exactCount refreshes pattern and checks it holds exactly want documents:
// no record lost, none indexed twice.
func exactCount(ctx context.Context, cl *opensearchapi.Client, pattern string, want int) error {
	if _, err := cl.Indices.Refresh(ctx, &opensearchapi.IndicesRefreshReq{Index: []string{pattern}}); err != nil {
		return err
	}
	resp, err := cl.Indices.Count(ctx, &opensearchapi.IndicesCountReq{Indices: []string{pattern}})
	if err != nil {
		return err
	}
	if resp.Count != want {
		return fmt.Errorf("%s holds %d documents for %d records sent: the measurement is void", pattern, resp.Count, want)
	}
	return nil
}

// deleteIndices removes what a measurement wrote under each prefix: the
// index of that name, the indices prefix-*, and the index template of that
// name (the indexer names its template after its prefix).
func deleteIndices(cl *opensearchapi.Client, prefixes ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, p := range prefixes {
		yes := true
		if _, err := cl.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{p, p + "-*"},
			Params: opensearchapi.IndicesDeleteParams{AllowNoIndices: &yes, IgnoreUnavailable: &yes}}); err != nil {
			errs = append(errs, fmt.Errorf("delete %s and %s-*: %w", p, p, err))
		}
		resp, err := cl.IndexTemplate.Delete(ctx, opensearchapi.IndexTemplateDeleteReq{IndexTemplate: p})
		if err != nil && (resp == nil || resp.Inspect().Response.StatusCode != http.StatusNotFound) {
			errs = append(errs, fmt.Errorf("delete template %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
