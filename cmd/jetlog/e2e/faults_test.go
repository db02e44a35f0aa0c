package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// TestSIGKILLWorkersMidRun kills the enricher and the indexer processes at
// random moments while 200 000 events flow, and checks every event is
// indexed exactly once.
func TestSIGKILLWorkersMidRun(t *testing.T) {
	const total = 200000
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	published := make(chan struct{})
	go func() { defer close(published); publish(ctx, t, n.JS, "kill", 0, total) }()
	w := newWorkers(t, n.URL, testkit.OpenSearchURL(), prefix)

	kills := 0
	for kills < 10 {
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond) // random moments, not synchronisation
		done, _ := countDocs(cl, prefix)
		if done >= total {
			break
		}
		victim := []string{"enricher", "indexer"}[kills%2]
		w.kill(victim)
		kills++
	}
	<-published
	took := waitIndexed(t, cl, prefix, total, 4*time.Minute)
	t.Logf("%d kills; all %d events indexed %v after the last one", kills, total, took.Round(time.Millisecond))
	if kills < 4 {
		t.Fatalf("only %d kills happened before the run finished; the test did not exercise crashes", kills)
	}
	checkExactlyOnce(t, cl, prefix, "kill", total)
	if r := w.redeliveries(); r == 0 {
		t.Errorf("no redelivery counted: the kills never hit a batch in flight")
	} else {
		t.Logf("%v messages redelivered after kills", r)
	}
	if d := n.StreamMsgs(topology.DLQStream); d != 0 {
		t.Errorf("%d events dead-lettered", d)
	}
}

// TestOpenSearchOutage stops OpenSearch for 30 s while events flow: the
// indexer reports not ready, nothing is dead-lettered, and the backlog
// drains once OpenSearch is back.
func TestOpenSearchOutage(t *testing.T) {
	const total = 40000
	node := startOwnOpenSearch(t)
	cl := node.client(t)
	prefix := "outage"
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorkers(t, n.URL, node.URL, prefix)
	publish(ctx, t, n.JS, "outage", 0, total/4)
	waitIndexed(t, cl, prefix, total/4, time.Minute)

	node.run("stop-one", "1")
	stopped := time.Now()
	published := make(chan struct{})
	go func() { defer close(published); publish(ctx, t, n.JS, "outage", total/4, total) }()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		code, body := get(t, "http://"+w.proc("indexer").Admin+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "opensearch"), fmt.Sprintf("readyz %d %s", code, body)
	})
	time.Sleep(30*time.Second - time.Since(stopped)) // the outage lasts 30 s
	<-published
	backlog := n.StreamMsgs(topology.EnrichedStream)
	node.run("start-one", "1")
	drain := waitIndexed(t, cl, prefix, total, 4*time.Minute)
	t.Logf("OpenSearch down for 30s; %d events in LOGS; all %d indexed %v after it came back", backlog, total, drain.Round(time.Millisecond))
	checkExactlyOnce(t, cl, prefix, "outage", total)
	if d := n.StreamMsgs(topology.DLQStream); d != 0 {
		t.Errorf("%d events dead-lettered during a transient outage", d)
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		code, body := get(t, "http://"+w.proc("indexer").Admin+"/readyz")
		return code == http.StatusOK, fmt.Sprintf("readyz %d %s", code, body)
	})
}

// TestNATSRestart stops the NATS server mid-run and starts it again on the
// same store: the workers reconnect and nothing is lost.
func TestNATSRestart(t *testing.T) {
	const total = 60000
	cl := testkit.OpenSearch(t)
	prefix := testkit.IndexName(t, cl)
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	newWorkers(t, n.URL, testkit.OpenSearchURL(), prefix)
	publish(ctx, t, n.JS, "restart", 0, total/2)
	testkit.Poll(t, time.Minute, func() (bool, string) {
		got, _ := countDocs(cl, prefix)
		return got > 0, fmt.Sprintf("%d documents", got)
	})
	n.Restart()
	publish(ctx, t, n.JS, "restart", total/2, total)
	waitIndexed(t, cl, prefix, total, 3*time.Minute)
	checkExactlyOnce(t, cl, prefix, "restart", total)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if json.Unmarshal(b, &v) == nil {
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, string(b)
}
