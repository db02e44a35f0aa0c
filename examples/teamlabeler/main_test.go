package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
)

// TestBuiltWorkerLabelsAndStores builds this file as a newcomer would (go
// build), runs the binary against an in-process NATS with nothing set up
// but jetlog's own streams, and checks that an enriched event comes out
// labelled in the OWNED stream the worker declared, and that debug noise
// does not.
func TestBuiltWorkerLabelsAndStores(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "teamlabeler")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	n := testkit.StartNATS(t)
	testkit.StartProcess(t, bin, []string{"JETLOG_NATS__URL=" + n.URL, "JETLOG_TEAMLABELER__TEAM=payments"},
		"-set", "log.format=json", "-set", "admin.listen=127.0.0.1:0")

	ctx := context.Background()
	for i, sev := range []int{event.SeverityDebug, event.SeverityError} {
		ev := &event.Event{ID: []string{"noise", "charge-failed"}[i], Body: "charge failed", Source: "billing",
			Timestamp: time.Now(), Severity: event.Severity{Number: sev}}
		data, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.JS.Publish(ctx, "logs.enriched.billing", data, jetstream.WithMsgID(ev.ID)); err != nil {
			t.Fatal(err)
		}
	}
	var out *event.Event
	var subject string
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		cons, err := n.JS.OrderedConsumer(ctx, "OWNED", jetstream.OrderedConsumerConfig{})
		if err != nil {
			return false, "no OWNED stream yet: " + err.Error()
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return false, "nothing in OWNED yet"
		}
		subject = msg.Subject()
		out, err = event.Unmarshal(msg.Data())
		return err == nil, "undecodable output"
	})
	if subject != "logs.owned.billing" || out.ID != "charge-failed" || out.Attributes["team"] != "payments" {
		t.Errorf("output on %s: id %s, team %v", subject, out.ID, out.Attributes["team"])
	}
	s, err := n.JS.Stream(ctx, "OWNED")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		c, err := n.JS.Consumer(ctx, "LOGS", "teamlabeler")
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0, "worker still busy"
	})
	if info, _ := s.Info(ctx); info.State.Msgs != 1 {
		t.Errorf("OWNED holds %d messages, want 1 (the debug event is dropped)", info.State.Msgs)
	}
}
