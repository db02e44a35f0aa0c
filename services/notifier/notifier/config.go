package notifier

import (
	"fmt"
	"net"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/notifier/inhibit"
	"github.com/jetlog/jetlog/services/notifier/notify"
	"github.com/jetlog/jetlog/services/notifier/route"
)

// Config is the notifier's section. Its routing part (route, receivers,
// inhibit_rules, time_intervals, templates) reads like an Alertmanager
// configuration; docs/notifications.md says where it differs.
type Config struct {
	// Consumer reads ALERTS with the durable consumer "notifier".
	Consumer worker.ConsumerConfig `yaml:"consumer"`
	// HTTP serves the live alert stream (Server-Sent Events).
	HTTP HTTPConfig `yaml:"http"`
	// ExternalURL is the base of the links in notifications.
	ExternalURL string `yaml:"external_url"`
	// Timeout bounds one delivery attempt (an integration may set its own).
	Timeout time.Duration `yaml:"timeout"`
	// Retry bounds the attempts of one notification.
	Retry notify.RetryConfig `yaml:"retry"`
	// LogRetention is how long the notification log remembers a group it
	// has not written to; it must exceed every repeat_interval.
	LogRetention time.Duration `yaml:"log_retention"`
	// SilenceRetention is how long an expired silence stays listed.
	SilenceRetention time.Duration `yaml:"silence_retention"`
	// Templates are files of {{ define }}d templates.
	Templates []string `yaml:"templates"`
	// Route is the root of the routing tree.
	Route route.Config `yaml:"route"`
	// Receivers are where notifications go.
	Receivers []notify.ReceiverConfig `yaml:"receivers"`
	// InhibitRules mute alerts while others fire.
	InhibitRules []inhibit.RuleConfig `yaml:"inhibit_rules"`
	// TimeIntervals name the times routes mute or are active in.
	TimeIntervals []TimeIntervalConfig `yaml:"time_intervals"`
}

// HTTPConfig configures the notifier's HTTP listener.
type HTTPConfig struct {
	// Enabled serves the stream.
	Enabled bool `yaml:"enabled"`
	// Listen is host:port; loopback by default (the stream carries alert
	// contents: put an authenticating proxy in front to expose it).
	Listen string `yaml:"listen"`
	// Heartbeat is the interval of comment lines on an idle stream.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// MaxClients bounds concurrent subscribers.
	MaxClients int `yaml:"max_clients"`
}

// TimeIntervalConfig is a named set of time intervals in Alertmanager's
// format (times, weekdays, days_of_month, months, years, location).
type TimeIntervalConfig struct {
	Name          string                      `yaml:"name"`
	TimeIntervals []timeinterval.TimeInterval `yaml:"time_intervals"`
}

// Durable is the notifier's durable consumer on ALERTS.
const Durable = "notifier"

// Defaults returns the notifier's defaults: Alertmanager's timings, no
// receivers (alerts are grouped, nobody is notified).
func Defaults() Config {
	c := worker.DefaultConsumer()
	c.Stream, c.Durable, c.Subjects = topology.AlertsStream, Durable, []string{topology.AlertsSubjects}
	c.Batch, c.MaxAckPending = 256, 0
	c.Retry = worker.RetryPolicy{MaxDeliver: -1, Initial: 500 * time.Millisecond, Max: 30 * time.Second}
	return Config{
		Consumer:         c,
		HTTP:             HTTPConfig{Enabled: true, Listen: "127.0.0.1:9471", Heartbeat: 15 * time.Second, MaxClients: 100},
		Timeout:          10 * time.Second,
		Retry:            notify.RetryConfig{Initial: 500 * time.Millisecond, Max: 30 * time.Second, MaxElapsed: 2 * time.Minute},
		LogRetention:     120 * time.Hour,
		SilenceRetention: 120 * time.Hour,
		Templates:        []string{},
		Route:            route.Defaults(),
		Receivers:        []notify.ReceiverConfig{},
		InhibitRules:     []inhibit.RuleConfig{},
		TimeIntervals:    []TimeIntervalConfig{},
	}
}

// Validate checks the section, every problem with its path.
func (c *Config) Validate() error {
	var errs config.Errors
	errs.Check("consumer", &c.Consumer)
	if c.HTTP.Enabled {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			errs.Addf("http.listen", "%q is not host:port", c.HTTP.Listen)
		}
		if c.HTTP.Heartbeat < 100*time.Millisecond {
			errs.Addf("http.heartbeat", "%v is below 100ms", c.HTTP.Heartbeat)
		}
		if c.HTTP.MaxClients < 1 {
			errs.Addf("http.max_clients", "must be >= 1")
		}
	}
	if c.Timeout <= 0 {
		errs.Addf("timeout", "must be > 0")
	}
	if c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial {
		errs.Addf("retry.initial", "need 0 < initial (%v) <= max (%v)", c.Retry.Initial, c.Retry.Max)
	}
	if c.Retry.MaxElapsed < c.Retry.Initial {
		errs.Addf("retry.max_elapsed", "%v is below retry.initial", c.Retry.MaxElapsed)
	}
	if c.SilenceRetention < 0 {
		errs.Addf("silence_retention", "is negative")
	}
	receivers := map[string]bool{}
	for i, r := range c.Receivers {
		p := fmt.Sprintf("receivers[%d]", i)
		errs.Merge(p, r.Validate())
		if receivers[r.Name] {
			errs.Addf(p+".name", "%q is defined twice", r.Name)
		}
		receivers[r.Name] = true
	}
	intervals := map[string]bool{}
	for i, ti := range c.TimeIntervals {
		if ti.Name == "" || intervals[ti.Name] {
			errs.Addf(fmt.Sprintf("time_intervals[%d].name", i), "%q is empty or defined twice", ti.Name)
		}
		intervals[ti.Name] = true
	}
	root, err := route.Compile(c.Route, route.Known{
		Receivers:     func(n string) bool { return receivers[n] },
		TimeIntervals: func(n string) bool { return intervals[n] },
	})
	errs.Merge("route", err)
	if root != nil {
		root.Walk(func(r *route.Route) {
			if r.RepeatInterval >= c.LogRetention {
				errs.Addf("log_retention", "%v is not above route %s's repeat_interval %v: the log would forget a notification before it is due again",
					c.LogRetention, r.ID, r.RepeatInterval)
			}
		})
	}
	if _, err := inhibit.New(c.InhibitRules, nil); err != nil {
		errs.Merge("inhibit_rules", err)
	}
	return errs.Err()
}
