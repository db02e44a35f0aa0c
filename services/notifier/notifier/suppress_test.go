package notifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/notifier/silence"
)

// TestSilenceSuppressesUntilItEnds: a silence made as `jetlog silences
// add` makes it (in the silences bucket) mutes the alerts it matches, and
// they are notified once it is expired.
func TestSilenceSuppressesUntilItEnds(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, webhookConfig(t, rcv.URL, ""))
	st, err := silence.Open(context.Background(), nats.JS, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	id, err := st.Add(context.Background(), &silence.Silence{Matchers: []string{`service="db"`}, StartsAt: now.Add(-time.Minute),
		EndsAt: now.Add(time.Hour), CreatedBy: "ann", Comment: "maintenance"})
	if err != nil {
		t.Fatal(err)
	}
	waitSilence(t, e, true)
	e.publish(mkAlert("DiskFull", "warning", alert.StateFiring, map[string]string{"service": "db"}))
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "web"}))
	e.held(2, 2)
	e.advance(30*time.Second, 2)
	rcv.wait(t, 1)
	flushesDone(t, e)
	if got := rcv.all(); len(got) != 1 || got[0].Data.GroupLabels["alertname"] != "HighErrors" {
		t.Fatalf("with the silence: %d notifications (%v)", len(got), got)
	}
	if err := st.Expire(context.Background(), id, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	waitSilence(t, e, false)
	e.advance(5*time.Minute, 2)
	got := rcv.wait(t, 2)
	if got[1].Data.GroupLabels["alertname"] != "DiskFull" {
		t.Fatalf("after the silence: %s", got[1].Body)
	}
}

// waitSilence waits until the notifier's view of the silences mutes (or
// no longer mutes) service="db".
func waitSilence(t *testing.T, e *env, muted bool) {
	t.Helper()
	probe := &alert.Alert{Labels: map[string]string{"service": "db"}}
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		return e.n.Silences().Mutes(probe, e.clock.Now()) == muted, "silence not applied yet"
	})
}

// TestInhibitionMutesWarningsWhileCriticalFires: the warning of a service
// whose critical alert fires is not notified; once the critical resolves,
// the warning is.
func TestInhibitionMutesWarningsWhileCriticalFires(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, webhookConfig(t, rcv.URL, "")+`
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
`)
	crit := mkAlert("Down", "critical", alert.StateFiring, map[string]string{"service": "db"})
	e.publish(crit)
	e.publish(mkAlert("SlowQueries", "warning", alert.StateFiring, map[string]string{"service": "db"}))
	e.publish(mkAlert("SlowQueries", "warning", alert.StateFiring, map[string]string{"service": "web"}))
	e.held(2, 3)
	e.advance(30*time.Second, 2)
	rcv.wait(t, 2)
	flushesDone(t, e)
	for _, r := range rcv.all() {
		for _, a := range r.Data.Alerts {
			if a.Labels["alertname"] == "SlowQueries" && a.Labels["service"] == "db" {
				t.Fatalf("the inhibited warning was notified: %s", r.Body)
			}
		}
	}
	crit.State, crit.EndsAt = alert.StateResolved, t0.Add(time.Minute)
	e.publish(crit)
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		for _, a := range e.n.Dispatcher().Alerts() {
			if a.Fingerprint == crit.Fingerprint {
				return a.State == alert.StateResolved, "not resolved yet"
			}
		}
		return false, "gone"
	})
	e.advance(5*time.Minute, 2)
	got := rcv.wait(t, 4) // Down resolved; SlowQueries now with the db warning
	seen := false
	for _, r := range got[2:] {
		for _, a := range r.Data.Alerts {
			seen = seen || a.Labels["alertname"] == "SlowQueries" && a.Labels["service"] == "db"
		}
	}
	if !seen {
		t.Error("the warning was not notified once the critical resolved")
	}
}

// TestTimeIntervalsMuteOutsideBusinessHours: a route active only in
// business hours stays quiet at night and notifies in the morning.
func TestTimeIntervalsMuteOutsideBusinessHours(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, webhookConfig(t, rcv.URL, `  active_time_intervals: [business-hours]`)+`
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "09:00", end_time: "17:00"}]
`)
	// The fake clock starts on Monday 2026-11-30 10:00 UTC: move to 18:00.
	e.clock.Advance(8 * time.Hour)
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "web"}))
	e.held(1, 1)
	e.advance(30*time.Second, 1)
	for i := 0; i < 12*14; i++ { // every 5 minutes through the night, to 08:05
		e.advance(5*time.Minute, 1)
	}
	flushesDone(t, e)
	if n := len(rcv.all()); n != 0 {
		t.Fatalf("%d notifications outside business hours", n)
	}
	for i := 0; i < 12; i++ { // to 09:05
		e.advance(5*time.Minute, 1)
	}
	rcv.wait(t, 1)
}
