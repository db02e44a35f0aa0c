package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// TestSIGTERMDrainsTheBatchInFlight stops a real enricher process with
// SIGTERM while it is busy, then checks that what it was handling was
// finished (its successor publishes no event twice) and that what it had
// not started was handed back at once (its successor gets everything long
// before ack_wait).
func TestSIGTERMDrainsTheBatchInFlight(t *testing.T) {
	bin := testkit.BuildBinary(t, ".")
	n := testkit.StartNATS(t)
	const total = 100000
	n.PublishMany(total, func(i int) (string, string, []byte) {
		return "logs.raw.drain", fmt.Sprint("in-", i), []byte(fmt.Sprintf(`{"msg":"line %d","level":"info"}`, i))
	})
	env := []string{"JETLOG_NATS__URL=" + n.URL}
	// With a 5-minute ack_wait, a message the first process kept without
	// acknowledging or handing back would hold up the second one for
	// minutes, past the polls below.
	args := []string{"-set", "log.format=json", "-set", "admin.listen=127.0.0.1:0", "-set", "enricher.consumer.batch=200",
		"-set", "enricher.consumer.concurrency=2", "-set", "enricher.consumer.ack_wait=5m", "-set", "enricher.pipelines_dir="}

	first := testkit.StartProcess(t, bin, env, args...)
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		got := n.StreamMsgs(topology.EnrichedStream)
		return got >= 3000, fmt.Sprintf("%d enriched", got)
	})
	first.Signal(syscall.SIGTERM)
	if code := first.Wait(30 * time.Second); code != 0 {
		t.Fatalf("enricher exited %d after SIGTERM", code)
	}
	if !strings.Contains(first.Logs(), `"msg":"draining"`) || !strings.Contains(first.Logs(), `"msg":"worker stopped"`) {
		t.Errorf("no drain in the log:\n%s", first.Logs())
	}
	stoppedAt := n.StreamMsgs(topology.EnrichedStream)
	if stoppedAt >= total {
		t.Fatalf("all %d events were enriched before SIGTERM; the test did not stop it mid-run", total)
	}
	second := testkit.StartProcess(t, bin, env, args...)
	// The successor must get everything long before the 5-minute ack_wait
	// would hand back anything the first process kept: it fails if it
	// stops making progress for 60 s, however slow the machine.
	testkit.PollProgress(t, 60*time.Second, func() (bool, int64, string) {
		got := n.StreamMsgs(topology.EnrichedStream)
		return got >= total, int64(got), fmt.Sprintf("%d of %d enriched", got, total)
	})
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		acked := second.Metric("jetlog_worker_messages_total", "worker=enricher", "outcome=acked")
		return acked == float64(total-int(stoppedAt)), fmt.Sprintf("second process acked %v, want %d", acked, total-int(stoppedAt))
	})
	if dups := second.Metric("jetlog_worker_events_duplicate_total", "worker=enricher"); dups != 0 {
		t.Errorf("the second process re-published %v events the first had already published", dups)
	}
	if got := n.StreamMsgs(topology.EnrichedStream); got != total {
		t.Errorf("%d enriched events, want %d", got, total)
	}
	second.Signal(syscall.SIGTERM)
	if code := second.Wait(30 * time.Second); code != 0 {
		t.Errorf("second enricher exited %d", code)
	}
}
