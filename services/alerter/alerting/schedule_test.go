package alerting_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/alerter/alerting"
)

// mapping is the part of the indexer's template the scheduled queries rely
// on: id, source, resource and attribute strings as keywords, @timestamp a
// date.
const mapping = `{"mappings":{"dynamic_templates":[{"resource_strings":{"path_match":"resource.*","match_mapping_type":"string","mapping":{"type":"keyword"}}},
{"attribute_strings":{"path_match":"attributes.*","match_mapping_type":"string","mapping":{"type":"keyword"}}}],
"properties":{"id":{"type":"keyword"},"@timestamp":{"type":"date_nanos"},"source":{"type":"keyword"},"dataset":{"type":"keyword"},
"severity":{"properties":{"text":{"type":"keyword"},"number":{"type":"integer"}}}}}}`

// index writes events into <prefix>-<day>, as the indexer does, and makes
// them searchable.
func index(t *testing.T, cl *opensearchapi.Client, prefix string, evs []*event.Event) {
	t.Helper()
	ctx := context.Background()
	var body bytes.Buffer
	created := map[string]bool{}
	for _, ev := range evs {
		idx := prefix + "-" + ev.Timestamp.UTC().Format("2006.01.02")
		if !created[idx] {
			created[idx] = true
			_, _ = cl.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: idx, Body: strings.NewReader(mapping)})
		}
		fmt.Fprintf(&body, `{"create":{"_index":%q,"_id":%q}}`+"\n", idx, ev.ID)
		b, _ := ev.Marshal()
		body.Write(b)
		body.WriteByte('\n')
	}
	resp, err := cl.Bulk(ctx, opensearchapi.BulkReq{Body: &body, Params: opensearchapi.BulkParams{Refresh: "true"}})
	if err != nil || resp.Errors {
		t.Fatalf("bulk: %v %+v", err, resp)
	}
}

func events(source, hostName string, from, to int) []*event.Event {
	var out []*event.Event
	for i := from; i < to; i++ {
		out = append(out, &event.Event{ID: fmt.Sprintf("%s-%s-%d", source, hostName, i), Timestamp: base.Add(time.Duration(i) * time.Second),
			Source: source, Body: fmt.Sprintf("error %d", i), Severity: event.Severity{Text: "ERROR", Number: 17},
			Resource: map[string]any{"host.name": hostName}})
	}
	return out
}

func withSchedule(prefix string) func(*alerting.Config) {
	return func(c *alerting.Config) {
		c.Schedule.Enabled = true
		c.Schedule.Jitter = 0
		c.IndexPrefix = prefix
	}
}

func scheduledRule(stream bool) string {
	return fmt.Sprintf("%sschedule: {every: 1h, lookback: 1h}\nstream: %v\n", tenErrors, stream)
}

// firingOf returns the firing alert events recorded.
func firingOf(t *testing.T, rec *testkit.Recorder) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, a := range decode(t, rec.Msgs()) {
		if a.State == alert.StateFiring {
			out = append(out, a)
		}
	}
	return out
}

// Events indexed while the streaming path never saw them: the scheduled
// query raises the alert.
func TestScheduledQueryRaisesWhatTheStreamMissed(t *testing.T) {
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", scheduledRule(true))
	index(t, cl, prefix, events("web", "h1", 0, 12)) // indexed while no alerter ran, never on LOGS
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	runWithOpenSearch(t, n, dir, withSchedule(prefix))
	testkit.Poll(t, time.Minute, func() (bool, string) {
		return len(firingOf(t, rec)) == 1, fmt.Sprintf("%d firing alerts", len(firingOf(t, rec)))
	})
	a := firingOf(t, rec)[0]
	if a.Origin != alert.OriginSchedule || a.Group["resource.host.name"] != "h1" || !a.At.Equal(base.Add(9*time.Second)) {
		t.Errorf("scheduled alert %+v", a)
	}
}

// The same events on LOGS and in OpenSearch, both paths running: one
// alert event per transition, whichever path raised it first.
func TestStreamAndScheduleRaiseOneAlert(t *testing.T) {
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", scheduledRule(true))
	evs := events("web", "h1", 0, 12)
	index(t, cl, prefix, evs)
	publish(t, n, "web", "h1", 0, 12) // the stream's backlog: the alerter was stopped
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	h := runWithOpenSearch(t, n, dir, withSchedule(prefix))
	testkit.Poll(t, time.Minute, func() (bool, string) {
		a := h.Component("alerter").(*alerting.Alerter)
		runs := a.ScheduledRuns()
		res, ok := runs["errors"]
		return ok && res.Err == nil && len(firingOf(t, rec)) >= 1, fmt.Sprintf("scheduled runs %v, %d firing", runs, len(firingOf(t, rec)))
	})
	waitAcked(t, n, 12)
	h.Component("alerter").(*alerting.Alerter).Trigger() // and once more, after the stream's
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		a := h.Component("alerter").(*alerting.Alerter)
		res := a.ScheduledRuns()["errors"]
		return !res.End.IsZero() && res.End.After(time.Now().Add(-10*time.Second)), "second run not finished"
	})
	if got := firingOf(t, rec); len(got) != 1 {
		t.Errorf("%d firing alert events for one transition: %+v", len(got), got)
	}
}

// A new_term rule learns its history from OpenSearch when it starts: a
// user seen last week is known, a new one fires, and a restart reads the
// learned terms from the state instead of learning again.
func TestNewTermIsSeededFromOpenSearch(t *testing.T) {
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "users.yaml", "type: new_term\nfields: [attributes.user]\nnew_term: {learning_period: 0s, seed_lookback: 24h}\n")
	old := events("web", "h1", 0, 2)
	for i, ev := range old {
		ev.Attributes = map[string]any{"user": []string{"ann", "bob"}[i]}
		ev.Timestamp = time.Now().Add(-2 * time.Hour)
	}
	index(t, cl, prefix, old)
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	h := runWithOpenSearch(t, n, dir, withSchedule(prefix))
	testkit.Poll(t, time.Minute, func() (bool, string) {
		kv, _ := n.JS.KeyValue(context.Background(), topology.AlertStateBucket)
		lister, err := kv.ListKeysFiltered(context.Background(), "seed.>")
		if err != nil {
			return false, err.Error()
		}
		count := 0
		for range lister.Keys() {
			count++
		}
		return count == 4, fmt.Sprintf("%d of 4 partitions seeded", count)
	})
	send := func(id, user string) {
		ev := &event.Event{ID: id, Timestamp: time.Now(), Source: "web", Attributes: map[string]any{"user": user}}
		data, _ := ev.Marshal()
		n.Publish(topology.EnrichedPrefix+"web", id, data)
	}
	send("n1", "ann")
	send("n2", "eve")
	testkit.Poll(t, 30*time.Second, func() (bool, string) { return len(firingOf(t, rec)) >= 1, "no alert for eve" })
	_ = h.Stop(context.Background())
	runWithOpenSearch(t, n, dir, withSchedule(prefix))
	send("n3", "bob")
	send("n4", "eve")
	send("n5", "zed")
	testkit.Poll(t, 30*time.Second, func() (bool, string) { return len(firingOf(t, rec)) >= 2, "no alert for zed" })
	got := firingOf(t, rec)
	if len(got) != 2 || got[0].Group["attributes.user"] != "eve" || got[1].Group["attributes.user"] != "zed" {
		t.Errorf("new terms alerted: %+v", got)
	}
}
