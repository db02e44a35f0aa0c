package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
)

// TestSubscriberReadsTheContract builds the example, publishes alert events
// exactly as the contract says, and checks it prints the critical firing
// ones in order, then resumes after the last sequence it printed.
func TestSubscriberReadsTheContract(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "alertsub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	n := testkit.StartNATS(t)
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i, sev := range []string{"critical", "warning", "critical", "critical"} {
		group := map[string]string{"service": []string{"web", "db", "api", "cache"}[i]}
		a := &alert.Alert{Fingerprint: alert.Fingerprint("errors", group), Rule: "errors", Group: group, State: alert.StateFiring,
			Severity: sev, Labels: map[string]string{"alertname": "errors", "severity": sev}, StartsAt: at, At: at,
			Annotations: map[string]string{"summary": "errors on " + group["service"]}}
		b, _ := json.Marshal(a)
		n.Publish(a.Subject(), a.MsgID(), b)
	}
	out, err := exec.Command(bin, "-nats", n.URL, "-subject", "alerts.firing.critical.>", "-count", "2").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "errors on web") || !strings.HasSuffix(lines[1], "errors on api") {
		t.Fatalf("printed:\n%s", out)
	}
	last := strings.Fields(lines[1])[0]
	out, err = exec.Command(bin, "-nats", n.URL, "-subject", "alerts.firing.critical.>", "-from", last, "-count", "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "errors on cache") {
		t.Fatalf("resumed with:\n%s", out)
	}
}
