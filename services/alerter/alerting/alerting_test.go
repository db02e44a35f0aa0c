package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/alerter/alerting"
)

// fast makes the alerter quick to judge and to hand partitions over.
func fast(c *alerting.Config) {
	c.Partitions = 4
	c.LeaseTTL = 2 * time.Second
	c.Tick = 50 * time.Millisecond
	c.CheckpointInterval = 100 * time.Millisecond
	c.Schedule.Enabled = false
	c.RulesBucket = ""
	c.Consumer.PullWait = 100 * time.Millisecond
}

// config is an alerter host's configuration on n with the rules of dir.
func hostConfig(t *testing.T, n *testkit.NATS, dir string, set []string, mods []func(*alerting.Config)) *host.Config {
	t.Helper()
	cfg := host.NewConfig(host.Options{Name: "alerter", Factories: []component.Factory{alerting.Component}})
	sec := host.SectionOf[alerting.Config](cfg, "alerter")
	sec.RulesDir = dir
	fast(sec)
	for _, m := range mods {
		m(sec)
	}
	if err := cfg.Load(config.Source{Set: append([]string{"nats.url=" + n.URL, "admin.listen=127.0.0.1:0"}, set...)}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run starts an alerter host on n with the rules of dir.
func run(t *testing.T, n *testkit.NATS, dir string, logs io.Writer, mods ...func(*alerting.Config)) *host.Host {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	return hosttest.StartLogging(t, hostConfig(t, n, dir, nil, mods), logs)
}

// runWithOpenSearch is run with the test OpenSearch in the host's section.
func runWithOpenSearch(t *testing.T, n *testkit.NATS, dir string, mods ...func(*alerting.Config)) *host.Host {
	t.Helper()
	return hosttest.Start(t, hostConfig(t, n, dir, []string{"opensearch.urls=[" + testkit.OpenSearchURL() + "]"}, mods))
}

func writeRule(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

var base = time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)

// publish puts events i in [from, to) of host h on LOGS, one second apart.
func publish(t *testing.T, n *testkit.NATS, source, hostName string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		ev := &event.Event{ID: fmt.Sprintf("%s-%s-%d", source, hostName, i), Timestamp: base.Add(time.Duration(i) * time.Second),
			Source: source, Body: fmt.Sprintf("error %d", i), Severity: event.Severity{Text: "ERROR", Number: 17},
			Resource: map[string]any{"host.name": hostName}}
		data, _ := ev.Marshal()
		n.Publish(topology.EnrichedPrefix+source, ev.ID, data)
	}
}

func decode(t *testing.T, msgs []jetstream.Msg) []alert.Alert {
	t.Helper()
	out := make([]alert.Alert, 0, len(msgs))
	for _, m := range msgs {
		var a alert.Alert
		if err := json.Unmarshal(m.Data(), &a); err != nil {
			t.Fatal(err)
		}
		if m.Subject() != a.Subject() || m.Headers().Get("Nats-Msg-Id") != a.MsgID() {
			t.Errorf("alert on %s with id %s, want %s %s", m.Subject(), m.Headers().Get("Nats-Msg-Id"), a.Subject(), a.MsgID())
		}
		out = append(out, a)
	}
	return out
}

const tenErrors = `type: frequency
match: {sources: [web]}
group_by: [resource.host.name]
window: 1h
threshold: 10
resolve_after: 1h
`

func TestAFrequencyRuleFiresOnceOnTheCrossingEvent(t *testing.T) {
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", tenErrors)
	run(t, n, dir, nil)
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	publish(t, n, "web", "h1", 0, 9)
	publish(t, n, "web", "h2", 0, 3)
	publish(t, n, "web", "h1", 9, 15)
	got := decode(t, rec.Wait(t, 1, 30*time.Second))
	a := got[0]
	if a.State != alert.StateFiring || a.Group["resource.host.name"] != "h1" || a.Value != 10 || a.Origin != alert.OriginStream {
		t.Fatalf("alert %+v", a)
	}
	if !a.At.Equal(base.Add(9 * time.Second)) {
		t.Errorf("fired at %v, want the tenth event's time %v", a.At, base.Add(9*time.Second))
	}
	if len(a.EventIDs) != 10 || a.EventIDs[0] != "web-h1-0" {
		t.Errorf("event ids %v", a.EventIDs)
	}
	// The state reaches alert_state, and the open alert its ledger entry.
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		kv, _ := n.JS.KeyValue(context.Background(), topology.AlertStateBucket)
		_, err := kv.Get(context.Background(), alerting.LedgerKey(a.Fingerprint))
		return err == nil, fmt.Sprint(err)
	})
	if len(rec.Msgs()) != 1 {
		t.Errorf("%d alert events, want 1", len(rec.Msgs()))
	}
}

// A restarted alerter continues its windows: it neither forgets the events
// it counted before, nor fires again what it fired.
func TestStateSurvivesARestart(t *testing.T) {
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", tenErrors)
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	h := run(t, n, dir, nil)
	publish(t, n, "web", "h1", 0, 6)
	waitAcked(t, n, 6)
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, n, dir, nil)
	publish(t, n, "web", "h1", 6, 12)
	got := decode(t, rec.Wait(t, 1, 30*time.Second))
	if got[0].Value != 10 || !got[0].At.Equal(base.Add(9*time.Second)) {
		t.Fatalf("after a restart the rule fired with %v events at %v; want 10 at the tenth event", got[0].Value, got[0].At)
	}
	publish(t, n, "web", "h1", 12, 14)
	waitAcked(t, n, 14)
	if len(rec.Msgs()) != 1 {
		t.Errorf("%d alert events, want 1", len(rec.Msgs()))
	}
}

// waitAcked waits until the alerter's partitions acknowledged n hits.
func waitAcked(t *testing.T, n *testkit.NATS, want int) {
	t.Helper()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		s, err := n.JS.Stream(context.Background(), alerting.HitsStream)
		if err != nil {
			return false, err.Error()
		}
		info, _ := s.Info(context.Background())
		c, _ := n.JS.Consumer(context.Background(), topology.EnrichedStream, topology.AlerterDurable)
		ci, _ := c.Info(context.Background())
		return info.State.Msgs == 0 && ci.NumAckPending == 0 && ci.NumPending == 0 && ci.AckFloor.Stream >= uint64(want),
			fmt.Sprintf("hits left %d, LOGS ack floor %d", info.State.Msgs, ci.AckFloor.Stream)
	})
}

// A bad rule file is refused with its file and line; the good rules keep
// firing, and a rule added while the alerter runs is loaded.
func TestABadRuleIsRefusedAndTheGoodOnesKeepFiring(t *testing.T) {
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", tenErrors)
	writeRule(t, dir, "broken.yaml", "type: frequency\nwindow: 1m\nthreshold: -1\n")
	logs := &testkit.LogBuffer{}
	h := run(t, n, dir, logs)
	if !strings.Contains(logs.String(), "broken.yaml:3: threshold") {
		t.Errorf("the log does not name the bad file and line:\n%s", logs.String())
	}
	if v := testkit.SumMetric(testkit.Scrape(t, h.AdminAddr()), "jetlog_alerter_rules", "state=refused"); v != 1 {
		t.Errorf("jetlog_alerter_rules{state=refused} = %v", v)
	}
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	publish(t, n, "web", "h1", 0, 10)
	rec.Wait(t, 1, 30*time.Second)

	// Hot reload: a new rule, and a bad edit that leaves the old rule running.
	writeRule(t, dir, "any-db.yaml", "type: any\nmatch: {sources: [db]}\n")
	writeRule(t, dir, "errors.yaml", tenErrors+"oops: [\n")
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(logs.String(), "any-db"), "the new rule is not loaded"
	})
	if !strings.Contains(logs.String(), "errors.yaml:") {
		t.Errorf("the bad edit is not reported with its file:\n%s", logs.String())
	}
	publish(t, n, "db", "h9", 0, 1)
	publish(t, n, "web", "h2", 0, 10)
	firing := func() map[string]int {
		out := map[string]int{}
		for _, a := range decode(t, rec.Msgs()) {
			if a.State == alert.StateFiring {
				out[a.Rule]++
			}
		}
		return out
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		f := firing()
		return f["errors"] == 2 && f["any-db"] == 1, fmt.Sprintf("firing alerts by rule %v: the last good version of errors.yaml must keep running", f)
	})
}

// An acknowledgement written to the state bucket reaches the alert's owner.
func TestAcknowledge(t *testing.T) {
	n := testkit.StartNATS(t)
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", tenErrors)
	run(t, n, dir, nil)
	rec := testkit.Record(t, n.JS, topology.AlertsStream)
	publish(t, n, "web", "h1", 0, 10)
	a := decode(t, rec.Wait(t, 1, 30*time.Second))[0]
	kv, err := n.JS.KeyValue(context.Background(), topology.AlertStateBucket)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(alerting.AckRequest{By: "ann", At: time.Now()})
	if _, err := kv.Put(context.Background(), alerting.AckKey(a.Fingerprint), b); err != nil {
		t.Fatal(err)
	}
	got := decode(t, rec.Wait(t, 2, 30*time.Second))
	if got[1].State != alert.StateAcknowledged || got[1].AcknowledgedBy != "ann" || !got[1].StartsAt.Equal(a.StartsAt) {
		t.Errorf("acknowledgement event %+v", got[1])
	}
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "errors.yaml", tenErrors)
	componenttest.Run(t, componenttest.Case{Factory: alerting.Component, Configure: func(_ *testing.T, cfg any) {
		c := cfg.(*alerting.Config)
		c.RulesDir = dir
		fast(c)
	}})
}

// Rendezvous hashing spreads partitions over members, and moves few when
// one leaves.
func TestAssignmentSpreadsAndMovesLittle(t *testing.T) {
	three := []string{"a", "b", "c"}
	count := map[string]int{}
	for p := range 64 {
		count[alerting.Assigned(three, p)]++
	}
	for _, m := range three {
		if count[m] < 10 {
			t.Errorf("member %s owns %d of 64 partitions: %v", m, count[m], count)
		}
	}
	for p := range 64 {
		if before := alerting.Assigned(three, p); before != "b" && alerting.Assigned([]string{"a", "c"}, p) != before {
			t.Errorf("partition %d moved from %s though its owner stayed", p, before)
		}
	}
}
