package notifier_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
)

// TestSIGKILLMidDeliveryLosesNothingAndSendsNothingTwice runs the notifier
// binary, SIGKILLs it while a receiver holds one delivery open, and starts
// it again: every group's notification arrives, the one cut short again
// with the same webhook-id (so a receiver deduplicating on it sees it
// once), and no group gets a second, different notification within its
// repeat interval.
func TestSIGKILLMidDeliveryLosesNothingAndSendsNothingTwice(t *testing.T) {
	const groups = 10
	bin := testkit.BuildBinary(t, "..")
	nats := testkit.StartNATS(t)

	var mu sync.Mutex
	idsByGroup := map[string]map[string]int{} // alertname -> webhook-id -> deliveries
	held := make(chan struct{})
	release := make(chan struct{})
	first := true
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p struct{ GroupLabels map[string]string }
		_ = json.Unmarshal(b, &p)
		g, id := p.GroupLabels["alertname"], r.Header.Get("webhook-id")
		mu.Lock()
		if idsByGroup[g] == nil {
			idsByGroup[g] = map[string]int{}
		}
		idsByGroup[g][id]++
		hold := first
		first = false
		mu.Unlock()
		if hold {
			close(held)
			<-release // the notifier dies meanwhile
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	cfgFile := filepath.Join(t.TempDir(), "jetlog.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
nats: {url: %s}
admin: {listen: "127.0.0.1:0"}
log: {format: json}
notifier:
  http: {enabled: false}
  retry: {initial: 10ms, max: 100ms, max_elapsed: 5s}
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 10ms
    group_interval: 1h
    repeat_interval: 4h
  receivers:
    - name: hook
      webhook_configs:
        - url: %s
          allow_cidrs: [127.0.0.0/8]
`, nats.URL, rcv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	p1 := testkit.StartProcess(t, bin, nil, "-config", cfgFile)
	at := time.Now().UTC()
	for i := range groups {
		rule := fmt.Sprintf("Rule%02d", i)
		a := &alert.Alert{Fingerprint: alert.Fingerprint(rule, nil), Rule: rule, State: alert.StateFiring, Severity: "critical",
			Labels: map[string]string{"alertname": rule, "severity": "critical"}, StartsAt: at, At: at}
		b, _ := json.Marshal(a)
		nats.Publish(a.Subject(), a.MsgID(), b)
	}
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatalf("no delivery arrived\n%s", p1.Logs())
	}
	p1.Signal(syscall.SIGKILL)
	p1.Wait(30 * time.Second)
	close(release)

	p2 := testkit.StartProcess(t, bin, nil, "-config", cfgFile)
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(idsByGroup) == groups, fmt.Sprintf("%d of %d groups notified", len(idsByGroup), groups)
	})
	// The second process finished the notification cut short (and any the
	// first delivered without recording it) with the same ids; groups the
	// first had not yet decided it notified for the first time.
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		resent := p2.Metric("jetlog_notifier_notifications_total", "outcome=resent")
		return resent >= 1, fmt.Sprintf("resent %v", resent)
	})
	mu.Lock()
	defer mu.Unlock()
	for g, ids := range idsByGroup {
		if len(ids) != 1 {
			t.Errorf("group %s got %d different notifications within its repeat interval: %v", g, len(ids), ids)
		}
	}
}
