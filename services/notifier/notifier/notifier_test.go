package notifier_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/delivery"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func webhookConfig(t *testing.T, url string, route string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
%s
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        secret_file: %s
        allow_cidrs: [127.0.0.0/8]
`, route, url, f)
}

// TestWebhookIsSignedPerStandardWebhooks checks the signature with the
// Standard Webhooks reference library (not jetlog's signer), and that a
// tampered body fails it.
func TestWebhookIsSignedPerStandardWebhooks(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, webhookConfig(t, rcv.URL, ""))
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "checkout"}))
	e.held(1, 1)
	e.advance(30*time.Second, 1)
	req := rcv.wait(t, 1)[0]

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(req.Body, req.Header); err != nil {
		t.Fatalf("the reference implementation refuses the signature: %v\nheaders %v", err, req.Header)
	}
	tampered := []byte(strings.Replace(string(req.Body), "checkout", "checkoux", 1))
	if err := wh.Verify(tampered, req.Header); err == nil {
		t.Fatal("a tampered body verifies")
	}
	id := req.Header.Get("webhook-id")
	if id == "" || id != req.Data.NotificationID {
		t.Errorf("webhook-id %q, body notificationId %q", id, req.Data.NotificationID)
	}
	if req.Data.Status != "firing" || len(req.Data.Alerts) != 1 || req.Data.Alerts[0].Labels["service"] != "checkout" {
		t.Errorf("payload %s", req.Body)
	}
	// The delivery log has the attempt.
	recs := testkit.Record(t, nats.JS, topology.NotificationsStream, "notify.>").Wait(t, 1, 10*time.Second)
	r, err := delivery.Parse(recs[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Subject() != "notify.delivered.hook" || r.ID != id || r.Attempt != 1 || r.Firing != 1 || r.Integration != "webhook[0]" {
		t.Errorf("record on %s: %+v", recs[0].Subject(), r)
	}
	if strings.Contains(e.logs.String(), strings.TrimPrefix(secret, "whsec_")) || strings.Contains(string(recs[0].Data()), "MfKQ9r8") {
		t.Error("the secret appears in the logs or the delivery log")
	}
}

// TestGroupingRepeatAndResolved follows one group through its life with
// a scripted clock: alerts arriving within group_wait are batched; one added
// later waits for group_interval; nothing new means nothing sent until
// repeat_interval; a resolution is sent once.
func TestGroupingRepeatAndResolved(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, webhookConfig(t, rcv.URL, ""))
	web := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "web"})
	api := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "api"})
	other := mkAlert("DiskFull", "warning", alert.StateFiring, map[string]string{"service": "db"})
	e.publish(web)
	e.publish(api)
	e.publish(other)
	e.held(2, 3)
	e.advance(30*time.Second, 2)
	got := rcv.wait(t, 2)
	byGroup := map[string]int{}
	for _, r := range got {
		byGroup[r.Data.GroupLabels["alertname"]] = len(r.Data.Alerts)
	}
	if byGroup["HighErrors"] != 2 || byGroup["DiskFull"] != 1 {
		t.Fatalf("first notifications: %v", byGroup)
	}

	// A new alert in the group: sent at the next group_interval.
	cache := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "cache"})
	e.publish(cache)
	e.held(2, 4)
	e.advance(5*time.Minute, 2)
	got = rcv.wait(t, 3)
	if n := len(got[2].Data.Alerts); n != 3 || got[2].Data.GroupLabels["alertname"] != "HighErrors" {
		t.Fatalf("third notification: %s", got[2].Body)
	}
	// Nothing new: group intervals pass quietly until repeat_interval.
	for i := 0; i < 46; i++ { // 46 × 5m = 3h50m since the last notification
		e.advance(5*time.Minute, 2)
	}
	flushesDone(t, e)
	if n := len(rcv.all()); n != 3 {
		t.Fatalf("%d notifications before the repeat interval, want 3", n)
	}
	e.advance(5*time.Minute, 2) // 3h55m after DiskFull's: still not 4h
	e.advance(5*time.Minute, 2) // 4h after HighErrors' third, 4h05 after DiskFull's
	got = rcv.wait(t, 5)
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.Header.Get("webhook-id")] = true
	}
	if len(ids) != 5 {
		t.Errorf("a repeat reuses an earlier notification's id: %d distinct ids in 5", len(ids))
	}

	// Resolution: sent once, then the group is gone.
	web.State, web.EndsAt = alert.StateResolved, t0.Add(5*time.Hour)
	e.publish(web)
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		for _, a := range e.n.Dispatcher().Alerts() {
			if a.Fingerprint == web.Fingerprint && a.State == alert.StateResolved {
				return true, ""
			}
		}
		return false, "resolution not taken"
	})
	e.advance(5*time.Minute, 2)
	got = rcv.wait(t, 6)
	last := got[5]
	statuses := []string{}
	for _, a := range last.Data.Alerts {
		statuses = append(statuses, a.Labels["service"]+":"+a.Status)
	}
	slices.Sort(statuses)
	if !slices.Equal(statuses, []string{"api:firing", "cache:firing", "web:resolved"}) {
		t.Fatalf("resolution notification: %v", statuses)
	}
	for range 3 {
		e.advance(5*time.Minute, 2)
	}
	flushesDone(t, e)
	if n := len(rcv.all()); n != 6 {
		t.Fatalf("the resolution was sent more than once: %d notifications", n)
	}
}

// flushesDone waits until every group's next flush is armed again (no
// flush is in flight).
func flushesDone(t *testing.T, e *env) {
	t.Helper()
	_ = e.clock.BlockUntilContext(t.Context(), len(e.n.Dispatcher().Groups()))
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		return e.n.Dispatcher().Flushing() == 0, "flushes in flight"
	})
}

// TestRetries: 5xx and 429 (with its Retry-After) are retried, other 4xx
// are not; every attempt is in the delivery log.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []int
		attempts int
		outcomes []string
	}{
		{"5xx then ok", []int{503, 500, 200}, 3, []string{"retrying", "retrying", "delivered"}},
		{"429 then ok", []int{429, 200}, 2, []string{"retrying", "delivered"}},
		{"408 then ok", []int{408, 200}, 2, []string{"retrying", "delivered"}},
		{"400 is not retried", []int{400}, 1, []string{"failed"}},
		{"404 is not retried", []int{404}, 1, []string{"failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nats := testkit.StartNATS(t)
			rcv := newReceiver(t)
			rcv.status = func(n int) (int, http.Header) {
				code := tc.answers[min(n, len(tc.answers))-1]
				h := http.Header{}
				if code == 429 {
					h.Set("Retry-After", "0")
				}
				return code, h
			}
			name := strings.ReplaceAll(tc.name, " ", "")
			e := start(t, nats, webhookConfig(t, rcv.URL, ""))
			e.publish(mkAlert("R"+name, "critical", alert.StateFiring, map[string]string{"service": name}))
			testkit.Poll(t, 10*time.Second, func() (bool, string) {
				return len(e.n.Dispatcher().Groups()) > 0, "not held"
			})
			e.advance(30*time.Second, 1)
			rcv.wait(t, tc.attempts)
			recs := testkit.Record(t, nats.JS, topology.NotificationsStream, "notify.*.hook").Wait(t, len(tc.outcomes), 10*time.Second)
			var outcomes []string
			for _, m := range recs {
				r, _ := delivery.Parse(m.Data())
				if r.GroupKey != "" && strings.Contains(r.GroupKey, "R"+name) {
					outcomes = append(outcomes, r.Outcome)
				}
			}
			if !slices.Equal(outcomes, tc.outcomes) {
				t.Errorf("outcomes %v, want %v", outcomes, tc.outcomes)
			}
			flushesDone(t, e)
			if n := len(rcv.all()); n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
		})
	}
}
