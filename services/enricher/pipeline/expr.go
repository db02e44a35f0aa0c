package pipeline

import (
	"github.com/expr-lang/expr/vm"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

// exprEnv is what conditions and set expressions see (package eventexpr).
type exprEnv = eventexpr.Env

func envOf(ev *event.Event) exprEnv { return eventexpr.EnvOf(ev) }

// compileCond compiles a condition that must be a boolean.
func compileCond(src string) (*vm.Program, error) { return eventexpr.CompileCond(src) }

// compileValue compiles an expression of any type.
func compileValue(src string) (*vm.Program, error) { return eventexpr.CompileValue(src) }

func runCond(p *vm.Program, env *exprEnv) (bool, error) { return eventexpr.RunCond(p, env) }
