// Package e2e_test runs the pipeline's real processes (enricher and indexer
// binaries) against an in-process NATS and a real OpenSearch, and injects
// real faults: SIGKILL, OpenSearch stopped, NATS restarted.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/testkit"
)

var (
	buildOnce sync.Once
	bins      map[string]string
	buildErr  error
)

// binary returns the path of a service binary built once per test run.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jetlog-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		bins = map[string]string{}
		for _, svc := range []string{"enricher", "indexer", "gateway", "jetlog"} {
			out := filepath.Join(dir, svc)
			cmd := exec.Command("go", "build", "-o", out, ".")
			cmd.Dir = filepath.Join("..", "..", "..", "services", svc)
			if svc == "jetlog" {
				cmd.Dir = ".."
			}
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", svc, err, b)
				return
			}
			bins[svc] = out
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins[name]
}

// workers runs enricher and indexer processes and restarts them on demand.
type workers struct {
	t        *testing.T
	env      []string
	args     map[string][]string
	mu       sync.Mutex
	procs    map[string]*testkit.Process
	redelivs float64 // redeliveries counted by processes before they were killed
}

func newWorkers(t *testing.T, natsURL, osURL, prefix string) *workers {
	w := &workers{t: t, procs: map[string]*testkit.Process{},
		env: []string{"JETLOG_NATS__URL=" + natsURL},
		args: map[string][]string{
			// A short ack_wait brings back quickly what a killed process held.
			"enricher": {"-set", "enricher.pipelines_dir=", "-set", "enricher.consumer.batch=500", "-set", "enricher.consumer.ack_wait=5s"},
			"indexer": {"-set", "opensearch.urls=[" + osURL + "]", "-set", "indexer.index_prefix=" + prefix,
				"-set", "indexer.consumer.batch=1000", "-set", "indexer.consumer.ack_wait=5s", "-set", "indexer.retry.max_elapsed=5s",
				"-set", "indexer.retry.max=2s", "-set", "indexer.consumer.retry.max=5s"},
		}}
	for _, name := range []string{"indexer", "enricher"} {
		w.start(name)
	}
	return w
}

func (w *workers) start(name string) {
	w.t.Helper()
	args := append([]string{"-set", "log.format=json", "-set", "admin.listen=127.0.0.1:0"}, w.args[name]...)
	p := testkit.StartProcess(w.t, binary(w.t, name), w.env, args...)
	w.mu.Lock()
	w.procs[name] = p
	w.mu.Unlock()
}

func (w *workers) proc(name string) *testkit.Process {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.procs[name]
}

// kill scrapes the process's redelivery count, SIGKILLs it and starts a
// new one.
func (w *workers) kill(name string) {
	w.t.Helper()
	p := w.proc(name)
	w.redelivs += p.Metric("jetlog_worker_redeliveries_total")
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	w.start(name)
}

// redeliveries is the total of every process, past and present.
func (w *workers) redeliveries() float64 {
	return w.redelivs + w.proc("enricher").Metric("jetlog_worker_redeliveries_total") + w.proc("indexer").Metric("jetlog_worker_redeliveries_total")
}

// publish publishes raw events from..to-1 on logs.raw.<source>, each retried
// until JetStream acknowledges it, the way an at-least-once shipper does.
func publish(ctx context.Context, t *testing.T, js jetstream.JetStream, source string, from, to int) {
	t.Helper()
	const window = 2000
	for start := from; start < to; start += window {
		end := min(start+window, to)
		for {
			var futs []jetstream.PubAckFuture
			var err error
			for i := start; i < end && err == nil; i++ {
				var f jetstream.PubAckFuture
				f, err = js.PublishAsync("logs.raw."+source, rawEvent(source, i), jetstream.WithMsgID(eventID(source, i)))
				futs = append(futs, f)
			}
			ok := err == nil
			for _, f := range futs {
				if f == nil {
					continue
				}
				select {
				case <-f.Ok():
				case <-f.Err():
					ok = false
				case <-time.After(10 * time.Second):
					ok = false
				}
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				t.Errorf("publish %s %d..%d: %v", source, start, end, ctx.Err())
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func eventID(source string, i int) string { return fmt.Sprintf("%s-%d", source, i) }

// day is the timestamp of every test event, so they all share one index.
var day = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func rawEvent(source string, i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"time": day.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano), "level": "info",
		"msg": fmt.Sprintf("%s request %d served", source, i), "status": 200 + i%5, "source_seq": i,
	})
	return b
}

// countDocs refreshes and counts the documents of prefix's indices.
func countDocs(cl *opensearchapi.Client, prefix string) (int, error) {
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

// ids reads every document id of prefix's indices, with how often each
// occurs (search_after over the keyword field id).
func ids(t *testing.T, cl *opensearchapi.Client, prefix string) map[string]int {
	t.Helper()
	out := map[string]int{}
	var after []any
	for {
		q := map[string]any{"size": 10000, "_source": false, "sort": []any{map[string]any{"id": "asc"}, map[string]any{"_id": "asc"}},
			"docvalue_fields": []string{"id"}}
		if after != nil {
			q["search_after"] = after
		}
		b, _ := json.Marshal(q)
		resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{Indices: []string{prefix + "-*"}, Body: strings.NewReader(string(b))})
		if err != nil {
			t.Fatalf("read ids: %v", err)
		}
		if len(resp.Hits.Hits) == 0 {
			return out
		}
		for _, h := range resp.Hits.Hits {
			out[h.ID]++
		}
		last := resp.Hits.Hits[len(resp.Hits.Hits)-1]
		after = last.Sort
	}
}

// waitIndexed waits until n documents are searchable and returns how long
// it took; it fails when the count has not moved for stall (a loaded
// machine is slow, a pipeline that lost events stops short).
func waitIndexed(t *testing.T, cl *opensearchapi.Client, prefix string, n int, stall time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	testkit.PollProgress(t, stall, func() (bool, int64, string) {
		got, err := countDocs(cl, prefix)
		if err != nil {
			return false, -1, err.Error()
		}
		return got >= n, int64(got), fmt.Sprintf("%d of %d documents", got, n)
	})
	return time.Since(start)
}

// checkExactlyOnce compares the indexed ids with the expected ones.
func checkExactlyOnce(t *testing.T, cl *opensearchapi.Client, prefix, source string, n int) {
	t.Helper()
	got := ids(t, cl, prefix)
	missing, doubled := 0, 0
	for i := range n {
		switch got[eventID(source, i)] {
		case 0:
			missing++
		case 1:
		default:
			doubled++
		}
		delete(got, eventID(source, i))
	}
	if missing != 0 || doubled != 0 || len(got) != 0 {
		t.Errorf("%d of %d events lost, %d doubled, %d unexpected documents", missing, n, doubled, len(got))
	}
}

// ownOpenSearch starts a private OpenSearch node for a test that stops it,
// so tests sharing the default node are not disturbed.
type ownOpenSearch struct {
	t   *testing.T
	env []string
	URL string
}

func startOwnOpenSearch(t *testing.T) *ownOpenSearch {
	t.Helper()
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	o := &ownOpenSearch{t: t, URL: "http://127.0.0.1:9250",
		env: []string{"OPENSEARCH_PORT=9250", "OPENSEARCH_TRANSPORT_PORT=9350", "OPENSEARCH_HOME_DIR=" + filepath.Join(root, "build", "opensearch-faults")}}
	o.run("clean")
	o.run("up")
	t.Cleanup(func() { o.run("down") })
	return o
}

func (o *ownOpenSearch) run(args ...string) {
	o.t.Helper()
	cmd := exec.Command(filepath.Join("..", "..", "..", "infra", "opensearch", "opensearch.sh"), args...)
	cmd.Env = append(os.Environ(), o.env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		o.t.Fatalf("opensearch.sh %v: %v\n%s", args, err, b)
	}
}

func (o *ownOpenSearch) client(t *testing.T) *opensearchapi.Client {
	t.Helper()
	cfg := osclient.Defaults()
	cfg.URLs = []string{o.URL}
	cl, err := osclient.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
