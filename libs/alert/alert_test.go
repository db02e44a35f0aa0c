package alert

import (
	"testing"
	"time"
)

func TestFingerprintIgnoresOrderAndTellsGroupsApart(t *testing.T) {
	a := Fingerprint("errors", map[string]string{"service": "web", "host": "a"})
	b := Fingerprint("errors", map[string]string{"host": "a", "service": "web"})
	if a != b {
		t.Errorf("the same group in another order: %s vs %s", a, b)
	}
	for _, other := range []string{
		Fingerprint("errors", map[string]string{"service": "web", "host": "b"}),
		Fingerprint("errors2", map[string]string{"service": "web", "host": "a"}),
		Fingerprint("errors", map[string]string{"service": "web=host", "": "a"}),
	} {
		if other == a {
			t.Errorf("different alerts share fingerprint %s", a)
		}
	}
}

func TestSubjectAndMsgID(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	a := &Alert{Fingerprint: "f1", Rule: "checkout.errors >5", Severity: "critical", State: StateFiring, StartsAt: at}
	if got := a.Subject(); got != "alerts.firing.critical.checkout_errors__5" {
		t.Errorf("subject %q", got)
	}
	if a.MsgID() == (&Alert{Fingerprint: "f1", State: StateResolved, StartsAt: at}).MsgID() {
		t.Error("firing and resolved share a message id")
	}
	if a.MsgID() == (&Alert{Fingerprint: "f1", State: StateFiring, StartsAt: at.Add(time.Hour)}).MsgID() {
		t.Error("two occurrences share a message id")
	}
}
