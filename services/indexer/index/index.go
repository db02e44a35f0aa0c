package index

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/prometheus/client_golang/prometheus"

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
	// A request refused as too large (413) is split further, and later
	// requests are kept under the size that passed.
	BulkMaxBytes int `yaml:"bulk_max_bytes"`
	// Retry governs retries within one batch (429, 5xx, timeouts, and
	// OpenSearch refusing the indexer with 401, 403 or 404), before the
	// messages are handed back to JetStream for redelivery.
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

// Build returns an indexer over cl with its logs and metrics on env and an
// "opensearch" readiness check that says why OpenSearch refuses it. The
// index template (when the settings say so) is installed in the
// background, retried until OpenSearch takes it, and before any bulk
// request, so the indexer starts (and the rest of the process with it)
// while OpenSearch is down.
func Build(_ context.Context, env *worker.Env, cl *opensearchapi.Client, s Settings) (*Indexer, error) {
	ix := New(cl, s)
	if env.Logger != nil {
		ix.log = env.Logger
	}
	if env.Registry != nil {
		var err error
		if ix.requests, err = newRequests(env.Registry); err != nil {
			return nil, err
		}
	}
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
	env.AddCheck("opensearch", ix.Ready)
	return ix, nil
}

// Indexer writes batches of events to OpenSearch.
type Indexer struct {
	cl       *opensearchapi.Client
	cfg      Settings
	log      *slog.Logger
	requests *prometheus.CounterVec // nil: not counted
	health   health
	// maxRequest is the largest bulk request to send: BulkMaxBytes, or less
	// once a request was refused as too large.
	maxRequest atomic.Int64
	// largestAccepted is the largest bulk request OpenSearch accepted, for
	// the reason given when a document alone is too large.
	largestAccepted atomic.Int64
	// needTemplate is set until the index template is installed.
	needTemplate atomic.Bool
	templateMu   sync.Mutex // held while installing
	errMu        sync.Mutex
	templateErr  error
}

var _ worker.BatchHandler = (*Indexer)(nil)

// New returns an indexer over cl.
func New(cl *opensearchapi.Client, cfg Settings) *Indexer {
	ix := &Indexer{cl: cl, cfg: cfg, log: slog.Default()}
	ix.maxRequest.Store(int64(cfg.BulkMaxBytes))
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

// templateReady says why the index template is not installed yet, or nil.
func (ix *Indexer) templateReady() error {
	if !ix.needTemplate.Load() {
		return nil
	}
	ix.errMu.Lock()
	defer ix.errMu.Unlock()
	return fmt.Errorf("index template not installed yet (last attempt: %v)", ix.templateErr)
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

// templatePriority is the priority of the template for prefix: 200 plus
// the prefix's length. Two prefixes where one extends the other (logs-x,
// logs-x-base) have overlapping patterns, which OpenSearch accepts only at
// different priorities; the longer, more specific prefix wins its own
// indices. Distinct prefixes of one length never overlap.
func templatePriority(prefix string) int { return 200 + len(prefix) }

// installTemplate makes one attempt at installing the index template.
func (ix *Indexer) installTemplate(ctx context.Context) error {
	body := strings.NewReplacer("{{PREFIX}}", ix.cfg.IndexPrefix, "{{REPLICAS}}", strconv.Itoa(ix.cfg.Replicas),
		"{{PRIORITY}}", strconv.Itoa(templatePriority(ix.cfg.IndexPrefix))).Replace(templateJSON)
	resp, err := ix.cl.IndexTemplate.Create(ctx, opensearchapi.IndexTemplateCreateReq{
		IndexTemplate: ix.cfg.IndexPrefix, Body: strings.NewReader(body),
	})
	if err == nil {
		return nil
	}
	// Refused credentials or permissions are configuration to fix, not a
	// node still starting: EnsureTemplate says so at once, the background
	// installer keeps trying (the secret may be rotated) and readiness says
	// why.
	if resp != nil {
		if status := osclient.Status(resp.Inspect().Response); classify(status) != classTransient {
			if status == http.StatusUnauthorized {
				err = osclient.ErrUnauthorized
			} else {
				err = errors.New(osclient.Refusal(status, err))
			}
			return &permanentTemplateError{err: fmt.Errorf("install index template %s: %w", ix.cfg.IndexPrefix, err)}
		}
	}
	return fmt.Errorf("install index template %s: %w", ix.cfg.IndexPrefix, err)
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
// document OpenSearch refuses (mapping conflict, parse error, too large even
// alone); a transient error when 429, 5xx, timeouts or an outage (401, 403,
// 404) outlast the retry budget, so JetStream redelivers later.
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
		// Only what routing needs is read; the document is sent as it came
		// (the whole of it is still checked to be valid JSON).
		ev, err := event.DecodeRoute(m.Data)
		if err != nil {
			res[i] = worker.Permanent(err)
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

// sendAll sends items in bulk requests of at most maxRequest bytes, records
// final results in res, and returns the items to retry (their res holds the
// transient error).
func (ix *Indexer) sendAll(ctx context.Context, items []item, res []error) []item {
	var retry []item
	var body bytes.Buffer
	limit := int(ix.maxRequest.Load())
	start, size := 0, 0
	for i, it := range items {
		s := len(it.doc) + len(it.index) + len(it.id) + 48
		if i > start && size+s > limit {
			retry = append(retry, ix.send(ctx, items[start:i], &body, res)...)
			start, size = i, 0
		}
		size += s
	}
	if start < len(items) {
		retry = append(retry, ix.send(ctx, items[start:], &body, res)...)
	}
	return retry
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// send performs one bulk request of items, using body as its buffer, and
// classifies the answer: the request's as a whole when it failed, else
// each item's. A request refused as too large is split in halves and each
// sent again, down to a single document.
func (ix *Indexer) send(ctx context.Context, items []item, body *bytes.Buffer, res []error) []item {
	body.Reset()
	for _, it := range items {
		fmt.Fprintf(body, `{"create":{"_index":%q,"_id":%s}}`+"\n", it.index, jsonString(it.id))
		body.Write(bytes.TrimSpace(it.doc))
		body.WriteByte('\n')
	}
	size := body.Len()
	resp, err := ix.cl.Bulk(ctx, opensearchapi.BulkReq{Body: bytes.NewReader(body.Bytes())})
	status := 0
	if resp != nil {
		status = osclient.Status(resp.Inspect().Response)
	}
	if ix.requests != nil {
		ix.requests.WithLabelValues(requestResult(status)).Inc()
	}
	if resp == nil || len(resp.Items) != len(items) {
		// The request as a whole failed.
		if err == nil {
			err = fmt.Errorf("bulk answered %d items for %d documents", itemsLen(resp), len(items))
		}
		var reqErr error
		switch classify(status) {
		case classTooLarge:
			if len(items) == 1 {
				res[items[0].msg] = worker.Permanent(ix.tooLarge(items[0], size))
				return nil
			}
			ix.shrink(size)
			half := len(items) / 2
			return slices.Concat(ix.send(ctx, items[:half], body, res), ix.send(ctx, items[half:], body, res))
		case classOutage:
			reqErr = ix.outage(status, "", osclient.Refusal(status, err))
			ix.refused(reqErr)
		case classPermanent:
			reqErr = worker.Permanent(fmt.Errorf("opensearch bulk: %w", err))
		default:
			reqErr = fmt.Errorf("opensearch bulk: %w", err)
		}
		for _, it := range items {
			res[it.msg] = reqErr
		}
		if worker.IsPermanent(reqErr) {
			return nil
		}
		return items
	}
	for {
		n := ix.largestAccepted.Load()
		if int64(size) <= n || ix.largestAccepted.CompareAndSwap(n, int64(size)) {
			break
		}
	}
	var retry []item
	var outage error
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
		default:
			reason := fmt.Sprintf("%d %s: %s", r.Status, http.StatusText(r.Status), itemReason(r))
			switch classify(r.Status) {
			case classTransient:
				res[it.msg] = fmt.Errorf("opensearch item %s", reason)
				retry = append(retry, it)
			case classOutage:
				res[it.msg] = ix.outage(r.Status, it.index, reason)
				outage = res[it.msg]
				retry = append(retry, it)
			default:
				res[it.msg] = worker.Permanent(fmt.Errorf("opensearch refused document %s in %s (%d): %s", it.id, it.index, r.Status, itemReason(r)))
			}
		}
	}
	if outage != nil {
		ix.refused(outage)
	} else {
		ix.accepted()
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
