package alerting

import (
	"os"
	"time"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// Config is the alerter's section.
type Config struct {
	// Consumer is the durable consumer on LOGS every copy of the alerter
	// shares.
	Consumer worker.ConsumerConfig `yaml:"consumer"`
	// RulesDir holds the rule files; "" loads none from disk.
	RulesDir string `yaml:"rules_dir"`
	// Watch reloads the rules when their files change.
	Watch bool `yaml:"watch"`
	// RulesBucket is a KV bucket whose <name>.yaml entries are rules too
	// (watched); "" reads none.
	RulesBucket string `yaml:"rules_bucket"`
	// Partitions is how many partitions the rules' groups are spread over;
	// copies of the alerter share the partitions. It cannot change while
	// state is kept (the alerter refuses to start).
	Partitions int `yaml:"partitions"`
	// Instance names this copy in partition leases; "" derives one from
	// the host name and process id.
	Instance string `yaml:"instance"`
	// LeaseTTL is how long a copy that stops renewing its partitions keeps
	// them before another takes them over.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// Tick is how often timers are judged (flatline, resolve).
	Tick time.Duration `yaml:"tick"`
	// CheckpointInterval is how often each partition writes its state to
	// the alert_state bucket and acknowledges the hits it applied.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Hits bounds the stream that carries matches to their partitions.
	Hits HitsConfig `yaml:"hits"`
	// Defaults are the rule settings a rule does not give itself.
	Defaults RuleDefaults `yaml:"defaults"`
	// IndexPrefix names the indices scheduled queries read (the indexer's
	// index_prefix).
	IndexPrefix string `yaml:"index_prefix"`
	// Schedule runs the rules that have a schedule against OpenSearch.
	Schedule ScheduleConfig `yaml:"schedule"`
}

// HitsConfig bounds the ALERT_HITS stream and its partition consumers.
type HitsConfig struct {
	MaxBytes      int64         `yaml:"max_bytes"`
	AckWait       time.Duration `yaml:"ack_wait"`
	MaxAckPending int           `yaml:"max_ack_pending"`
}

// RuleDefaults are rule.Options in the configuration.
type RuleDefaults struct {
	Lateness     time.Duration `yaml:"lateness"`
	ResolveAfter time.Duration `yaml:"resolve_after"`
	Align        time.Duration `yaml:"align"`
	MaxKeys      int           `yaml:"max_keys"`
	MaxEvents    int           `yaml:"max_events"`
}

// ScheduleConfig configures scheduled queries.
type ScheduleConfig struct {
	Enabled bool          `yaml:"enabled"`
	Jitter  time.Duration `yaml:"jitter"`
}

// Defaults returns the alerter's defaults.
func Defaults() Config {
	d := rule.DefaultOptions()
	return Config{
		Consumer: worker.ConsumerConfig{
			Stream: topology.EnrichedStream, Durable: topology.AlerterDurable, Subjects: []string{topology.EnrichedSubjects},
			Batch: 100, Concurrency: 1, AckWait: 30 * time.Second, PullWait: time.Second, StallAfter: 5 * time.Minute,
			Retry: worker.RetryPolicy{MaxDeliver: -1, Initial: 500 * time.Millisecond, Max: 30 * time.Second},
		},
		RulesDir: "rules", Watch: true, RulesBucket: topology.AlertRulesBucket, Partitions: 16,
		LeaseTTL: 10 * time.Second, Tick: time.Second, CheckpointInterval: time.Second,
		Hits:        HitsConfig{MaxBytes: 1 << 30, AckWait: 30 * time.Second, MaxAckPending: 20000},
		Defaults:    RuleDefaults{Lateness: d.Lateness, ResolveAfter: d.ResolveAfter, Align: d.Align, MaxKeys: d.MaxKeys, MaxEvents: d.MaxEvents},
		IndexPrefix: "logs-jetlog",
		Schedule:    ScheduleConfig{Enabled: true, Jitter: 5 * time.Second},
	}
}

// Options returns the rule defaults.
func (c *Config) Options() rule.Options {
	return rule.Options{Lateness: c.Defaults.Lateness, ResolveAfter: c.Defaults.ResolveAfter, Align: c.Defaults.Align,
		MaxKeys: c.Defaults.MaxKeys, MaxEvents: c.Defaults.MaxEvents}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	errs.Check("consumer", &c.Consumer)
	if c.RulesDir != "" {
		if st, err := os.Stat(c.RulesDir); err != nil || !st.IsDir() {
			errs.Addf("rules_dir", "%q is not a directory (set it, or \"\" to read rules from rules_bucket only)", c.RulesDir)
		}
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs.Addf("partitions", "%d is outside 1..1024", c.Partitions)
	}
	if c.LeaseTTL < time.Second {
		errs.Addf("lease_ttl", "%v is below 1s", c.LeaseTTL)
	}
	if c.Tick < 10*time.Millisecond || c.Tick > time.Minute {
		errs.Addf("tick", "%v is outside 10ms..1m", c.Tick)
	}
	if c.CheckpointInterval < 10*time.Millisecond || c.CheckpointInterval > c.Hits.AckWait/2 {
		errs.Addf("checkpoint_interval", "%v must be at least 10ms and at most half of hits.ack_wait (%v)", c.CheckpointInterval, c.Hits.AckWait)
	}
	if c.Hits.MaxBytes < 1<<20 {
		errs.Addf("hits.max_bytes", "%d is below 1 MiB", c.Hits.MaxBytes)
	}
	if c.Hits.AckWait < time.Second {
		errs.Addf("hits.ack_wait", "%v is below 1s", c.Hits.AckWait)
	}
	if c.Hits.MaxAckPending < 100 {
		errs.Addf("hits.max_ack_pending", "%d is below 100", c.Hits.MaxAckPending)
	}
	if c.Defaults.Lateness < 0 || c.Defaults.ResolveAfter < 0 || c.Defaults.Align < 0 {
		errs.Addf("defaults", "lateness, resolve_after and align must be >= 0")
	}
	if c.Defaults.MaxKeys < 1 || c.Defaults.MaxEvents < 1 {
		errs.Addf("defaults", "max_keys and max_events must be >= 1")
	}
	if c.Schedule.Jitter < 0 {
		errs.Addf("schedule.jitter", "must be >= 0")
	}
	return errs.Err()
}
