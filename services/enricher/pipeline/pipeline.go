// Package pipeline runs the enricher's declarative pipelines: YAML files of
// ordered stages (parse, timestamp, set/rename/remove, severity, labels,
// GeoIP, user agent, redaction, drop, sample, route), each with an optional
// expr-lang condition, compiled and type-checked at load so a bad file is
// refused with its file, line and reason before it runs.
package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

// On-error policies.
const (
	// OnErrorKeep, the default, keeps an event a stage failed on: it goes on
	// through the pipeline as it is (an unparsed line stays searchable),
	// with failure tags and its Error set.
	OnErrorKeep = "keep"
	// OnErrorDLQ dead-letters the event with the stage and the reason.
	OnErrorDLQ = "dlq"
)

// Tags of an event a pipeline kept after a stage failed, by the kind of
// stage: a parsing stage adds TagParseFailure and its own
// _<parser>parsefailure (_grokparsefailure, _jsonparsefailure,
// _logfmtparsefailure, _regexparsefailure, _syslogparsefailure,
// _csvparsefailure, _kvparsefailure, as Logstash names them;
// _accesslogparsefailure), a timestamp
// stage TagTimestampFailure, any other TagStageFailure.
const (
	TagParseFailure     = "_parsefailure"
	TagTimestampFailure = "_timestampfailure"
	TagStageFailure     = "_stagefailure"
)

// MaxErrorMessage bounds the reason kept in an event's error.message, so a
// failure quoting a huge field does not grow the document (the index
// template keeps error.message as a keyword).
const MaxErrorMessage = 512

// failureTags are the tags a failure of a stage of this kind adds.
func failureTags(kind string) []string {
	switch kind {
	case "parse_json", "parse_logfmt":
		return []string{TagParseFailure, "_" + strings.TrimPrefix(kind, "parse_") + "parsefailure"}
	case "grok", "regex", "syslog", "csv", "kv":
		return []string{TagParseFailure, "_" + kind + "parsefailure"}
	case "access_log":
		return []string{TagParseFailure, "_accesslogparsefailure"}
	case "timestamp":
		return []string{TagTimestampFailure}
	}
	return []string{TagStageFailure}
}

// Pipeline is a compiled pipeline file.
type Pipeline struct {
	Name    string
	File    string
	match   matcher
	stages  []*stage
	onError string
	tests   []TestSpec
}

type stage struct {
	name    string
	when    *vm.Program
	onError string
	tags    []string // added to an event kept after this stage failed
	run     stageFunc
}

// StageError is a stage's failure; the enricher dead-letters the event with
// it (or keeps the event, where the pipeline says so).
type StageError struct {
	Pipeline, Stage string
	Err             error
}

func (e *StageError) Error() string {
	return fmt.Sprintf("pipeline %s, stage %s: %v", e.Pipeline, e.Stage, e.Err)
}
func (e *StageError) Unwrap() error { return e.Err }

// ErrDropped is returned by Process for an event a drop or sample stage
// removed.
var ErrDropped = errDropped

// keptError is a stage's failure that keeps the event whatever on_error
// says (a timestamp stage with on_invalid: keep): recorded, never fatal.
// Tags, when set, replace the stage's failure tags (a parsing stage that
// read its line but not a plausible time tags _timestampfailure).
type keptError struct {
	error
	tags []string
}

func (e keptError) Unwrap() error { return e.error }

// Process runs the stages over ev in place. It returns ErrDropped when a
// stage dropped it, or a *StageError when a stage failed under on_error dlq.
// A failure the pipeline keeps the event through is recorded on the event
// (Tags, Error) and Process goes on with the next stage.
func (p *Pipeline) Process(ev *event.Event) error {
	_, err := p.Run(ev)
	return err
}

// Run is Process, and also counts the stage failures the event was kept
// through.
func (p *Pipeline) Run(ev *event.Event) (kept int, err error) {
	var env exprEnv
	for _, st := range p.stages {
		if st.when != nil {
			env = envOf(ev)
			ok, err := runCond(st.when, &env)
			if err != nil {
				if err := p.fail(ev, st, fmt.Errorf("condition: %w", err)); err != nil {
					return kept, err
				}
				kept++
				continue
			}
			if !ok {
				continue
			}
		}
		if err := st.run(ev); err != nil {
			if errors.Is(err, errDropped) {
				return kept, ErrDropped
			}
			var ke keptError
			if errors.As(err, &ke) {
				p.record(ev, cmpOr(ke.tags, st.tags), st.name, ke.error)
				kept++
				continue
			}
			if err := p.fail(ev, st, err); err != nil {
				return kept, err
			}
			kept++
		}
	}
	return kept, nil
}

// fail applies the stage's on_error to its failure: keep records it on the
// event and returns nil, dlq returns the *StageError.
func (p *Pipeline) fail(ev *event.Event, st *stage, err error) error {
	if st.onError == OnErrorKeep {
		p.record(ev, st.tags, st.name, err)
		return nil
	}
	return &StageError{Pipeline: p.Name, Stage: st.name, Err: err}
}

// record tags the event with a stage's failure tags and, unless an
// earlier stage failed already (the first failure is usually the cause of
// the rest), sets its Error.
func (p *Pipeline) record(ev *event.Event, tags []string, stage string, err error) {
	for _, t := range tags {
		ev.AddTag(t)
	}
	if ev.Error == nil {
		ev.Error = &event.Failure{Stage: p.Name + "/" + stage, Message: truncate(err.Error(), MaxErrorMessage)}
	}
}

// cmpOr returns a, or b when a is empty.
func cmpOr(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	return a
}

// truncate cuts s to at most n bytes on a character boundary, marking the
// cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// matcher selects events for a pipeline.
type matcher struct {
	sources [][]string // patterns split into tokens
	when    *vm.Program
}

// matches reports whether the pipeline takes ev.
func (m *matcher) matches(ev *event.Event) bool {
	if len(m.sources) > 0 && !eventexpr.MatchSource(m.sources, ev.Source) {
		return false
	}
	if m.when != nil {
		env := envOf(ev)
		ok, err := runCond(m.when, &env)
		return err == nil && ok
	}
	return true
}

func (m *matcher) isDefault() bool { return len(m.sources) == 0 && m.when == nil }
