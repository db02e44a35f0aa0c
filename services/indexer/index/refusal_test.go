package index_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/indexer/index"
)

// These tests put a reverse proxy between the indexer and the real node and
// make it refuse requests the way production refuses them: credentials that
// no longer match, a permission taken away, a body limit, a missing index.
// The indexer runs as a user runs it (index.Spec on the worker runtime,
// events published to LOGS, dead letters read from the DLQ), and each test
// checks what an operator checks: /readyz, the DLQ, and the documents.

// deployment is one indexer built from its configuration, its JetStream,
// its dead letters and its logs.
type deployment struct {
	nats   *testkit.NATS
	reg    *prometheus.Registry
	env    *component.Env
	comp   component.Component
	dead   *testkit.Recorder
	logs   *testkit.LogBuffer
	cl     *opensearchapi.Client // straight to the node, to check documents
	prefix string
}

// deploy builds the indexer against osCfg without starting it.
func deploy(t *testing.T, osCfg osclient.Config, s index.Settings) *deployment {
	t.Helper()
	d := &deployment{nats: testkit.StartNATS(t), cl: testkit.OpenSearch(t), logs: &testkit.LogBuffer{}}
	d.prefix = testkit.IndexName(t, d.cl)
	s.IndexPrefix = d.prefix
	t.Cleanup(func() {
		_, _ = d.cl.IndexTemplate.Delete(context.Background(), opensearchapi.IndexTemplateDeleteReq{IndexTemplate: d.prefix})
	})
	d.dead = testkit.Record(t, d.nats.JS, topology.DLQStream)
	d.reg = prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d.env = component.NewEnv("indexer", d.nats.NC, d.nats.JS, log, d.reg, topology.Defaults(),
		func(ctx context.Context) (*opensearchapi.Client, error) { return osclient.New(ctx, osCfg) })
	f := index.Spec.Factory()
	cfg := f.NewConfig().(*worker.Section[index.Settings])
	cfg.Consumer, cfg.Settings = consumer(), s
	var err error
	if d.comp, err = f.Build(context.Background(), d.env, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.comp.Stop(context.Background()) })
	return d
}

func (d *deployment) start(t *testing.T) {
	t.Helper()
	if err := d.comp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (d *deployment) publish(evs ...*event.Event) {
	d.nats.PublishMany(len(evs), func(i int) (string, string, []byte) {
		b, _ := evs[i].Marshal()
		return "logs.enriched.web", evs[i].ID, b
	})
}

// ready runs the indexer's "opensearch" readiness check, as /readyz does.
func (d *deployment) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range d.env.Checks() {
		if c.Name == "opensearch" {
			return c.Check(ctx)
		}
	}
	return fmt.Errorf("no opensearch readiness check")
}

// waitUnready waits until readiness fails with a reason containing every
// one of want.
func (d *deployment) waitUnready(t *testing.T, want ...string) {
	t.Helper()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		err := d.ready()
		if err == nil {
			return false, "readiness is ok"
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				return false, fmt.Sprintf("readiness says %q, want it to name %q", err, want)
			}
		}
		return true, ""
	})
}

// waitSettled waits until the indexer acknowledged everything it was given,
// then checks that want documents exist, each once, and that readiness is
// back to ok.
func (d *deployment) waitSettled(t *testing.T, want int) {
	t.Helper()
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		c, err := d.nats.JS.Consumer(context.Background(), topology.EnrichedStream, "indexer")
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	})
	docs := map[string]int{}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		docs = docsByID(t, d.cl, d.prefix+"-*")
		return len(docs) >= want, fmt.Sprintf("%d of %d documents", len(docs), want)
	})
	if len(docs) != want {
		t.Errorf("%d documents, want %d", len(docs), want)
	}
	for id, n := range docs {
		if n != 1 {
			t.Errorf("document %s stored %d times", id, n)
		}
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		err := d.ready()
		return err == nil, fmt.Sprintf("readiness: %v", err)
	})
}

// deadLetters returns the dead letters recorded so far.
func (d *deployment) deadLetters(t *testing.T) []*dlq.Record {
	t.Helper()
	var out []*dlq.Record
	for _, m := range d.dead.Msgs() {
		r, err := dlq.Parse(m.Headers(), m.Data())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (d *deployment) expectNoDeadLetters(t *testing.T) {
	t.Helper()
	for _, r := range d.deadLetters(t) {
		t.Errorf("dead-lettered %s: %s", r.MsgID, r.Reason)
	}
}

// bulkRequests returns jetlog_indexer_bulk_requests_total{result}.
func (d *deployment) bulkRequests(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "jetlog_indexer_bulk_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func events(from, to int) []*event.Event {
	var out []*event.Event
	for i := from; i < to; i++ {
		out = append(out, goodEvent(i))
	}
	return out
}

func nodeConfig(url string) osclient.Config {
	c := osclient.Defaults()
	c.URLs = []string{url}
	return c
}

// A secret rotated on the server makes OpenSearch answer 401 until the
// indexer's password_file holds the new one; then everything published
// meanwhile is indexed, nothing is dead-lettered, and neither password is
// ever logged.
func TestRotatedPasswordHealsWithoutLoss(t *testing.T) {
	const old, rotated = "first-Secret-1", "second-Secret-2"
	var accepted atomic.Value
	accepted.Store(old)
	var refusedBulks atomic.Int64
	url := testkit.OpenSearchProxy(t, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if user, pw, ok := r.BasicAuth(); ok && user == "jetlog" && pw == accepted.Load().(string) {
			return false
		}
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			refusedBulks.Add(1)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return true
	})
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig(url)
	cfg.Username, cfg.PasswordFile = "jetlog", pwFile
	d := deploy(t, cfg, settings(""))
	d.start(t)
	d.publish(events(0, 50)...)
	waitDocs(t, d.cl, d.prefix, 50)

	accepted.Store(rotated) // the server side rotates first
	d.publish(events(50, 100)...)
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		return refusedBulks.Load() >= 2, fmt.Sprintf("%d bulk requests refused", refusedBulks.Load())
	})
	d.waitUnready(t, "401", "password_file")
	if err := os.WriteFile(pwFile, []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.waitSettled(t, 100)
	d.expectNoDeadLetters(t)
	if logs := d.logs.String(); strings.Contains(logs, old) || strings.Contains(logs, rotated) {
		t.Errorf("a password was logged:\n%s", logs)
	}
}

// A permission taken away (403 on _bulk, as the security plugin answers),
// or a 404 to bulk requests (the index is missing and may not be created,
// or a proxy route is wrong), stops indexing with readiness saying why;
// once the cause is gone everything is indexed and nothing was
// dead-lettered.
func TestRefusedBulkIsAnOutage(t *testing.T) {
	for _, c := range []struct {
		name, errType, reason string
		status                int
	}{
		{"forbidden", "security_exception", "no permissions for [indices:data/write/bulk] and User [name=jetlog]", http.StatusForbidden},
		{"not found", "index_not_found_exception", "no such index [logs-jetlog-2026.11.24]", http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			var refusing atomic.Bool
			refusing.Store(true)
			url := testkit.OpenSearchProxy(t, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
				if refusing.Load() && strings.HasSuffix(r.URL.Path, "/_bulk") {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(c.status)
					fmt.Fprintf(w, `{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`,
						c.errType, c.reason, c.errType, c.reason, c.status)
					return true
				}
				return false
			})
			d := deploy(t, nodeConfig(url), settings(""))
			d.start(t)
			d.publish(events(0, 200)...)
			d.waitUnready(t, strconv.Itoa(c.status), c.errType)
			refusing.Store(false)
			d.waitSettled(t, 200)
			d.expectNoDeadLetters(t)
		})
	}
}

// An index with a write block answers 403 for each of its bulk items (the
// request itself succeeds): those documents wait, readiness says why, and
// they are indexed once the block is lifted.
func TestWriteBlockedIndexIsAnOutage(t *testing.T) {
	d := deploy(t, nodeConfig(testkit.OpenSearchURL()), settings(""))
	ctx := context.Background()
	idx := d.prefix + "-2026.11.24"
	if _, err := d.cl.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: idx}); err != nil {
		t.Fatal(err)
	}
	block := func(on bool) {
		t.Helper()
		_, err := d.cl.Indices.Settings.Put(ctx, opensearchapi.SettingsPutReq{Indices: []string{idx},
			Body: strings.NewReader(fmt.Sprintf(`{"index.blocks.write":%t}`, on))})
		if err != nil {
			t.Fatal(err)
		}
	}
	block(true)
	d.start(t)
	d.publish(events(0, 100)...)
	d.waitUnready(t, "403", "cluster_block_exception", idx)
	block(false)
	d.waitSettled(t, 100)
	d.expectNoDeadLetters(t)
}

// A proxy's body limit (nginx's client_max_body_size) below bulk_max_bytes:
// batches larger than the limit are split until they pass and are indexed
// completely; a single document larger than the limit goes to the DLQ alone,
// with its size in the reason; and the indexer keeps its requests under the
// limit from then on instead of being refused again on every batch.
func TestBodyLimitSplitsBatches(t *testing.T) {
	const limit = 64 << 10
	var refused atomic.Int64
	url := testkit.OpenSearchProxy(t, func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if len(body) <= limit {
			return false
		}
		refused.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		fmt.Fprint(w, "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
		return true
	})
	d := deploy(t, nodeConfig(url), settings(""))
	padded := func(from, to int) []*event.Event {
		evs := events(from, to)
		for _, ev := range evs {
			ev.Body = strings.Repeat("x", 2000) // 100 of them are ~230 KiB
		}
		return evs
	}
	round1 := padded(0, 300)
	huge := goodEvent(1000)
	huge.Body = strings.Repeat("y", 100<<10)
	round1 = append(round1[:150], append([]*event.Event{huge}, round1[150:]...)...)
	// Published before the indexer starts, so its batches are full.
	d.publish(round1...)
	d.start(t)
	dead := d.dead.Wait(t, 1, 60*time.Second)
	d.waitSettled(t, 300)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want only the oversized document", len(dead))
	}
	r := d.deadLetters(t)[0]
	if r.MsgID != huge.ID || r.Kind != dlq.KindPermanent || !strings.Contains(r.Reason, "413") || !strings.Contains(r.Reason, "100.") {
		t.Errorf("dead letter %s (%s): %s", r.MsgID, r.Kind, r.Reason)
	}
	if refused.Load() == 0 {
		t.Fatal("the proxy never refused a request: the test does not test splitting")
	}
	if got := d.bulkRequests(t, "too_large"); got != float64(refused.Load()) {
		t.Errorf("jetlog_indexer_bulk_requests_total{result=\"too_large\"} = %v, the proxy refused %d", got, refused.Load())
	}

	before := refused.Load()
	d.publish(padded(300, 600)...)
	d.waitSettled(t, 600)
	if got := refused.Load() - before; got != 0 {
		t.Errorf("the proxy refused %d more requests as too large after the indexer had learned its limit", got)
	}
	if n := len(d.deadLetters(t)); n != 1 {
		t.Errorf("%d dead letters after the second round, want 1", n)
	}
}
