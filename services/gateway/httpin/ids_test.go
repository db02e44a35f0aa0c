package httpin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// storedIDs waits until the raw stream holds n events and returns their
// distinct ids.
func (e *env) storedIDs(t *testing.T, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, evs := range e.events(t, n) {
		for _, ev := range evs {
			ids[ev.ID] = true
		}
	}
	return ids
}

// A log that repeats a line is normal: each line is an event of its own,
// and the same request sent again stores nothing new.
func TestIdenticalRecordsAreDistinctEventsAndARetryAddsNone(t *testing.T) {
	line := "connection reset by peer"
	cases := []struct {
		name, ctype, body string
		n                 int
	}{
		{"text", "text/plain", strings.Repeat(line+"\n", 1000), 1000},
		{"json array", "application/json", "[" + strings.TrimSuffix(strings.Repeat(`{"msg":"`+line+`"},`, 50), ",") + "]", 50},
		{"ndjson", "application/x-ndjson", strings.Repeat(`{"msg":"`+line+`"}`+"\n", 50), 50},
		// Identical records with the same timestamp of their own are
		// distinct too.
		{"ndjson with a time", "application/x-ndjson", strings.Repeat(`{"time":"2026-11-25T10:00:00Z","msg":"`+line+`"}`+"\n", 50), 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, nil)
			for send := range 2 {
				code, a, _ := e.post(t, "/v1/ingest/app", c.ctype, []byte(c.body))
				if code != 200 || a.Accepted != c.n || len(a.Rejected) != 0 {
					t.Fatalf("send %d: %d %+v", send, code, a)
				}
			}
			if got := e.nats.StreamMsgs(topology.RawStream); got != uint64(c.n) {
				t.Errorf("the raw stream holds %d events after sending %d records twice, want %d", got, c.n, c.n)
			}
			if ids := e.storedIDs(t, c.n); len(ids) != c.n {
				t.Errorf("%d distinct ids for %d records", len(ids), c.n)
			}
		})
	}
}

// A record with a timestamp of its own keeps the id it always had: a hash
// of source, bytes and time, whatever request it comes in.
func TestTimestampedRecordKeepsItsID(t *testing.T) {
	e := setup(t, nil)
	raw := `{"time":"2026-11-25T10:00:00Z","msg":"paid"}`
	if code, a, _ := e.post(t, "/v1/ingest/shop", "application/x-ndjson", []byte(raw+"\n")); code != 200 || a.Accepted != 1 {
		t.Fatalf("%d %+v", code, a)
	}
	ev := e.events(t, 1)["logs.raw.shop"][0]
	if want := event.NewID("shop", []byte(raw), time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)); ev.ID != want {
		t.Errorf("id %s, want %s", ev.ID, want)
	}
}

// A client's Idempotency-Key names the request: the same key is the same
// request, another key another one, whatever the bytes.
func TestIdempotencyKeyNamesTheRequest(t *testing.T) {
	e := setup(t, nil)
	body := []byte("disk full\ndisk full\n")
	for _, key := range []string{"batch-1", "batch-2", "batch-1"} {
		if code, a, _ := e.post(t, "/v1/ingest/host", "text/plain", body, "Idempotency-Key", key); code != 200 || a.Accepted != 2 {
			t.Fatalf("key %s: %d %+v", key, code, a)
		}
	}
	if got := e.nats.StreamMsgs(topology.RawStream); got != 4 {
		t.Errorf("the raw stream holds %d events, want 4 (two requests of two lines, one of them resent)", got)
	}
}

// One malformed line of NDJSON is refused alone: its neighbours are
// stored, it is dead-lettered with the reason, and the answer names it.
func TestMalformedNDJSONLineIsRefusedAlone(t *testing.T) {
	e := setup(t, nil)
	dead := testkit.Record(t, e.nats.JS, topology.DLQStream)
	bad := `{"msg": connection reset}`
	body := "{\"msg\":\"good 1\"}\n\n" + bad + "\n{\"msg\":\"good 2\"}\n"
	code, a, _ := e.post(t, "/v1/ingest/web", "application/x-ndjson", []byte(body))
	if code != 200 || a.Accepted != 2 || len(a.Rejected) != 1 {
		t.Fatalf("%d %+v, want 200 with 2 accepted and 1 rejected", code, a)
	}
	if r := a.Rejected[0]; r.Index != 1 || r.Line != 3 || !strings.Contains(r.Reason, "line 3") || !strings.Contains(r.Reason, "invalid character") {
		t.Errorf("rejected %+v, want index 1, line 3 and the parser's reason", r)
	}
	if evs := e.events(t, 2)["logs.raw.web"]; len(evs) != 2 || evs[0].Body != "good 1" || evs[1].Body != "good 2" {
		t.Errorf("stored %+v", evs)
	}
	m := dead.Wait(t, 1, 10*time.Second)[0]
	d, err := dlq.Parse(m.Headers(), m.Data())
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Data) != bad || d.Stage != "gateway" || !strings.Contains(d.Reason, "line 3") || d.Header.Get("Jetlog-Reject-Code") != "malformed" {
		t.Errorf("dead letter %+v", d)
	}
	if got := e.ie.Records(t, "http", "rejected"); got != 1 {
		t.Errorf("records_total{outcome=rejected} = %v, want 1", got)
	}
}

// A resent request is counted as duplicate, not accepted again, so an
// operator sees a retry storm.
func TestResentRecordsCountAsDuplicates(t *testing.T) {
	e := setup(t, nil)
	body := []byte(`[{"msg":"a","time":"2026-11-25T10:00:00Z"},{"msg":"b","time":"2026-11-25T10:00:01Z"},{"msg":"c"}]`)
	for range 2 {
		if code, a, _ := e.post(t, "/v1/ingest/web", "application/json", body); code != 200 || a.Accepted != 3 {
			t.Fatalf("%d %+v", code, a)
		}
	}
	if acc, dup := e.ie.Records(t, "http", "accepted"), e.ie.Records(t, "http", "duplicate"); acc != 3 || dup != 3 {
		t.Errorf("records_total accepted=%v duplicate=%v, want 3 and 3", acc, dup)
	}
}

// postBulk sends lines as an NDJSON _bulk body and decodes the answer.
func (e *env) postBulk(t *testing.T, path string, lines ...string) opensearchapi.BulkResp {
	t.Helper()
	resp, err := http.Post(e.srv.URL+path, "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var br opensearchapi.BulkResp
	if err := json.NewDecoder(resp.Body).Decode(&br); err != nil {
		t.Fatal(err)
	}
	return br
}

// postBulkOK is postBulk for a request every item of which must succeed.
func (e *env) postBulkOK(t *testing.T, path string, lines ...string) opensearchapi.BulkResp {
	t.Helper()
	br := e.postBulk(t, path, lines...)
	if br.Errors {
		t.Fatalf("bulk answer has errors: %+v", br.Items)
	}
	return br
}

// A shipper's _id names a document within its index: the same _id sent to
// two indices is two events, each in the dataset its index names.
func TestBulkIDIsScopedByItsIndex(t *testing.T) {
	e := setup(t, nil)
	doc := `{"@timestamp":"2026-11-25T10:00:00Z","message":"created"}`
	e.postBulkOK(t, "/_bulk", `{"create":{"_index":"users","_id":"1"}}`, doc, `{"create":{"_index":"orders","_id":"1"}}`, doc)
	got := e.events(t, 2)
	users, orders := got["logs.raw.users"], got["logs.raw.orders"]
	if len(users) != 1 || len(orders) != 1 || users[0].ID == orders[0].ID {
		t.Fatalf("events %v, want one in users and one in orders with different ids", got)
	}
	if users[0].Dataset != "users" || orders[0].Dataset != "orders" {
		t.Errorf("datasets %q and %q, want the indices' names", users[0].Dataset, orders[0].Dataset)
	}
	if got := e.nats.StreamMsgs(topology.RawStream); got != 2 {
		t.Errorf("the raw stream holds %d events, want 2", got)
	}
}

// A dated index (Logstash's and Vector's default) names its family, not a
// dataset per day.
func TestBulkDatedIndexChoosesItsFamily(t *testing.T) {
	e := setup(t, nil)
	e.postBulkOK(t, "/_bulk", `{"index":{"_index":"logstash-2026.11.25"}}`, `{"@timestamp":"2026-11-25T10:00:00Z","message":"x"}`,
		`{"index":{"_index":"Vector-2026-11-25"}}`, `{"@timestamp":"2026-11-25T10:00:00Z","message":"y"}`)
	datasets := map[string]bool{}
	for _, evs := range e.events(t, 2) {
		for _, ev := range evs {
			datasets[ev.Dataset] = true
		}
	}
	if !datasets["logstash"] || !datasets["vector"] {
		t.Errorf("datasets %v, want logstash and vector", datasets)
	}
}

// Identical _bulk documents without an _id or a timestamp are distinct
// events, and a resent request adds none.
func TestBulkIdenticalDocumentsAreDistinct(t *testing.T) {
	e := setup(t, nil)
	var lines []string
	for range 3 {
		lines = append(lines, `{"create":{"_index":"app"}}`, `{"message":"connection reset"}`)
	}
	first := e.postBulkOK(t, "/_bulk", lines...)
	second := e.postBulkOK(t, "/_bulk", lines...)
	ids := map[string]bool{}
	for i, it := range first.Items {
		ids[it["create"].ID] = true
		if again := second.Items[i]["create"].ID; again != it["create"].ID {
			t.Errorf("item %d: id %s, then %s when resent", i, it["create"].ID, again)
		}
	}
	if len(ids) != 3 {
		t.Errorf("%d distinct ids for 3 documents", len(ids))
	}
	if got := e.nats.StreamMsgs(topology.RawStream); got != 3 {
		t.Errorf("the raw stream holds %d events, want 3", got)
	}
}

// The request's bytes name a request without a key: a different request
// with the same line is another event.
func TestDifferentRequestsWithTheSameLineAreDistinct(t *testing.T) {
	e := setup(t, nil)
	for i := range 3 {
		body := fmt.Sprintf("disk full\nchecked %d disks\n", i)
		if code, a, _ := e.post(t, "/v1/ingest/host", "text/plain", []byte(body)); code != 200 || a.Accepted != 2 {
			t.Fatalf("%d %+v", code, a)
		}
	}
	if got := e.nats.StreamMsgs(topology.RawStream); got != 6 {
		t.Errorf("the raw stream holds %d events, want 6", got)
	}
}

// An index name with ':' is refused, as OpenSearch does: it would make
// "<index>:<_id>" ids ambiguous.
func TestBulkIndexWithColonIsRefused(t *testing.T) {
	e := setup(t, nil)
	br := e.postBulk(t, "/_bulk", `{"create":{"_index":"a:b","_id":"c"}}`, `{"message":"x"}`, `{"create":{"_index":"a","_id":"b:c"}}`, `{"message":"x"}`)
	if len(br.Items) != 2 || br.Items[0]["create"].Status != 400 || br.Items[1]["create"].Status != 201 || br.Items[1]["create"].ID != "a:b:c" {
		t.Errorf("items %+v, want the first refused and the second stored as a:b:c", br.Items)
	}
}
