// Package route is the routing tree: which receiver hears of an alert, how
// its alerts are grouped, and how often. It reads like Alertmanager's
// `route` and matches the same way: a depth-first walk where the first
// matching child wins unless it says `continue: true`, a node with no
// matching child takes the alert itself, and children inherit their
// parent's receiver, group_by and timings unless they set their own.
package route

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/notifier/match"
)

// Config is one node of the routing tree as it is written in the
// configuration (Alertmanager's `route`).
type Config struct {
	// Receiver names the receiver of the alerts this node takes; empty
	// inherits the parent's (at the root: nobody is notified).
	Receiver string `yaml:"receiver"`
	// GroupBy lists the labels whose values make a group: alerts with the
	// same values are notified together. ['...'] groups by every label
	// (one alert per group). Unset inherits the parent's.
	GroupBy []string `yaml:"group_by"`
	// Matchers select the alerts of this node (all must match); the root
	// takes every alert and has none.
	Matchers []string `yaml:"matchers"`
	// Continue lets the alert also be matched against the node's next
	// siblings after it matched this one.
	Continue bool `yaml:"continue"`
	// GroupWait is how long a new group waits for more alerts before its
	// first notification.
	GroupWait *time.Duration `yaml:"group_wait"`
	// GroupInterval is how long a group waits before notifying of alerts
	// added to it (or resolved) after its first notification.
	GroupInterval *time.Duration `yaml:"group_interval"`
	// RepeatInterval is how long after a successful notification the same
	// notification is sent again while its alerts are still firing.
	RepeatInterval *time.Duration `yaml:"repeat_interval"`
	// MuteTimeIntervals name time intervals during which this node
	// notifies nobody; ActiveTimeIntervals name the only intervals during
	// which it notifies. Neither is inherited (as in Alertmanager).
	MuteTimeIntervals   []string `yaml:"mute_time_intervals"`
	ActiveTimeIntervals []string `yaml:"active_time_intervals"`
	// Routes are the node's children, tried in order.
	Routes []Config `yaml:"routes"`
}

// Defaults are Alertmanager's defaults for the root route.
func Defaults() Config {
	wait, interval, repeat := 30*time.Second, 5*time.Minute, 4*time.Hour
	return Config{GroupBy: []string{"alertname"}, GroupWait: &wait, GroupInterval: &interval, RepeatInterval: &repeat,
		Matchers: []string{}, MuteTimeIntervals: []string{}, ActiveTimeIntervals: []string{}, Routes: []Config{}}
}

// Route is a compiled node of the routing tree.
type Route struct {
	// ID identifies the node: its parent's ID, its matchers and its index
	// among its siblings. Group keys begin with it.
	ID       string
	Receiver string
	// GroupBy holds the grouping labels, sorted; GroupByAll groups by every
	// label.
	GroupBy             []string
	GroupByAll          bool
	Matchers            match.Matchers
	Continue            bool
	GroupWait           time.Duration
	GroupInterval       time.Duration
	RepeatInterval      time.Duration
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string
	Routes              []*Route
}

// Known says which receiver and time interval names exist, for validation.
type Known struct {
	Receivers     func(name string) bool
	TimeIntervals func(name string) bool
}

// Compile checks the tree and returns its root, or every problem at once,
// each with its path (routes[1].matchers[0]).
func Compile(c Config, known Known) (*Route, error) {
	var errs config.Errors
	if len(c.Matchers) > 0 {
		errs.Addf("matchers", "the root route takes every alert and has no matchers (put them on a child route)")
	}
	if c.Continue {
		errs.Addf("continue", "the root route has no siblings to continue to")
	}
	for name, d := range map[string]*time.Duration{"group_wait": c.GroupWait, "group_interval": c.GroupInterval, "repeat_interval": c.RepeatInterval} {
		if d == nil {
			errs.Addf(name, "the root route must set it (children inherit it)")
		}
	}
	if errs.Err() != nil {
		return nil, errs.Err()
	}
	root := compile(c, nil, "", 0, known, &errs)
	return root, errs.Err()
}

func compile(c Config, parent *Route, path string, idx int, known Known, errs *config.Errors) *Route {
	at := func(key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	r := &Route{Continue: c.Continue, MuteTimeIntervals: c.MuteTimeIntervals, ActiveTimeIntervals: c.ActiveTimeIntervals}
	if parent != nil {
		r.Receiver, r.GroupBy, r.GroupByAll = parent.Receiver, parent.GroupBy, parent.GroupByAll
		r.GroupWait, r.GroupInterval, r.RepeatInterval = parent.GroupWait, parent.GroupInterval, parent.RepeatInterval
	}
	for i, s := range c.Matchers {
		ms, err := match.Parse([]string{s})
		if err != nil {
			errs.Addf(at(fmt.Sprintf("matchers[%d]", i)), "%v (write name=\"value\", name!=\"value\", name=~\"regexp\" or name!~\"regexp\")", err)
			continue
		}
		r.Matchers = append(r.Matchers, ms...)
	}
	if c.Receiver != "" {
		r.Receiver = c.Receiver
		if known.Receivers != nil && !known.Receivers(c.Receiver) {
			errs.Addf(at("receiver"), "%q is not a receiver (add it to receivers, or fix the name)", c.Receiver)
		}
	}
	if c.GroupBy != nil {
		r.GroupBy, r.GroupByAll = nil, false
		for i, l := range c.GroupBy {
			switch {
			case l == "...":
				if len(c.GroupBy) > 1 {
					errs.Addf(at(fmt.Sprintf("group_by[%d]", i)), "'...' groups by every label and stands alone")
				}
				r.GroupByAll = true
			case l == "" || strings.ContainsAny(l, " \t\"=,{}"):
				errs.Addf(at(fmt.Sprintf("group_by[%d]", i)), "%q is not a label name", l)
			case slices.Contains(r.GroupBy, l):
				errs.Addf(at(fmt.Sprintf("group_by[%d]", i)), "%q is listed twice", l)
			default:
				r.GroupBy = append(r.GroupBy, l)
			}
		}
		sort.Strings(r.GroupBy)
	}
	if c.GroupWait != nil {
		r.GroupWait = *c.GroupWait
		if r.GroupWait < 0 {
			errs.Addf(at("group_wait"), "%v is negative", r.GroupWait)
		}
	}
	if c.GroupInterval != nil {
		r.GroupInterval = *c.GroupInterval
		if r.GroupInterval <= 0 {
			errs.Addf(at("group_interval"), "%v: must be > 0", r.GroupInterval)
		}
	}
	if c.RepeatInterval != nil {
		r.RepeatInterval = *c.RepeatInterval
		if r.RepeatInterval <= 0 {
			errs.Addf(at("repeat_interval"), "%v: must be > 0", r.RepeatInterval)
		}
	}
	for key, names := range map[string][]string{"mute_time_intervals": c.MuteTimeIntervals, "active_time_intervals": c.ActiveTimeIntervals} {
		for i, n := range names {
			if known.TimeIntervals != nil && !known.TimeIntervals(n) {
				errs.Addf(at(fmt.Sprintf("%s[%d]", key, i)), "%q is not a time interval (define it under time_intervals)", n)
			}
		}
	}
	if parent == nil {
		r.ID = "{}"
	} else {
		r.ID = fmt.Sprintf("%s/%s/%d", parent.ID, r.Matchers.String(), idx)
	}
	for i, cc := range c.Routes {
		r.Routes = append(r.Routes, compile(cc, r, at(fmt.Sprintf("routes[%d]", i)), i, known, errs))
	}
	return r
}

// Match returns the nodes that take an alert with labels lbls, in order:
// the deepest matching node of each matching branch, walking children in
// order and stopping after the first match unless it continues.
func (r *Route) Match(lbls map[string]string) []*Route {
	if !r.Matchers.Matches(lbls) {
		return nil
	}
	var all []*Route
	for _, c := range r.Routes {
		m := c.Match(lbls)
		all = append(all, m...)
		if m != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

// GroupLabels returns the labels that make the group of an alert with
// labels lbls on this node.
func (r *Route) GroupLabels(lbls map[string]string) map[string]string {
	out := map[string]string{}
	if r.GroupByAll {
		for k, v := range lbls {
			out[k] = v
		}
		return out
	}
	for _, k := range r.GroupBy {
		if v, ok := lbls[k]; ok {
			out[k] = v
		}
	}
	return out
}

// GroupKey returns the key of the group with labels gl on this node: the
// node's ID and the labels, sorted.
func (r *Route) GroupKey(gl map[string]string) string {
	return r.ID + ":" + LabelString(gl)
}

// LabelString writes labels sorted by name, as {a="1", b="2"}.
func LabelString(lbls map[string]string) string {
	keys := make([]string, 0, len(lbls))
	for k := range lbls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, lbls[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Walk calls f for r and every node below it, depth first.
func (r *Route) Walk(f func(*Route)) {
	f(r)
	for _, c := range r.Routes {
		c.Walk(f)
	}
}
