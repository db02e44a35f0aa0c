package eventexpr

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/jetlog/jetlog/libs/event"
)

// Env is what conditions and value expressions see: the event's data and no
// methods of jetlog's own (see the package comment for the names).
type Env struct {
	ID         string         `expr:"id"`
	Timestamp  time.Time      `expr:"timestamp"`
	Body       string         `expr:"body"`
	Source     string         `expr:"source"`
	Dataset    string         `expr:"dataset"`
	Severity   SeverityEnv    `expr:"severity"`
	TraceID    string         `expr:"traceId"`
	SpanID     string         `expr:"spanId"`
	Resource   map[string]any `expr:"resource"`
	Attributes map[string]any `expr:"attributes"`
	Tags       []string       `expr:"tags"`
}

// SeverityEnv is the event's severity as expressions see it.
type SeverityEnv struct {
	Text   string `expr:"text"`
	Number int    `expr:"number"`
}

// EnvOf returns the expression environment of ev. It shares ev's maps and
// tags, so building it costs no copy of the event's data.
func EnvOf(ev *event.Event) Env {
	return Env{
		ID: ev.ID, Timestamp: ev.Timestamp, Body: ev.Body, Source: ev.Source, Dataset: ev.Dataset,
		Severity: SeverityEnv{Text: ev.Severity.Text, Number: ev.Severity.Number},
		TraceID:  ev.TraceID, SpanID: ev.SpanID, Resource: ev.Resource, Attributes: ev.Attributes, Tags: ev.Tags,
	}
}

// MaxNodes bounds an expression's size: conditions are short.
const MaxNodes = 2000

// CompileCond compiles a condition that must be a boolean.
func CompileCond(src string) (*vm.Program, error) {
	p, err := expr.Compile(src, expr.Env(Env{}), expr.AsBool(), expr.MaxNodes(MaxNodes))
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", src, err)
	}
	return p, nil
}

// CompileValue compiles an expression of any type.
func CompileValue(src string) (*vm.Program, error) {
	p, err := expr.Compile(src, expr.Env(Env{}), expr.MaxNodes(MaxNodes))
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	return p, nil
}

// RunCond runs a condition compiled by CompileCond.
func RunCond(p *vm.Program, env *Env) (bool, error) {
	out, err := expr.Run(p, *env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// Run runs an expression compiled by CompileValue.
func Run(p *vm.Program, env *Env) (any, error) { return expr.Run(p, *env) }
