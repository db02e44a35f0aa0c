package pipeline

import (
	"time"
)

// File is one pipeline file (pipelines/<name>.yaml).
type File struct {
	// Name identifies the pipeline in errors, metrics and dead letters.
	Name string `yaml:"name"`
	// Match says which events the pipeline takes; no match clause makes it
	// the default pipeline (at most one).
	Match Match `yaml:"match"`
	// OnError is what a failing stage does: "keep" (default) keeps the
	// event as it is and goes on, with failure tags (_parsefailure, …) and
	// error.stage and error.message set; "dlq" dead-letters it with the
	// stage and the reason.
	OnError string `yaml:"on_error"`
	// Stages run in order.
	Stages []StageSpec `yaml:"stages"`
	// Tests are example events and what the pipeline must make of them, run
	// by `jetlog pipeline test`.
	Tests []TestSpec `yaml:"tests"`
}

// Match selects events by source.
type Match struct {
	// Sources are NATS-style patterns over the source's dot-separated
	// tokens: "web" "web.*" "k8s.>".
	Sources []string `yaml:"sources"`
	// When is an expr condition that must also hold.
	When string `yaml:"when"`
}

// StageSpec is one stage: exactly one of the stage keys, plus the options
// every stage has.
type StageSpec struct {
	// Name labels the stage in errors and dead letters; defaults to its type
	// and position ("grok#2").
	Name string `yaml:"name"`
	// When is an expr condition; the stage runs only where it is true.
	When string `yaml:"when"`
	// OnError overrides the pipeline's on_error for this stage.
	OnError string `yaml:"on_error"`

	ParseJSON   *ParseSpec     `yaml:"parse_json"`
	ParseLogfmt *ParseSpec     `yaml:"parse_logfmt"`
	AccessLog   *AccessLogSpec `yaml:"access_log"`
	Grok        *GrokSpec      `yaml:"grok"`
	Regex       *RegexSpec     `yaml:"regex"`
	Syslog      *SyslogSpec    `yaml:"syslog"`
	CSV         *CSVSpec       `yaml:"csv"`
	KV          *KVSpec        `yaml:"kv"`
	Timestamp   *TimestampSpec `yaml:"timestamp"`
	Set         *SetSpec       `yaml:"set"`
	Rename      *MoveSpec      `yaml:"rename"`
	Copy        *MoveSpec      `yaml:"copy"`
	Remove      *RemoveSpec    `yaml:"remove"`
	Coerce      *CoerceSpec    `yaml:"coerce"`
	Severity    *SeveritySpec  `yaml:"severity"`
	Labels      *LabelsSpec    `yaml:"labels"`
	GeoIP       *GeoIPSpec     `yaml:"geoip"`
	UserAgent   *UserAgentSpec `yaml:"user_agent"`
	Redact      *RedactSpec    `yaml:"redact"`
	Drop        *DropSpec      `yaml:"drop"`
	Sample      *SampleSpec    `yaml:"sample"`
	Route       *RouteSpec     `yaml:"route"`
}

// ParseSpec parses a field (default body) into attributes, or into the
// map at Target.
type ParseSpec struct {
	Field  string `yaml:"field"`
	Target string `yaml:"target"`
	// KeepOriginal keeps the parsed field; by default a parsed body stays
	// and other parsed fields are removed.
	KeepOriginal *bool `yaml:"keep_original"`
}

// AccessLogSpec parses nginx and Apache access log lines with a parser
// written for them, an order of magnitude cheaper than the grok pattern of
// the same format. The fields have the names grok's %{COMBINEDAPACHELOG}
// gives them; the line's time becomes @timestamp when it is plausible.
type AccessLogSpec struct {
	ParseSpec `yaml:",inline"`
	// Format is combined (default: nginx's default, Apache's combined) or
	// common.
	Format string `yaml:"format"`
	// MaxFuture and MaxPast bound a plausible time, as in TimestampSpec:
	// a line whose time is further from when jetlog observed it keeps
	// the event's time and is tagged _timestampfailure.
	MaxFuture time.Duration `yaml:"max_future"`
	MaxPast   time.Duration `yaml:"max_past"`
}

// GrokSpec matches a field against grok patterns, the first that matches wins.
type GrokSpec struct {
	ParseSpec `yaml:",inline"`
	Patterns  []string          `yaml:"patterns"`
	Custom    map[string]string `yaml:"custom_patterns"`
}

// RegexSpec extracts named groups of a Go regular expression.
type RegexSpec struct {
	ParseSpec `yaml:",inline"`
	Pattern   string `yaml:"pattern"`
}

// SyslogSpec parses RFC 5424 or RFC 3164 syslog lines.
type SyslogSpec struct {
	ParseSpec `yaml:",inline"`
	// Timezone for RFC 3164 timestamps, which carry none (default UTC).
	Timezone string `yaml:"timezone"`
}

// CSVSpec parses one delimited line into named columns.
type CSVSpec struct {
	ParseSpec `yaml:",inline"`
	Columns   []string `yaml:"columns"`
	Delimiter string   `yaml:"delimiter"`
}

// KVSpec parses key=value pairs.
type KVSpec struct {
	ParseSpec      `yaml:",inline"`
	PairSeparator  string `yaml:"pair_separator"`
	ValueSeparator string `yaml:"value_separator"`
}

// TimestampSpec sets @timestamp from a field.
type TimestampSpec struct {
	Field    string   `yaml:"field"`
	Formats  []string `yaml:"formats"`
	Timezone string   `yaml:"timezone"`
	// OnInvalid is what an unparseable or absurd timestamp does: "keep"
	// (default: the event keeps the timestamp it had, tagged
	// _timestampfailure with error.stage and error.message set, whatever
	// on_error says) or "error" (the stage fails, and on_error decides).
	OnInvalid string `yaml:"on_invalid"`
	// MaxFuture and MaxPast bound a plausible timestamp relative to when
	// jetlog observed the event (defaults 24h and 8760h).
	MaxFuture time.Duration `yaml:"max_future"`
	MaxPast   time.Duration `yaml:"max_past"`
	// Remove deletes the field once it is parsed (default true).
	Remove *bool `yaml:"remove"`
}

// SetSpec sets a field to a constant or to an expr value.
type SetSpec struct {
	Field string `yaml:"field"`
	Value any    `yaml:"value"`
	Expr  string `yaml:"expr"`
}

// MoveSpec renames or copies a field.
type MoveSpec struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// RemoveSpec removes fields.
type RemoveSpec struct {
	Fields []string `yaml:"fields"`
}

// CoerceSpec converts fields to a type: int, float, bool or string.
type CoerceSpec struct {
	Fields map[string]string `yaml:"fields"`
}

// SeveritySpec normalises a level field into severity.
type SeveritySpec struct {
	Field string `yaml:"field"`
	// Remove deletes the field once mapped (default true).
	Remove *bool `yaml:"remove"`
}

// LabelsSpec adds labels from the source's tokens or constants.
type LabelsSpec struct {
	// FromSource names the source's tokens in order: with source
	// "payments.checkout", [team, app] sets team=payments, app=checkout.
	FromSource []string `yaml:"from_source"`
	// Set adds constant labels.
	Set map[string]string `yaml:"set"`
	// Target is resource (default) or attributes.
	Target string `yaml:"target"`
}

// GeoIPSpec looks an IP field up in a MaxMind database.
type GeoIPSpec struct {
	Field    string `yaml:"field"`
	Target   string `yaml:"target"`
	Database string `yaml:"database"`
}

// UserAgentSpec parses a User-Agent field.
type UserAgentSpec struct {
	Field  string `yaml:"field"`
	Target string `yaml:"target"`
	// CacheSize is how many distinct user agents the stage remembers the
	// fields of (default 4096); when full, it forgets them all.
	CacheSize int `yaml:"cache_size"`
}

// RedactSpec masks secrets and personal data in fields.
type RedactSpec struct {
	// Fields to redact (default body and every string attribute).
	Fields []string `yaml:"fields"`
	// Builtin names built-in patterns: email, credit_card, bearer_token,
	// aws_access_key, aws_secret_key, jwt, ipv4, ipv6.
	Builtin []string `yaml:"builtin"`
	// Custom maps a name to a regular expression.
	Custom map[string]string `yaml:"custom"`
}

// DropSpec drops the event (combine with when).
type DropSpec struct{}

// SampleSpec keeps a fraction of events, decided by a hash of the event id
// (or of Key), so a redelivered event gets the same decision.
type SampleSpec struct {
	Rate float64 `yaml:"rate"`
	Key  string  `yaml:"key"`
}

// RouteSpec sends the event to a dataset (index family) and/or an enriched
// subject token.
type RouteSpec struct {
	Dataset string `yaml:"dataset"`
	Subject string `yaml:"subject"`
}

// TestSpec is one pipeline unit test.
type TestSpec struct {
	Name string `yaml:"name"`
	// Input is the event before the pipeline, in its JSON field names
	// (body, source, severity, attributes, resource, @timestamp …).
	Input map[string]any `yaml:"input"`
	// Expect maps field paths to the values they must have afterwards; a
	// null value means the field must be absent.
	Expect map[string]any `yaml:"expect"`
	// ExpectDropped says the pipeline must drop the event.
	ExpectDropped bool `yaml:"expect_dropped"`
	// ExpectError says the pipeline must fail with an error containing it.
	ExpectError string `yaml:"expect_error"`
}
