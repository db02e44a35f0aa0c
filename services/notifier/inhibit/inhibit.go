// Package inhibit mutes alerts while others fire, as Alertmanager's
// inhibit_rules: a target alert is muted while a firing source alert exists
// whose `equal` labels have the same values (a label missing from both
// counts as equal). An alert that matches both sides does not inhibit
// itself.
package inhibit

import (
	"fmt"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/notifier/match"
)

// RuleConfig is one inhibition rule as written in the configuration.
type RuleConfig struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

type rule struct {
	source, target match.Matchers
	equal          []string
}

// Inhibitor mutes targets of firing sources.
type Inhibitor struct {
	rules  []rule
	alerts func() []*alert.Alert
}

// New compiles the rules; alerts returns the alerts the notifier holds.
func New(cfgs []RuleConfig, alerts func() []*alert.Alert) (*Inhibitor, error) {
	var errs config.Errors
	in := &Inhibitor{alerts: alerts}
	for i, c := range cfgs {
		p := fmt.Sprintf("[%d]", i)
		s, err := match.Parse(c.SourceMatchers)
		if err != nil {
			errs.Addf(p+".source_matchers", "%v", err)
		}
		t, err := match.Parse(c.TargetMatchers)
		if err != nil {
			errs.Addf(p+".target_matchers", "%v", err)
		}
		if len(c.SourceMatchers) == 0 || len(c.TargetMatchers) == 0 {
			errs.Addf(p, "needs source_matchers and target_matchers (a rule without one would mute everything)")
		}
		in.rules = append(in.rules, rule{source: s, target: t, equal: c.Equal})
	}
	return in, errs.Err()
}

// Mutes reports whether a is inhibited now.
func (in *Inhibitor) Mutes(a *alert.Alert, _ time.Time) bool {
	if len(in.rules) == 0 {
		return false
	}
	var held []*alert.Alert
	for _, r := range in.rules {
		if !r.target.Matches(a.Labels) {
			continue
		}
		if held == nil {
			held = in.alerts()
		}
		for _, s := range held {
			if s.State == alert.StateResolved || s.Fingerprint == a.Fingerprint || !r.source.Matches(s.Labels) {
				continue
			}
			if equal(r.equal, s.Labels, a.Labels) {
				return true
			}
		}
	}
	return false
}

func equal(names []string, a, b map[string]string) bool {
	for _, n := range names {
		if a[n] != b[n] {
			return false
		}
	}
	return true
}
