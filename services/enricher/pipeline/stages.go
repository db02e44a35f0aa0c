package pipeline

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/enricher/parse"
)

// errDropped is a stage's way to say the event is dropped.
var errDropped = errors.New("dropped by the pipeline")

// stageFunc changes the event in place.
type stageFunc func(ev *event.Event) error

// parseInto is the shared tail of every parsing stage: put the fields into
// the target (attributes by default) and drop the source field unless told
// to keep it.
type parseInto struct {
	from   path
	target *path
	keep   bool
}

func newParseInto(s ParseSpec) (parseInto, error) {
	if s.Field == "" {
		s.Field = "body"
	}
	from, err := parsePath(s.Field)
	if err != nil {
		return parseInto{}, fieldErr("field", err)
	}
	p := parseInto{from: from, keep: from.root == "body"}
	if s.KeepOriginal != nil {
		p.keep = *s.KeepOriginal
	}
	if s.Target != "" {
		t, err := parsePath(s.Target)
		if err != nil {
			return parseInto{}, fieldErr("target", err)
		}
		if t.root != "attributes" && t.root != "resource" {
			return parseInto{}, fieldErr("target", fmt.Errorf("%s must be a path under attributes or resource", s.Target))
		}
		p.target = &t
	}
	return p, nil
}

func (p parseInto) input(ev *event.Event) (string, error) {
	s, ok := p.from.getString(ev)
	if !ok {
		return "", fmt.Errorf("field %s is missing", p.from)
	}
	return s, nil
}

func (p parseInto) store(ev *event.Event, fields map[string]any) error {
	if !p.keep {
		p.from.remove(ev)
	}
	if p.target != nil {
		return p.target.set(ev, fields)
	}
	if len(ev.Attributes) == 0 {
		// The parser made fields for this event alone: take the map
		// rather than copy it.
		ev.Attributes = fields
		return nil
	}
	maps.Copy(ev.Attributes, fields)
	return nil
}

// sink returns the map a parsing stage puts its n fields in: the event's
// attributes, or a new map at the target. Like store, it removes the
// source field unless told to keep it. Writing the fields straight into
// the event spares the map and the copy that store costs.
func (p parseInto) sink(ev *event.Event, n int) (map[string]any, error) {
	if !p.keep {
		p.from.remove(ev)
	}
	if p.target != nil {
		m := make(map[string]any, n)
		return m, p.target.set(ev, m)
	}
	if ev.Attributes == nil {
		ev.Attributes = make(map[string]any, n)
	}
	return ev.Attributes, nil
}

// stage makes the stage that reads p's field, parses it with fn and stores
// the fields it returns.
func (p parseInto) stage(fn func(in string) (map[string]any, error)) stageFunc {
	return func(ev *event.Event) error {
		in, err := p.input(ev)
		if err != nil {
			return err
		}
		fields, err := fn(in)
		if err != nil {
			return err
		}
		return p.store(ev, fields)
	}
}

// fieldError is a compile error about one key of a stage.
type fieldError struct {
	key string
	err error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErr(key string, err error) error { return &fieldError{key: key, err: err} }

func (c *compiler) parseJSON(s *ParseSpec) (stageFunc, error) {
	p, err := newParseInto(*s)
	if err != nil {
		return nil, err
	}
	return p.stage(func(in string) (map[string]any, error) { return parse.JSON(in, c.maxDepth) }), nil
}

func (c *compiler) parseLogfmt(s *ParseSpec) (stageFunc, error) {
	p, err := newParseInto(*s)
	if err != nil {
		return nil, err
	}
	return p.stage(parse.Logfmt), nil
}

func (c *compiler) accessLog(s *AccessLogSpec) (stageFunc, error) {
	p, err := newParseInto(s.ParseSpec)
	if err != nil {
		return nil, err
	}
	format, err := parse.ParseAccessLogFormat(orDefault(s.Format, "combined"))
	if err != nil {
		return nil, fieldErr("format", err)
	}
	bounds := newTimeBounds(s.MaxFuture, s.MaxPast)
	timeFailure := []string{TagTimestampFailure}
	return func(ev *event.Event) error {
		in, err := p.input(ev)
		if err != nil {
			return err
		}
		a, err := parse.ParseAccessLog(in, format)
		if err != nil {
			return err
		}
		m, err := p.sink(ev, a.NumFields())
		if err != nil {
			return err
		}
		a.Each(func(k string, v any) { m[k] = v })
		if err := bounds.check(ev, a.Time); err != nil {
			// The line is read; only its time is refused, as a
			// timestamp stage with on_invalid: keep refuses it.
			return keptError{error: err, tags: timeFailure}
		}
		ev.Timestamp = a.Time
		return nil
	}, nil
}

func (c *compiler) grok(s *GrokSpec) (stageFunc, error) {
	p, err := newParseInto(s.ParseSpec)
	if err != nil {
		return nil, err
	}
	if len(s.Patterns) == 0 {
		return nil, fieldErr("patterns", errors.New("no patterns: give at least one, e.g. '%{COMBINEDAPACHELOG}'"))
	}
	var gs []*parse.Grok
	for i, pat := range s.Patterns {
		g, err := parse.CompileGrok(pat, s.Custom)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("patterns[%d]", i), err)
		}
		gs = append(gs, g)
	}
	return p.stage(func(in string) (map[string]any, error) {
		for _, g := range gs {
			if fields, ok := g.Parse(in); ok {
				return fields, nil
			}
		}
		return nil, fmt.Errorf("no grok pattern matched %s", p.from)
	}), nil
}

func (c *compiler) regex(s *RegexSpec) (stageFunc, error) {
	p, err := newParseInto(s.ParseSpec)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(s.Pattern)
	if err != nil {
		return nil, fieldErr("pattern", err)
	}
	if re.NumSubexp() == 0 || len(re.SubexpNames()) == 0 || !hasNamed(re) {
		return nil, fieldErr("pattern", errors.New("has no named group such as (?P<user>\\w+)"))
	}
	return p.stage(func(in string) (map[string]any, error) {
		if fields, ok := parse.Regex(re, in); ok {
			return fields, nil
		}
		return nil, fmt.Errorf("pattern did not match %s", p.from)
	}), nil
}

func hasNamed(re *regexp.Regexp) bool {
	for _, n := range re.SubexpNames() {
		if n != "" {
			return true
		}
	}
	return false
}

func (c *compiler) syslog(s *SyslogSpec) (stageFunc, error) {
	p, err := newParseInto(s.ParseSpec)
	if err != nil {
		return nil, err
	}
	loc, err := location(s.Timezone)
	if err != nil {
		return nil, fieldErr("timezone", err)
	}
	opts := parse.SyslogOptions{Location: loc}
	var severities [8]event.Severity // by syslog severity
	for i := range severities {
		severities[i], _ = event.ParseSeverity(parse.SyslogSeverityName(i))
	}
	return func(ev *event.Event) error {
		in, err := p.input(ev)
		if err != nil {
			return err
		}
		m, err := parse.ParseSyslog(in, opts)
		if err != nil {
			return err
		}
		// The syslog header fills the event model; the rest is attributes.
		// p is shared by every goroutine running this stage: change a copy.
		p := p
		toBody := m.Message != "" && p.from.root == "body"
		if toBody {
			p.keep = true
		}
		n := m.NumFields()
		if m.Message != "" && !toBody {
			n++
		}
		attrs, err := p.sink(ev, n)
		if err != nil {
			return err
		}
		if !m.Timestamp.IsZero() {
			ev.Timestamp = m.Timestamp
		}
		if toBody {
			ev.Body = m.Message
		} else if m.Message != "" {
			attrs["message"] = m.Message
		}
		ev.Severity = severities[m.Severity]
		if m.Hostname != "" {
			ev.SetResource(event.HostName, m.Hostname)
		}
		if m.Appname != "" && ev.Service() == "" {
			ev.SetResource(event.ServiceName, m.Appname)
		}
		m.Each(func(k string, v any) { attrs[k] = v })
		return nil
	}, nil
}

func (c *compiler) csv(s *CSVSpec) (stageFunc, error) {
	p, err := newParseInto(s.ParseSpec)
	if err != nil {
		return nil, err
	}
	if len(s.Columns) == 0 {
		return nil, fieldErr("columns", errors.New("no columns: name them, e.g. [time, level, message]"))
	}
	delim := ','
	if s.Delimiter != "" {
		r, n := utf8.DecodeRuneInString(s.Delimiter)
		if n != len(s.Delimiter) || r == '"' || r == '\n' {
			return nil, fieldErr("delimiter", fmt.Errorf("%q must be one character other than a quote or newline", s.Delimiter))
		}
		delim = r
	}
	return p.stage(func(in string) (map[string]any, error) { return parse.CSV(in, s.Columns, delim) }), nil
}

func (c *compiler) kv(s *KVSpec) (stageFunc, error) {
	p, err := newParseInto(s.ParseSpec)
	if err != nil {
		return nil, err
	}
	pair, val := s.PairSeparator, s.ValueSeparator
	if pair == "" {
		pair = " "
	}
	if val == "" {
		val = "="
	}
	if pair == val {
		return nil, fieldErr("value_separator", errors.New("must differ from pair_separator"))
	}
	return p.stage(func(in string) (map[string]any, error) {
		if fields := parse.KV(in, pair, val); len(fields) > 0 {
			return fields, nil
		}
		return nil, fmt.Errorf("no key%svalue pairs in %s", val, p.from)
	}), nil
}

func location(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(tz)
}

// timeBounds is how far an event's own time may be from when jetlog
// observed it: further, the time is absurd (a clock years off) and would
// file the event in an index of its own.
type timeBounds struct{ future, past time.Duration }

// newTimeBounds returns the bounds of max_future and max_past, 24h and
// 8760h by default.
func newTimeBounds(future, past time.Duration) timeBounds {
	if future == 0 {
		future = 24 * time.Hour
	}
	if past == 0 {
		past = 365 * 24 * time.Hour
	}
	return timeBounds{future, past}
}

// check says why t is not a plausible time for ev. Plausibility is judged
// against when jetlog observed the event; an event without that (a
// pipeline test that gives none) is not judged.
func (b timeBounds) check(ev *event.Event, t time.Time) error {
	ref := ev.ObservedTimestamp
	if ref.IsZero() || !t.After(ref.Add(b.future)) && !t.Before(ref.Add(-b.past)) {
		return nil
	}
	return fmt.Errorf("timestamp %s is more than %v ahead of or %v behind when it was observed", t.UTC().Format(time.RFC3339), b.future, b.past)
}

func (c *compiler) timestamp(s *TimestampSpec) (stageFunc, error) {
	from, err := parsePath(orDefault(s.Field, "attributes.timestamp"))
	if err != nil {
		return nil, fieldErr("field", err)
	}
	if len(s.Formats) == 0 {
		s.Formats = []string{"RFC3339Nano", "unix"}
	}
	loc, err := location(s.Timezone)
	if err != nil {
		return nil, fieldErr("timezone", err)
	}
	onInvalid := orDefault(s.OnInvalid, "keep")
	if onInvalid != "keep" && onInvalid != "error" {
		return nil, fieldErr("on_invalid", fmt.Errorf("%q: use keep or error", s.OnInvalid))
	}
	bounds := newTimeBounds(s.MaxFuture, s.MaxPast)
	remove := s.Remove == nil || *s.Remove
	return func(ev *event.Event) error {
		v, ok := from.get(ev)
		if !ok {
			return nil // missing: the event keeps the timestamp it came with
		}
		t, err := parse.Time(v, s.Formats, loc)
		if err == nil {
			err = bounds.check(ev, t)
		}
		if err != nil {
			if onInvalid == "error" {
				return err
			}
			return keptError{error: err}
		}
		ev.Timestamp = t.UTC()
		if remove {
			from.remove(ev)
		}
		return nil
	}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (c *compiler) set(s *SetSpec) (stageFunc, error) {
	to, err := parsePath(s.Field)
	if err != nil {
		return nil, fieldErr("field", err)
	}
	if (s.Expr == "") == (s.Value == nil) {
		return nil, fieldErr("value", errors.New("give exactly one of value and expr"))
	}
	if s.Expr == "" {
		v := s.Value
		return func(ev *event.Event) error { return to.set(ev, v) }, nil
	}
	prog, err := compileValue(s.Expr)
	if err != nil {
		return nil, fieldErr("expr", err)
	}
	return func(ev *event.Event) error {
		out, err := expr.Run(prog, envOf(ev))
		if err != nil {
			return err
		}
		return to.set(ev, out)
	}, nil
}

func (c *compiler) move(s *MoveSpec, keepSource bool) (stageFunc, error) {
	from, err := parsePath(s.From)
	if err != nil {
		return nil, fieldErr("from", err)
	}
	to, err := parsePath(s.To)
	if err != nil {
		return nil, fieldErr("to", err)
	}
	return func(ev *event.Event) error {
		v, ok := from.get(ev)
		if !ok {
			return nil
		}
		if !keepSource {
			from.remove(ev)
		}
		return to.set(ev, v)
	}, nil
}

func (c *compiler) remove(s *RemoveSpec) (stageFunc, error) {
	if len(s.Fields) == 0 {
		return nil, fieldErr("fields", errors.New("no fields to remove"))
	}
	ps := make([]path, len(s.Fields))
	for i, f := range s.Fields {
		p, err := parsePath(f)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("fields[%d]", i), err)
		}
		ps[i] = p
	}
	return func(ev *event.Event) error {
		for _, p := range ps {
			p.remove(ev)
		}
		return nil
	}, nil
}

func (c *compiler) coerce(s *CoerceSpec) (stageFunc, error) {
	type conv struct {
		p  path
		to string
	}
	var convs []conv
	for f, to := range s.Fields {
		p, err := parsePath(f)
		if err != nil {
			return nil, fieldErr("fields."+f, err)
		}
		switch to {
		case "int", "float", "bool", "string":
		default:
			return nil, fieldErr("fields."+f, fmt.Errorf("type %q: use int, float, bool or string", to))
		}
		convs = append(convs, conv{p, to})
	}
	return func(ev *event.Event) error {
		for _, c := range convs {
			v, ok := c.p.get(ev)
			if !ok {
				continue
			}
			out, err := convert(v, c.to)
			if err != nil {
				return fmt.Errorf("coerce %s: %w", c.p, err)
			}
			if err := c.p.set(ev, out); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func convert(v any, to string) (any, error) {
	s := fmt.Sprint(v)
	switch to {
	case "string":
		return s, nil
	case "int":
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return int64(f), nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", s)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown type %s", to)
}

func (c *compiler) severity(s *SeveritySpec) (stageFunc, error) {
	from, err := parsePath(orDefault(s.Field, "attributes.level"))
	if err != nil {
		return nil, fieldErr("field", err)
	}
	remove := s.Remove == nil || *s.Remove
	return func(ev *event.Event) error {
		v, ok := from.getString(ev)
		if !ok {
			return nil
		}
		sev, known := event.ParseSeverity(v)
		if !known {
			sev = event.Severity{Text: strings.ToUpper(v)}
		}
		ev.Severity = sev
		if remove && from.root != "severity.text" {
			from.remove(ev)
		}
		return nil
	}, nil
}

func (c *compiler) labels(s *LabelsSpec) (stageFunc, error) {
	target := orDefault(s.Target, "resource")
	if target != "resource" && target != "attributes" {
		return nil, fieldErr("target", fmt.Errorf("%q: use resource or attributes", s.Target))
	}
	if len(s.FromSource) == 0 && len(s.Set) == 0 {
		return nil, fieldErr("from_source", errors.New("give from_source or set"))
	}
	return func(ev *event.Event) error {
		put := ev.SetResource
		if target == "attributes" {
			put = ev.SetAttr
		}
		toks := strings.Split(ev.Source, ".")
		for i, name := range s.FromSource {
			if i < len(toks) && name != "" && name != "_" {
				put(name, toks[i])
			}
		}
		for k, v := range s.Set {
			put(k, v)
		}
		return nil
	}, nil
}

func (c *compiler) geoip(s *GeoIPSpec) (stageFunc, error) {
	from, err := parsePath(s.Field)
	if err != nil {
		return nil, fieldErr("field", err)
	}
	to, err := parsePath(orDefault(s.Target, "attributes.geo"))
	if err != nil {
		return nil, fieldErr("target", err)
	}
	if s.Database == "" {
		return nil, fieldErr("database", errors.New("no database: give the path of a GeoLite2/GeoIP2 .mmdb file"))
	}
	db, err := c.geoDB(s.Database)
	if err != nil {
		return nil, fieldErr("database", err)
	}
	return func(ev *event.Event) error {
		ip, ok := from.getString(ev)
		if !ok {
			return nil
		}
		if geo, ok := db.Lookup(ip); ok {
			return to.set(ev, geo)
		}
		return nil
	}, nil
}

func (c *compiler) userAgent(s *UserAgentSpec) (stageFunc, error) {
	from, err := parsePath(orDefault(s.Field, "attributes.user_agent"))
	if err != nil {
		return nil, fieldErr("field", err)
	}
	to, err := parsePath(orDefault(s.Target, "attributes.ua"))
	if err != nil {
		return nil, fieldErr("target", err)
	}
	size := s.CacheSize
	if size == 0 {
		size = 4096
	}
	if size < 0 {
		return nil, fieldErr("cache_size", fmt.Errorf("%d is negative: give the number of user agents to remember, or leave it out for 4096", size))
	}
	cache := parse.NewUserAgentCache(size)
	return func(ev *event.Event) error {
		ua, ok := from.getString(ev)
		if !ok || ua == "" {
			return nil
		}
		return to.set(ev, cache.Parse(ua))
	}, nil
}

func (c *compiler) redact(s *RedactSpec) (stageFunc, error) {
	if len(s.Builtin) == 0 && len(s.Custom) == 0 {
		return nil, fieldErr("builtin", fmt.Errorf("nothing to redact: name builtin patterns (%s) or custom ones", strings.Join(parse.BuiltinRedactions(), ", ")))
	}
	r, err := parse.NewRedactor(s.Builtin, s.Custom)
	if err != nil {
		return nil, fieldErr("builtin", err)
	}
	var ps []path
	for i, f := range s.Fields {
		p, err := parsePath(f)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("fields[%d]", i), err)
		}
		ps = append(ps, p)
	}
	return func(ev *event.Event) error {
		if len(ps) == 0 {
			ev.Body, _ = r.Redact(ev.Body)
			redactMap(r, ev.Attributes, 0)
			return nil
		}
		for _, p := range ps {
			if s, ok := p.get(ev); ok {
				if str, ok := s.(string); ok {
					out, n := r.Redact(str)
					if n > 0 {
						if err := p.set(ev, out); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	}, nil
}

func redactMap(r *parse.Redactor, m map[string]any, depth int) {
	if depth > 32 {
		return
	}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if out, n := r.Redact(x); n > 0 {
				m[k] = out
			}
		case map[string]any:
			redactMap(r, x, depth+1)
		case []any:
			for i, e := range x {
				if s, ok := e.(string); ok {
					if out, n := r.Redact(s); n > 0 {
						x[i] = out
					}
				}
			}
		}
	}
}

func (c *compiler) sample(s *SampleSpec) (stageFunc, error) {
	if s.Rate <= 0 || s.Rate > 1 {
		return nil, fieldErr("rate", fmt.Errorf("%v is outside (0, 1]", s.Rate))
	}
	var key *path
	if s.Key != "" {
		p, err := parsePath(s.Key)
		if err != nil {
			return nil, fieldErr("key", err)
		}
		key = &p
	}
	limit := uint64(s.Rate * float64(^uint64(0)))
	return func(ev *event.Event) error {
		k := ev.ID
		if key != nil {
			if v, ok := key.getString(ev); ok {
				k = v
			}
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(k))
		if mix(h.Sum64()) > limit {
			return errDropped
		}
		return nil
	}, nil
}

// mix is splitmix64's finaliser: FNV alone leaves the high bits of keys that
// differ only at the end (req-1, req-2, …) nearly equal, and sampling
// compares the whole value.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

var datasetRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)

func (c *compiler) route(s *RouteSpec) (stageFunc, error) {
	if s.Dataset == "" && s.Subject == "" {
		return nil, fieldErr("dataset", errors.New("give dataset, subject or both"))
	}
	if s.Dataset != "" && !datasetRE.MatchString(s.Dataset) {
		return nil, fieldErr("dataset", fmt.Errorf("%q must be lowercase letters, digits, - or _ (it names indices)", s.Dataset))
	}
	if strings.ContainsAny(s.Subject, ".*> \t") {
		return nil, fieldErr("subject", fmt.Errorf("%q must be one subject token", s.Subject))
	}
	return func(ev *event.Event) error {
		if s.Dataset != "" {
			ev.Dataset = s.Dataset
		}
		if s.Subject != "" {
			ev.Subject = s.Subject
		}
		return nil
	}, nil
}
