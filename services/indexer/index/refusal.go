package index

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/osclient"
)

// class is what an HTTP status from OpenSearch, or from a proxy in front of
// it, means for the documents it answered. Bulk requests and bulk items are
// classified by this one table.
type class int

const (
	// classTransient: nothing answered (connection refused, timeout), 408,
	// 429 or 5xx. Retried with backoff, never dead-lettered.
	classTransient class = iota
	// classOutage: 401, 403 or 404. OpenSearch refuses us, not the
	// document: wrong credentials, a permission or write block, an index
	// that is missing and may not be created. Retried with backoff, never
	// dead-lettered, and readiness says why until a request succeeds.
	classOutage
	// classTooLarge: 413. A request is split in halves and each sent again;
	// a single document still refused alone is poison.
	classTooLarge
	// classPermanent: any other 4xx (a mapping conflict, a document
	// OpenSearch cannot parse). The document is poison: DLQ with the reason.
	classPermanent
)

// classify is the table. Status 0 means nothing answered.
func classify(status int) class {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return classOutage
	case status == http.StatusRequestEntityTooLarge:
		return classTooLarge
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return classTransient
	case status >= 400 && status < 500:
		return classPermanent
	}
	return classTransient
}

// outage explains a refusal of class classOutage for an operator: what
// OpenSearch refuses and what to change. index is "" when the bulk request
// as a whole was refused, else the index of the refused item; refusal is
// the status with OpenSearch's error type and reason (osclient.Refusal).
func (ix *Indexer) outage(status int, index, refusal string) error {
	pattern := ix.cfg.IndexPrefix + "-*"
	switch {
	case status == http.StatusUnauthorized:
		return osclient.ErrUnauthorized
	case status == http.StatusForbidden && index == "":
		return fmt.Errorf("opensearch forbids our bulk requests (%s): grant the indexer's user the bulk and create_index permissions on %s", refusal, pattern)
	case status == http.StatusForbidden:
		return fmt.Errorf("opensearch forbids writing to %s (%s): grant the indexer's user write and create_index on %s, or lift the index's write block", index, refusal, pattern)
	case index == "":
		return fmt.Errorf("opensearch refuses our bulk requests (%s): an index is missing and may not be created (allow %s in action.auto_create_index), or opensearch.urls or a proxy routes to the wrong path", refusal, pattern)
	default:
		return fmt.Errorf("index %s does not exist and opensearch does not create it (%s): allow %s in action.auto_create_index, or create the index", index, refusal, pattern)
	}
}

// tooLarge is the reason a single document goes to the DLQ for a 413.
func (ix *Indexer) tooLarge(it item, size int) error {
	accepted := ""
	if n := ix.largestAccepted.Load(); n > 0 {
		accepted = "; the largest request accepted so far was " + formatSize(int(n))
	}
	return fmt.Errorf("document %s for %s is %s as a bulk request, more than opensearch or a proxy in front of it accepts "+
		"(413 Request Entity Too Large even alone%s): raise that body limit (nginx client_max_body_size, opensearch http.max_content_length) "+
		"or drop or truncate such events in a pipeline", it.id, it.index, formatSize(size), accepted)
}

// shrink lowers the size of the bulk requests the indexer sends after one
// of size bytes was refused as too large, so that later batches do not
// meet the same refusal: halving is what splitting does, so the next
// requests start at the size that passed.
func (ix *Indexer) shrink(size int) {
	want := int64(size / 2)
	for {
		cur := ix.maxRequest.Load()
		if want >= cur {
			return
		}
		if ix.maxRequest.CompareAndSwap(cur, want) {
			ix.log.Warn("a bulk request was refused as too large (413); sending smaller requests until restart",
				"refused", formatSize(size), "max_request", formatSize(int(want)), "bulk_max_bytes", ix.cfg.BulkMaxBytes,
				"fix", "raise the body limit in front of opensearch (nginx client_max_body_size) or lower indexer.bulk_max_bytes")
			return
		}
	}
}

func formatSize(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}

// health is why OpenSearch refuses the indexer, for readiness: set by an
// outage, cleared by the next bulk request that meets none.
type health struct {
	mu    sync.Mutex
	err   error
	since time.Time
}

// refused records err as the reason indexing is stopped, and logs it when it
// is new.
func (ix *Indexer) refused(err error) {
	h := &ix.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil && h.err.Error() == err.Error() {
		return
	}
	if h.err == nil {
		h.since = time.Now()
	}
	h.err = err
	ix.log.Warn("opensearch refuses the indexer; retrying with backoff, the backlog waits in JetStream", "reason", err)
}

// accepted records that a bulk request met no outage.
func (ix *Indexer) accepted() {
	h := &ix.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return
	}
	ix.log.Info("opensearch accepts the indexer's requests again", "after", time.Since(h.since).Round(time.Millisecond), "was", h.err)
	h.err = nil
}

// Ready is the indexer's readiness: why OpenSearch refuses its requests,
// if it does, else whether the cluster answers and is not red.
func (ix *Indexer) Ready(ctx context.Context) error {
	ix.health.mu.Lock()
	err := ix.health.err
	ix.health.mu.Unlock()
	if err != nil {
		return err
	}
	if err := osclient.Ping(ctx, ix.cl); err != nil {
		return err
	}
	return ix.templateReady()
}

// requestResult is the result label of jetlog_indexer_bulk_requests_total
// for a status (0: nothing answered).
func requestResult(status int) string {
	switch {
	case status == 0:
		return "unreachable"
	case status < 300:
		return "ok"
	case status == http.StatusUnauthorized:
		return "unauthorized"
	case status == http.StatusForbidden:
		return "forbidden"
	case status == http.StatusNotFound:
		return "not_found"
	case status == http.StatusRequestEntityTooLarge:
		return "too_large"
	case status == http.StatusTooManyRequests:
		return "throttled"
	case status >= 500:
		return "server_error"
	}
	return "other_" + strconv.Itoa(status/100) + "xx"
}

// newRequests registers jetlog_indexer_bulk_requests_total on reg, or finds
// it there.
func newRequests(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jetlog_indexer_bulk_requests_total",
		Help: "Bulk requests sent to OpenSearch, by result: ok, unreachable, unauthorized, forbidden, not_found, too_large (split and sent again), throttled, server_error, other_3xx/other_4xx.",
	}, []string{"result"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		c = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return c, nil
}
