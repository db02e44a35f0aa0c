package index_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
)

// TestTemplateMapsFailureTagsAndErrorsAsKeywords: an event a pipeline kept
// after a stage failed is found by its tag and its failed stage, exactly
// (keywords, so they filter and aggregate), and its error never collides
// with an "error" field the event brought in its attributes.
func TestTemplateMapsFailureTagsAndErrorsAsKeywords(t *testing.T) {
	app := goodEvent(1)
	app.Attributes["error"] = "connection refused" // the application's own field, a string
	kept := goodEvent(2)
	kept.Body = "nginx: [emerg] bind() to 0.0.0.0:80 failed"
	kept.Tags = []string{"_parsefailure", "_grokparsefailure"}
	kept.Error = &event.Failure{Stage: "nginx/access line", Message: "no grok pattern matched body"}
	cl, prefix := indexEvents(t, app, kept)

	for field, value := range map[string]string{"tags": "_grokparsefailure", "error.stage": "nginx/access line", "error.message": "no grok pattern matched body"} {
		q := fmt.Sprintf(`{"query":{"term":{%q:%q}},"aggs":{"by":{"terms":{"field":%q}}}}`, field, value, field)
		resp, err := cl.Search(context.Background(), &opensearchapi.SearchReq{Indices: []string{prefix + "-*"}, Body: strings.NewReader(q)})
		if err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		if len(resp.Hits.Hits) != 1 || resp.Hits.Hits[0].ID != kept.ID {
			t.Errorf("term %s = %q found %d documents, want the kept event", field, value, len(resp.Hits.Hits))
		}
	}
	mresp, err := cl.Indices.Mapping.Get(context.Background(), &opensearchapi.MappingGetReq{Indices: []string{prefix + "-*"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Inspect().Response.Body)
	var m map[string]struct {
		Mappings struct {
			Properties map[string]struct {
				Type       string `json:"type"`
				Properties map[string]struct {
					Type string `json:"type"`
				} `json:"properties"`
			} `json:"properties"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, idx := range m {
		p := idx.Mappings.Properties
		if p["tags"].Type != "keyword" || p["error"].Properties["stage"].Type != "keyword" || p["error"].Properties["message"].Type != "keyword" {
			t.Errorf("mapped as tags %q, error.stage %q, error.message %q; want keywords", p["tags"].Type, p["error"].Properties["stage"].Type, p["error"].Properties["message"].Type)
		}
	}
}

// indexEvents runs an indexer with the template over a fresh index prefix,
// indexes evs and waits until they are searchable.
func indexEvents(t *testing.T, evs ...*event.Event) (*opensearchapi.Client, string) {
	t.Helper()
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	n := testkit.StartNATS(t)
	runIndexer(t, n, newIndexer(t, cl, prefix))
	for _, ev := range evs {
		b, _ := ev.Marshal()
		n.Publish("logs.enriched.web", ev.ID, b)
	}
	waitDocs(t, cl, prefix, len(evs))
	return cl, prefix
}

// TestTemplatesOfNestedPrefixesCoexist: two indexers whose prefixes extend
// one another (logs-x and logs-x-base: their patterns overlap) both
// install their template, and each index takes the template of the longer
// prefix it matches. OpenSearch refuses overlapping templates of equal
// priority.
func TestTemplatesOfNestedPrefixesCoexist(t *testing.T) {
	cl := testkit.OpenSearch(t)
	short := testkit.IndexName(t, cl)
	long := short + "-base"
	newIndexer(t, cl, short)
	newIndexer(t, cl, long) // fails on a refused template
	sim, err := cl.IndexTemplate.SimulateIndex(context.Background(), opensearchapi.IndexTemplateSimulateIndexReq{Index: long + "-web-2026.11.30"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sim.Overlapping) != 1 || sim.Overlapping[0].Name != short {
		t.Errorf("an index of %s: overlapping templates %+v, want %s's template chosen over %s's", long, sim.Overlapping, long, short)
	}
}
