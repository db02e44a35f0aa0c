package inhibit

import (
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
)

func TestCriticalMutesWarningsOfTheSameService(t *testing.T) {
	crit := &alert.Alert{Fingerprint: "c", State: alert.StateFiring, Labels: map[string]string{"severity": "critical", "service": "db"}}
	held := []*alert.Alert{crit}
	in, err := New([]RuleConfig{{SourceMatchers: []string{`severity="critical"`}, TargetMatchers: []string{`severity=~"warning|critical"`}, Equal: []string{"service"}}},
		func() []*alert.Alert { return held })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"warning, same service", map[string]string{"severity": "warning", "service": "db"}, true},
		{"warning, other service", map[string]string{"severity": "warning", "service": "web"}, false},
		{"info is no target", map[string]string{"severity": "info", "service": "db"}, false},
		{"another critical of the service", map[string]string{"severity": "critical", "service": "db"}, true},
	} {
		if got := in.Mutes(&alert.Alert{Fingerprint: tc.name, Labels: tc.labels}, now); got != tc.want {
			t.Errorf("%s: muted %v, want %v", tc.name, got, tc.want)
		}
	}
	if in.Mutes(crit, now) {
		t.Error("the source inhibits itself")
	}
	crit.State = alert.StateResolved
	if in.Mutes(&alert.Alert{Fingerprint: "w", Labels: map[string]string{"severity": "warning", "service": "db"}}, now) {
		t.Error("a resolved source still inhibits")
	}
	if _, err := New([]RuleConfig{{TargetMatchers: []string{`a="b"`}}}, nil); err == nil {
		t.Error("a rule without sources accepted")
	}
}
