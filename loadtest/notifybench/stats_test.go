package notifybench

import (
	"testing"
	"time"
)

// TestParseIDFindsTheAlertInEitherPayload: the receiver tells which alert
// a notification carries from jetlog's webhook body and Alertmanager's
// alike (both carry the labels), and refuses a body without one.
func TestParseIDFindsTheAlertInEitherPayload(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		id         int
		ok         bool
	}{
		{"jetlog", `{"version":"4","notificationId":"ntf_1","alerts":[{"status":"firing","labels":{"alertname":"A","bench_id":"42"}}]}`, 42, true},
		{"alertmanager", `{"receiver":"bench","status":"firing","alerts":[{"labels":{"bench_id":"7","run":"1-jetlog"}}],"groupLabels":{"bench_id":"7"}}`, 7, true},
		{"no id", `{"alerts":[{"labels":{"alertname":"A"}}]}`, 0, false},
		{"not a number", `{"labels":{"bench_id":"x"}}`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := parseID([]byte(tc.body))
			if id != tc.id || ok != tc.ok {
				t.Errorf("parseID = %d, %v; want %d, %v", id, ok, tc.id, tc.ok)
			}
		})
	}
}

// TestLatenciesAreNearestRankPercentilesOfWhatArrived: 100 alerts sent at
// 0 arriving after 1..100 ms give p50 50 ms, p90 90 ms, p99 99 ms; an alert
// that never arrived is counted missing, not as a latency.
func TestLatenciesAreNearestRankPercentilesOfWhatArrived(t *testing.T) {
	a := newArrivals(newClock(), 102)
	sent := make([]time.Duration, 101)
	for k := range 100 {
		a.at[1+k].Store(int64(time.Duration(k+1) * time.Millisecond))
	}
	l := latencies(a, sent, 1, 1)
	if l.Alerts != 101 || l.Missing != 1 || l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 {
		t.Errorf("%+v", l)
	}
	if m := med([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median %v", m)
	}
}
