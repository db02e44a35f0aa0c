package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/event"
)

// TestResult is the outcome of one pipeline unit test.
type TestResult struct {
	Pipeline string
	File     string
	Test     string
	// Failures lists what differed; empty means the test passed.
	Failures []string
}

// Passed reports whether the test passed.
func (r TestResult) Passed() bool { return len(r.Failures) == 0 }

// testTime is the timestamp of a test input that gives none, so results do
// not depend on when the tests run.
var testTime = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// RunTests runs the unit tests of every pipeline in the set.
func (s *Set) RunTests() []TestResult {
	var out []TestResult
	for _, p := range s.Pipelines {
		out = append(out, p.RunTests()...)
	}
	return out
}

// RunTests runs the pipeline's own unit tests.
func (p *Pipeline) RunTests() []TestResult {
	out := make([]TestResult, 0, len(p.tests))
	for _, t := range p.tests {
		out = append(out, TestResult{Pipeline: p.Name, File: p.File, Test: t.Name, Failures: p.runTest(t)})
	}
	return out
}

func (p *Pipeline) runTest(t TestSpec) []string {
	ev, err := testEvent(t.Input)
	if err != nil {
		return []string{fmt.Sprintf("input: %v", err)}
	}
	err = p.Process(ev)
	switch {
	case t.ExpectDropped:
		if !errors.Is(err, ErrDropped) {
			return []string{fmt.Sprintf("expected the event to be dropped, got error %v", err)}
		}
		return nil
	case t.ExpectError != "":
		if err == nil || !strings.Contains(err.Error(), t.ExpectError) {
			return []string{fmt.Sprintf("expected an error containing %q, got %v", t.ExpectError, err)}
		}
		return nil
	case errors.Is(err, ErrDropped):
		return []string{"the event was dropped"}
	case err != nil:
		return []string{err.Error()}
	}
	var fails []string
	keys := make([]string, 0, len(t.Expect))
	for k := range t.Expect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := t.Expect[k]
		var got any
		var ok bool
		if k == "@timestamp" {
			got, ok = ev.Timestamp.UTC().Format(time.RFC3339Nano), true
			if ws, isStr := want.(string); isStr {
				if wt, err := time.Parse(time.RFC3339Nano, ws); err == nil {
					want = wt.UTC().Format(time.RFC3339Nano)
				}
			}
		} else {
			pa, err := parsePath(k)
			if err != nil {
				fails = append(fails, err.Error())
				continue
			}
			got, ok = pa.get(ev)
		}
		if want == nil {
			if ok {
				fails = append(fails, fmt.Sprintf("%s: want absent, got %s", k, show(got)))
			}
			continue
		}
		if !ok {
			fails = append(fails, fmt.Sprintf("%s: want %s, got nothing", k, show(want)))
			continue
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			fails = append(fails, fmt.Sprintf("%s: want %s, got %s", k, show(want), show(got)))
		}
	}
	return fails
}

// testEvent builds the event of a test input: its JSON field names, with a
// fixed timestamp and id when the input gives none. Without an
// observedTimestamp in the input, timestamp stages do not judge
// plausibility (there is nothing to judge it against).
func testEvent(in map[string]any) (*event.Event, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var ev event.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	if ev.ID == "" {
		ev.ID = "test"
	}
	if ev.Timestamp.IsZero() {
		ev.Timestamp = testTime
	}
	return &ev, nil
}

// normalize compares values the way a YAML author means them: numbers by
// value, maps and lists by content.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
