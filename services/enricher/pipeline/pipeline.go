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

	"github.com/expr-lang/expr/vm"

	"github.com/jetlog/jetlog/libs/event"
)

// On-error policies.
const (
	OnErrorDLQ  = "dlq"
	OnErrorKeep = "keep"
)

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

// Process runs the stages over ev in place. It returns ErrDropped when a
// stage dropped it, or a *StageError when a stage failed under on_error dlq.
func (p *Pipeline) Process(ev *event.Event) error {
	var env exprEnv
	for _, st := range p.stages {
		if st.when != nil {
			env = envOf(ev)
			ok, err := runCond(st.when, &env)
			if err != nil {
				return p.fail(ev, st, fmt.Errorf("condition: %w", err))
			}
			if !ok {
				continue
			}
		}
		if err := st.run(ev); err != nil {
			if errors.Is(err, errDropped) {
				return ErrDropped
			}
			if err := p.fail(ev, st, err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Pipeline) fail(ev *event.Event, st *stage, err error) error {
	if st.onError == OnErrorKeep {
		ev.SetAttr("error.stage", p.Name+"/"+st.name)
		ev.SetAttr("error.message", err.Error())
		return nil
	}
	return &StageError{Pipeline: p.Name, Stage: st.name, Err: err}
}

// matcher selects events for a pipeline.
type matcher struct {
	sources [][]string // patterns split into tokens
	when    *vm.Program
}

// matches reports whether the pipeline takes ev.
func (m *matcher) matches(ev *event.Event) bool {
	if len(m.sources) > 0 {
		toks := strings.Split(ev.Source, ".")
		ok := false
		for _, pat := range m.sources {
			if matchTokens(pat, toks) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if m.when != nil {
		env := envOf(ev)
		ok, err := runCond(m.when, &env)
		return err == nil && ok
	}
	return true
}

func (m *matcher) isDefault() bool { return len(m.sources) == 0 && m.when == nil }

// matchTokens matches NATS-style: "*" one token, ">" the rest (at least one).
func matchTokens(pat, toks []string) bool {
	for i, p := range pat {
		if p == ">" {
			return len(toks) > i
		}
		if i >= len(toks) || (p != "*" && p != toks[i]) {
			return false
		}
	}
	return len(pat) == len(toks)
}
