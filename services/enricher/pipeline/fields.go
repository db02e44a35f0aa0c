package pipeline

import (
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

// path is a field path (package eventexpr, which documents the paths) with
// the names the stages use.
type path struct {
	eventexpr.Path
	root string // Path.Root()
}

func parsePath(s string) (path, error) {
	p, err := eventexpr.ParsePath(s)
	return path{Path: p, root: p.Root()}, err
}

func (p path) get(ev *event.Event) (any, bool)          { return p.Get(ev) }
func (p path) getString(ev *event.Event) (string, bool) { return p.GetString(ev) }
func (p path) set(ev *event.Event, v any) error         { return p.Set(ev, v) }
func (p path) remove(ev *event.Event)                   { p.Remove(ev) }
