// Package match holds label matchers as Alertmanager writes them
// (name="value", name!="value", name=~"regexp", name!~"regexp"; regular
// expressions are anchored at both ends; a missing label matches as the
// empty string). Parsing is Alertmanager's own parser, so a matcher that
// works in an Alertmanager configuration works here unchanged.
package match

import (
	"fmt"
	"strings"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
)

// Matchers is a conjunction of label matchers: every one must match.
type Matchers []*labels.Matcher

// Parse parses matchers written one per string (`severity="critical"`), or
// several in one string between braces (`{team="db", env=~"prod|staging"}`).
func Parse(ss []string) (Matchers, error) {
	var out Matchers
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "{") {
			ms, err := compat.Matchers(s, "jetlog")
			if err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			out = append(out, ms...)
			continue
		}
		m, err := compat.Matcher(s, "jetlog")
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// MustParse is Parse for tests and constants; it panics on an error.
func MustParse(ss ...string) Matchers {
	ms, err := Parse(ss)
	if err != nil {
		panic(err)
	}
	return ms
}

// Matches reports whether every matcher matches lbls (no matchers match
// everything).
func (ms Matchers) Matches(lbls map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(lbls[m.Name]) {
			return false
		}
	}
	return true
}

// Strings returns the matchers in the form Parse reads.
func (ms Matchers) Strings() []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

// String returns the matchers between braces.
func (ms Matchers) String() string { return "{" + strings.Join(ms.Strings(), ", ") + "}" }
