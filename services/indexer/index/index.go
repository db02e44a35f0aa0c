// Package index is the indexer stage: it bulk-writes events from LOGS into
// OpenSearch and acknowledges each message only once OpenSearch confirmed its
// bulk item.
//
// Idempotency: every document is written with op_type=create and the event
// id as _id, into an index named from the event's own timestamp
// (<prefix>-YYYY.MM.DD, UTC, or <prefix>-<dataset>-YYYY.MM.DD for an event
// a pipeline routed to a dataset). A redelivery or a replay weeks later targets
// the same index and id, so OpenSearch answers 409 and no second document
// is made. (A data stream would route by write time through its current
// backing index, so a late replay could create the same _id again in a newer
// backing index; dated indices keep _id unique.)
package index

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

//go:embed template.json
var templateJSON string

// Settings say how to write into OpenSearch.
type Settings struct {
	// IndexPrefix names the daily indices: <prefix>-YYYY.MM.DD.
	IndexPrefix string `yaml:"index_prefix"`
	// Replicas is number_of_replicas in the index template (0 on one node).
	Replicas int `yaml:"replicas"`
	// ApplyTemplate installs the composable index template at start.
	ApplyTemplate bool `yaml:"apply_template"`
	// BulkMaxBytes splits a batch into bulk requests of at most this size.
	BulkMaxBytes int `yaml:"bulk_max_bytes"`
	// Retry governs retries of 429, 5xx and timeouts within one batch,
	// before the messages are handed back to JetStream for redelivery.
	Retry Retry `yaml:"retry"`
}

// Retry is an exponential backoff.
type Retry struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
	// MaxElapsed bounds the retries of one batch before its messages are
	// handed back to JetStream. In-progress heartbeats keep the batch alive
	// meanwhile, so this need not stay below ack_wait; the bound lets a
	// stopping worker drain promptly and other copies share the backlog.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// DefaultSettings returns the defaults of Settings.
func DefaultSettings() Settings {
	return Settings{
		IndexPrefix: "logs-jetlog", ApplyTemplate: true, BulkMaxBytes: 5 << 20,
		Retry: Retry{Initial: 200 * time.Millisecond, Max: 10 * time.Second, MaxElapsed: 2 * time.Minute},
	}
}

var validPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Validate checks the settings.
func (c *Settings) Validate() error {
	var errs config.Errors
	if !validPrefix.MatchString(c.IndexPrefix) || len(c.IndexPrefix) > 200 {
		errs.Addf("index_prefix", "%q is not a valid OpenSearch index name prefix (lowercase letters, digits, - _ .)", c.IndexPrefix)
	}
	if c.Replicas < 0 {
		errs.Addf("replicas", "must be >= 0")
	}
	if c.BulkMaxBytes < 64<<10 || c.BulkMaxBytes > 100<<20 {
		errs.Addf("bulk_max_bytes", "%d is outside 64 KiB..100 MiB (1–5 MiB is typical)", c.BulkMaxBytes)
	}
	if c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial || c.Retry.MaxElapsed < c.Retry.Max {
		errs.Addf("retry", "need 0 < initial <= max <= max_elapsed")
	}
	return errs.Err()
}

// Spec is the indexer worker. It writes to the OpenSearch cluster of the
// host's `opensearch` section.
var Spec = worker.Spec[Settings]{
	Name:       "indexer",
	Defaults:   DefaultSettings(),
	AdminPort:  9467,
	OpenSearch: true,
	Consumer: worker.ConsumerConfig{
		Stream: topology.EnrichedStream, Subjects: []string{topology.EnrichedSubjects},
		Batch: 2000, Concurrency: 2, Linger: 300 * time.Millisecond, AckWait: 30 * time.Second,
		// OpenSearch being down is transient: never dead-letter for it.
		Retry: worker.RetryPolicy{MaxDeliver: -1, Initial: time.Second, Max: 15 * time.Second},
	},
	New: func(ctx context.Context, env *worker.Env, cfg *Settings) (worker.BatchHandler, error) {
		cl, err := env.OpenSearch(ctx)
		if err != nil {
			return nil, err
		}
		return Build(ctx, env, cl, *cfg)
	},
}

// Build returns an indexer over cl with an "opensearch" readiness check on
// env. The index template (when the settings say so) is installed in the
// background, retried until OpenSearch takes it, and before any bulk
// request, so the indexer starts (and the rest of the process with it)
// while OpenSearch is down.
func Build(_ context.Context, env *worker.Env, cl *opensearchapi.Client, s Settings) (*Indexer, error) {
	ix := New(cl, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := &backoff.ExponentialBackOff{InitialInterval: s.Retry.Initial, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: s.Retry.Max}
		b.Reset()
		for ix.needTemplate.Load() && ix.ensureTemplate(ctx) != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(b.NextBackOff()):
			}
		}
	}()
	env.OnStop(func(context.Context) error { cancel(); <-done; return nil })
	env.AddCheck("opensearch", func(ctx context.Context) error {
		if err := osclient.Ping(ctx, cl); err != nil {
			return err
		}
		if ix.needTemplate.Load() {
			ix.errMu.Lock()
			defer ix.errMu.Unlock()
			return fmt.Errorf("index template not installed yet (last attempt: %v)", ix.templateErr)
		}
		return nil
	})
	return ix, nil
}

// Indexer writes batches of events to OpenSearch.
type Indexer struct {
	cl  *opensearchapi.Client
	cfg Settings
	// needTemplate is set until the index template is installed.
	needTemplate atomic.Bool
	templateMu   sync.Mutex // held while installing
	errMu        sync.Mutex
	templateErr  error
}

var _ worker.BatchHandler = (*Indexer)(nil)

// New returns an indexer over cl.
func New(cl *opensearchapi.Client, cfg Settings) *Indexer {
	ix := &Indexer{cl: cl, cfg: cfg}
	ix.needTemplate.Store(cfg.ApplyTemplate)
	return ix
}

// ensureTemplate installs the index template once, before the first bulk
// request; while it cannot, batches are retried later like any outage.
func (ix *Indexer) ensureTemplate(ctx context.Context) error {
	if !ix.needTemplate.Load() {
		return nil
	}
	ix.templateMu.Lock()
	defer ix.templateMu.Unlock()
	if !ix.needTemplate.Load() {
		return nil
	}
	if err := ix.installTemplate(ctx); err != nil {
		ix.errMu.Lock()
		ix.templateErr = err
		ix.errMu.Unlock()
		return err
	}
	ix.needTemplate.Store(false)
	return nil
}

// IndexFor returns the index of an event of dataset ("" for none) that
// happened at ts: <prefix>[-<dataset>]-YYYY.MM.DD in UTC.
func (ix *Indexer) IndexFor(dataset string, ts time.Time) string {
	day := ts.UTC().Format("2006.01.02")
	if d := cleanDataset(dataset); d != "" {
		return ix.cfg.IndexPrefix + "-" + d + "-" + day
	}
	return ix.cfg.IndexPrefix + "-" + day
}

// cleanDataset keeps what an index name allows: lowercase letters, digits,
// '-' and '_', at most 100 characters.
func cleanDataset(d string) string {
	d = strings.ToLower(d)
	b := make([]byte, 0, len(d))
	for i := 0; i < len(d) && len(b) < 100; i++ {
		c := d[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b = append(b, c)
		}
	}
	return strings.TrimLeft(string(b), "-_")
}

// EnsureTemplate installs or updates the composable index template,
// retrying for up to a minute while OpenSearch is starting.
func (ix *Indexer) EnsureTemplate(ctx context.Context) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := ix.installTemplate(ctx)
		var perm *permanentTemplateError
		if errors.As(err, &perm) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithMaxElapsedTime(time.Minute))
	if err == nil {
		ix.needTemplate.Store(false)
	}
	return err
}

// permanentTemplateError is a template OpenSearch refuses for good.
type permanentTemplateError struct{ err error }

func (e *permanentTemplateError) Error() string { return e.err.Error() }
func (e *permanentTemplateError) Unwrap() error { return e.err }

// installTemplate makes one attempt at installing the index template.
func (ix *Indexer) installTemplate(ctx context.Context) error {
	body := strings.NewReplacer("{{PREFIX}}", ix.cfg.IndexPrefix, "{{REPLICAS}}", strconv.Itoa(ix.cfg.Replicas)).Replace(templateJSON)
	resp, err := ix.cl.IndexTemplate.Create(ctx, opensearchapi.IndexTemplateCreateReq{
		IndexTemplate: ix.cfg.IndexPrefix, Body: strings.NewReader(body),
	})
	if err != nil {
		err = fmt.Errorf("install index template %s: %w", ix.cfg.IndexPrefix, err)
		if resp != nil && classifyStatus(resp.Inspect().Response) == statusPermanent {
			return &permanentTemplateError{err: err}
		}
	}
	return err
}

// routing is the part of an event the indexer reads.
type routing struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"@timestamp"`
	Dataset   string    `json:"dataset"`
}

// item is one message on its way into a bulk request.
type item struct {
	msg   int    // index in the batch
	index string // target index
	id    string // _id
	doc   []byte // the event JSON, as it came from the stream
}

// HandleBatch writes the batch and returns each message's result: nil once
// OpenSearch stored (201) or already had (409) the document; Permanent for a
// document OpenSearch refuses (mapping conflict, parse error); a transient
// error when 429, 5xx or timeouts outlast the retry budget, so JetStream
// redelivers later.
func (ix *Indexer) HandleBatch(ctx context.Context, batch []*worker.Msg) []error {
	res := make([]error, len(batch))
	if err := ix.ensureTemplate(ctx); err != nil {
		for i := range res {
			res[i] = err
		}
		return res
	}
	items := make([]item, 0, len(batch))
	for i, m := range batch {
		// Only what routing needs is decoded; the document is sent as it
		// came (json.Unmarshal still checks the whole of it is valid JSON).
		var ev routing
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			res[i] = worker.Permanent(fmt.Errorf("decode event: %w", err))
			continue
		}
		if ev.ID == "" {
			res[i] = worker.Permanent(fmt.Errorf("decode event: %w", event.ErrNoID))
			continue
		}
		if ev.Timestamp.IsZero() {
			res[i] = worker.Permanent(errors.New("event has no @timestamp, so no index can be chosen"))
			continue
		}
		items = append(items, item{msg: i, index: ix.IndexFor(ev.Dataset, ev.Timestamp), id: ev.ID, doc: m.Data})
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval: ix.cfg.Retry.Initial, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: ix.cfg.Retry.Max,
	}
	b.Reset()
	start := time.Now()
	for attempt := 1; len(items) > 0; attempt++ {
		items = ix.sendAll(ctx, items, res)
		if len(items) == 0 {
			break
		}
		wait := b.NextBackOff()
		if ctx.Err() != nil || time.Since(start)+wait > ix.cfg.Retry.MaxElapsed {
			// Out of budget: the remaining messages go back to JetStream
			// with their last error and come again after its delay.
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return res
}

// sendAll sends items in bulk requests of at most BulkMaxBytes, records
// final results in res, and returns the items to retry (their res holds the
// transient error).
func (ix *Indexer) sendAll(ctx context.Context, items []item, res []error) []item {
	var retry []item
	var body bytes.Buffer
	start := 0
	flush := func(end int) {
		if end > start {
			retry = append(retry, ix.send(ctx, items[start:end], &body, res)...)
		}
		body.Reset()
		start = end
	}
	for i, it := range items {
		size := len(it.doc) + len(it.index) + len(it.id) + 48
		if body.Len() > 0 && body.Len()+size > ix.cfg.BulkMaxBytes {
			flush(i)
		}
		fmt.Fprintf(&body, `{"create":{"_index":%q,"_id":%s}}`+"\n", it.index, jsonString(it.id))
		body.Write(bytes.TrimSpace(it.doc))
		body.WriteByte('\n')
	}
	flush(len(items))
	return retry
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// send performs one bulk request and classifies each item.
func (ix *Indexer) send(ctx context.Context, items []item, body *bytes.Buffer, res []error) []item {
	resp, err := ix.cl.Bulk(ctx, opensearchapi.BulkReq{Body: bytes.NewReader(body.Bytes())})
	var httpResp *opensearch.Response
	if resp != nil {
		httpResp = resp.Inspect().Response
	}
	if resp == nil || len(resp.Items) != len(items) {
		// The request as a whole failed.
		if err == nil {
			err = fmt.Errorf("bulk answered %d items for %d documents", itemsLen(resp), len(items))
		}
		reqErr := fmt.Errorf("opensearch bulk: %w", err)
		if classifyStatus(httpResp) == statusPermanent {
			reqErr = worker.Permanent(reqErr)
		}
		for _, it := range items {
			res[it.msg] = reqErr
		}
		if worker.IsPermanent(reqErr) {
			return nil
		}
		return items
	}
	var retry []item
	for i, it := range items {
		var r opensearchapi.BulkRespItem
		for _, v := range resp.Items[i] {
			r = v
		}
		switch {
		case r.Status == http.StatusCreated || r.Status == http.StatusOK:
			res[it.msg] = nil
		case r.Status == http.StatusConflict:
			res[it.msg] = nil // already indexed: a redelivery or a replay
		case r.Status == http.StatusTooManyRequests || r.Status >= 500:
			res[it.msg] = fmt.Errorf("opensearch item %d: %s", r.Status, itemReason(r))
			retry = append(retry, it)
		default:
			res[it.msg] = worker.Permanent(fmt.Errorf("opensearch refused document %s in %s (%d): %s", it.id, it.index, r.Status, itemReason(r)))
		}
	}
	return retry
}

func itemsLen(r *opensearchapi.BulkResp) int {
	if r == nil {
		return 0
	}
	return len(r.Items)
}

func itemReason(r opensearchapi.BulkRespItem) string {
	if r.Error == nil {
		return "no reason given"
	}
	s := r.Error.Type + ": " + r.Error.Reason
	if r.Error.Cause.Reason != "" {
		s += " (caused by " + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")"
	}
	return s
}

type statusClass int

const (
	statusTransient statusClass = iota
	statusPermanent
)

// classifyStatus says whether a failed request may succeed later: no
// response (connection refused, timeout), 408, 429 and 5xx may; any other
// 4xx will not.
func classifyStatus(r *opensearch.Response) statusClass {
	if r == nil {
		return statusTransient
	}
	c := r.StatusCode
	if c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests {
		return statusPermanent
	}
	return statusTransient
}
