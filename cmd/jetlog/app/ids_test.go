package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/testkit"
)

// Through the whole pipeline: identical lines of one request are as many
// documents, the request sent again adds none, and one _id sent to two
// _bulk indices is two documents in two index families.
func TestIdenticalRecordsAndScopedIDsAreIndexedApart(t *testing.T) {
	cl := testkit.OpenSearch(t)
	a, prefix := startApp(t, cl)
	base := "http://" + app.GatewayOf(a).HTTPAddr()
	text := strings.Repeat("connection reset by peer\n", 1000)
	doc := `{"@timestamp":"2026-11-25T10:00:00Z","message":"created"}`
	bulk := `{"create":{"_index":"users","_id":"1"}}` + "\n" + doc + "\n" + `{"create":{"_index":"orders","_id":"1"}}` + "\n" + doc + "\n"
	post := func(path, ctype, body string) {
		t.Helper()
		resp, err := http.Post(base+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			Errors   bool `json:"errors"`
			Accepted int  `json:"accepted"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 || ans.Errors {
			t.Fatalf("POST %s: %d %+v %v", path, resp.StatusCode, ans, err)
		}
	}
	for range 2 {
		post("/v1/ingest/legacy", "text/plain", text)
		post("/_bulk", "application/x-ndjson", bulk)
	}
	waitDrained(t, a)
	count := func(index, query string) (int64, error) {
		_, _ = cl.Indices.Refresh(context.Background(), &opensearchapi.IndicesRefreshReq{Index: []string{index}})
		c, err := cl.Indices.Count(context.Background(), &opensearchapi.IndicesCountReq{Indices: []string{index}, Body: strings.NewReader(query)})
		if err != nil {
			return 0, err
		}
		return int64(c.Count), nil
	}
	for index, want := range map[string]int64{
		prefix + "-*":                 1002,
		prefix + "-users-2026.11.25":  1,
		prefix + "-orders-2026.11.25": 1,
	} {
		if n, err := count(index, `{"query":{"match_all":{}}}`); err != nil || n != want {
			t.Errorf("%s holds %d documents (%v), want %d", index, n, err, want)
		}
	}
	if n, err := count(prefix+"-*", `{"query":{"term":{"source":"legacy"}}}`); err != nil || n != 1000 {
		t.Errorf("%d documents of the 1000 identical lines (%v)", n, err)
	}
}
