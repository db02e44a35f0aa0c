package pipeline

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/jetlog/jetlog/libs/event"
)

// exprEnv is what conditions and set expressions see: the event's data and
// no methods of jetlog's own (expr-lang lets expressions call the
// environment's methods, so it holds values only).
//
//	body, source, dataset, id, traceId, spanId, timestamp, tags,
//	severity.text, severity.number, attributes["k"], resource["service.name"]
type exprEnv struct {
	ID         string         `expr:"id"`
	Timestamp  time.Time      `expr:"timestamp"`
	Body       string         `expr:"body"`
	Source     string         `expr:"source"`
	Dataset    string         `expr:"dataset"`
	Severity   severityEnv    `expr:"severity"`
	TraceID    string         `expr:"traceId"`
	SpanID     string         `expr:"spanId"`
	Resource   map[string]any `expr:"resource"`
	Attributes map[string]any `expr:"attributes"`
	Tags       []string       `expr:"tags"`
}

type severityEnv struct {
	Text   string `expr:"text"`
	Number int    `expr:"number"`
}

func envOf(ev *event.Event) exprEnv {
	return exprEnv{
		ID: ev.ID, Timestamp: ev.Timestamp, Body: ev.Body, Source: ev.Source, Dataset: ev.Dataset,
		Severity: severityEnv{Text: ev.Severity.Text, Number: ev.Severity.Number},
		TraceID:  ev.TraceID, SpanID: ev.SpanID, Resource: ev.Resource, Attributes: ev.Attributes, Tags: ev.Tags,
	}
}

// exprMaxNodes bounds an expression's size: conditions are short.
const exprMaxNodes = 2000

// compileCond compiles a condition that must be a boolean.
func compileCond(src string) (*vm.Program, error) {
	p, err := expr.Compile(src, expr.Env(exprEnv{}), expr.AsBool(), expr.MaxNodes(exprMaxNodes))
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", src, err)
	}
	return p, nil
}

// compileValue compiles an expression of any type.
func compileValue(src string) (*vm.Program, error) {
	p, err := expr.Compile(src, expr.Env(exprEnv{}), expr.MaxNodes(exprMaxNodes))
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	return p, nil
}

func runCond(p *vm.Program, env *exprEnv) (bool, error) {
	out, err := expr.Run(p, *env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}
