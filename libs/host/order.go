package host

import (
	"slices"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
)

var errInvalid = config.ErrInvalid

// planned is a component to run with what it declared it needs.
type planned struct {
	factory component.Factory
	needs   component.Needs
}

// order returns the components in start order: every reader of a stream
// starts before the components that write to it (downstream first), so
// nothing is published before its consumer runs, and the reverse order
// stops the front door first. Components with no such relation keep the
// program's order; a cycle (alerts that feed back) keeps it too.
func order(fs []component.Factory, sections map[string]any) []planned {
	ps := make([]planned, len(fs))
	for i, f := range fs {
		ps[i] = planned{factory: f, needs: f.Requires(sections[f.Info().Name])}
	}
	// before[i] lists the components that must start before i: the readers
	// of what i writes.
	before := make([][]int, len(ps))
	for i, w := range ps {
		for j, r := range ps {
			if i == j {
				continue
			}
			for _, s := range w.needs.Writes {
				if slices.Contains(r.needs.Reads, s) && !slices.Contains(before[i], j) {
					before[i] = append(before[i], j)
				}
			}
		}
	}
	out := make([]planned, 0, len(ps))
	done := make([]bool, len(ps))
	for len(out) < len(ps) {
		progressed := false
		for i := range ps {
			if done[i] {
				continue
			}
			ready := true
			for _, j := range before[i] {
				ready = ready && done[j]
			}
			if ready {
				out, done[i], progressed = append(out, ps[i]), true, true
			}
		}
		if !progressed { // a cycle: take the first left, in program order
			for i := range ps {
				if !done[i] {
					out, done[i] = append(out, ps[i]), true
					break
				}
			}
		}
	}
	return out
}
