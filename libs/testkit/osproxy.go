package testkit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// Intercept sees each request to an OpenSearchProxy, with its body already
// read, and either answers it itself (an injected failure) and returns true,
// or returns false to pass it on to the node unchanged.
type Intercept func(w http.ResponseWriter, r *http.Request, body []byte) bool

// OpenSearchProxy starts a reverse proxy in front of the test node and
// returns its URL. It stands for what sits between a worker and OpenSearch
// in production (nginx with its body limit, a security layer that checks
// credentials and permissions), so a test can make it refuse requests the
// way those do while the node behind it stays real. The proxy stops when
// the test ends.
func OpenSearchProxy(t testing.TB, intercept Intercept) string {
	t.Helper()
	target, err := url.Parse(OpenSearchURL())
	if err != nil {
		t.Fatalf("testkit: OPENSEARCH_URL: %v", err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if intercept != nil && intercept(w, r, body) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
