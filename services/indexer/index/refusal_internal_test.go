package index

import (
	"net/http"
	"testing"
)

// The one table: what each status from OpenSearch, or a proxy in front of
// it, means for the documents it answered.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		want   class
	}{
		{"no answer (refused, timeout)", 0, classTransient},
		{"request timeout", http.StatusRequestTimeout, classTransient},
		{"too many requests", http.StatusTooManyRequests, classTransient},
		{"internal error", http.StatusInternalServerError, classTransient},
		{"bad gateway (proxy, node gone)", http.StatusBadGateway, classTransient},
		{"unavailable", http.StatusServiceUnavailable, classTransient},
		{"gateway timeout", http.StatusGatewayTimeout, classTransient},
		{"credentials refused", http.StatusUnauthorized, classOutage},
		{"permission or write block", http.StatusForbidden, classOutage},
		{"index missing, auto-create off", http.StatusNotFound, classOutage},
		{"body limit", http.StatusRequestEntityTooLarge, classTooLarge},
		{"mapping conflict, parse error", http.StatusBadRequest, classPermanent},
		{"method not allowed", http.StatusMethodNotAllowed, classPermanent},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := classify(c.status); got != c.want {
				t.Errorf("classify(%d) = %d, want %d", c.status, got, c.want)
			}
		})
	}
}
